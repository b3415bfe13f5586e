"""Labels and canned responses: CRUD per workspace, unique names and shortcuts, and who may change them."""

from __future__ import annotations

import pytest
from inbox_support import Client, ClientFactory, Workspace, add_conversation, create_workspace, inbox_client, json_of

from partner.settings import Settings


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await inbox_client(aiohttp_client, settings)


@pytest.fixture
async def shop(client: Client) -> Workspace:
    return await create_workspace(client)


async def test_label_lifecycle(client: Client, shop: Workspace) -> None:
    admin = shop.headers("admin")
    created = await json_of(
        await client.post(
            "/api/v1/labels", json={"name": "vip", "colour": "#AA00ff", "description": "big"}, headers=admin
        ),
        201,
    )
    assert created["name"] == "vip"
    assert created["colour"] == "#AA00ff"
    duplicate = await client.post("/api/v1/labels", json={"name": "vip"}, headers=admin)
    assert (await json_of(duplicate, 409))["error"]["field"] == "name"
    await json_of(await client.post("/api/v1/labels", json={"name": "refund"}, headers=admin), 201)
    renamed = await client.patch(f"/api/v1/labels/{created['id']}", json={"name": "refund"}, headers=admin)
    assert renamed.status == 409
    updated = await json_of(
        await client.patch(f"/api/v1/labels/{created['id']}", json={"colour": "#000000"}, headers=admin), 200
    )
    assert updated["colour"] == "#000000"
    assert updated["name"] == "vip"
    listed = await json_of(await client.get("/api/v1/labels", headers=shop.headers("viewer")), 200)
    assert [label["name"] for label in listed["labels"]] == ["refund", "vip"]


async def test_deleting_a_label_removes_it_from_conversations(client: Client, shop: Workspace) -> None:
    admin = shop.headers("admin")
    label = await json_of(await client.post("/api/v1/labels", json={"name": "vip"}, headers=admin), 201)
    conversation_id = await add_conversation(client, shop)
    path = f"/api/v1/conversations/{conversation_id}"
    await json_of(await client.patch(path, json={"labels": ["vip"]}, headers=shop.headers("agent")), 200)
    assert (await client.delete(f"/api/v1/labels/{label['id']}", headers=admin)).status == 204
    assert (await json_of(await client.get(path, headers=admin), 200))["labels"] == []
    assert (await client.delete(f"/api/v1/labels/{label['id']}", headers=admin)).status == 404


@pytest.mark.parametrize("role", ["agent", "viewer"])
async def test_only_admins_define_labels(client: Client, shop: Workspace, role: str) -> None:
    assert (await client.post("/api/v1/labels", json={"name": "x"}, headers=shop.headers(role))).status == 403


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "a,b"},
        {"name": " lead"},
        {"name": "x" * 65},
        {"name": "ok", "colour": "red"},
        {"name": 5},
    ],
)
async def test_label_validation(client: Client, shop: Workspace, body: dict[str, object]) -> None:
    response = await client.post("/api/v1/labels", json=body, headers=shop.headers("admin"))
    assert (await json_of(response, 422))["error"]["code"] == "invalid"


async def test_canned_lifecycle(client: Client, shop: Workspace) -> None:
    agent = shop.headers("agent")
    created = await json_of(
        await client.post("/api/v1/canned_responses", json={"shortcut": "hours", "text": "9 to 5"}, headers=agent), 201
    )
    await json_of(
        await client.post("/api/v1/canned_responses", json={"shortcut": "ship", "text": "2 days"}, headers=agent), 201
    )
    duplicate = await client.post("/api/v1/canned_responses", json={"shortcut": "hours", "text": "x"}, headers=agent)
    assert (await json_of(duplicate, 409))["error"]["field"] == "shortcut"
    path = f"/api/v1/canned_responses/{created['id']}"
    updated = await json_of(await client.patch(path, json={"text": "9 to 6"}, headers=agent), 200)
    assert updated["text"] == "9 to 6"
    assert updated["shortcut"] == "hours"
    assert (await json_of(await client.get(path, headers=shop.headers("viewer")), 200))["text"] == "9 to 6"
    filtered = await json_of(await client.get("/api/v1/canned_responses?prefix=ho", headers=agent), 200)
    assert [item["shortcut"] for item in filtered["canned_responses"]] == ["hours"]
    assert (await client.patch(path, json={"shortcut": "ship"}, headers=agent)).status == 409
    assert (await client.delete(path, headers=shop.headers("viewer"))).status == 403
    assert (await client.delete(path, headers=agent)).status == 204
    assert (await client.get(path, headers=agent)).status == 404


@pytest.mark.parametrize(
    "body", [{"shortcut": "has space", "text": "x"}, {"shortcut": "ok", "text": ""}, {"shortcut": "/x", "text": "y"}]
)
async def test_canned_validation(client: Client, shop: Workspace, body: dict[str, object]) -> None:
    response = await client.post("/api/v1/canned_responses", json=body, headers=shop.headers("agent"))
    assert response.status == 422
