"""Replies end to end against the local Graph and LINE stand-in: stored as pending with a job in one
transaction, sent by the job handler, retried on temporary failures, failed with the platform's reason otherwise;
platform rules (length, media, reply windows) refused up front; private notes never sent; LINE reply tokens used
while fresh and pushes made idempotent with a stored retry key."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from inbox_support import Client, Workspace, add_conversation, build_app, create_workspace, json_of
from pytest_aiohttp import AiohttpClient, AiohttpServer

from partner.appkeys import directory_key, engine_key
from partner.inbox.messages import SEND_JOB
from partner.inbox.models import MESSAGES
from partner.inbox.routes import job_handlers
from partner.platforms import get_platform
from partner.sandbox import STATE_KEY, SandboxConfig, SandboxState, create_sandbox_app
from partner.sandbox.state import Faults
from partner.settings import Settings
from partner.store.models import utcnow
from partner.store.queue import JOBS, JobQueue
from partner.worker import JobWorker, PermanentJobError
from tests.conftest import META_APP_SECRET

LINE_USER = "U" + "a" * 32


@pytest.fixture
async def sandbox(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_sandbox_app(SandboxConfig()))


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, sandbox: TestServer) -> Client:
    overrides = {"graph_api_base": str(sandbox.make_url("/v21.0/")), "line_api_base": str(sandbox.make_url("/"))}
    return await aiohttp_client(build_app(dataclasses.replace(settings, **overrides)))


@pytest.fixture
async def shop(client: Client) -> Workspace:
    return await create_workspace(client, platforms=("whatsapp", "messenger", "line", "tiktok"))


def _state(sandbox: TestServer) -> SandboxState:
    return sandbox.app[STATE_KEY]


async def _reply(client: Client, shop: Workspace, conversation_id: int, body: dict[str, Any], status: int = 201) -> Any:
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json=body, headers=shop.headers("agent")
    )
    return await json_of(response, status)


async def _run_jobs(client: Client) -> int:
    worker = JobWorker(JobQueue(client.app[engine_key]), job_handlers(client.app))
    return await worker.run_once()


async def _message(client: Client, message_id: int) -> Any:
    async with client.app[engine_key].connect() as connection:
        return (await connection.execute(sa.select(MESSAGES).where(MESSAGES.c.id == message_id))).one()


async def _jobs(client: Client) -> list[Any]:
    async with client.app[engine_key].connect() as connection:
        return list((await connection.execute(sa.select(JOBS).where(JOBS.c.kind == SEND_JOB))).all())


async def test_whatsapp_reply_is_stored_pending_then_sent(client: Client, shop: Workspace, sandbox: TestServer) -> None:
    conversation_id = await add_conversation(client, shop, contact="6281234567890")
    created = await _reply(client, shop, conversation_id, {"text": "Yes, it is in stock"})
    assert created["delivery_status"] == "pending"
    assert created["direction"] == "outbound"
    assert created["author_user_id"] == shop.users["agent"]
    [job] = await _jobs(client)
    assert job.payload == {"message_id": created["id"]}
    assert await _run_jobs(client) == 1
    [sent] = _state(sandbox).sent_messages
    assert sent["to"] == "6281234567890"
    assert sent["body"]["text"] == {"body": "Yes, it is in stock"}
    stored = await _message(client, created["id"])
    assert stored.delivery_status == "sent"
    assert stored.platform_message_id == sent["id"]
    listed = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=shop.headers("viewer")), 200
    )
    assert listed["messages"][-1]["delivery_status"] == "sent"


async def test_status_webhooks_then_move_the_reply_on(client: Client, shop: Workspace, sandbox: TestServer) -> None:
    conversation_id = await add_conversation(client, shop, contact="6281234567890")
    created = await _reply(client, shop, conversation_id, {"text": "Thanks!"})
    await _run_jobs(client)
    wamid = (await _message(client, created["id"])).platform_message_id
    status = {"id": wamid, "status": "read", "timestamp": "1893456000", "recipient_id": "6281234567890"}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "100000000000001"}, "statuses": [status]}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    raw = json.dumps(payload).encode()
    headers = get_platform("whatsapp").sign(raw, META_APP_SECRET.encode())
    assert (await client.post("/webhooks/whatsapp", data=raw, headers=headers)).status == 200
    for _ in range(50):
        if (await _message(client, created["id"])).delivery_status == "read":
            break
        await asyncio.sleep(0.02)
    assert (await _message(client, created["id"])).delivery_status == "read"


async def test_messenger_reply(client: Client, shop: Workspace, sandbox: TestServer) -> None:
    conversation_id = await add_conversation(client, shop, "messenger", contact="24000000000001")
    created = await _reply(client, shop, conversation_id, {"text": "Hello from the page"})
    await _run_jobs(client)
    [sent] = _state(sandbox).sent_messages
    assert sent["platform"] == "messenger"
    assert (await _message(client, created["id"])).delivery_status == "sent"


async def test_private_note_is_stored_and_never_sent(client: Client, shop: Workspace, sandbox: TestServer) -> None:
    conversation_id = await add_conversation(client, shop, last_inbound_at=None)  # even with the window closed
    note = await _reply(client, shop, conversation_id, {"private": True, "text": "customer is a reseller"})
    assert note["private"] is True
    assert note["delivery_status"] is None
    assert await _jobs(client) == []
    assert await _run_jobs(client) == 0
    assert _state(sandbox).sent_messages == []
    media_note = {"private": True, "text": "x", "media_url": "https://example.com/a.png", "media_type": "image"}
    await _reply(client, shop, conversation_id, media_note, status=422)


@pytest.mark.parametrize(
    ("platform", "limit"), [("whatsapp", 4096), ("messenger", 2000), ("line", 5000), ("tiktok", 6000)]
)
async def test_text_length_is_checked_per_platform(client: Client, shop: Workspace, platform: str, limit: int) -> None:
    conversation_id = await add_conversation(client, shop, platform)
    body = await _reply(client, shop, conversation_id, {"text": "a" * (limit + 1)}, status=422)
    assert body["error"]["code"] == "text_too_long"
    assert body["error"]["field"] == "text"
    assert str(limit) in body["error"]["message"]
    await _reply(client, shop, conversation_id, {"text": "a" * limit})


async def test_whatsapp_window_closed_says_a_template_is_needed(client: Client, shop: Workspace) -> None:
    stale = utcnow() - timedelta(hours=25)
    conversation_id = await add_conversation(client, shop, last_inbound_at=stale)
    body = await _reply(client, shop, conversation_id, {"text": "hello?"}, status=409)
    assert body["error"]["code"] == "window_closed"
    assert "24 h" in body["error"]["message"]
    assert "template" in body["error"]["message"]
    assert await _jobs(client) == []
    listed = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=shop.headers("agent")), 200
    )
    assert len(listed["messages"]) == 1  # nothing stored


async def test_whatsapp_template_goes_out_after_the_window_closed(
    client: Client, shop: Workspace, sandbox: TestServer
) -> None:
    conversation_id = await add_conversation(client, shop, last_inbound_at=utcnow() - timedelta(days=3))
    template = {"name": "order_update", "language": "en_US", "parameters": ["#A-1021"]}
    created = await _reply(client, shop, conversation_id, {"template": template})
    assert (created["message_type"], created["text"], created["template"]) == ("template", None, template)
    await _run_jobs(client)
    [sent] = _state(sandbox).sent_messages
    assert sent["body"]["type"] == "template"
    assert sent["body"]["template"]["components"][0]["parameters"] == [{"type": "text", "text": "#A-1021"}]
    assert (await _message(client, created["id"])).delivery_status == "sent"
    listed = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=shop.headers("agent")), 200
    )
    assert listed["messages"][-1]["template"] == template


async def test_a_template_whatsapp_refuses_fails_with_its_reason(
    client: Client, shop: Workspace, sandbox: TestServer
) -> None:
    conversation_id = await add_conversation(client, shop)
    created = await _reply(client, shop, conversation_id, {"template": {"name": "order_update", "language": "en_US"}})
    with pytest.raises(PermanentJobError):
        await job_handlers(client.app)[SEND_JOB]({"message_id": created["id"]})
    failed = await _message(client, created["id"])
    assert failed.delivery_status == "failed"
    assert "132000" in failed.error
    assert _state(sandbox).sent_messages == []


@pytest.mark.parametrize(
    ("platform", "body", "field"),
    [
        ("messenger", {"template": {"name": "hello_world", "language": "en_US"}}, "template"),
        ("whatsapp", {"template": {"name": "hello_world", "language": "en_US"}, "text": "hi"}, "template"),
        (
            "whatsapp",
            {"template": {"name": "hello_world", "language": "en_US"}, "private": True, "text": "x"},
            "template",
        ),
        ("whatsapp", {"template": {"name": "Hello World", "language": "en_US"}}, "template.name"),
        ("whatsapp", {"template": {"name": "hello_world", "language": "english"}}, "template.language"),
        ("whatsapp", {"template": {"name": "hello_world", "language": "en_US", "parameters": [""]}}, None),
        ("whatsapp", {"template": {"name": "hello_world", "language": "en_US", "colour": "red"}}, None),
    ],
)
async def test_template_validation(
    client: Client, shop: Workspace, platform: str, body: dict[str, Any], field: str | None
) -> None:
    conversation_id = await add_conversation(client, shop, platform, contact="24000000000077")
    error = (await _reply(client, shop, conversation_id, body, status=422))["error"]
    if field is not None:
        assert error["field"] == field
    else:
        assert error["field"].startswith("template.")
    assert await _jobs(client) == []


async def test_messenger_window_closed_names_human_agent(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop, "messenger", last_inbound_at=utcnow() - timedelta(days=2))
    body = await _reply(client, shop, conversation_id, {"text": "hello?"}, status=409)
    assert body["error"]["code"] == "window_closed"
    assert '"message_tag": "HUMAN_AGENT"' in body["error"]["message"]
    assert await _jobs(client) == []


async def test_messenger_human_agent_reply_within_seven_days(
    client: Client, shop: Workspace, sandbox: TestServer
) -> None:
    last_inbound = utcnow() - timedelta(days=2)
    conversation_id = await add_conversation(client, shop, "messenger", last_inbound_at=last_inbound)
    shown = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=shop.headers("agent")), 200
    )
    assert shown["reply_window"]["open"] is False
    until = shown["reply_window"]["human_agent_until"]
    assert until.startswith((last_inbound + timedelta(days=7)).isoformat(timespec="seconds")[:16])
    created = await _reply(client, shop, conversation_id, {"text": "Sorry for the wait", "message_tag": "HUMAN_AGENT"})
    assert created["message_tag"] == "HUMAN_AGENT"
    await _run_jobs(client)
    [sent] = _state(sandbox).sent_messages
    assert (sent["body"]["messaging_type"], sent["body"]["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert (await _message(client, created["id"])).delivery_status == "sent"
    untagged = await _reply(client, shop, conversation_id, {"text": "and this?"}, status=409)
    assert untagged["error"]["code"] == "window_closed"


async def test_human_agent_tag_has_limits(client: Client, shop: Workspace) -> None:
    tagged = {"text": "hello?", "message_tag": "HUMAN_AGENT"}
    old = await add_conversation(client, shop, "messenger", last_inbound_at=utcnow() - timedelta(days=8))
    body = await _reply(client, shop, old, tagged, status=409)
    assert "7 days" in body["error"]["message"]
    never = await add_conversation(client, shop, "messenger", contact="24000000000009", last_inbound_at=None)
    assert (await _reply(client, shop, never, tagged, status=409))["error"]["code"] == "window_closed"
    whatsapp = await add_conversation(client, shop, "whatsapp")
    body = await _reply(client, shop, whatsapp, tagged, status=422)
    assert (body["error"]["code"], body["error"]["field"]) == ("invalid", "message_tag")
    recent = await add_conversation(client, shop, "messenger", contact="24000000000010")
    note = await _reply(client, shop, recent, {**tagged, "private": True}, status=422)
    assert note["error"]["field"] == "message_tag"
    unknown = await _reply(client, shop, recent, {"text": "x", "message_tag": "PROMOTION"}, status=422)
    assert unknown["error"]["field"] == "message_tag"
    assert await _jobs(client) == []


async def test_line_has_no_window(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(
        client, shop, "line", contact=LINE_USER, last_inbound_at=utcnow() - timedelta(days=30)
    )
    await _reply(client, shop, conversation_id, {"text": "still here"})


async def test_tiktok_caps_replies_until_the_contact_writes(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop, "tiktok")
    for _ in range(10):
        await _reply(client, shop, conversation_id, {"text": "update"})
    body = await _reply(client, shop, conversation_id, {"text": "one more"}, status=409)
    assert body["error"]["code"] == "reply_limit"
    old = await add_conversation(client, shop, "tiktok", last_inbound_at=utcnow() - timedelta(hours=49))
    assert "48 h" in (await _reply(client, shop, old, {"text": "hi"}, status=409))["error"]["message"]


async def test_media_rules(client: Client, shop: Workspace, sandbox: TestServer) -> None:
    image = {"media_url": "https://example.com/p.png", "media_type": "image"}
    whatsapp = await add_conversation(client, shop, contact="6281234567890")
    await _reply(client, shop, whatsapp, {**image, "text": "the red one"})
    audio = {"media_url": "https://example.com/a.ogg", "media_type": "audio", "text": "x"}
    assert (await _reply(client, shop, whatsapp, audio, 422))["error"]["code"] == "unsupported_media"
    messenger = await add_conversation(client, shop, "messenger")
    assert (await _reply(client, shop, messenger, {**image, "text": "caption"}, 422))["error"]["field"] == "text"
    line = await add_conversation(client, shop, "line", contact=LINE_USER)
    video = {"media_url": "https://example.com/v.mp4", "media_type": "video"}
    assert (await _reply(client, shop, line, video, 422))["error"]["field"] == "media_type"
    assert (await _reply(client, shop, whatsapp, {"media_url": "https://example.com/p.png"}, 422))["error"][
        "field"
    ] == "media_type"
    await _run_jobs(client)
    [sent] = _state(sandbox).sent_messages
    assert sent["body"]["image"] == {"link": "https://example.com/p.png", "caption": "the red one"}


async def test_canned_shortcuts_expand(client: Client, shop: Workspace, sandbox: TestServer) -> None:
    canned = {"shortcut": "thanks", "text": "Thank you for your order!"}
    await json_of(await client.post("/api/v1/canned_responses", json=canned, headers=shop.headers("agent")), 201)
    conversation_id = await add_conversation(client, shop, contact="6281234567890")
    assert (await _reply(client, shop, conversation_id, {"text": "/thanks"}))["text"] == "Thank you for your order!"
    assert (await _reply(client, shop, conversation_id, {"text": "/thanks See you"}))["text"] == (
        "Thank you for your order! See you"
    )
    assert (await _reply(client, shop, conversation_id, {"text": "/thanksgiving"}))["text"] == "/thanksgiving"
    assert (await _reply(client, shop, conversation_id, {"text": "/unknown"}))["text"] == "/unknown"
    await _run_jobs(client)
    assert _state(sandbox).sent_messages[0]["body"]["text"]["body"] == "Thank you for your order!"


async def _line_inbound(client: Client, conversation_id: int, token: str, age: timedelta) -> None:
    async with client.app[engine_key].begin() as connection:
        row = (
            await connection.execute(sa.select(MESSAGES).where(MESSAGES.c.conversation_id == conversation_id))
        ).first()
        assert row is not None
        await connection.execute(
            sa.update(MESSAGES)
            .where(MESSAGES.c.id == row.id)
            .values(extra={"reply_token": token}, sent_at=utcnow() - age)
        )


async def test_line_uses_a_fresh_reply_token_once_then_pushes_with_a_retry_key(
    client: Client, shop: Workspace, sandbox: TestServer
) -> None:
    _state(sandbox).add_line_reply_tokens(["fresh-token"])
    conversation_id = await add_conversation(client, shop, "line", contact=LINE_USER)
    await _line_inbound(client, conversation_id, "fresh-token", timedelta(seconds=5))
    first = await _reply(client, shop, conversation_id, {"text": "replying"})
    second = await _reply(client, shop, conversation_id, {"text": "pushing"})
    assert await _run_jobs(client) == 2
    replied, pushed = _state(sandbox).sent_messages
    assert replied["reply_token"] == "fresh-token"
    assert replied["messages"] == [{"type": "text", "text": "replying"}]
    assert pushed["to"] == LINE_USER
    retry_key = (await _message(client, second["id"])).extra["line_retry_key"]
    push_request = next(r for r in _state(sandbox).requests if r.path == "/v2/bot/message/push")
    assert push_request.headers["X-Line-Retry-Key"] == retry_key
    uuid.UUID(retry_key)
    for message_id in (first["id"], second["id"]):
        stored = await _message(client, message_id)
        assert stored.delivery_status == "sent"
        assert stored.platform_message_id


async def test_line_stale_or_rejected_token_falls_back_to_push(
    client: Client, shop: Workspace, sandbox: TestServer
) -> None:
    stale = await add_conversation(client, shop, "line", contact=LINE_USER)
    await _line_inbound(client, stale, "stale-token", timedelta(seconds=55))
    await _reply(client, shop, stale, {"text": "late"})
    rejected = await add_conversation(client, shop, "line", contact="U" + "b" * 32)
    await _line_inbound(client, rejected, "unknown-token", timedelta(seconds=1))
    await _reply(client, shop, rejected, {"text": "rejected token"})
    await _run_jobs(client)
    paths = [r.path for r in _state(sandbox).requests if r.path.startswith("/v2/")]
    assert paths == ["/v2/bot/message/push", "/v2/bot/message/reply", "/v2/bot/message/push"]
    assert [m.get("to") for m in _state(sandbox).sent_messages] == [LINE_USER, "U" + "b" * 32]


async def test_line_push_retried_with_the_same_key_is_sent_once(
    client: Client, shop: Workspace, sandbox: TestServer
) -> None:
    conversation_id = await add_conversation(client, shop, "line", contact=LINE_USER)
    created = await _reply(client, shop, conversation_id, {"text": "once"})
    handler = job_handlers(client.app)[SEND_JOB]
    await handler({"message_id": created["id"]})
    async with client.app[engine_key].begin() as connection:  # as if the worker died before recording the send
        await connection.execute(
            sa.update(MESSAGES).where(MESSAGES.c.id == created["id"]).values(delivery_status="pending")
        )
    await handler({"message_id": created["id"]})
    assert len(_state(sandbox).sent_messages) == 1
    assert (await _message(client, created["id"])).delivery_status == "sent"


async def test_temporary_failure_keeps_pending_and_retries(
    client: Client, shop: Workspace, sandbox: TestServer
) -> None:
    conversation_id = await add_conversation(client, shop, contact="6281234567890")
    created = await _reply(client, shop, conversation_id, {"text": "will retry"})
    _state(sandbox).faults = Faults(http_5xx_rate=1.0, targets=frozenset({"meta"}))
    await _run_jobs(client)
    stored = await _message(client, created["id"])
    assert stored.delivery_status == "pending"
    assert "graph error" in stored.error
    [job] = await _jobs(client)
    assert job.status == "queued"
    assert job.attempts == 1
    _state(sandbox).faults = None
    async with client.app[engine_key].begin() as connection:
        await connection.execute(sa.update(JOBS).values(run_at=utcnow()))
    await _run_jobs(client)
    stored = await _message(client, created["id"])
    assert stored.delivery_status == "sent"
    assert stored.error is None
    assert (await _jobs(client))[0].status == "done"


async def test_the_last_attempt_fails_the_message(client: Client, shop: Workspace, sandbox: TestServer) -> None:
    conversation_id = await add_conversation(client, shop, contact="6281234567890")
    created = await _reply(client, shop, conversation_id, {"text": "never"})
    async with client.app[engine_key].begin() as connection:
        await connection.execute(
            sa.update(MESSAGES).where(MESSAGES.c.id == created["id"]).values(extra={"send_attempts": 11})
        )
    _state(sandbox).faults = Faults(http_5xx_rate=1.0, targets=frozenset({"meta"}))
    with pytest.raises(PermanentJobError):
        await job_handlers(client.app)[SEND_JOB]({"message_id": created["id"]})
    assert (await _message(client, created["id"])).delivery_status == "failed"


async def test_permanent_failure_stores_the_reason_not_the_text(
    client: Client, shop: Workspace, sandbox: TestServer
) -> None:
    conversation_id = await add_conversation(client, shop, contact="not-a-number")
    created = await _reply(client, shop, conversation_id, {"text": "secret words"})
    await _run_jobs(client)
    stored = await _message(client, created["id"])
    assert stored.delivery_status == "failed"
    assert "not a phone number" in stored.error
    assert "secret words" not in stored.error
    [job] = await _jobs(client)
    assert job.status == "failed"
    assert "secret words" not in job.last_error
    assert await _run_jobs(client) == 0


async def test_channel_without_credentials_fails_permanently(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop, "tiktok")
    created = await _reply(client, shop, conversation_id, {"text": "hello"})
    directory = client.app[directory_key]
    info = await directory.get(shop.channels["tiktok"])
    assert info is not None
    info.secrets.clear()
    with pytest.raises(PermanentJobError):
        await job_handlers(client.app)[SEND_JOB]({"message_id": created["id"]})
    assert (await _message(client, created["id"])).error == "channel has no usable credentials"


async def test_send_job_for_a_missing_or_settled_message(client: Client, shop: Workspace) -> None:
    handler = job_handlers(client.app)[SEND_JOB]
    with pytest.raises(PermanentJobError):
        await handler({"message_id": 424242})
    with pytest.raises(PermanentJobError):
        await handler({})
    conversation_id = await add_conversation(client, shop)
    note = await _reply(client, shop, conversation_id, {"private": True, "text": "note"})
    with pytest.raises(PermanentJobError):
        await handler({"message_id": note["id"]})
