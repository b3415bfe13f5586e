"""Every CRM event reaches a subscribed receiver after the action that causes it, signed so the receiver can
check it, carrying metadata and never message text unless the subscription opted in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from partner.appkeys import engine_key
from partner.crm.emit import emit
from partner.inbox.models import MESSAGES
from partner.inbox.snoozing import SNOOZE_JOB, wake_snoozed_job
from partner.ingest.apply import MESSAGE_RECEIVED_JOB
from partner.store.models import utcnow
from partner.store.queue import JOBS, job_row
from tests.crm.crm_support import Receiver, crm_verifies, deliveries, run_jobs, say, subscribe
from tests.inbox.inbox_support import Client, Workspace, add_conversation, create_workspace, json_of

SECRET_TEXT = "Kak, saya sudah transfer ya"


def _signed_by(secret: str, receiver: Receiver) -> None:
    assert receiver.received
    for item in receiver.received:
        assert crm_verifies(secret, item), item.headers
        envelope = item.envelope
        assert envelope["type"] == item.headers["X-Partner-Event"]
        assert envelope["id"].startswith("evt_")
        assert item.headers["X-Partner-Delivery"].isdigit()
        assert datetime.fromisoformat(envelope["created_at"]).tzinfo is not None


async def test_an_inbound_message_announces_its_conversation_itself_and_its_signals(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    webhook = await subscribe(client, shop, receiver.url())
    await say(client, SECRET_TEXT, wamid="wamid.first")
    assert sorted(item.envelope["type"] for item in receiver.received) == [
        "conversation.created",
        "message.created",
        "signal.raised",
    ]
    _signed_by(webhook["secret"], receiver)
    assert all(item.envelope["workspace_id"] == shop.id for item in receiver.received)
    assert all(b"transfer" not in item.body for item in receiver.received)  # the text stays in the service

    [created] = receiver.of_type("conversation.created")
    conversation = created.data["conversation"]
    assert conversation["contact"]["phone"] == "6281234567890"
    assert conversation["channel"] == {"id": shop.channels["whatsapp"], "platform": "whatsapp", "name": "Shop whatsapp"}
    assert conversation["status"] == "open"
    assert conversation["signals"] == ["payment"]
    [message] = receiver.of_type("message.created")
    assert message.data["conversation"] == {"id": conversation["id"], "public_id": conversation["public_id"]}
    details = message.data["message"]
    assert details["direction"] == "inbound"
    assert details["length"] == len(SECRET_TEXT)
    assert details["signals"] == ["payment"]
    assert "text" not in details
    [signal] = receiver.of_type("signal.raised")
    assert signal.data == {
        "conversation": message.data["conversation"],
        "signal": "payment",
        "message_id": details["id"],
    }

    receiver.received.clear()
    await say(client, "Sudah bayar juga ongkirnya, berapa harganya?", wamid="wamid.second")
    types = sorted(item.envelope["type"] for item in receiver.received)
    assert "conversation.created" not in types
    assert types.count("message.created") == 1
    assert [item.data["signal"] for item in receiver.of_type("signal.raised")] == ["price_inquiry"]


async def test_rerunning_the_analysis_queues_nothing_twice(client: Client, shop: Workspace, receiver: Receiver) -> None:
    await subscribe(client, shop, receiver.url())
    await say(client, SECRET_TEXT, wamid="wamid.once")
    before = len(await deliveries(client))
    async with client.app[engine_key].begin() as connection:
        message_id = (await connection.execute(sa.select(sa.func.max(MESSAGES.c.id)))).scalar_one()
        payload = {"message_id": message_id, "new_conversation": True}
        await connection.execute(sa.insert(JOBS).values(**job_row(MESSAGE_RECEIVED_JOB, payload)))
    await run_jobs(client)
    assert len(await deliveries(client)) == before  # deterministic event ids: the same facts, not new ones
    assert len(receiver.received) == before


async def test_replies_and_notes_announce_message_created(client: Client, shop: Workspace, receiver: Receiver) -> None:
    webhook = await subscribe(client, shop, receiver.url(), events=["message.created"])
    conversation_id = await add_conversation(client, shop)
    path = f"/api/v1/conversations/{conversation_id}/messages"
    reply = await json_of(await client.post(path, json={"text": "Ready tomorrow"}, headers=shop.headers("agent")), 201)
    note = await json_of(
        await client.post(path, json={"text": "VIP, be nice", "private": True}, headers=shop.headers("agent")), 201
    )
    await run_jobs(client)
    _signed_by(webhook["secret"], receiver)
    by_id = {item.data["message"]["id"]: item.data["message"] for item in receiver.received}
    assert by_id[reply["id"]]["direction"] == "outbound"
    assert by_id[reply["id"]]["private"] is False
    assert by_id[reply["id"]]["author_user_id"] == shop.users["agent"]
    assert by_id[reply["id"]]["delivery_status"] == "pending"
    assert by_id[note["id"]]["private"] is True
    assert by_id[note["id"]]["length"] == len("VIP, be nice")
    assert all(b"Ready tomorrow" not in item.body and b"VIP" not in item.body for item in receiver.received)


async def test_changing_a_conversation_announces_its_new_state(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    await subscribe(client, shop, receiver.url(), events=["conversation.updated"])
    conversation_id = await add_conversation(client, shop)
    body = {"status": "resolved", "priority": "high", "assignee_id": shop.users["agent"]}
    await json_of(
        await client.patch(f"/api/v1/conversations/{conversation_id}", json=body, headers=shop.headers("agent")), 200
    )
    await run_jobs(client)
    [update] = receiver.received
    assert update.data["changes"] == ["assignee_id", "priority", "status"]
    snapshot = update.data["conversation"]
    assert (snapshot["id"], snapshot["status"], snapshot["priority"]) == (conversation_id, "resolved", "high")
    assert snapshot["assignee_id"] == shop.users["agent"]
    assert snapshot["resolved_at"] is not None


async def test_a_snooze_ending_announces_the_conversation_open_again(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    conversation_id = await add_conversation(client, shop)
    until = (utcnow() + timedelta(hours=1)).isoformat()
    path = f"/api/v1/conversations/{conversation_id}"
    await json_of(await client.patch(path, json={"snoozed_until": until}, headers=shop.headers("agent")), 200)
    await subscribe(client, shop, receiver.url(), events=["conversation.updated"])
    async with client.app[engine_key].connect() as connection:
        job = (await connection.execute(sa.select(JOBS).where(JOBS.c.kind == SNOOZE_JOB))).one()
    await wake_snoozed_job(client.app, job.payload)
    await run_jobs(client)
    [update] = receiver.received
    assert update.data["changes"] == ["status"]
    assert update.data["conversation"]["status"] == "open"


async def test_orders_announce_each_change_without_their_description(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    await subscribe(client, shop, receiver.url(), events=["order.changed"])
    conversation_id = await add_conversation(client, shop)
    path = f"/api/v1/conversations/{conversation_id}/orders"
    body = {"reference": "INV-7", "value": "150000.50", "currency": "IDR", "description": "2 shirts, size M"}
    order = await json_of(await client.post(path, json=body, headers=shop.headers("agent")), 201)
    change = {"status": "paid"}
    await json_of(await client.patch(f"{path}/{order['id']}", json=change, headers=shop.headers("agent")), 200)
    await run_jobs(client)
    events = sorted((item.data["change"], item.data["order"]["status"]) for item in receiver.received)
    assert events == [("created", "placed"), ("updated", "paid")]
    first = receiver.received[0].data
    assert first["order"]["reference"] == "INV-7"
    assert first["order"]["value"] == "150000.50"
    assert first["conversation"]["id"] == conversation_id
    assert all(b"shirts" not in item.body for item in receiver.received)
    assert "description" not in first["order"]


async def test_text_leaves_only_for_a_subscription_that_opted_in(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    await subscribe(client, shop, receiver.url("/hook"), events=["message.created", "order.changed"])
    opted = await subscribe(
        client, shop, receiver.url("/elsewhere"), events=["message.created", "order.changed"], include_message_text=True
    )
    assert opted["include_message_text"] is True
    await say(client, SECRET_TEXT, wamid="wamid.text")
    conversation_id = (await deliveries(client))[0].data["conversation"]["id"]
    order = {"description": "2 shirts, size M"}
    path = f"/api/v1/conversations/{conversation_id}/orders"
    await json_of(await client.post(path, json=order, headers=shop.headers("agent")), 201)
    await run_jobs(client)
    plain = [item for item in receiver.received if item.path == "/hook"]
    with_text = {item.envelope["type"]: item.data for item in receiver.received if item.path == "/elsewhere"}
    assert len(plain) == 2
    assert all(b"transfer" not in item.body and b"shirts" not in item.body for item in plain)
    assert with_text["message.created"]["message"]["text"] == SECRET_TEXT
    assert with_text["order.changed"]["order"]["description"] == "2 shirts, size M"
    stored = [delivery.data for delivery in await deliveries(client)]
    assert "transfer" not in str(stored)  # read from the message when sending, never copied into the queue


async def test_only_matching_active_subscriptions_of_the_workspace_receive(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    orders_only = await subscribe(client, shop, receiver.url("/hook"), events=["order.changed"])
    await subscribe(client, shop, receiver.url("/elsewhere"), active=False)
    other = await create_workspace(client, "Other", platforms=("line",), sandbox_ids=False)
    await subscribe(client, other, receiver.url("/elsewhere"))
    await say(client, SECRET_TEXT, wamid="wamid.filtered")
    conversation_id = await add_conversation(client, shop)
    path = f"/api/v1/conversations/{conversation_id}/orders"
    await json_of(await client.post(path, json={}, headers=shop.headers("agent")), 201)
    await run_jobs(client)
    assert [(item.path, item.envelope["type"]) for item in receiver.received] == [("/hook", "order.changed")]
    rows: list[Any] = await deliveries(client)
    assert [row.webhook_id for row in rows] == [orders_only["id"]]


async def test_emit_queues_one_delivery_per_interested_webhook(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    wants = await subscribe(client, shop, receiver.url(), events=["order.changed"])
    await subscribe(client, shop, receiver.url(), events=["message.created"])
    async with client.app[engine_key].begin() as connection:
        queued = await connection.run_sync(emit, shop.id, "order.changed", {"order": {"id": 1}}, key="order-1")
        again = await connection.run_sync(emit, shop.id, "order.changed", {"order": {"id": 1}}, key="order-1")
    assert (queued, again) == (1, 0)
    [row] = await deliveries(client)
    assert row.webhook_id == wants["id"]
    await run_jobs(client)
    assert receiver.received[0].envelope["id"] == row.event_id
