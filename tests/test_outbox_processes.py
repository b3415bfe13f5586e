"""The outbox across real service processes: a SIGKILL mid-delivery loses nothing, and two processes on one
PostgreSQL database send each event exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from partner.platforms import whatsapp
from partner.sandbox import SandboxConfig, create_sandbox_app
from partner.sandbox.state import DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID
from tests.conftest import ADMIN_TOKEN, META_APP_SECRET, SECRET_KEY, postgres_base_url

PHONE_NUMBER_ID = "106540352242922"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _service(
    database_url: str, sandbox: TestServer, workdir: Path, **extra: str
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {
        **os.environ,
        "PARTNER_DATABASE_URL": database_url,
        "PARTNER_PORT": str(port),
        "PARTNER_SECRET_KEY": SECRET_KEY,
        "PARTNER_ADMIN_TOKEN": ADMIN_TOKEN,
        "PARTNER_META_APP_SECRET": META_APP_SECRET,
        "PARTNER_TIKTOK_API_BASE": str(sandbox.make_url("/open_api/v1.3/")),
        "PARTNER_STATE_DIR": str(workdir / "state"),
        "PARTNER_LOG_FORMAT": "json",
        "PARTNER_LOG_LEVEL": "warning",
        "PARTNER_OUTBOX_POLL_SECONDS": "0.05",
        "PARTNER_OUTBOX_LEASE_SECONDS": "2",
        **extra,
    }
    process = subprocess.Popen([sys.executable, "-m", "partner", "serve"], env=env, cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        await _until(lambda: _ready(base), within=60)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


async def _ready(base: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _until(check: Callable[[], Any], *, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def _configure(base: str) -> None:
    async with aiohttp.ClientSession(headers=ADMIN) as session:
        async with session.post(f"{base}/api/v1/workspaces", json={"name": "Shop"}) as response:
            workspace_id = (await response.json())["id"]
        channel = {"workspace_id": workspace_id, "platform": "whatsapp", "external_id": PHONE_NUMBER_ID,
                   "secrets": {"access_token": "t"}}  # fmt: skip
        async with session.post(f"{base}/api/v1/channels", json=channel) as response:
            assert response.status == 201
        reporting = {"event_source": "web", "event_source_id": DEFAULT_MES_ID, "access_token": DEFAULT_EVENTS_TOKEN}
        async with session.put(f"{base}/api/v1/workspaces/{workspace_id}/reporting", json=reporting) as response:
            assert response.status == 200


async def _post_conversations(base: str, count: int, offset: int = 0) -> None:
    async with aiohttp.ClientSession() as session:

        async def one(index: int) -> None:
            wa_id = f"62899{index:07d}"
            value = {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                "contacts": [{"profile": {"name": "C"}, "wa_id": wa_id}],
                "messages": [{"from": wa_id, "id": f"wamid.P{index}", "timestamp": "1893456000", "type": "text",
                              "text": {"body": "hello"}}],
            }  # fmt: skip
            raw = json.dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
                }
            ).encode()
            headers = whatsapp.sign(raw, META_APP_SECRET.encode())
            async with session.post(f"{base}/webhooks/whatsapp", data=raw, headers=headers) as response:
                assert response.status == 200

        for start in range(offset, offset + count, 50):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 50, offset + count))))


async def _sandbox(sandbox: TestServer, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as session, session.request(method, sandbox.make_url(path), json=body) as r:
        return await r.json()


async def _delivered(base: str) -> int:
    async with aiohttp.ClientSession(headers=ADMIN) as session:
        params = {"status": "delivered", "limit": "500"}
        async with session.get(f"{base}/api/v1/events", params=params) as response:
            return len((await response.json())["events"])


@pytest.fixture
async def sandbox(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_sandbox_app(SandboxConfig()))


async def test_sigkill_while_the_outbox_holds_events_loses_nothing(
    database_url: str, sandbox: TestServer, tmp_path: Path
) -> None:
    """Kill -9 while a delivery hangs; the restarted service delivers every event exactly once."""
    await _sandbox(sandbox, "POST", "/_sandbox/faults", {"timeout_rate": 1.0, "timeout_seconds": 30})
    async with _service(database_url, sandbox, tmp_path, PARTNER_HTTP_TIMEOUT_SECONDS="60") as (base, process):
        await _configure(base)
        await _post_conversations(base, 120)

        async def sender_is_stuck() -> bool:
            recorded = await _sandbox(sandbox, "GET", "/_sandbox/requests")
            return any(r["path"].endswith("/event/track/") for r in recorded["requests"])

        await _until(sender_is_stuck, within=30)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    await _sandbox(sandbox, "DELETE", "/_sandbox/faults")

    async with _service(database_url, sandbox, tmp_path) as (base, _process):

        async def all_delivered() -> bool:
            return await _delivered(base) == 120

        await _until(all_delivered, within=60)
    events = (await _sandbox(sandbox, "GET", "/_sandbox/events"))["events"]
    assert len({event["event_id"] for event in events}) == 120
    assert all(event["count"] == 1 for event in events)


@pytest.mark.skipif(postgres_base_url() is None, reason="runs in the PostgreSQL pass of the suite")
async def test_two_processes_on_one_postgresql_send_each_event_once(
    database_url: str, sandbox: TestServer, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        _service(database_url, sandbox, tmp_path / "a") as (base_a, _a),
        _service(database_url, sandbox, tmp_path / "b") as (base_b, _b),
    ):
        await _configure(base_a)
        await asyncio.gather(_post_conversations(base_a, 200), _post_conversations(base_b, 200, offset=200))

        async def all_delivered() -> bool:
            return await _delivered(base_a) == 400

        await _until(all_delivered, within=90)
    events = (await _sandbox(sandbox, "GET", "/_sandbox/events"))["events"]
    assert len({event["event_id"] for event in events}) == 400
    assert all(event["count"] == 1 for event in events), "an event was sent by both processes"
    requests = (await _sandbox(sandbox, "GET", "/_sandbox/requests"))["requests"]
    assert sum(1 for r in requests if r["path"].endswith("/event/track/")) >= 2
