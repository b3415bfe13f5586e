"""Auto-replies end to end: a signed inbound webhook is stored, analysed, answered by the channel's rule inside the
analysis transaction, and the reply goes out through the normal ``message.send`` job to the local Graph stand-in.
Time comes from an injected clock, so business hours, cooldowns and the hourly cap are tested without sleeping."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from inbox_support import SANDBOX_CHANNELS, Client, Workspace, build_app, create_user, create_workspace, json_of
from pytest_aiohttp import AiohttpClient, AiohttpServer
from structlog.testing import capture_logs

from partner.analysis import MessageAnalyzer
from partner.app import keywords_key
from partner.appkeys import engine_key
from partner.inbox.autoreplies import AGENT_ACTIVE, HOURLY_CAP, AutoReplier
from partner.inbox.messages import SEND_JOB
from partner.inbox.models import AUTO_REPLY_FIRINGS, CONVERSATIONS, MESSAGES
from partner.inbox.routes import job_handlers
from partner.ingest.apply import MESSAGE_RECEIVED_JOB
from partner.platforms import get_platform
from partner.sandbox import STATE_KEY, SandboxConfig, create_sandbox_app
from partner.settings import Settings
from partner.store.queue import JOBS, JobQueue
from partner.worker import JobWorker
from tests.conftest import META_APP_SECRET

# Asia/Jakarta is UTC+7 all year: Monday 2 March 2026, 10:00 and 19:00 local.
MONDAY_MORNING = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
MONDAY_EVENING = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WEEKDAYS_9_TO_6 = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
_ids = count(1)


class Clock:
    """The auto-replier's idea of now, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def sandbox(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_sandbox_app(SandboxConfig()))


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, sandbox: TestServer) -> Client:
    overrides = {"graph_api_base": str(sandbox.make_url("/v21.0/")), "line_api_base": str(sandbox.make_url("/"))}
    return await aiohttp_client(build_app(dataclasses.replace(settings, **overrides)))


@pytest.fixture
async def shop(client: Client) -> Workspace:
    return await create_workspace(client, platforms=("whatsapp", "messenger"))


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_MORNING)


# --- helpers --------------------------------------------------------------------------------------------------------


def _contact() -> str:
    return f"62812{next(_ids):08d}"


