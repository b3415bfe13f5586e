"""Auto-assignment that respects agents: only online agents, never above their capacity, the least loaded first, and
conversations that found nobody wait until somebody can take them."""

from __future__ import annotations

from typing import Any

import pytest
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
from partner.settings import Settings
from tests.conftest import admin_headers


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await inbox_client(aiohttp_client, settings)


@pytest.fixture
async def shop(client: Client) -> Workspace:
    workspace = await create_workspace(client)
    response = await client.patch(
        "/api/v1/inbox/settings", json={"round_robin": True}, headers=workspace.headers("admin")
    )
    assert (await json_of(response, 200))["round_robin"] is True
    return workspace


async def _new_conversation(client: Client, shop: Workspace) -> int:
    """A conversation opened by an inbound message, as ingest hands it to the inbox hook."""
    conversation_id = await add_conversation(client, shop)
    async with client.app[engine_key].begin() as connection:
        await connection.run_sync(
            lambda sync: on_inbound_message(
                sync, conversation_id=conversation_id, workspace_id=shop.id, new_conversation=True
            )
        )
    return conversation_id


async def _assignee(client: Client, shop: Workspace, conversation_id: int) -> int | None:
    detail = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=shop.headers("admin")), 200
    )
    return None if detail["assignee"] is None else int(detail["assignee"]["id"])


async def _set_availability(client: Client, token: str, availability: str, status: int = 200) -> Any:
    response = await client.patch(
        "/api/v1/me", json={"availability": availability}, headers={"Authorization": f"Bearer {token}"}
    )
    return await json_of(response, status)


async def _patch_user(client: Client, shop: Workspace, user_id: int, change: dict[str, Any], status: int = 200) -> Any:
    response = await client.patch(f"/api/v1/users/{user_id}", json=change, headers=shop.headers("admin"))
    return await json_of(response, status)


async def test_users_are_online_with_no_capacity_limit_by_default(client: Client, shop: Workspace) -> None:
    me = await json_of(await client.get("/api/v1/me", headers=shop.headers("agent")), 200)
    assert me["user"]["availability"] == "online"
    assert me["user"]["capacity"] is None


async def test_busy_and_offline_agents_are_skipped(client: Client, shop: Workspace) -> None:
    second, second_token = await create_user(client, shop.id, "second@shop.test", "agent")
    body = await _set_availability(client, shop.tokens["agent"], "busy")
    assert body["user"]["availability"] == "busy"
    first = await _new_conversation(client, shop)
    again = await _new_conversation(client, shop)
    assert await _assignee(client, shop, first) == second
    assert await _assignee(client, shop, again) == second
    await _set_availability(client, second_token, "offline")
    assert await _assignee(client, shop, await _new_conversation(client, shop)) is None


async def test_waiting_conversations_go_to_an_agent_who_comes_online(client: Client, shop: Workspace) -> None:
    await _set_availability(client, shop.tokens["agent"], "offline")
    waiting = [await _new_conversation(client, shop) for _ in range(3)]
    assert [await _assignee(client, shop, conversation) for conversation in waiting] == [None, None, None]
    await _set_availability(client, shop.tokens["agent"], "online")
    assert [await _assignee(client, shop, conversation) for conversation in waiting] == [shop.users["agent"]] * 3


async def test_capacity_holds_conversations_until_one_is_resolved(client: Client, shop: Workspace) -> None:
    body = await _patch_user(client, shop, shop.users["agent"], {"capacity": 1})
    assert body["capacity"] == 1
    first = await _new_conversation(client, shop)
    second = await _new_conversation(client, shop)
    assert await _assignee(client, shop, first) == shop.users["agent"]
    assert await _assignee(client, shop, second) is None
    response = await client.patch(
        f"/api/v1/conversations/{first}", json={"status": "resolved"}, headers=shop.headers("agent")
    )
    await json_of(response, 200)
    assert await _assignee(client, shop, second) == shop.users["agent"]


