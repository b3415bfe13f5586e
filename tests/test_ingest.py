"""Ingest rules: delivery status never downgraded, echoes update our rows, conversations start and end right,
and no input (random JSON, mutated fixtures) ever produces a server error."""

from __future__ import annotations

import asyncio
import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partner.app import create_app
from partner.appkeys import engine_key
from partner.platforms import get_platform
from partner.store.models import Conversation, Message, OutboxEvent, table, utcnow
from tests.conftest import META_APP_SECRET, TIKTOK_APP_SECRET, admin_headers, make_settings
from tests.corpus import corpus_dir

Client = TestClient[web.Request, web.Application]
PHONE_NUMBER_ID = "106540352242922"
LINE_CHANNEL_ID = "1650000000"
LINE_SECRET = "line-secret-ingest"
MESSAGES = table(Message)
CONVERSATIONS = table(Conversation)


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def _status(wamid: str, status: str, timestamp: int) -> dict[str, Any]:
    return _envelope(
        {"statuses": [{"id": wamid, "status": status, "timestamp": str(timestamp), "recipient_id": "628111"}]}
    )


def _text(wamid: str, timestamp: int, text: str = "hi", wa_id: str = "628111") -> dict[str, Any]:
    message = {"from": wa_id, "id": wamid, "timestamp": str(timestamp), "type": "text", "text": {"body": text}}
    return _envelope({"contacts": [{"profile": {"name": "C"}, "wa_id": wa_id}], "messages": [message]})


async def _post(client: Client, payload: dict[str, Any] | bytes, platform: str = "whatsapp") -> int:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if platform == "line":
        headers = get_platform("line").sign(raw, LINE_SECRET.encode())
        path = f"/webhooks/line/{LINE_CHANNEL_ID}"
    else:
        secret = TIKTOK_APP_SECRET if platform == "tiktok" else META_APP_SECRET
        headers, path = get_platform(platform).sign(raw, secret.encode()), f"/webhooks/{platform}"
    response = await client.post(path, data=raw, headers=headers)
    await response.read()
    return response.status


async def _setup(client: Client) -> int:
    workspace = await client.post("/api/v1/workspaces", json={"name": "W"}, headers=admin_headers())
    workspace_id = int((await workspace.json())["id"])
    channels = [
        {"platform": "whatsapp", "external_id": PHONE_NUMBER_ID, "secrets": {"access_token": "t"}},
        {
            "platform": "line",
            "external_id": LINE_CHANNEL_ID,
            "secrets": {"channel_secret": LINE_SECRET, "channel_access_token": "t"},
        },
    ]
    for channel in channels:
        response = await client.post(
            "/api/v1/channels", json={"workspace_id": workspace_id, **channel}, headers=admin_headers()
        )
        assert response.status == 201
    return workspace_id


async def _outbound(client: Client, wamid: str, status: str = "sent") -> None:
    """An outbound message as the inbox stores it, to receive statuses and echoes."""
    async with client.app[engine_key].begin() as connection:
        row = (await connection.execute(sa.select(CONVERSATIONS.c.id, CONVERSATIONS.c.contact_id))).first()
        assert row is not None
        await connection.execute(
            sa.insert(MESSAGES).values(
                workspace_id=1, conversation_id=row.id, channel_id=1, contact_id=row.contact_id, direction="outbound",
                platform_message_id=wamid, message_type="text", text="our reply", delivery_status=status,
                sent_at=datetime(2026, 1, 1, tzinfo=UTC), created_at=utcnow(), private_note=False,
            )
        )  # fmt: skip


async def _message(client: Client, wamid: str) -> Any:
    async with client.app[engine_key].connect() as connection:
        return (await connection.execute(sa.select(MESSAGES).where(MESSAGES.c.platform_message_id == wamid))).one()


