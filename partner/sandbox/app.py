"""Factory and runner for the sandbox: one aiohttp app serving TikTok, Meta Graph and LINE at real paths.

The real paths never collide, so one server serves every client in tests and demos:

* ``GET|POST /portal/auth`` -- advertiser consent page (``tiktok.py``)
* ``POST /open_api/v1.3/oauth2/access_token/``, ``GET .../oauth2/advertiser/get/``,
  ``POST .../oauth2/revoke_token/``, ``POST .../event/track/`` -- TikTok Business API (``tiktok.py``)
* ``POST /v<major>.<minor>/<phone_number_id | page_id>/messages`` -- WhatsApp / Messenger (``meta.py``)
* ``POST /v2/bot/message/reply``, ``POST /v2/bot/message/push`` -- LINE (``line.py``)
* ``GET|DELETE /_sandbox/requests``, ``GET|DELETE /_sandbox/events``, ``GET|DELETE /_sandbox/messages``,
  ``GET|POST|DELETE /_sandbox/faults``, ``GET|POST /_sandbox/config`` -- inspection and control (``control.py``)

Base URLs for clients: TikTok ``http://host:port/open_api/v1.3/``, Graph and LINE ``http://host:port/``.
"""

from __future__ import annotations

import asyncio
import dataclasses

import structlog
from aiohttp import web

from partner.sandbox import control, line, meta, tiktok
from partner.sandbox.state import STATE_KEY, SandboxConfig, SandboxState

# 1,000 events with rich user and property data can exceed aiohttp's 1 MiB default.
MAX_BODY_BYTES = 16 * 1024 * 1024


def create_sandbox_app(config: SandboxConfig | None = None) -> web.Application:
    """Build a fresh sandbox; the config is copied, so runtime registrations never leak back into it."""
    app = web.Application(middlewares=[control.sandbox_middleware], client_max_size=MAX_BODY_BYTES)
    own_config = dataclasses.replace(config) if config is not None else SandboxConfig()
    app[STATE_KEY] = SandboxState.from_config(own_config)
    tiktok.add_routes(app)
    meta.add_routes(app)
    line.add_routes(app)
    control.add_routes(app)
    return app


async def run_sandbox(host: str = "127.0.0.1", port: int = 8765, config: SandboxConfig | None = None) -> None:
    """Serve until cancelled (Ctrl-C in the CLI); what ``partner tiktok-sandbox --port N`` runs."""
    runner = web.AppRunner(create_sandbox_app(config))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        structlog.get_logger(__name__).info("sandbox_started", url=f"http://{host}:{port}/")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