async def _inbound(client: Client, contact: str, text: str, at: datetime) -> int:
    """A contact's WhatsApp text, posted as Meta posts it; returns the stored message id."""
    wamid = f"wamid.auto{next(_ids)}"
    message = {
        "from": contact,
        "id": wamid,
        "timestamp": str(int(at.timestamp())),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": SANDBOX_CHANNELS["whatsapp"]["external_id"]},
        "contacts": [{"profile": {"name": "Customer"}, "wa_id": contact}],
        "messages": [message],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    raw = json.dumps(payload).encode()
    response = await client.post(
        "/webhooks/whatsapp", data=raw, headers=get_platform("whatsapp").sign(raw, META_APP_SECRET.encode())
    )
    assert response.status == 200, await response.text()
    async with client.app[engine_key].connect() as connection:
        found = await connection.execute(sa.select(MESSAGES.c.id).where(MESSAGES.c.platform_message_id == wamid))
        return int(found.scalar_one())


def _analyzer(client: Client, clock: Clock) -> MessageAnalyzer:
    """The ``message.received`` handler as the app builds it, with the auto-replier on the test's clock."""
    return MessageAnalyzer(client.app[engine_key], client.app[keywords_key].flags, followers=(AutoReplier(clock),))


async def _process(client: Client, clock: Clock) -> None:
    """Run queued jobs until none is due: the analysis (and auto-reply), then the sends it queued."""
    handlers = {MESSAGE_RECEIVED_JOB: _analyzer(client, clock), **job_handlers(client.app)}
    worker = JobWorker(JobQueue(client.app[engine_key]), handlers)
    while await worker.run_once():
        pass


async def _write(client: Client, clock: Clock, contact: str, text: str, *, after: timedelta = timedelta(0)) -> int:
    """The contact writes ``after`` the clock's time; the service handles it a second later."""
    at = clock.now + after
    message_id = await _inbound(client, contact, text, at)
    clock.now = at + timedelta(seconds=1)
    await _process(client, clock)
    return message_id


async def _add_rule(client: Client, shop: Workspace, body: dict[str, Any], platform: str = "whatsapp") -> Any:
    url = f"/api/v1/channels/{shop.channels[platform]}/auto_replies"
    return await json_of(await client.post(url, json=body, headers=shop.headers("admin")), 201)


async def _business_hours(client: Client, shop: Workspace, timezone: str = "Asia/Jakarta") -> Any:
    body = {"timezone": timezone, "business_hours": WEEKDAYS_9_TO_6}
    return await json_of(await client.patch("/api/v1/inbox/settings", json=body, headers=shop.headers("admin")), 200)


async def _auto_replies(client: Client, contact: str | None = None) -> list[Any]:
    """Outbound messages the rules sent, oldest first (to one contact's conversations, if named)."""
    statement = sa.select(MESSAGES).where(MESSAGES.c.direction == "outbound").order_by(MESSAGES.c.id)
    async with client.app[engine_key].connect() as connection:
        rows = (await connection.execute(statement)).all()
        if contact is not None:
            wanted = {row.contact_id for row in rows if await _contact_key(connection, row.contact_id) == contact}
            rows = [row for row in rows if row.contact_id in wanted]
    return [row for row in rows if (row.extra or {}).get("auto_reply_rule_id")]


async def _contact_key(connection: Any, contact_id: int) -> str:
    from partner.ingest.apply import CONTACTS

    found = await connection.execute(sa.select(CONTACTS.c.external_id).where(CONTACTS.c.id == contact_id))
    return str(found.scalar_one())


def _texts(rows: list[Any]) -> list[str]:
    return [row.text for row in rows]


def _sent(sandbox: TestServer) -> list[dict[str, Any]]:
    return list(sandbox.app[STATE_KEY].sent_messages)


# --- firing ---------------------------------------------------------------------------------------------------------


async def test_greeting_answers_a_new_conversation_once_and_reaches_the_platform(
    client: Client, shop: Workspace, sandbox: TestServer, clock: Clock
) -> None:
    """The greeting is stored as an automatic pending reply with its send job, and sent over HTTP like any reply."""
    rule = await _add_rule(client, shop, {"kind": "greeting", "text": "Hi! We usually answer within an hour."})
    contact = _contact()
    await _write(client, clock, contact, "hello, is the red bag in stock?")
    [reply] = await _auto_replies(client)
    assert reply.extra["auto_reply_rule_id"] == rule["id"]
    assert "author_user_id" not in reply.extra
    assert reply.delivery_status == "sent"
    assert reply.sent_at == clock.now
    async with aiohttp.ClientSession() as session, session.get(sandbox.make_url("/_sandbox/messages")) as response:
        [sent] = (await response.json())["messages"]
    assert sent["to"] == contact
    assert sent["body"]["text"] == {"body": "Hi! We usually answer within an hour."}
    async with client.app[engine_key].connect() as connection:
        conversation = (await connection.execute(sa.select(CONVERSATIONS))).one()
        [job] = (await connection.execute(sa.select(JOBS).where(JOBS.c.kind == SEND_JOB))).all()
    assert conversation.last_message_at == clock.now  # as a reply touches it
    assert job.status == "done"
    listed = await json_of(
        await client.get(f"/api/v1/conversations/{conversation.id}/messages", headers=shop.headers("viewer")), 200
    )
    assert [(m["direction"], m["author_user_id"]) for m in listed["messages"]] == [
        ("inbound", None),
        ("outbound", None),
    ]
    await _write(client, clock, contact, "anyone there?", after=timedelta(minutes=2))
    assert len(await _auto_replies(client)) == 1
    assert len(_sent(sandbox)) == 1


async def test_away_message_outside_business_hours_in_the_workspace_time_zone(
    client: Client, shop: Workspace, clock: Clock
) -> None:
    """09:00-18:00 in Jakarta: 10:00 local (03:00 UTC) is open, 19:00 local (12:00 UTC) and Saturday are closed."""
    settings = await _business_hours(client, shop)
    assert settings["timezone"] == "Asia/Jakarta"
    await _add_rule(client, shop, {"kind": "away", "text": "We are closed; back at 09:00 WIB."})
    in_hours = _contact()
    await _write(client, clock, in_hours, "hello")
    assert await _auto_replies(client) == []
    clock.now = MONDAY_EVENING
    evening = _contact()
    await _write(client, clock, evening, "hello")
    await _write(client, clock, evening, "hello again", after=timedelta(minutes=5))
    assert _texts(await _auto_replies(client, evening)) == [
        "We are closed; back at 09:00 WIB."
    ]  # once per conversation
    clock.now = datetime(2026, 3, 7, 5, 0, tzinfo=UTC)  # Saturday 12:00 local
    await _write(client, clock, _contact(), "open today?")
    assert len(await _auto_replies(client)) == 2


async def test_without_business_hours_away_never_fires(client: Client, shop: Workspace, clock: Clock) -> None:
    await _add_rule(client, shop, {"kind": "away", "text": "closed"})
    clock.now = MONDAY_EVENING
    await _write(client, clock, _contact(), "hello")
    assert await _auto_replies(client) == []


async def test_one_reply_per_message_away_then_keyword_then_greeting(
    client: Client, shop: Workspace, clock: Clock
) -> None:
    """Away beats keyword beats greeting; a rule that may not fire again lets the next kind answer."""
    await _business_hours(client, shop)
    await _add_rule(client, shop, {"kind": "greeting", "text": "greeting"})
    await _add_rule(client, shop, {"kind": "away", "text": "away"})
    await _add_rule(client, shop, {"kind": "keyword", "signal": "payment", "text": "payment received, thanks"})
    clock.now = MONDAY_EVENING
    night = _contact()
    await _write(client, clock, night, "I already paid")
    assert _texts(await _auto_replies(client, night)) == ["away"]
    await _write(client, clock, night, "here is the proof of payment", after=timedelta(minutes=3))
    assert _texts(await _auto_replies(client, night)) == ["away", "payment received, thanks"]
    await _write(client, clock, night, "thanks", after=timedelta(minutes=3))
    assert len(await _auto_replies(client, night)) == 2
    clock.now = MONDAY_MORNING
    day = _contact()
    await _write(client, clock, day, "I already paid")
    assert _texts(await _auto_replies(client, day)) == ["payment received, thanks"]
    greeted = _contact()
    await _write(client, clock, greeted, "hi")
    assert _texts(await _auto_replies(client, greeted)) == ["greeting"]


async def test_priority_orders_rules_of_one_kind_and_disabled_rules_never_fire(
    client: Client, shop: Workspace, clock: Clock
) -> None:
    await _add_rule(client, shop, {"kind": "greeting", "text": "disabled", "priority": 0, "enabled": False})
    await _add_rule(client, shop, {"kind": "greeting", "text": "second", "priority": 20})
    await _add_rule(client, shop, {"kind": "greeting", "text": "first", "priority": 10})
    await _write(client, clock, _contact(), "hello")
    assert _texts(await _auto_replies(client)) == ["first"]


async def test_keyword_rule_with_its_own_keywords(client: Client, shop: Workspace, clock: Clock) -> None:
    """Inline keywords are matched like the keyword files: case and accents do not matter, whole words do."""
    body = {"kind": "keyword", "keywords": ["jam buka", "opening hours"], "text": "Open 09:00-18:00, Mon-Fri"}
    await _add_rule(client, shop, body)
    await _write(client, clock, _contact(), "jambuka")
    await _write(client, clock, _contact(), "what about shipping?")
    assert await _auto_replies(client) == []
    await _write(client, clock, _contact(), "Kak, JAM BUKÀ berapa?")
    await _write(client, clock, _contact(), "What are your opening hours?")
    assert _texts(await _auto_replies(client)) == ["Open 09:00-18:00, Mon-Fri"] * 2


async def test_cooldown_is_per_contact_and_spans_conversations(client: Client, shop: Workspace, clock: Clock) -> None:
    """Once-per-conversation off, cooldown 1 h: again after the hour; a greeting's 24 h cooldown outlives a resolve."""
    rule = {"kind": "keyword", "signal": "price_inquiry", "text": "price list", "once_per_conversation": False}
    await _add_rule(client, shop, {**rule, "cooldown_seconds": 3600})
    contact = _contact()
    await _write(client, clock, contact, "how much is it?")
    await _write(client, clock, contact, "how much is it?", after=timedelta(minutes=30))
    assert len(await _auto_replies(client, contact)) == 1
    await _write(client, clock, contact, "how much is it?", after=timedelta(minutes=31))
    assert len(await _auto_replies(client, contact)) == 2

    await _add_rule(client, shop, {"kind": "greeting", "text": "welcome"})
    greeted = _contact()
    await _write(client, clock, greeted, "hi")
    conversation_id = (await _auto_replies(client, greeted))[0].conversation_id
    response = await client.patch(
        f"/api/v1/conversations/{conversation_id}", json={"status": "resolved"}, headers=shop.headers("agent")
    )
    await json_of(response, 200)
    await _write(client, clock, greeted, "one more thing", after=timedelta(minutes=10))
    replies = await _auto_replies(client, greeted)
    assert len({row.conversation_id for row in await _all_messages(client, greeted)}) == 2  # a new conversation...
    assert _texts(replies) == ["welcome"]  # ...and no second welcome within the day


async def _all_messages(client: Client, contact: str) -> list[Any]:
    async with client.app[engine_key].connect() as connection:
        rows = (await connection.execute(sa.select(MESSAGES).order_by(MESSAGES.c.id))).all()
        return [row for row in rows if await _contact_key(connection, row.contact_id) == contact]


async def test_hourly_cap_stops_two_bots_answering_each_other(client: Client, shop: Workspace, clock: Clock) -> None:
    """A contact that is itself a bot, against a rule with no once-only and no cooldown: three an hour at most."""
    body = {"kind": "keyword", "keywords": ["hello"], "text": "hello! how can we help?"}
    await _add_rule(client, shop, {**body, "once_per_conversation": False, "cooldown_seconds": 0})
    bot = _contact()
    start = clock.now
    for _ in range(6):
        await _write(client, clock, bot, "hello! thanks for your message", after=timedelta(minutes=1))
    assert len(await _auto_replies(client, bot)) == HOURLY_CAP
    clock.now = start + timedelta(minutes=62)
    await _write(client, clock, bot, "hello!")
    assert len(await _auto_replies(client, bot)) == HOURLY_CAP + 1


async def test_no_reply_to_an_edit(client: Client, shop: Workspace, clock: Clock) -> None:
    """An edit is analysed again, but never answered; the original message still is."""
    await _add_rule(client, shop, {"kind": "greeting", "text": "welcome"})
    message_id = await _inbound(client, _contact(), "hello", clock.now)
    await _analyzer(client, clock)({"message_id": message_id, "new_conversation": True, "edited": True})
    assert await _auto_replies(client) == []
    await _process(client, clock)
    assert len(await _auto_replies(client)) == 1


async def test_a_rerun_analysis_job_never_answers_twice(client: Client, shop: Workspace, clock: Clock) -> None:
    """At-least-once jobs: the same message analysed again finds its ledger row and queues nothing."""
    await _add_rule(client, shop, {"kind": "greeting", "text": "welcome", "once_per_conversation": False})
    message_id = await _write(client, clock, _contact(), "hello")
    await _analyzer(client, clock)({"message_id": message_id, "new_conversation": True})
    await _process(client, clock)
    assert len(await _auto_replies(client)) == 1
    async with client.app[engine_key].connect() as connection:
        firings = (await connection.execute(sa.select(AUTO_REPLY_FIRINGS))).all()
        sends = (await connection.execute(sa.select(JOBS).where(JOBS.c.kind == SEND_JOB))).all()
    assert [firing.trigger_message_id for firing in firings] == [message_id]
    assert len(sends) == 1


async def test_no_reply_while_a_person_is_answering(client: Client, shop: Workspace, clock: Clock) -> None:
    await _add_rule(client, shop, {"kind": "keyword", "signal": "payment", "text": "thanks for paying"})
    contact = _contact()
    await _write(client, clock, contact, "hello")
    [inbound] = await _all_messages(client, contact)
    async with client.app[engine_key].begin() as connection:
        await connection.execute(
            sa.insert(MESSAGES).values(
                workspace_id=shop.id, conversation_id=inbound.conversation_id, channel_id=inbound.channel_id,
                contact_id=inbound.contact_id, direction="outbound", message_type="text", text="let me check",
                delivery_status="sent", private_note=False, extra={"author_user_id": shop.users["agent"]},
                sent_at=clock.now, created_at=clock.now,
            )
        )  # fmt: skip
    await _write(client, clock, contact, "ok, paid", after=timedelta(minutes=5))
    assert await _auto_replies(client) == []
    await _write(client, clock, contact, "paid again", after=AGENT_ACTIVE)
    assert _texts(await _auto_replies(client)) == ["thanks for paying"]


async def test_stale_messages_are_not_answered(client: Client, shop: Workspace, clock: Clock) -> None:
    """A backlog (an outage, a replay) is not greeted hours late."""
    await _add_rule(client, shop, {"kind": "greeting", "text": "welcome"})
    await _inbound(client, _contact(), "hello", clock.now - timedelta(hours=2))
    await _process(client, clock)
    assert await _auto_replies(client) == []


async def test_logs_carry_ids_never_text(client: Client, shop: Workspace, clock: Clock) -> None:
    await _add_rule(client, shop, {"kind": "greeting", "text": "greeting-text-7431"})
    with capture_logs() as events:
        await _write(client, clock, _contact(), "customer-text-9517")
    queued = [event for event in events if event["event"] == "auto_reply_queued"]
    assert len(queued) == 1
    assert {"rule_id", "conversation_id", "message_id"} <= queued[0].keys()
    assert "greeting-text-7431" not in repr(events)
    assert "customer-text-9517" not in repr(events)


# --- the rules API --------------------------------------------------------------------------------------------------


def _url(shop: Workspace, platform: str = "whatsapp", rule_id: int | None = None) -> str:
    base = f"/api/v1/channels/{shop.channels[platform]}/auto_replies"
    return base if rule_id is None else f"{base}/{rule_id}"


async def test_rules_crud(client: Client, shop: Workspace) -> None:
    created = await _add_rule(client, shop, {"kind": "keyword", "signal": "payment", "text": "thanks", "name": "paid"})
    assert created["cooldown_seconds"] == 86_400
    assert created["once_per_conversation"] is True
    assert created["enabled"] is True
    assert created["keywords"] is None
    away = await _add_rule(client, shop, {"kind": "away", "text": "closed"})
    listed = await json_of(await client.get(_url(shop), headers=shop.headers("viewer")), 200)
    assert [rule["id"] for rule in listed["auto_replies"]] == [away["id"], created["id"]]  # the order they are tried
    one = await json_of(await client.get(_url(shop, rule_id=created["id"]), headers=shop.headers("viewer")), 200)
    assert one == created
    patch = {"signal": None, "keywords": ["transfer"], "enabled": False, "cooldown_seconds": 60}
    changed = await json_of(
        await client.patch(_url(shop, rule_id=created["id"]), json=patch, headers=shop.headers("admin")), 200
    )
    assert (changed["signal"], changed["keywords"], changed["enabled"]) == (None, ["transfer"], False)
    assert changed["text"] == "thanks"
    response = await client.delete(_url(shop, rule_id=created["id"]), headers=shop.headers("admin"))
    assert response.status == 204
    await json_of(await client.get(_url(shop, rule_id=created["id"]), headers=shop.headers("admin")), 404)


async def test_deleting_a_rule_that_fired_keeps_the_ledger(client: Client, shop: Workspace, clock: Clock) -> None:
    rule = await _add_rule(client, shop, {"kind": "greeting", "text": "welcome"})
    await _write(client, clock, _contact(), "hello")
    assert (await client.delete(_url(shop, rule_id=rule["id"]), headers=shop.headers("admin"))).status == 204
    async with client.app[engine_key].connect() as connection:
        [firing] = (await connection.execute(sa.select(AUTO_REPLY_FIRINGS))).all()
    assert firing.rule_id is None


async def test_roles(client: Client, shop: Workspace) -> None:
    rule = await _add_rule(client, shop, {"kind": "greeting", "text": "hi"})
    for role in ("agent", "viewer"):
        headers = shop.headers(role)
        assert (await client.post(_url(shop), json={"kind": "greeting", "text": "x"}, headers=headers)).status == 403
        assert (await client.patch(_url(shop, rule_id=rule["id"]), json={}, headers=headers)).status == 403
        assert (await client.delete(_url(shop, rule_id=rule["id"]), headers=headers)).status == 403
        await json_of(await client.get(_url(shop), headers=headers), 200)
    assert (await client.get(_url(shop))).status == 401


async def test_other_workspaces_and_channels_are_not_found(client: Client, shop: Workspace) -> None:
    rule = await _add_rule(client, shop, {"kind": "greeting", "text": "hi"})
    other = await create_workspace(client, "Other", platforms=("whatsapp",), sandbox_ids=False)
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, _url(shop, rule_id=rule["id"]), json={}, headers=other.headers("admin"))
        assert response.status == 404, method
    body = await json_of(await client.get(_url(shop), headers=other.headers("admin")), 404)
    assert body["error"]["code"] == "not_found"
    own_channel = f"/api/v1/channels/{other.channels['whatsapp']}/auto_replies/{rule['id']}"
    await json_of(await client.get(own_channel, headers=other.headers("admin")), 404)
    await json_of(await client.get(_url(shop, "messenger", rule["id"]), headers=shop.headers("admin")), 404)
    _, token = await create_user(client, shop.id, "limited@shop.test", "agent", channel_ids=[shop.channels["whatsapp"]])
    limited = {"Authorization": f"Bearer {token}"}
    await json_of(await client.get(_url(shop), headers=limited), 200)
    await json_of(await client.get(_url(shop, "messenger"), headers=limited), 404)


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"kind": "keyword", "text": "x"}, "signal", "invalid"),
        ({"kind": "keyword", "text": "x", "signal": "payment", "keywords": ["paid"]}, "keywords", "invalid"),
        ({"kind": "greeting", "text": "x", "signal": "payment"}, "signal", "invalid"),
        ({"kind": "away", "text": "x", "keywords": ["late"]}, "keywords", "invalid"),
        ({"kind": "keyword", "text": "x", "signal": "refund_request"}, "signal", "unknown_signal"),
        ({"kind": "keyword", "text": "x", "signal": "Payment!"}, "signal", "invalid"),
        ({"kind": "keyword", "text": "x", "keywords": ["paid", "   "]}, "keywords.1", "invalid"),
        ({"kind": "keyword", "text": "x", "keywords": []}, "keywords", "invalid"),
        ({"kind": "greeting", "text": "   "}, "text", "invalid"),
        ({"kind": "greeting", "text": "x", "cooldown_seconds": -1}, "cooldown_seconds", "invalid"),
        ({"kind": "greeting", "text": "x", "once_per_conversation": "yes"}, "once_per_conversation", "invalid"),
        ({"kind": "farewell", "text": "x"}, "kind", "invalid"),
        ({"kind": "greeting", "text": "x", "sender": "bot"}, "sender", "invalid"),
        ({"kind": "greeting", "text": "a" * 2001}, "text", "text_too_long"),  # Messenger's limit is 2000
    ],
)
async def test_invalid_rules_name_the_field(
    client: Client, shop: Workspace, body: dict[str, Any], field: str, code: str
) -> None:
    error = (await json_of(await client.post(_url(shop, "messenger"), json=body, headers=shop.headers("admin")), 422))[
        "error"
    ]
    assert (error["field"], error["code"]) == (field, code), error
    assert error["message"]