class TestDeliveryStatus:
    async def test_late_delivered_does_not_overwrite_read(self, client: Client) -> None:
        """Statuses arrive out of order; the highest one wins."""
        await _setup(client)
        assert await _post(client, _text("wamid.IN", 1767225600)) == 200
        await _outbound(client, "wamid.OUT")
        assert await _post(client, _status("wamid.OUT", "read", 1767225700)) == 200
        assert await _post(client, _status("wamid.OUT", "delivered", 1767225650)) == 200
        assert (await _message(client, "wamid.OUT")).delivery_status == "read"

    async def test_failed_status_keeps_the_error(self, client: Client) -> None:
        await _setup(client)
        await _post(client, _text("wamid.IN", 1767225600))
        await _outbound(client, "wamid.OUT")
        failed = _status("wamid.OUT", "failed", 1767225700)
        failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = [
            {"code": 131026, "title": "Undeliverable"}
        ]
        await _post(client, failed)
        message = await _message(client, "wamid.OUT")
        assert message.delivery_status == "failed"
        assert "131026" in message.error


async def test_echo_updates_our_outbound_row(client: Client) -> None:
    """Meta echoes what the business sent; the echo is not a new inbound message."""
    await _setup(client)
    await _post(client, _text("wamid.IN", 1767225600))
    await _outbound(client, "wamid.ECHO", status="pending")
    echo = _envelope(
        {
            "message_echoes": [
                {"from": "15550783881", "to": "628111", "id": "wamid.ECHO", "timestamp": "1767225601", "type": "text",
                 "text": {"body": "our reply"}}
            ]
        }
    )  # fmt: skip
    echo["entry"][0]["changes"][0]["field"] = "smb_message_echoes"
    assert await _post(client, echo) == 200
    async with client.app[engine_key].connect() as connection:
        rows = (await connection.execute(sa.select(MESSAGES.c.direction, MESSAGES.c.delivery_status))).all()
    assert sorted(tuple(row) for row in rows) == [("inbound", None), ("outbound", "sent")]


class TestConversations:
    async def test_idle_time_starts_a_new_conversation_and_reports_it(self, client: Client) -> None:
        await _setup(client)
        start = 1767225600
        await _post(client, _text("wamid.1", start))
        await _post(client, _text("wamid.2", start + 3600))
        await _post(client, _text("wamid.3", start + 3600 + 25 * 3600))
        async with client.app[engine_key].connect() as connection:
            conversations = (await connection.execute(sa.select(CONVERSATIONS).order_by(CONVERSATIONS.c.id))).all()
            outbox = (await connection.execute(sa.select(table(OutboxEvent)))).all()
        assert [c.status for c in conversations] == ["resolved", "open"]
        assert len(outbox) == 2
        assert len({row.event_id for row in outbox}) == 2

    async def test_resolved_conversation_is_not_reopened(self, client: Client) -> None:
        await _setup(client)
        await _post(client, _text("wamid.1", 1767225600))
        async with client.app[engine_key].begin() as connection:
            await connection.execute(sa.update(CONVERSATIONS).values(status="resolved"))
        await _post(client, _text("wamid.2", 1767225660))
        async with client.app[engine_key].connect() as connection:
            count = (await connection.execute(sa.select(sa.func.count()).select_from(CONVERSATIONS))).scalar_one()
        assert count == 2


async def test_location_is_stored_as_media(client: Client) -> None:
    await _setup(client)
    payload = _text("wamid.LOC", 1767225600)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="location", location={"latitude": -6.2, "longitude": 106.8, "name": "Toko"})
    await _post(client, payload)
    stored = await _message(client, "wamid.LOC")
    assert stored.message_type == "location"
    assert stored.media["location"] == {"latitude": -6.2, "longitude": 106.8, "name": "Toko"}


