"""Health, readiness, metrics, request ids, error bodies and graceful shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from partner.app import create_app
from partner.cli import serve
from partner.settings import Settings
from tests.conftest import make_settings


async def test_healthz_answers_without_touching_the_database(
    client: TestClient[web.Request, web.Application],
) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_readyz_checks_the_database(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok"}


async def test_readyz_reports_an_unreachable_database(
    client: TestClient[web.Request, web.Application],
) -> None:
    """When the engine cannot connect, readiness is 503 (liveness stays 200)."""
    from partner.appkeys import engine_key

    await client.app[engine_key].dispose()

    def broken_connect(*_args: object, **_kwargs: object) -> None:
        raise OSError("connection refused")

    client.app[engine_key].sync_engine.pool._creator = broken_connect  # type: ignore[attr-defined]
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await client.get("/healthz")).status == 200


async def test_metrics_count_requests_by_route_and_status(
    client: TestClient[web.Request, web.Application],
) -> None:
    await client.get("/healthz")
    await client.get("/no/such/route")
    text = await (await client.get("/metrics")).text()
    assert 'partner_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "partner_http_request_duration_seconds_bucket" in text


async def test_request_id_is_echoed_or_minted(client: TestClient[web.Request, web.Application]) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc12345-trace"})
    assert echoed.headers["X-Request-ID"] == "abc12345-trace"
    minted = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(minted.headers["X-Request-ID"]) == 32


async def test_unknown_route_is_a_json_error(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    body = await response.json()
    assert body["error"]["code"] == "not_found"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_graceful_shutdown_finishes_in_flight_requests(settings: Settings) -> None:
    """On stop the server refuses new connections but completes the request it is handling."""
    app = create_app(settings)
    started = asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(0.5)
        return web.Response(text="finished")

    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/slow"))
        await started.wait()
        cleanup = asyncio.create_task(runner.cleanup())
        response = await in_flight
        assert response.status == 200
        assert await response.text() == "finished"
        await cleanup
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/healthz")


async def test_serve_stops_on_its_stop_event(settings: Settings) -> None:
    stop = asyncio.Event()
    ports: list[int] = []
    task = asyncio.create_task(serve(settings, "127.0.0.1", 0, ready=ports.append, stop=stop))
    for _ in range(100):
        if ports:
            break
        await asyncio.sleep(0.05)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{ports[0]}/healthz") as response,
    ):
        assert response.status == 200
    stop.set()
    await asyncio.wait_for(task, 10)


def test_sigterm_exits_cleanly(database_url: str, tmp_path: Path) -> None:
    """The real process: SIGTERM leads to 'shutdown_complete' and exit code 0."""
    port = _free_port()
    env = {
        **os.environ,
        "PARTNER_DATABASE_URL": database_url,
        "PARTNER_STATE_DIR": str(tmp_path / "state"),
        "PARTNER_PORT": str(port),
        "PARTNER_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "partner", "serve"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert '"event": "shutdown_complete"' in stderr


def test_make_settings_is_for_tests_only(tmp_path: Path) -> None:
    assert make_settings("sqlite:///x.db", tmp_path).database_url.startswith("sqlite+aiosqlite")


async def test_method_not_allowed_keeps_the_allow_header(client: TestClient[web.Request, web.Application]) -> None:
    response = await client.delete("/healthz")
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert (await response.json())["error"]["code"] == "method_not_allowed"


def test_console_tracebacks_do_not_show_local_variables() -> None:
    """A secret held in a local variable must not appear in a logged exception."""
    import io
    import logging

    import structlog

    from partner.logs import configure_logging

    configure_logging("console", "info")
    stream = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=stream))
    try:
        customer_text = "saya sudah transfer 500rb"  # noqa: F841 - the value must not leak into the log
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("t").exception("failed")
    finally:
        configure_logging("console", "info")
        logging.getLogger().handlers.clear()
    assert "boom" in stream.getvalue()
    assert "sudah transfer" not in stream.getvalue()
