"""Tracking-link redirect throughput and latency against a real server over loopback.

Starts ``partner serve`` on a fresh SQLite (or ``--database-url``) database, with the attribution routes added if
``partner.app`` does not wire them yet, registers a WhatsApp channel and one tracking link, then for a fixed
duration drives ``GET /r/{slug}?ttclid=E.C.P.<random>`` from ``--concurrency`` connections without following the
redirect (each request stores one click), and ``GET /healthz`` the same way as a baseline. Prints redirects/s,
p50 and p99 latency for both, their ratio, and checks that every 302 left exactly one click in the database.

    .venv/bin/python benchmarks/bench_redirect.py --duration 10 --concurrency 64

``--database-url`` must name a scratch database: the server migrates it and leaves a workspace, channel and link.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from bench_ingest import ADMIN_TOKEN, _wait_ready
from loopback import Figures, free_port, print_table

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _serve_with_attribution() -> int:
    """``partner serve``, with ``attribution.routes.add_routes`` applied unless ``create_app`` already does it."""
    import partner.app
    from partner import cli
    from partner.attribution import routes

    build = partner.app.create_app

    def create_app(settings: Any, **options: Any) -> Any:
        app = build(settings, **options)
        if not any(resource.canonical == "/r/{slug}" for resource in app.router.resources()):
            routes.add_routes(app)
        return app

    partner.app.create_app = create_app
    return cli.main(["serve"])


def _start_server(database_url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARTNER_DATABASE_URL": database_url,
        "PARTNER_PORT": str(port),
        "PARTNER_ADMIN_TOKEN": ADMIN_TOKEN,
        "PARTNER_STATE_DIR": str(workdir / "state"),
        "PARTNER_LOG_LEVEL": "warning",
        "PARTNER_LOG_FORMAT": "json",
        "PARTNER_RUN_WORKERS": "false",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen([sys.executable, __file__, "--serve"], env=env, cwd=workdir)


async def _create_link(base: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(headers=ADMIN) as session:
        async with session.post(f"{base}/api/v1/workspaces", json={"name": "Bench"}) as response:
            workspace_id = (await response.json())["id"]
        channel = {
            "workspace_id": workspace_id,
            "platform": "whatsapp",
            "external_id": "109876543210",
            "display_phone": "+15550000000",
            "secrets": {"access_token": "bench-token"},
        }
        async with session.post(f"{base}/api/v1/channels", json=channel) as response:
            assert response.status == 201, await response.text()
            channel_id = (await response.json())["id"]
        body = {"channel_id": channel_id, "greeting": "Hi! I saw your ad and would like to order.", "campaign": "bench"}
        async with session.post(f"{base}/api/v1/links", json=body) as response:
            assert response.status == 201, await response.text()
            created = await response.json()
    return int(created["id"]), str(created["slug"])


async def _drive(name: str, make_url: Callable[[], str], duration: float, concurrency: int, status: int) -> Figures:
    """Like ``bench_ingest._drive``, but GET only, redirects not followed, and success is ``status``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(make_url(), allow_redirects=False) as response:
                    await response.read()
                    if response.status != status:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Figures(name, len(latencies), errors, elapsed, latencies)


async def _stored_clicks(base: str, link_id: int) -> int:
    async with (
        aiohttp.ClientSession(headers=ADMIN) as session,
        session.get(f"{base}/api/v1/links/{link_id}/stats") as response,
    ):
        return int((await response.json())["clicks_with_ttclid"])


def _report(redirect: Figures, health: Figures, concurrency: int, stored: int, expected: int) -> None:
    print_table((redirect, health), concurrency)
    print(f"redirect / healthz throughput ratio: {redirect.rate / health.rate:.2f}")
    print(f"clicks stored with ttclid: {stored} (302 answers: {expected}){'' if stored == expected else '  MISMATCH'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = _start_server(args.database_url or f"sqlite:///{workdir}/bench.db", port, workdir)
        try:
            await _wait_ready(base)
            link_id, slug = await _create_link(base)

            def click_url() -> str:
                return f"{base}/r/{slug}?ttclid=E.C.P.{secrets.token_urlsafe(24)}"

            warm = await _drive("warm-up", click_url, 1.0, 8, 302)
            redirect = await _drive("GET /r/{slug}", click_url, args.duration, args.concurrency, 302)
            health = await _drive("GET /healthz", lambda: f"{base}/healthz", args.duration, args.concurrency, 200)
            stored = await _stored_clicks(base, link_id)
        finally:
            server.terminate()
            server.wait(timeout=30)
    answered = warm.requests - warm.errors + redirect.requests - redirect.errors
    _report(redirect, health, args.concurrency, stored, answered)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        sys.exit(_serve_with_attribution())
    asyncio.run(main())