async def test_read_watermark_marks_earlier_outbound_messages(client: Client) -> None:
    """Messenger's read receipt names no message: everything sent before the watermark was read."""
    workspace = await client.post("/api/v1/workspaces", json={"name": "M"}, headers=admin_headers())
    page = {"workspace_id": (await workspace.json())["id"], "platform": "messenger", "external_id": "PAGE1",
            "secrets": {"page_access_token": "t"}}  # fmt: skip
    await client.post("/api/v1/channels", json=page, headers=admin_headers())
    inbound = {"object": "page", "entry": [{"id": "PAGE1", "time": 1767225600000, "messaging": [
        {"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": 1767225600000,
         "message": {"mid": "m_in", "text": "hello"}}]}]}  # fmt: skip
    assert await _post(client, inbound, "messenger") == 200
    await _outbound(client, "m_out")
    read = {"object": "page", "entry": [{"id": "PAGE1", "time": 1767225700000, "messaging": [
        {"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": 1767225700000,
         "read": {"watermark": 1767225690000}}]}]}  # fmt: skip
    assert await _post(client, read, "messenger") == 200
    assert (await _message(client, "m_out")).delivery_status == "read"


# --- no input produces a server error ------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
PLATFORMS = ("whatsapp", "messenger", "line", "tiktok")


def _fixtures() -> list[tuple[str, Any]]:
    found = []
    for platform in PLATFORMS:
        for path in sorted((corpus_dir() / platform).glob("*.json")):
            found.append((platform, json.loads(path.read_text())))
    return found


def _mutate(value: Any, rng: random.Random, replacement: Any) -> Any:
    """Replace, drop or retype one node somewhere in the document."""
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        action = rng.random()
        if action < 0.3:
            value.pop(key)
        elif action < 0.6:
            value[key] = replacement
        else:
            value[key] = _mutate(value[key], rng, replacement)
        return value
    if isinstance(value, list) and value:
        index = rng.randrange(len(value))
        value[index] = _mutate(value[index], rng, replacement) if rng.random() < 0.7 else replacement
        return value
    return replacement


@pytest.fixture
def live_client(tmp_path: Path, database_url: str) -> Any:
    """A client on its own loop, so hypothesis can drive many examples through one running app."""
    loop = asyncio.new_event_loop()
    app = create_app(make_settings(database_url, tmp_path))
    client: Client = TestClient(TestServer(app), loop=loop)
    loop.run_until_complete(client.start_server())
    loop.run_until_complete(_setup(client))
    yield loop, client
    loop.run_until_complete(client.close())
    loop.close()


def test_random_json_never_produces_a_server_error(live_client: Any) -> None:
    loop, client = live_client

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payload=JSON_VALUES, platform=st.sampled_from(PLATFORMS))
    def check(payload: Any, platform: str) -> None:
        status = loop.run_until_complete(_post(client, json.dumps(payload).encode(), platform))
        statuses.append(status)
        assert status in (200, 400), status

    statuses: list[int] = []
    check()
    assert len(statuses) >= 100


def test_mutated_fixtures_never_produce_a_server_error(live_client: Any) -> None:
    loop, client = live_client
    fixtures = _fixtures()

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(index=st.integers(0, len(fixtures) - 1), seed=st.integers(0, 2**32), replacement=JSON_VALUES)
    def check(index: int, seed: int, replacement: Any) -> None:
        platform, document = fixtures[index]
        mutated = _mutate(copy.deepcopy(document), random.Random(seed), replacement)
        status = loop.run_until_complete(_post(client, json.dumps(mutated).encode(), platform))
        statuses.append(status)
        assert status in (200, 400), status

    statuses: list[int] = []
    check()
    assert len(statuses) >= 200
    assert statuses.count(200) > 20  # many mutations are still valid envelopes and get stored


def test_timestamps_far_in_the_past_or_future_are_stored(live_client: Any) -> None:
    loop, client = live_client
    for index, stamp in enumerate((0, 1, 4102444800, 253402300799)):
        assert loop.run_until_complete(_post(client, _text(f"wamid.T{index}", stamp))) == 200