async def test_text_limit_follows_the_channel_platform(client: Client, shop: Workspace) -> None:
    await _add_rule(client, shop, {"kind": "greeting", "text": "a" * 4096})  # WhatsApp takes 4096
    rule = await _add_rule(client, shop, {"kind": "greeting", "text": "a" * 2000}, "messenger")
    response = await client.patch(
        _url(shop, "messenger", rule["id"]), json={"text": "a" * 2001}, headers=shop.headers("admin")
    )
    assert (await json_of(response, 422))["error"]["code"] == "text_too_long"


async def test_patch_checks_the_rule_as_a_whole(client: Client, shop: Workspace) -> None:
    rule = await _add_rule(client, shop, {"kind": "keyword", "signal": "payment", "text": "thanks"})
    url = _url(shop, rule_id=rule["id"])
    both = await json_of(await client.patch(url, json={"keywords": ["paid"]}, headers=shop.headers("admin")), 422)
    assert both["error"]["field"] == "keywords"
    neither = await json_of(await client.patch(url, json={"signal": None}, headers=shop.headers("admin")), 422)
    assert neither["error"]["field"] == "signal"
    kind = await json_of(await client.patch(url, json={"kind": "greeting"}, headers=shop.headers("admin")), 422)
    assert kind["error"]["field"] == "kind"


