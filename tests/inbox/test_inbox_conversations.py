"""The conversation list and its filters, counts and cursors; one conversation; changes to status, priority,
assignee, labels and snoozes; and what agents limited to some channels can see."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from inbox_support import (
    Client,
    ClientFactory,
    Workspace,
    add_conversation,
    create_user,
    create_workspace,
    inbox_client,
    json_of,
)

from partner.appkeys import engine_key
from partner.inbox.hooks import on_inbound_message
from partner.inbox.http import encode_cursor
from partner.inbox.models import CONVERSATIONS, MESSAGES
from partner.inbox.routes import job_handlers
from partner.inbox.snoozing import SNOOZE_JOB
from partner.settings import Settings
from partner.store.models import utcnow
from partner.store.queue import JOBS
from tests.conftest import admin_headers


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await inbox_client(aiohttp_client, settings)


@pytest.fixture
async def shop(client: Client) -> Workspace:
    return await create_workspace(client)


async def _list(client: Client, workspace: Workspace, query: str = "", role: str = "agent") -> Any:
    return await json_of(await client.get(f"/api/v1/conversations?{query}", headers=workspace.headers(role)), 200)


def _ids(body: Any) -> list[int]:
    return [item["id"] for item in body["conversations"]]


async def _patch(
    client: Client, workspace: Workspace, conversation_id: int, change: dict[str, Any], status: int = 200
) -> Any:
    response = await client.patch(
        f"/api/v1/conversations/{conversation_id}", json=change, headers=workspace.headers("agent")
    )
    return await json_of(response, status)


async def _label(client: Client, workspace: Workspace, name: str) -> None:
    body = {"name": name, "colour": "#ff0000"}
    await json_of(await client.post("/api/v1/labels", json=body, headers=workspace.headers("admin")), 201)


async def test_list_shows_open_conversations_newest_first_with_details(client: Client, shop: Workspace) -> None:
    now = utcnow()
    older = await add_conversation(client, shop, at=now - timedelta(minutes=5), texts=("first", "second"))
    newer = await add_conversation(client, shop, "line", at=now)
    await add_conversation(client, shop, status="resolved")
    body = await _list(client, shop)
    assert _ids(body) == [newer, older]
    assert body["counts"] == {"mine": 0, "unassigned": 2, "all": 2}
    assert body["next_cursor"] is None
    item = body["conversations"][1]
    assert item["channel"]["platform"] == "whatsapp"
    assert item["contact"]["name"] == "Customer"
    assert item["last_message"]["text"] == "second"
    assert item["reply_window"]["open"] is True
    assert item["assignee"] is None
    assert item["labels"] == []
    assert body["conversations"][0]["reply_window"]["rule"] == "LINE has no reply window"


async def test_status_filter(client: Client, shop: Workspace) -> None:
    ids = {status: await add_conversation(client, shop, status=status) for status in ("open", "pending", "resolved")}
    for status, conversation_id in ids.items():
        assert _ids(await _list(client, shop, f"status={status}")) == [conversation_id]
    assert sorted(_ids(await _list(client, shop, "status=all"))) == sorted(ids.values())


async def test_channel_platform_flag_and_attribution_filters(client: Client, shop: Workspace) -> None:
    paying = await add_conversation(client, shop, flags={"payment": "2026-01-01T00:00:00+00:00"})
    clicked = await add_conversation(client, shop, "messenger", ttclid="E.C.P.abc")
    referred = await add_conversation(client, shop, "line", referral={"source": "tiktok_ad", "ad_id": "1"})
    assert _ids(await _list(client, shop, "flag=payment")) == [paying]
    assert _ids(await _list(client, shop, "flag=bayar")) == []
    assert _ids(await _list(client, shop, "platform=messenger")) == [clicked]
    assert _ids(await _list(client, shop, f"channel_id={shop.channels['line']}")) == [referred]
    assert sorted(_ids(await _list(client, shop, "attributed=true"))) == sorted([clicked, referred])
    assert _ids(await _list(client, shop, "attributed=false")) == [paying]
    detail = (await _list(client, shop, "platform=line"))["conversations"][0]
    assert detail["attribution"] == {
        "attributed": True,
        "source": None,
        "ttclid": None,
        "campaign": None,
        "clicked_at": None,
        "referral": {"source": "tiktok_ad", "ad_id": "1"},
    }


async def test_text_search_treats_wildcards_literally(client: Client, shop: Workspace) -> None:
    discount = await add_conversation(client, shop, texts=("Is there 50% off?",))
    await add_conversation(client, shop, texts=("Is there 50 percent off?",))
    underscore = await add_conversation(client, shop, texts=("order_id 7",))
    assert _ids(await _list(client, shop, "q=50%25")) == [discount]
    assert _ids(await _list(client, shop, "q=THERE+50%25")) == [discount]  # case-insensitive
    assert _ids(await _list(client, shop, "q=r_i")) == [underscore]
    assert _ids(await _list(client, shop, "q=%5C")) == []


async def test_label_assignee_and_counts(client: Client, shop: Workspace) -> None:
    await _label(client, shop, "vip")
    mine = await add_conversation(client, shop)
    theirs = await add_conversation(client, shop)
    nobody = await add_conversation(client, shop)
    await _patch(client, shop, mine, {"assignee_id": shop.users["agent"], "labels": ["vip"]})
    await _patch(client, shop, theirs, {"assignee_id": shop.users["admin"]})
    assert _ids(await _list(client, shop, "assignee=me")) == [mine]
    assert _ids(await _list(client, shop, "assignee=unassigned")) == [nobody]
    assert sorted(_ids(await _list(client, shop, "assignee=anyone"))) == sorted([mine, theirs])
    assert _ids(await _list(client, shop, f"assignee={shop.users['admin']}")) == [theirs]
    assert _ids(await _list(client, shop, "label=vip")) == [mine]
    assert _ids(await _list(client, shop, "label=unknown")) == []
    assert (await _list(client, shop, "assignee=me"))["counts"] == {"mine": 1, "unassigned": 1, "all": 3}
    assert (await _list(client, shop, "label=vip"))["counts"] == {"mine": 1, "unassigned": 0, "all": 1}
    assert (await _list(client, shop, "counts=false"))["counts"] is None


async def test_updated_since(client: Client, shop: Workspace) -> None:
    now = utcnow()
    await add_conversation(client, shop, at=now - timedelta(days=2))
    recent = await add_conversation(client, shop, at=now)
    since = (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert _ids(await _list(client, shop, f"updated_since={since}")) == [recent]


@pytest.mark.parametrize("sort", ["updated_at", "last_message_at", "created"])
async def test_cursor_pages_are_stable_under_inserts(client: Client, shop: Workspace, sort: str) -> None:
    """Rows inserted while paging neither repeat nor shift the later pages; equal sort keys are split by id."""
    now = utcnow()
    same_time = [await add_conversation(client, shop, at=now) for _ in range(4)]
    earlier = [await add_conversation(client, shop, at=now - timedelta(minutes=i + 1)) for i in range(3)]
    expected = (
        sorted(same_time + earlier, reverse=True) if sort == "created" else sorted(same_time, reverse=True) + earlier
    )
    first = await _list(client, shop, f"sort={sort}&limit=3")
    assert _ids(first) == expected[:3]
    await add_conversation(client, shop, at=now + timedelta(minutes=1))  # lands before the cursor
    second = await _list(client, shop, f"sort={sort}&limit=3&cursor={first['next_cursor']}")
    assert _ids(second) == expected[3:6]
    third = await _list(client, shop, f"sort={sort}&limit=3&cursor={second['next_cursor']}")
    assert _ids(third) == expected[6:]
    assert third["next_cursor"] is None


async def test_bad_cursors_are_422(client: Client, shop: Workspace) -> None:
    for _ in range(2):
        await add_conversation(client, shop)
    cursor = (await _list(client, shop, "limit=1"))["next_cursor"]
    crafted = [encode_cursor(["updated_at", "0001-01-01T00:00:00+05:00", 1]), encode_cursor(["updated_at", 5, 1])]
    for bad in ("not-a-cursor", "e30", cursor + "x", "", *crafted):
        response = await client.get(f"/api/v1/conversations?cursor={bad}", headers=shop.headers("agent"))
        assert response.status == 422, bad
    other_sort = await client.get(f"/api/v1/conversations?sort=created&cursor={cursor}", headers=shop.headers("agent"))
    assert (await json_of(other_sort, 422))["error"]["field"] == "cursor"


async def test_get_one_and_messages_oldest_first(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop, texts=("one", "two", "three"))
    detail = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=shop.headers("viewer")), 200
    )
    assert detail["id"] == conversation_id
    assert detail["last_message"]["text"] == "three"
    path = f"/api/v1/conversations/{conversation_id}/messages"
    page = await json_of(await client.get(f"{path}?limit=2", headers=shop.headers("viewer")), 200)
    assert [m["text"] for m in page["messages"]] == ["one", "two"]
    rest = await json_of(await client.get(f"{path}?cursor={page['next_cursor']}", headers=shop.headers("viewer")), 200)
    assert [m["text"] for m in rest["messages"]] == ["three"]
    assert rest["next_cursor"] is None
    assert rest["messages"][0]["direction"] == "inbound"
    assert rest["messages"][0]["private"] is False


async def test_deleted_messages_hide_their_content(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop, texts=("regret",))
    async with client.app[engine_key].begin() as connection:
        await connection.execute(sa.update(MESSAGES).values(deleted_at=utcnow()))
    body = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=shop.headers("agent")), 200
    )
    assert body["messages"][0]["text"] is None
    assert body["messages"][0]["deleted"] is True


async def test_patch_status_priority_and_labels(client: Client, shop: Workspace) -> None:
    await _label(client, shop, "vip")
    await _label(client, shop, "refund")
    conversation_id = await add_conversation(client, shop)
    body = await _patch(
        client, shop, conversation_id, {"status": "resolved", "priority": "urgent", "labels": ["vip", "refund"]}
    )
    assert body["status"] == "resolved"
    assert body["resolved_at"] is not None
    assert body["priority"] == "urgent"
    assert [label["name"] for label in body["labels"]] == ["refund", "vip"]
    body = await _patch(client, shop, conversation_id, {"status": "open", "priority": None, "labels": []})
    assert body["status"] == "open"
    assert body["resolved_at"] is None
    assert body["priority"] is None
    assert body["labels"] == []
    missing = await _patch(client, shop, conversation_id, {"labels": ["nope"]}, status=422)
    assert missing["error"]["field"] == "labels"


async def test_assignee_must_be_an_eligible_user(client: Client, shop: Workspace) -> None:
    other = await create_workspace(client, "Other", sandbox_ids=False)
    line_only, _ = await create_user(client, shop.id, "line@shop.test", "agent", channel_ids=[shop.channels["line"]])
    conversation_id = await add_conversation(client, shop)
    for user_id in (shop.users["viewer"], other.users["agent"], line_only):
        body = await _patch(client, shop, conversation_id, {"assignee_id": user_id}, status=422)
        assert body["error"]["field"] == "assignee_id"
    body = await _patch(client, shop, conversation_id, {"assignee_id": shop.users["agent"]})
    assert body["assignee"]["id"] == shop.users["agent"]
    assert body["assignee"]["email"] == "agent@shop.test"
    assert (await _patch(client, shop, conversation_id, {"assignee_id": None}))["assignee"] is None


async def test_snooze_wakes_on_time_or_on_a_new_message(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop)
    until = utcnow() + timedelta(hours=2)
    body = await _patch(client, shop, conversation_id, {"snoozed_until": until.isoformat()})
    assert body["status"] == "snoozed"
    assert body["snoozed_until"] is not None
    assert _ids(await _list(client, shop)) == []
    assert _ids(await _list(client, shop, "status=snoozed")) == [conversation_id]
    async with client.app[engine_key].connect() as connection:
        [payload] = (await connection.execute(sa.select(JOBS.c.payload).where(JOBS.c.kind == SNOOZE_JOB))).scalars()
    await job_handlers(client.app)[SNOOZE_JOB](payload)
    assert _ids(await _list(client, shop)) == [conversation_id]

    await _patch(client, shop, conversation_id, {"status": "snoozed", "snoozed_until": until.isoformat()})
    async with client.app[engine_key].begin() as connection:
        await connection.run_sync(
            partial(on_inbound_message, conversation_id=conversation_id, workspace_id=shop.id, new_conversation=False)
        )
    assert _ids(await _list(client, shop)) == [conversation_id]
    await job_handlers(client.app)[SNOOZE_JOB](payload)  # a stale wake-up changes nothing
    detail = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=shop.headers("agent")), 200
    )
    assert detail["status"] == "open"
    assert detail["snoozed_until"] is None


async def test_snooze_validation(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop)
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    future = (utcnow() + timedelta(hours=1)).isoformat()
    for change in (
        {"status": "snoozed"},
        {"snoozed_until": past},
        {"status": "open", "snoozed_until": future},
        {"snoozed_until": (utcnow() + timedelta(days=400)).isoformat()},
    ):
        body = await _patch(client, shop, conversation_id, change, status=422)
        assert body["error"]["field"] == "snoozed_until", change


async def test_resolving_a_snoozed_conversation_drops_the_snooze(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop)
    await _patch(client, shop, conversation_id, {"snoozed_until": (utcnow() + timedelta(hours=1)).isoformat()})
    body = await _patch(client, shop, conversation_id, {"status": "resolved"})
    assert body["status"] == "resolved"
    assert body["snoozed_until"] is None


async def test_channel_limited_agent_sees_only_its_channels(client: Client, shop: Workspace) -> None:
    _, token = await create_user(client, shop.id, "line@shop.test", "agent", channel_ids=[shop.channels["line"]])
    headers = {"Authorization": f"Bearer {token}"}
    visible = await add_conversation(client, shop, "line")
    hidden = await add_conversation(client, shop, "whatsapp")
    body = await json_of(await client.get("/api/v1/conversations", headers=headers), 200)
    assert _ids(body) == [visible]
    assert body["counts"]["all"] == 1
    for path in (f"/api/v1/conversations/{hidden}", f"/api/v1/conversations/{hidden}/messages"):
        assert (await client.get(path, headers=headers)).status == 404
    assert (
        await client.patch(f"/api/v1/conversations/{hidden}", json={"status": "resolved"}, headers=headers)
    ).status == 404
    reply = await client.post(f"/api/v1/conversations/{hidden}/messages", json={"text": "hi"}, headers=headers)
    assert reply.status == 404


async def test_viewer_reads_but_cannot_change(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop)
    headers = shop.headers("viewer")
    assert (await client.get(f"/api/v1/conversations/{conversation_id}", headers=headers)).status == 200
    patch = await client.patch(f"/api/v1/conversations/{conversation_id}", json={"status": "resolved"}, headers=headers)
    assert patch.status == 403
    reply = await client.post(f"/api/v1/conversations/{conversation_id}/messages", json={"text": "hi"}, headers=headers)
    assert reply.status == 403


async def test_bootstrap_admin_lists_any_workspace_but_has_no_mine(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop)
    body = await json_of(
        await client.get(f"/api/v1/conversations?workspace_id={shop.id}", headers=admin_headers()), 200
    )
    assert _ids(body) == [conversation_id]
    assert body["counts"]["mine"] == 0
    mine = await client.get(f"/api/v1/conversations?workspace_id={shop.id}&assignee=me", headers=admin_headers())
    assert (await json_of(mine, 422))["error"]["field"] == "assignee"
    assert (await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin_headers())).status == 200


async def test_round_robin_assigns_new_conversations_in_turn(client: Client, shop: Workspace) -> None:
    second, _ = await create_user(client, shop.id, "second@shop.test", "agent")
    await create_user(client, shop.id, "line@shop.test", "agent", channel_ids=[shop.channels["line"]])
    settings = await client.patch("/api/v1/inbox/settings", json={"round_robin": True}, headers=shop.headers("admin"))
    assert (await json_of(settings, 200))["round_robin"] is True
    assignees = []
    for _ in range(3):
        conversation_id = await add_conversation(client, shop)
        async with client.app[engine_key].begin() as connection:
            hook = partial(on_inbound_message, workspace_id=shop.id, new_conversation=True)
            await connection.run_sync(partial(hook, conversation_id=conversation_id))
        detail = await json_of(
            await client.get(f"/api/v1/conversations/{conversation_id}", headers=shop.headers("agent")), 200
        )
        assignees.append(detail["assignee"]["id"])
    assert assignees == [shop.users["agent"], second, shop.users["agent"]]


async def test_round_robin_is_off_by_default(client: Client, shop: Workspace) -> None:
    body = await json_of(await client.get("/api/v1/inbox/settings", headers=shop.headers("viewer")), 200)
    assert (body["workspace_id"], body["round_robin"]) == (shop.id, False)
    conversation_id = await add_conversation(client, shop)
    async with client.app[engine_key].begin() as connection:
        await connection.run_sync(
            partial(on_inbound_message, conversation_id=conversation_id, workspace_id=shop.id, new_conversation=True)
        )
    async with client.app[engine_key].connect() as connection:
        status = (await connection.execute(sa.select(CONVERSATIONS.c.status))).scalar_one()
    assert status == "open"
    assert _ids(await _list(client, shop, "assignee=unassigned")) == [conversation_id]
