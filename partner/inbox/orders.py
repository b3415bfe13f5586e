"""Orders and reservations taken in a conversation, and the conversions they report to TikTok.

Placing one queues the ``order_placed`` outcome and paying one ``order_paid`` (paying also places it), in the same
transaction as the order, through the reporting outbox (:func:`partner.ingest.apply.queue_outcome`). Each outcome
is reported once per conversation: its event id is derived from the conversation and the outcome, so a second
order in the same conversation, a retry, or paying after placing never double-counts a conversion. The event
carries the order's value and currency when known, never its description.

Status only moves forward: placed, then paid; either may be cancelled, which reports nothing (TikTok has no
event to take a conversion back).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.engine import Connection, Row

from partner.accounts.auth import Principal, authenticate, not_found
from partner.crm import emit as crm_events
from partner.inbox.http import engine, json_response, parse_body, path_id
from partner.inbox.models import CONVERSATIONS, ORDERS
from partner.inbox.schemas import OrderCreate, OrderList, OrderOut, OrderUpdate
from partner.ingest.apply import OUTBOX, event_id_for, queue_outcome
from partner.store.models import utcnow
from partner.web import ApiError

ORDER_PLACED = "order_placed"
ORDER_PAID = "order_paid"
_CLEARABLE = frozenset({"reference", "currency", "reserved_for"})  # null clears these; others keep their value
_NEXT_STATUSES = {"placed": {"placed", "paid", "cancelled"}, "paid": {"paid", "cancelled"}, "cancelled": {"cancelled"}}


def order_out(row: Row[Any], reported: list[str]) -> OrderOut:
    return OrderOut(
        id=row.id,
        conversation_id=row.conversation_id,
        kind=row.kind,
        status=row.status,
        reference=row.reference,
        value=row.value,
        currency=row.currency,
        description=row.description,
        reserved_for=row.reserved_for,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        paid_at=row.paid_at,
        reported=reported,
    )


def _conversation(connection: Connection, principal: Principal, conversation_id: int, *, lock: bool = True) -> Any:
    statement = sa.select(
        CONVERSATIONS.c.id, CONVERSATIONS.c.workspace_id, CONVERSATIONS.c.channel_id, CONVERSATIONS.c.public_id
    ).where(CONVERSATIONS.c.id == conversation_id)
    row = connection.execute(statement.with_for_update() if lock else statement).first()
    if row is None or not principal.may_see(row.workspace_id, row.channel_id):
        raise not_found("conversation")
    return row


def _report(connection: Connection, conversation: Row[Any], order: Row[Any], at: datetime) -> list[str]:
    """Queue the outcomes the order's status implies; returns those that were new for the conversation."""
    outcomes = {"placed": [ORDER_PLACED], "paid": [ORDER_PLACED, ORDER_PAID]}.get(order.status, [])
    properties: dict[str, Any] = {"content_type": "product" if order.kind == "order" else "reservation"}
    if order.value is not None:
        properties["value"] = float(order.value)
    if order.currency is not None:
        properties["currency"] = order.currency
    reported = []
    for outcome in outcomes:
        new = queue_outcome(
            connection,
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            outcome=outcome,
            at=at,
            public_id=conversation.public_id,
        )
        if new:
            event_id = event_id_for(conversation.workspace_id, conversation.public_id, outcome)
            connection.execute(
                sa.update(OUTBOX).where(OUTBOX.c.event_id == event_id).values(payload={"properties": properties})
            )
            reported.append(outcome)
    return reported


def _create(connection: Connection, principal: Principal, conversation_id: int, body: OrderCreate) -> OrderOut:
    conversation = _conversation(connection, principal, conversation_id)
    now = utcnow()
    values = body.model_dump(exclude={"value"})
    order = connection.execute(
        sa.insert(ORDERS)
        .values(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation_id,
            value=None if body.value is None else str(body.value),
            created_by=principal.user_id,
            created_at=now,
            updated_at=now,
            paid_at=now if body.status == "paid" else None,
            **values,
        )
        .returning(*ORDERS.c)
    ).one()
    crm_events.order_changed(connection, conversation.workspace_id, order.id, "created")
    return order_out(order, _report(connection, conversation, order, now))


def _update(
    connection: Connection, principal: Principal, conversation_id: int, order_id: int, body: OrderUpdate
) -> OrderOut:
    conversation = _conversation(connection, principal, conversation_id)
    order = connection.execute(
        sa.select(ORDERS).where(ORDERS.c.id == order_id, ORDERS.c.conversation_id == conversation_id)
    ).first()
    if order is None:
        raise not_found("order")
    if body.status is not None and body.status not in _NEXT_STATUSES[order.status]:
        raise ApiError(409, "conflict", f"an order that is {order.status} cannot become {body.status}", field="status")
    now = utcnow()
    changes = {
        name: value
        for name, value in body.model_dump(exclude_unset=True, exclude={"value"}).items()
        if value is not None or name in _CLEARABLE
    }
    if "value" in body.model_fields_set:
        changes["value"] = None if body.value is None else str(body.value)
    if body.status == "paid" and order.status != "paid":
        changes["paid_at"] = now
    order = connection.execute(
        sa.update(ORDERS).where(ORDERS.c.id == order_id).values(updated_at=now, **changes).returning(*ORDERS.c)
    ).one()
    crm_events.order_changed(connection, conversation.workspace_id, order.id, "updated")
    return order_out(order, _report(connection, conversation, order, now))


async def list_orders(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    async with engine(request).connect() as connection:
        await connection.run_sync(_conversation, principal, conversation_id, lock=False)
        rows = (
            await connection.execute(
                sa.select(ORDERS).where(ORDERS.c.conversation_id == conversation_id).order_by(ORDERS.c.id)
            )
        ).all()
    return json_response(OrderList(orders=[order_out(row, []) for row in rows]))


async def create_order(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    body = await parse_body(request, OrderCreate)
    async with engine(request).begin() as connection:
        created = await connection.run_sync(_create, principal, conversation_id, body)
    return json_response(created, status=201)


async def update_order(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    order_id = path_id(request, "order_id", "order")
    body = await parse_body(request, OrderUpdate)
    async with engine(request).begin() as connection:
        updated = await connection.run_sync(_update, principal, conversation_id, order_id, body)
    return json_response(updated)