async def test_raising_capacity_hands_out_waiting_conversations(client: Client, shop: Workspace) -> None:
    await _patch_user(client, shop, shop.users["agent"], {"capacity": 1})
    conversations = [await _new_conversation(client, shop) for _ in range(3)]
    assert [await _assignee(client, shop, conversation) for conversation in conversations][1:] == [None, None]
    await _patch_user(client, shop, shop.users["agent"], {"capacity": 2})
    assignees = [await _assignee(client, shop, conversation) for conversation in conversations]
    assert assignees == [shop.users["agent"], shop.users["agent"], None]
    body = await _patch_user(client, shop, shop.users["agent"], {"capacity": None})
    assert body["capacity"] is None
    assert await _assignee(client, shop, conversations[2]) == shop.users["agent"]


async def test_the_least_loaded_agent_gets_the_next_conversation(client: Client, shop: Workspace) -> None:
    second, _ = await create_user(client, shop.id, "second@shop.test", "agent")
    for _ in range(2):  # the first agent already answers two conversations
        busy = await add_conversation(client, shop)
        response = await client.patch(
            f"/api/v1/conversations/{busy}", json={"assignee_id": shop.users["agent"]}, headers=shop.headers("admin")
        )
        await json_of(response, 200)
    assignees = [await _assignee(client, shop, await _new_conversation(client, shop)) for _ in range(4)]
    assert assignees == [second, second, shop.users["agent"], second]


async def test_resolved_conversations_do_not_count_as_load(client: Client, shop: Workspace) -> None:
    second, _ = await create_user(client, shop.id, "second@shop.test", "agent")
    done = await add_conversation(client, shop, status="resolved")
    response = await client.patch(
        f"/api/v1/conversations/{done}", json={"assignee_id": second}, headers=shop.headers("admin")
    )
    await json_of(response, 200)
    assignees = [await _assignee(client, shop, await _new_conversation(client, shop)) for _ in range(2)]
    assert assignees == [shop.users["agent"], second]


async def test_nothing_is_drained_while_round_robin_is_off(client: Client, shop: Workspace) -> None:
    await _set_availability(client, shop.tokens["agent"], "offline")
    waiting = await _new_conversation(client, shop)
    response = await client.patch("/api/v1/inbox/settings", json={"round_robin": False}, headers=shop.headers("admin"))
    await json_of(response, 200)
    await _set_availability(client, shop.tokens["agent"], "online")
    assert await _assignee(client, shop, waiting) is None


async def test_availability_and_capacity_are_validated(client: Client, shop: Workspace) -> None:
    body = await _set_availability(client, shop.tokens["agent"], "away", status=422)
    assert body["error"]["field"] == "availability"
    body = await _patch_user(client, shop, shop.users["agent"], {"capacity": 0}, status=422)
    assert body["error"]["field"] == "capacity"
    body = await _patch_user(client, shop, shop.users["agent"], {"availability": "sleeping"}, status=422)
    assert body["error"]["field"] == "availability"
    response = await client.patch("/api/v1/me", json={"availability": "online"}, headers=admin_headers())
    assert (await json_of(response, 409))["error"]["code"] == "conflict"


async def test_viewers_set_their_own_availability_but_not_others(client: Client, shop: Workspace) -> None:
    body = await _set_availability(client, shop.tokens["viewer"], "busy")
    assert body["user"]["id"] == shop.users["viewer"]
    response = await client.patch(
        f"/api/v1/users/{shop.users['agent']}", json={"availability": "offline"}, headers=shop.headers("agent")
    )
    assert response.status == 403
    agent = await json_of(await client.get("/api/v1/me", headers=shop.headers("agent")), 200)
    assert agent["user"]["availability"] == "online"


async def test_tab_counts_follow_automatic_and_manual_assignment(client: Client, shop: Workspace) -> None:
    async def counts() -> Any:
        response = await client.get("/api/v1/conversations?status=all", headers=shop.headers("agent"))
        return (await json_of(response, 200))["counts"]

    conversation_id = await _new_conversation(client, shop)
    assert await counts() == {"mine": 1, "unassigned": 0, "all": 1}
    path = f"/api/v1/conversations/{conversation_id}"
    await json_of(await client.patch(path, json={"assignee_id": None}, headers=shop.headers("admin")), 200)
    assert await counts() == {"mine": 0, "unassigned": 1, "all": 1}
    change = {"assignee_id": shop.users["admin"]}
    await json_of(await client.patch(path, json=change, headers=shop.headers("admin")), 200)
    assert await counts() == {"mine": 0, "unassigned": 0, "all": 1}