# --- settings: time zone and business hours -------------------------------------------------------------------------


async def test_settings_default_to_utc_and_always_open(client: Client, shop: Workspace) -> None:
    body = await json_of(await client.get("/api/v1/inbox/settings", headers=shop.headers("viewer")), 200)
    assert body == {
        "workspace_id": shop.id, "round_robin": False, "timezone": "UTC", "business_hours": None, "open_now": True,
    }  # fmt: skip


async def test_settings_store_business_hours_and_clear_them(client: Client, shop: Workspace) -> None:
    hours = {"sat": [["13:00", "17:00"], ["09:00", "12:00"]], "fri": [["22:00", "24:00"]], "mon": []}
    response = await client.patch(
        "/api/v1/inbox/settings",
        json={"timezone": "Europe/Berlin", "business_hours": hours},
        headers=shop.headers("admin"),
    )
    body = await json_of(response, 200)
    assert body["timezone"] == "Europe/Berlin"
    assert body["business_hours"] == {
        "mon": [],
        "fri": [["22:00", "24:00"]],
        "sat": [["09:00", "12:00"], ["13:00", "17:00"]],
    }
    assert isinstance(body["open_now"], bool)
    response = await client.patch("/api/v1/inbox/settings", json={"round_robin": True}, headers=shop.headers("admin"))
    kept = await json_of(response, 200)
    assert kept["business_hours"] == body["business_hours"]
    assert kept["round_robin"] is True
    response = await client.patch(
        "/api/v1/inbox/settings", json={"business_hours": None}, headers=shop.headers("admin")
    )
    cleared = await json_of(response, 200)
    assert (cleared["business_hours"], cleared["open_now"], cleared["timezone"]) == (None, True, "Europe/Berlin")
    assert cleared["round_robin"] is True


