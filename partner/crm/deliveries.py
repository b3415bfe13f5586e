"""What happened to a webhook's events: the delivery list (newest first), one delivery with every attempt, a
redelivery, and a ping to test the receiver.

A pending delivery's next attempt is its queue job's ``run_at``: the queue owns the retry schedule, so the API
reads it from there instead of keeping a second copy that could disagree.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from partner.accounts.auth import authenticate, not_found
from partner.crm import emit
from partner.crm.models import ATTEMPTS, DELIVERIES
from partner.crm.schemas import PING, AttemptOut, DeliveryDetail, DeliveryList, DeliveryOut, DeliveryQuery
from partner.crm.subscriptions import load_webhook
from partner.inbox.http import bad_cursor, decode_cursor, encode_cursor, engine, json_response, parse_query, path_id
from partner.inbox.schemas import MAX_ID
from partner.store.models import utcnow
from partner.store.queue import JOBS
from partner.web import ApiError

_SELECT = sa.select(DELIVERIES, JOBS.c.run_at.label("job_run_at"), JOBS.c.status.label("job_status")).select_from(
    DELIVERIES.outerjoin(JOBS, JOBS.c.id == DELIVERIES.c.job_id)
)


def delivery_out(row: Any) -> DeliveryOut:
    waiting = row.status == "pending" and row.job_status == "queued"
    return DeliveryOut(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        next_attempt_at=row.job_run_at if waiting else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
    )


async def _delivery(connection: AsyncConnection, webhook_id: int, delivery_id: int) -> Any:
    statement = _SELECT.where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.webhook_id == webhook_id)
    row = (await connection.execute(statement)).first()
    if row is None:
        raise not_found("delivery")
    return row


def _after(cursor: str | None) -> list[ColumnElement[bool]]:
    if cursor is None:
        return []
    values = decode_cursor(cursor)
    if len(values) != 2 or values[0] != "crm_deliveries" or not isinstance(values[1], int):
        raise bad_cursor()
    if isinstance(values[1], bool) or not 0 < values[1] <= MAX_ID:
        raise bad_cursor()
    return [DELIVERIES.c.id < values[1]]


def _filters(webhook_id: int, query: DeliveryQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [DELIVERIES.c.webhook_id == webhook_id]
    if query.status is not None:
        conditions.append(DELIVERIES.c.status == query.status)
    if query.event_type is not None:
        conditions.append(DELIVERIES.c.event_type == query.event_type)
    return conditions + _after(query.cursor)


async def list_deliveries(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    webhook_id = path_id(request, "webhook_id", "webhook")
    query = parse_query(request, DeliveryQuery)
    statement = _SELECT.where(*_filters(webhook_id, query)).order_by(DELIVERIES.c.id.desc()).limit(query.limit + 1)
    async with engine(request).connect() as connection:
        await load_webhook(connection, principal, webhook_id)
        rows = (await connection.execute(statement)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(["crm_deliveries", rows[-1].id]) if more else None
    return json_response(DeliveryList(deliveries=[delivery_out(row) for row in rows], next_cursor=next_cursor))


async def get_delivery(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    webhook_id = path_id(request, "webhook_id", "webhook")
    delivery_id = path_id(request, "delivery_id", "delivery")
    history = sa.select(ATTEMPTS).where(ATTEMPTS.c.delivery_id == delivery_id).order_by(ATTEMPTS.c.id)
    async with engine(request).connect() as connection:
        await load_webhook(connection, principal, webhook_id)
        row = await _delivery(connection, webhook_id, delivery_id)
        attempts = (await connection.execute(history)).all()
    detail = DeliveryDetail(
        **delivery_out(row).model_dump(),
        history=[
            AttemptOut(
                attempt=a.attempt, started_at=a.started_at, duration_ms=a.duration_ms, status_code=a.status_code,
                error=a.error,
            )
            for a in attempts
        ],
        payload=dict(row.data or {}),
    )  # fmt: skip
    return json_response(detail)


async def redeliver(request: web.Request) -> web.Response:
    """Queue a delivered or failed delivery again: same event id, same delivery id, a fresh round of retries."""
    principal = await authenticate(request)
    webhook_id = path_id(request, "webhook_id", "webhook")
    delivery_id = path_id(request, "delivery_id", "delivery")
    async with engine(request).begin() as connection:
        webhook = await load_webhook(connection, principal, webhook_id, lock=True)
        row = await _delivery(connection, webhook_id, delivery_id)
        if row.status == "pending":
            raise ApiError(409, "conflict", "the delivery is still pending; see next_attempt_at")
        if not webhook.active and row.event_type != PING:
            raise ApiError(409, "conflict", "the webhook is disabled; set active to true first")
        await connection.execute(
            sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(status="pending", updated_at=utcnow())
        )
        await connection.run_sync(emit.schedule, delivery_id)
        row = await _delivery(connection, webhook_id, delivery_id)
    return json_response(delivery_out(row), status=202)


async def ping_webhook(request: web.Request) -> web.Response:
    """Queue a ``ping`` event to the webhook (even a disabled one), to test the receiver and its signature check."""
    principal = await authenticate(request)
    webhook_id = path_id(request, "webhook_id", "webhook")
    async with engine(request).begin() as connection:
        webhook = await load_webhook(connection, principal, webhook_id)
        delivery_id = await connection.run_sync(emit.ping, webhook.workspace_id, webhook_id)
        row = await _delivery(connection, webhook_id, delivery_id)
    return json_response(delivery_out(row), status=202)
