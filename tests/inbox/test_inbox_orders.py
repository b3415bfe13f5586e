"""Orders and reservations: placing and paying queue TikTok conversions through the outbox once per
conversation, with value and currency and nothing else; status only moves forward."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from inbox_support import Client, ClientFactory, Workspace, add_conversation, create_workspace, inbox_client, json_of

from partner.appkeys import engine_key
from partner.ingest.apply import OUTBOX
from partner.settings import Settings


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await inbox_client(aiohttp_client, settings)


@pytest.fixture
async def shop(client: Client) -> Workspace:
    return await create_workspace(client)


async def _outbox(client: Client) -> list[Any]:
    async with client.app[engine_key].connect() as connection:
        return list((await connection.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id))).all())


async def _order(client: Client, shop: Workspace, conversation_id: int, body: dict[str, Any], status: int = 201) -> Any:
    path = f"/api/v1/conversations/{conversation_id}/orders"
    return await json_of(await client.post(path, json=body, headers=shop.headers("agent")), status)


async def _change(
    client: Client, shop: Workspace, conversation_id: int, order_id: int, body: dict[str, Any], status: int = 200
) -> Any:
    path = f"/api/v1/conversations/{conversation_id}/orders/{order_id}"
    return await json_of(await client.patch(path, json=body, headers=shop.headers("agent")), status)


async def test_placing_then_paying_reports_each_conversion_once(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop)
    body = {"reference": "INV-7", "value": "150000.50", "currency": "IDR", "description": "2 shirts, size M"}
    order = await _order(client, shop, conversation_id, body)
    assert order["status"] == "placed"
    assert order["value"] == "150000.50"
    assert order["reported"] == ["order_placed"]
    assert order["created_by"] == shop.users["agent"]
    paid = await _change(client, shop, conversation_id, order["id"], {"status": "paid"})
    assert paid["reported"] == ["order_paid"]
    assert paid["paid_at"] is not None
    second = await _order(client, shop, conversation_id, {"status": "paid", "value": 10, "currency": "IDR"})
    assert second["reported"] == []  # this conversation's conversions are already reported
    rows = await _outbox(client)
    assert [row.outcome for row in rows] == ["order_placed", "order_paid"]
    assert rows[0].payload == {"properties": {"content_type": "product", "value": 150000.5, "currency": "IDR"}}
    assert "shirts" not in str([row.payload for row in rows])
    assert {row.conversation_id for row in rows} == {conversation_id}


async def test_paying_at_once_also_places(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop)
    reservation = {"kind": "reservation", "status": "paid", "reserved_for": "2030-05-01T19:30:00+07:00"}
    order = await _order(client, shop, conversation_id, reservation)
    assert order["reported"] == ["order_placed", "order_paid"]
    assert order["reserved_for"].startswith("2030-05-01T12:30:00")
    assert (await _outbox(client))[0].payload == {"properties": {"content_type": "reservation"}}


async def test_status_only_moves_forward(client: Client, shop: Workspace) -> None:
    conversation_id = await add_conversation(client, shop)
    order = await _order(client, shop, conversation_id, {})
    cancelled = await _change(client, shop, conversation_id, order["id"], {"status": "cancelled"})
    assert cancelled["reported"] == []
    body = await _change(client, shop, conversation_id, order["id"], {"status": "paid"}, status=409)
    assert body["error"]["field"] == "status"
    unchanged = await _change(client, shop, conversation_id, order["id"], {"status": None, "reference": "X-1"})
    assert unchanged["status"] == "cancelled"
    assert unchanged["reference"] == "X-1"
    listed = await json_of(
        await client.get(f"/api/v1/conversations/{conversation_id}/orders", headers=shop.headers("viewer")), 200
    )
    assert [item["status"] for item in listed["orders"]] == ["cancelled"]


async def test_orders_are_scoped_and_validated(client: Client, shop: Workspace) -> None:
    other = await create_workspace(client, "Other", sandbox_ids=False)
    mine = await add_conversation(client, shop)
    theirs = await add_conversation(client, other)
    assert (
        await client.post(f"/api/v1/conversations/{theirs}/orders", json={}, headers=shop.headers("agent"))
    ).status == 404
    assert (
        await client.post(f"/api/v1/conversations/{mine}/orders", json={}, headers=shop.headers("viewer"))
    ).status == 403
    order = await _order(client, other, theirs, {})
    assert (
        await client.patch(f"/api/v1/conversations/{mine}/orders/{order['id']}", json={}, headers=shop.headers("agent"))
    ).status == 404
    for bad in ({"value": -1}, {"value": "abc"}, {"currency": "idr"}, {"status": "cancelled"}, {"kind": "gift"},
                {"value": "NaN"}, {"value": 1e20}):  # fmt: skip
        assert (
            await client.post(f"/api/v1/conversations/{mine}/orders", json=bad, headers=shop.headers("agent"))
        ).status == 422, bad
    assert await _outbox(client) == [] or all(row.conversation_id == theirs for row in await _outbox(client))