async def test_settings_time_zone_is_the_workspace_one(client: Client) -> None:
    from tests.conftest import admin_headers

    response = await client.post(
        "/api/v1/workspaces", json={"name": "WIB", "timezone": "Asia/Jakarta"}, headers=admin_headers()
    )
    workspace_id = (await json_of(response, 201))["id"]
    body = await json_of(
        await client.get(f"/api/v1/inbox/settings?workspace_id={workspace_id}", headers=admin_headers()), 200
    )
    assert body["timezone"] == "Asia/Jakarta"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"business_hours": {"mon": [["9:00", "18:00"]]}}, "business_hours.mon.0.0"),
        ({"business_hours": {"mon": [["09:00", "24:01"]]}}, "business_hours.mon.0.1"),
        ({"business_hours": {"mon": [["18:00", "09:00"]]}}, "business_hours.mon.0"),
        ({"business_hours": {"fri": [["22:00", "02:00"]]}}, "business_hours.fri.0"),
        ({"business_hours": {"tue": [["09:00", "13:00"], ["12:00", "18:00"]]}}, "business_hours.tue"),
        ({"business_hours": {"monday": [["09:00", "18:00"]]}}, "business_hours.monday.[key]"),
        ({"business_hours": {"mon": [["09:00"]]}}, "business_hours.mon.0"),
    ],
)
async def test_invalid_settings_name_the_field(
    client: Client, shop: Workspace, body: dict[str, Any], field: str
) -> None:
    response = await client.patch("/api/v1/inbox/settings", json=body, headers=shop.headers("admin"))
    error = (await json_of(response, 422))["error"]
    assert error["field"] == field, error
    assert error["code"] == "invalid"


