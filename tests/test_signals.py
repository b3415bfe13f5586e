"""Keyword signals in the running service: flags on messages and conversations, events for new signals,
hot reload of dropped-in keyword files, and no message text in logs or outbound requests."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from partner.app import create_app, jobs_key, keywords_key, outbox_key
from partner.appkeys import engine_key
from partner.platforms import get_platform
from partner.sandbox import SandboxConfig, create_sandbox_app
from partner.sandbox.state import DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID
from partner.settings import Settings
from partner.store.models import Conversation, Message, OutboxEvent, table
from tests.conftest import META_APP_SECRET, REPO_ROOT, admin_headers

Client = TestClient[web.Request, web.Application]
PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture
def keywords_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keywords"
    shutil.copytree(REPO_ROOT / "keywords", directory)
    return directory


@pytest.fixture
async def sandbox(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_sandbox_app(SandboxConfig()))


@pytest.fixture
async def app_client(
    aiohttp_client: AiohttpClient, settings: Settings, sandbox: TestServer, keywords_dir: Path
) -> Client:
    configured = dataclasses.replace(
        settings, tiktok_api_base=str(sandbox.make_url("/open_api/v1.3/")), keywords_dir=keywords_dir
    )
    client = await aiohttp_client(create_app(configured))
    workspace = await client.post("/api/v1/workspaces", json={"name": "W"}, headers=admin_headers())
    workspace_id = (await workspace.json())["id"]
    channel = {"workspace_id": workspace_id, "platform": "whatsapp", "external_id": PHONE_NUMBER_ID,
               "secrets": {"access_token": "t"}}  # fmt: skip
    await client.post("/api/v1/channels", json=channel, headers=admin_headers())
    reporting = {"event_source": "web", "event_source_id": DEFAULT_MES_ID, "access_token": DEFAULT_EVENTS_TOKEN}
    await client.put(f"/api/v1/workspaces/{workspace_id}/reporting", json=reporting, headers=admin_headers())
    return client


async def _say(client: Client, wamid: str, text: str, timestamp: int = 1893456000) -> None:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "C"}, "wa_id": "6281234567890"}],
        "messages": [{"from": "6281234567890", "id": wamid, "timestamp": str(timestamp), "type": "text",
                      "text": {"body": text}}],
    }  # fmt: skip
    raw = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()
    response = await client.post(
        "/webhooks/whatsapp", data=raw, headers=get_platform("whatsapp").sign(raw, META_APP_SECRET.encode())
    )
    assert response.status == 200
    await client.app[jobs_key].run_once()


async def _one(client: Client, query: Any) -> Any:
    async with client.app[engine_key].connect() as connection:
        return (await connection.execute(query)).one()


async def _outcomes(client: Client) -> list[str]:
    outbox = table(OutboxEvent)
    async with client.app[engine_key].connect() as connection:
        return list((await connection.execute(sa.select(outbox.c.outcome).order_by(outbox.c.id))).scalars())


async def test_flags_land_on_the_message_and_stick_on_the_conversation(app_client: Client) -> None:
    await _say(app_client, "wamid.1", "Kak, saya sudah transfer ya")
    message = await _one(app_client, sa.select(table(Message)).where(table(Message).c.platform_message_id == "wamid.1"))
    assert message.flags == {"payment": True}
    first = (await _one(app_client, sa.select(table(Conversation)))).flags
    assert set(first) == {"payment"}

    await _say(app_client, "wamid.2", "Sudah bayar juga ongkirnya, berapa harganya?", 1893456060)
    later = (await _one(app_client, sa.select(table(Conversation)))).flags
    assert later["payment"] == first["payment"]  # the time it first became true stays
    assert "price_inquiry" in later
    assert await _outcomes(app_client) == ["conversation_started", "signal:payment", "signal:price_inquiry"]


async def test_signal_events_reach_tiktok_as_flags_only(app_client: Client, sandbox: TestServer) -> None:
    await _say(app_client, "wamid.1", "已经付款了")
    await app_client.app[outbox_key].run_once()
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(sandbox.make_url("/_sandbox/events")) as response:
        events = {event["event"]: event["payload"] for event in (await response.json())["events"]}
    assert set(events) == {"Contact", "payment"}
    assert events["payment"]["properties"] == {"payment": True}


async def _until(check: Any, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")


async def test_a_file_dropped_into_the_running_app_applies_to_the_next_message(
    app_client: Client, keywords_dir: Path
) -> None:
    registry = app_client.app[keywords_key]
    await _say(app_client, "wamid.1", "I would like a refund please")
    assert "refund" not in ((await _one(app_client, sa.select(table(Conversation)))).flags or {})

    (keywords_dir / "refund.txt").write_text("# customers asking for money back\nrefund\nmoney back\n")
    loop = asyncio.get_running_loop()
    dropped = loop.time()
    await _until(lambda: "refund" in registry.status()["signals"], within=2.0)
    assert loop.time() - dropped < 2.0
    await _say(app_client, "wamid.2", "Can I get a refund for the shoes?", 1893456060)
    assert "refund" in (await _one(app_client, sa.select(table(Conversation)))).flags

    (keywords_dir / "refund.txt").write_text("refund\nre: (unclosed\n")
    await _until(lambda: bool(registry.status()["errors"]), within=2.0)
    status = registry.status()
    assert "refund" in status["signals"], "the last good version stays in force"
    [error] = status["errors"]
    assert (error["file"], error["line"]) == ("refund.txt", 2)
    assert "invalid pattern" in error["reason"]
    await _say(app_client, "wamid.3", "refund again please", 1893456120)
    message = await _one(app_client, sa.select(table(Message)).where(table(Message).c.platform_message_id == "wamid.3"))
    assert message.flags == {"refund": True}

    response = await app_client.get("/api/v1/keywords", headers=admin_headers())
    assert response.status == 200
    assert "refund" in (await response.json())["signals"]
    assert (await app_client.get("/api/v1/keywords")).status == 401


async def test_no_message_text_in_logs_or_outbound_requests(app_client: Client, sandbox: TestServer) -> None:
    texts = ["Sudah transfer pembayaran kak", "โอนเงินแล้วครับ ขอบคุณ", "Quiero pagar con tarjeta ahora"]
    with structlog.testing.capture_logs() as logs:
        for index, text in enumerate(texts):
            await _say(app_client, f"wamid.L{index}", text, 1893456000 + index)
        await app_client.app[outbox_key].run_once()
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(sandbox.make_url("/_sandbox/requests")) as response:
        recorded = await response.text()
    logged = json.dumps(logs, default=str, ensure_ascii=False)
    assert any(entry.get("event") == "events_sent" for entry in logs), "the flow logged; the check is not vacuous"
    for text in texts:
        for start in range(len(text) - 5):
            piece = text[start : start + 6]
            assert piece not in logged
            assert piece not in recorded
