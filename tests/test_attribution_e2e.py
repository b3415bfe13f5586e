"""Ad click to TikTok event, per platform: click with ttclid -> redirect -> the chat's first message carries the
code back -> the conversation is attributed -> the stand-in receives the event with that ttclid.

The code never shows in the stored text, in keyword scanning, or in any request sent to TikTok.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from partner.app import create_app, outbox_key
from partner.appkeys import engine_key
from partner.platforms import get_platform
from partner.sandbox import SandboxConfig, create_sandbox_app
from partner.sandbox.state import DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID
from partner.settings import Settings
from partner.store.models import Conversation, Message, table
from tests.conftest import META_APP_SECRET, admin_headers

Client = TestClient[web.Request, web.Application]
LINE_SECRET = "line-secret-attribution"
TTCLID = "E.C.P.v3Vqzq8yHkT3cW1bQ9"
CHANNELS = {
    "whatsapp": {"external_id": "106540352242922", "display_phone": "+6281234567000", "secrets": {"access_token": "t"}},
    "line": {"external_id": "1657000001", "line_basic_id": "@shop123",
             "secrets": {"channel_secret": LINE_SECRET, "channel_access_token": "t"}},
    "messenger": {"external_id": "PAGE77", "secrets": {"page_access_token": "t"}},
}  # fmt: skip


@pytest.fixture
async def sandbox(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_sandbox_app(SandboxConfig()))


@pytest.fixture
async def app_client(aiohttp_client: AiohttpClient, settings: Settings, sandbox: TestServer) -> Client:
    base = str(sandbox.make_url("/open_api/v1.3/"))
    return await aiohttp_client(create_app(dataclasses.replace(settings, tiktok_api_base=base)))


async def _setup(client: Client, platform: str, greeting: str | None = "Hi, I saw your ad") -> tuple[int, str]:
    workspace = await client.post("/api/v1/workspaces", json={"name": "Shop"}, headers=admin_headers())
    workspace_id = (await workspace.json())["id"]
    body = {"workspace_id": workspace_id, "platform": platform, **CHANNELS[platform]}
    channel = await client.post("/api/v1/channels", json=body, headers=admin_headers())
    assert channel.status == 201, await channel.text()
    reporting = {"event_source": "web", "event_source_id": DEFAULT_MES_ID, "access_token": DEFAULT_EVENTS_TOKEN}
    await client.put(f"/api/v1/workspaces/{workspace_id}/reporting", json=reporting, headers=admin_headers())
    link_body = {"channel_id": (await channel.json())["id"], "greeting": greeting, "campaign": "spring-sale"}
    link = await client.post("/api/v1/links", json=link_body, headers=admin_headers())
    assert link.status == 201, await link.text()
    return workspace_id, (await link.json())["slug"]


async def _click(client: Client, slug: str, **query: str) -> str:
    response = await client.get(f"/r/{slug}", params=query, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Cache-Control"] == "no-store"
    return response.headers["Location"]


def _prefilled_text(location: str) -> str:
    parts = urlsplit(location)
    if parts.netloc == "wa.me":
        return parse_qs(parts.query)["text"][0]
    assert parts.netloc == "line.me"
    return unquote(parts.query)


async def _post(client: Client, platform: str, payload: dict[str, Any]) -> None:
    raw = json.dumps(payload).encode()
    if platform == "line":
        path, headers = (
            f"/webhooks/line/{CHANNELS['line']['external_id']}",
            get_platform("line").sign(raw, LINE_SECRET.encode()),
        )
    else:
        path, headers = f"/webhooks/{platform}", get_platform(platform).sign(raw, META_APP_SECRET.encode())
    response = await client.post(path, data=raw, headers=headers)
    assert response.status == 200, await response.text()


def _whatsapp_text(wamid: str, text: str, timestamp: int) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281234567000", "phone_number_id": CHANNELS["whatsapp"]["external_id"]},
        "contacts": [{"profile": {"name": "C"}, "wa_id": "6285550001111"}],
        "messages": [{"from": "6285550001111", "id": wamid, "timestamp": str(timestamp), "type": "text",
                      "text": {"body": text}}],
    }  # fmt: skip
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def _line_text(event_id: str, text: str, timestamp_ms: int) -> dict[str, Any]:
    event = {
        "type": "message", "mode": "active", "timestamp": timestamp_ms, "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False}, "replyToken": "r" * 32,
        "source": {"type": "user", "userId": "U4af4980629"},
        "message": {"id": f"m{event_id}", "type": "text", "quoteToken": "q", "text": text},
    }  # fmt: skip
    return {"destination": "Ubot", "events": [event]}


async def _now(client: Client) -> int:
    from partner.store.models import utcnow

    return int(utcnow().timestamp())


async def _conversation(client: Client) -> Any:
    async with client.app[engine_key].connect() as connection:
        return (await connection.execute(sa.select(table(Conversation)))).one()


async def _texts(client: Client) -> list[str | None]:
    async with client.app[engine_key].connect() as connection:
        return list(
            (await connection.execute(sa.select(table(Message).c.text).order_by(table(Message).c.id))).scalars()
        )


async def _reported_users(client: Client, sandbox: TestServer) -> list[dict[str, Any]]:
    await client.app[outbox_key].run_once()
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(sandbox.make_url("/_sandbox/requests")) as response:
        requests = (await response.json())["requests"]
    return [event["user"] for r in requests if r["path"].endswith("/event/track/") for event in r["body"]["data"]]


async def test_whatsapp_click_to_event_with_ttclid(app_client: Client, sandbox: TestServer) -> None:
    _, slug = await _setup(app_client, "whatsapp")
    location = await _click(app_client, slug, ttclid=TTCLID, utm_source="tiktok")
    assert location.startswith("https://wa.me/6281234567000?text=")
    text = _prefilled_text(location)
    assert text.startswith("Hi, I saw your ad [ref:")
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.A1", text, await _now(app_client)))

    conversation = await _conversation(app_client)
    assert conversation.ttclid == TTCLID
    assert conversation.attribution_source == "tiktok"
    assert await _texts(app_client) == ["Hi, I saw your ad"]
    [user] = await _reported_users(app_client, sandbox)
    assert user["ttclid"] == TTCLID


async def test_line_click_to_event_with_ttclid(app_client: Client, sandbox: TestServer) -> None:
    _, slug = await _setup(app_client, "line")
    location = await _click(app_client, slug, ttclid=TTCLID)
    assert location.startswith("https://line.me/R/oaMessage/%40shop123/?")
    text = _prefilled_text(location)
    await _post(app_client, "line", _line_text("01HLINE0001", text, await _now(app_client) * 1000))
    assert (await _conversation(app_client)).ttclid == TTCLID
    assert await _texts(app_client) == ["Hi, I saw your ad"]
    [user] = await _reported_users(app_client, sandbox)
    assert user["ttclid"] == TTCLID


async def test_messenger_click_to_event_with_ttclid(app_client: Client, sandbox: TestServer) -> None:
    _, slug = await _setup(app_client, "messenger")
    location = await _click(app_client, slug, ttclid=TTCLID)
    parts = urlsplit(location)
    assert (parts.netloc, parts.path) == ("m.me", "/PAGE77")
    code = parse_qs(parts.query)["ref"][0]
    now_ms = await _now(app_client) * 1000
    get_started = {"object": "page", "entry": [{"id": "PAGE77", "time": now_ms, "messaging": [
        {"sender": {"id": "PSID9"}, "recipient": {"id": "PAGE77"}, "timestamp": now_ms,
         "postback": {"title": "Get Started", "payload": "GET_STARTED",
                      "referral": {"ref": code, "source": "SHORTLINK", "type": "OPEN_THREAD"}}}]}]}  # fmt: skip
    await _post(app_client, "messenger", get_started)
    assert (await _conversation(app_client)).ttclid == TTCLID
    [user] = await _reported_users(app_client, sandbox)
    assert user["ttclid"] == TTCLID


async def test_edited_prefilled_text_still_matches(app_client: Client, sandbox: TestServer) -> None:
    _, slug = await _setup(app_client, "whatsapp")
    code = _prefilled_text(await _click(app_client, slug, ttclid=TTCLID)).split("[ref:")[1].rstrip("]")
    edited = f"hello!! do you ship to Bandung?   REF : {code.lower()[:4]} {code.lower()[4:]}\n"
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.E1", edited, await _now(app_client)))
    assert (await _conversation(app_client)).ttclid == TTCLID
    [stored] = await _texts(app_client)
    assert stored is not None
    assert code.lower()[:4] not in stored.lower()


async def test_code_in_the_second_message_attributes_events_not_yet_sent(
    app_client: Client, sandbox: TestServer
) -> None:
    _, slug = await _setup(app_client, "whatsapp", greeting=None)
    text = _prefilled_text(await _click(app_client, slug, ttclid=TTCLID))
    now = await _now(app_client)
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.S1", "hello", now))
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.S2", text, now + 5))
    [user] = await _reported_users(app_client, sandbox)
    assert user["ttclid"] == TTCLID
    assert await _texts(app_client) == ["hello", None]


async def test_reused_code_attributes_only_the_first_conversation(app_client: Client, sandbox: TestServer) -> None:
    _, slug = await _setup(app_client, "whatsapp")
    text = _prefilled_text(await _click(app_client, slug, ttclid=TTCLID))
    now = await _now(app_client)
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.R1", text, now))
    other = _whatsapp_text("wamid.R2", text, now + 1)
    other["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "6285550002222"
    other["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "6285550002222"
    await _post(app_client, "whatsapp", other)
    async with app_client.app[engine_key].connect() as connection:
        ttclids = (await connection.execute(sa.select(table(Conversation).c.ttclid).order_by("id"))).scalars().all()
    assert ttclids == [TTCLID, None]


async def test_expired_code_leaves_the_conversation_unattributed(app_client: Client, sandbox: TestServer) -> None:
    _, slug = await _setup(app_client, "whatsapp")
    text = _prefilled_text(await _click(app_client, slug, ttclid=TTCLID))
    late = await _now(app_client) + int(timedelta(days=8).total_seconds())
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.X1", text, late))
    assert (await _conversation(app_client)).ttclid is None
    [user] = await _reported_users(app_client, sandbox)
    assert "ttclid" not in user


async def test_click_without_ttclid_is_recorded_unattributed(app_client: Client, sandbox: TestServer) -> None:
    _, slug = await _setup(app_client, "whatsapp")
    text = _prefilled_text(await _click(app_client, slug))
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.N1", text, await _now(app_client)))
    conversation = await _conversation(app_client)
    assert conversation.click_id is not None
    assert conversation.ttclid is None


async def test_the_code_never_reaches_tiktok_or_the_keyword_scan(app_client: Client, sandbox: TestServer) -> None:
    _, slug = await _setup(app_client, "whatsapp")
    text = _prefilled_text(await _click(app_client, slug, ttclid=TTCLID))
    code = text.split("[ref:")[1].rstrip("]")
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.P1", text, await _now(app_client)))
    await _reported_users(app_client, sandbox)
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(sandbox.make_url("/_sandbox/requests")) as response:
        recorded = await response.text()
    assert code not in recorded
    assert "saw your ad" not in recorded


async def test_maintenance_forgets_ip_and_user_agent_after_the_window(app_client: Client, sandbox: TestServer) -> None:
    from partner.app import run_maintenance
    from partner.attribution.models import Click
    from partner.store.models import utcnow

    _, slug = await _setup(app_client, "whatsapp")
    await _click(app_client, slug, ttclid=TTCLID)
    clicks = table(Click)
    async with app_client.app[engine_key].begin() as connection:
        await connection.execute(sa.update(clicks).values(expires_at=utcnow() - timedelta(days=1)))
    assert (await run_maintenance(app_client.app))["clicks_purged"] == 1
    async with app_client.app[engine_key].connect() as connection:
        row = (await connection.execute(sa.select(clicks))).one()
    assert (row.ip, row.user_agent) == (None, None)
    assert row.ttclid == TTCLID


async def test_the_inbox_shows_and_filters_attribution(app_client: Client, sandbox: TestServer) -> None:
    workspace_id, slug = await _setup(app_client, "whatsapp")
    text = _prefilled_text(await _click(app_client, slug, ttclid=TTCLID))
    now = await _now(app_client)
    await _post(app_client, "whatsapp", _whatsapp_text("wamid.I1", text, now))
    organic = _whatsapp_text("wamid.I2", "just browsing", now + 1)
    organic["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "6285550009999"
    organic["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "6285550009999"
    await _post(app_client, "whatsapp", organic)

    async def listing(**query: str) -> list[dict[str, Any]]:
        params = {"workspace_id": str(workspace_id), **query}
        response = await app_client.get("/api/v1/conversations", params=params, headers=admin_headers())
        assert response.status == 200, await response.text()
        return list((await response.json())["conversations"])

    [attributed] = await listing(attributed="true")
    assert attributed["attribution"]["ttclid"] == TTCLID
    assert attributed["attribution"]["source"] == "tiktok"
    assert attributed["attribution"]["campaign"] == "spring-sale"
    assert attributed["attribution"]["clicked_at"] is not None
    assert attributed["last_message"]["text"] == "Hi, I saw your ad"
    [unattributed] = await listing(attributed="false")
    assert unattributed["attribution"]["attributed"] is False