async def test_an_overnight_interval_says_how_to_split_it(client: Client, shop: Workspace) -> None:
    body = {"business_hours": {"fri": [["22:00", "02:00"]]}}
    response = await client.patch("/api/v1/inbox/settings", json=body, headers=shop.headers("admin"))
    assert "24:00" in (await json_of(response, 422))["error"]["message"]


async def test_settings_writes_need_an_admin(client: Client, shop: Workspace) -> None:
    for role in ("agent", "viewer"):
        response = await client.patch("/api/v1/inbox/settings", json={"timezone": "UTC"}, headers=shop.headers(role))
        assert response.status == 403


async def test_concurrent_analyses_of_one_conversation_answer_once(
    client: Client, shop: Workspace, clock: Clock
) -> None:
    """Two messages analysed at the same moment by two workers: the conversation lock lets one rule fire once."""
    await _add_rule(client, shop, {"kind": "keyword", "keywords": ["size"], "text": "size chart: ..."})
    contact = _contact()
    first = await _inbound(client, contact, "which size?", clock.now)  # no signal: no flag merge locks the row
    second = await _inbound(client, contact, "size M or L?", clock.now + timedelta(seconds=1))
    clock.now += timedelta(seconds=2)
    analyzer = _analyzer(client, clock)
    await asyncio.gather(analyzer({"message_id": first}), analyzer({"message_id": second}))
    assert _texts(await _auto_replies(client)) == ["size chart: ..."]
