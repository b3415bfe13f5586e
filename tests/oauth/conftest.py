"""Fixtures for the authorization tests: the TikTok sandbox and the partner app on real ports, and a browser.

The partner listens on a port chosen before the app is built, because ``PARTNER_PUBLIC_URL`` (and so the
``redirect_uri`` TikTok sends the browser to) must name it. The routes are mounted here until ``partner/app.py``
mounts them itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from oauth_support import BrowserFactory, Partner, StartPartner
from pytest_aiohttp import AiohttpServer

from oauth.routes import OAuthOptions, add_routes, options_key
from oauth.state import SELECT_TTL, STATE_TTL
from partner.app import create_app
from partner.sandbox import SandboxConfig, create_sandbox_app
from partner.sandbox.state import DEFAULT_APP_ID, DEFAULT_APP_SECRET
from partner.settings import Settings


@pytest.fixture
async def sandbox(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_sandbox_app(SandboxConfig(auto_approve=True)))


@pytest.fixture
def start_partner(aiohttp_server: AiohttpServer, settings: Settings, sandbox: TestServer) -> StartPartner:
    async def start(*, clock: Callable[[], datetime] | None = None, **overrides: Any) -> Partner:
        port = unused_port()
        values: dict[str, Any] = {
            "tiktok_api_base": str(sandbox.make_url("/open_api/v1.3/")),
            "tiktok_portal_url": str(sandbox.make_url("/portal/auth")),
            "tiktok_app_id": DEFAULT_APP_ID,
            "tiktok_app_secret": DEFAULT_APP_SECRET,
            "public_url": f"http://127.0.0.1:{port}",
            **overrides,
        }
        app = create_app(dataclasses.replace(settings, **values))
        if options_key not in app:  # until partner/app.py mounts the routes itself
            add_routes(app)
        if clock is not None:
            app[options_key] = OAuthOptions(state_ttl=STATE_TTL, select_ttl=SELECT_TTL, clock=clock)
        server = await aiohttp_server(app, port=port)
        return Partner(server, app, sandbox)

    return start


@pytest.fixture
async def partner(start_partner: StartPartner) -> Partner:
    return await start_partner()


@pytest.fixture
async def new_browser() -> AsyncIterator[BrowserFactory]:
    sessions: list[aiohttp.ClientSession] = []

    def make() -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        await session.close()


@pytest.fixture
async def browser(new_browser: BrowserFactory) -> aiohttp.ClientSession:
    return new_browser()
