"""Webhook subscriptions: an admin points a URL of the workspace's CRM at the events it wants.

The signing secret is generated here (never chosen by the caller, so it always has 256 bits), stored encrypted
with the service's secret box, and readable by admins of the workspace, who must paste it into their CRM.
Rotating it can keep the old secret signing for a grace period, so the CRM can switch without losing events.

Plain ``http`` is accepted only for a loopback host (local development, the test receiver) or when the operator
sets ``PARTNER_CRM_ALLOW_HTTP``; anywhere else the events and their signatures would cross networks in clear.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from partner.accounts.auth import Principal, authenticate, not_found
from partner.appkeys import box_key, settings_key
from partner.crm.models import ATTEMPTS, DELIVERIES, WEBHOOKS
from partner.crm.schemas import SecretRotate, WebhookCreate, WebhookDetail, WebhookList, WebhookOut, WebhookUpdate
from partner.crm.signing import new_secret
from partner.crypto import DecryptionError, SecretBox
from partner.inbox.http import engine, json_response, parse_body, parse_query, path_id, workspace_for
from partner.inbox.schemas import WorkspaceQuery
from partner.store.models import utcnow
from partner.store.queue import JOBS
from partner.web import ApiError

MAX_WEBHOOKS = 20  # per workspace: every event fans out to each, in the transaction of its cause


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scheme(request: web.Request, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or is_loopback(parts.hostname) or request.app[settings_key].crm_allow_http:
        return
    raise ApiError(422, "invalid", "the url must use https (http only to a loopback host)", field="url")


def webhook_out(row: Any) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        workspace_id=row.workspace_id,
        url=row.url,
        description=row.description,
        events=list(row.events or []),
        include_message_text=row.include_message_text,
        active=row.active,
        disabled_reason=row.disabled_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def webhook_detail(row: Any, box: SecretBox) -> WebhookDetail:
    """The webhook with its secret, for admins to paste into their CRM."""
    try:
        secret = box.decrypt(row.secret_encrypted)
    except DecryptionError:
        raise ApiError(409, "conflict", "the secret cannot be decrypted; rotate it to get a new one") from None
    expires = row.previous_secret_expires_at
    still_signing = row.previous_secret_encrypted is not None and expires is not None and expires > utcnow()
    return WebhookDetail(
        **webhook_out(row).model_dump(), secret=secret, previous_secret_expires_at=expires if still_signing else None
    )


async def load_webhook(
    connection: AsyncConnection, principal: Principal, webhook_id: int, *, lock: bool = False
) -> Any:
    """The webhook if it belongs to the caller's workspace; else 404, the same as absent."""
    statement = sa.select(WEBHOOKS).where(WEBHOOKS.c.id == webhook_id)
    row = (await connection.execute(statement.with_for_update() if lock else statement)).first()
    if row is None or not principal.sees_workspace(row.workspace_id):
        raise not_found("webhook")
    return row


async def list_webhooks(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, WorkspaceQuery)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    statement = sa.select(WEBHOOKS).where(WEBHOOKS.c.workspace_id == workspace_id).order_by(WEBHOOKS.c.id)
    async with engine(request).connect() as connection:
        rows = (await connection.execute(statement)).all()
    return json_response(WebhookList(webhooks=[webhook_out(row) for row in rows]))


async def create_webhook(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await parse_body(request, WebhookCreate)
    workspace_id = await workspace_for(request, principal, body.workspace_id)
    check_scheme(request, body.url)
    box = request.app[box_key]
    now = utcnow()
    values = body.model_dump(exclude={"workspace_id"})
    async with engine(request).begin() as connection:
        await _check_room(connection, workspace_id)
        statement = sa.insert(WEBHOOKS).values(
            workspace_id=workspace_id,
            secret_encrypted=box.encrypt(new_secret()),
            created_at=now,
            updated_at=now,
            **values,
        )
        row = (await connection.execute(statement.returning(*WEBHOOKS.c))).one()
    return json_response(webhook_detail(row, box), status=201)


async def _check_room(connection: AsyncConnection, workspace_id: int) -> None:
    count = (
        await connection.execute(
            sa.select(sa.func.count()).select_from(WEBHOOKS).where(WEBHOOKS.c.workspace_id == workspace_id)
        )
    ).scalar_one()
    if count >= MAX_WEBHOOKS:
        raise ApiError(409, "conflict", f"a workspace has at most {MAX_WEBHOOKS} webhooks")


async def get_webhook(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    webhook_id = path_id(request, "webhook_id", "webhook")
    async with engine(request).connect() as connection:
        row = await load_webhook(connection, principal, webhook_id)
    return json_response(webhook_detail(row, request.app[box_key]))


async def update_webhook(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    webhook_id = path_id(request, "webhook_id", "webhook")
    body = await parse_body(request, WebhookUpdate)
    if body.url is not None:
        check_scheme(request, body.url)
    changes = body.model_dump(exclude_none=True)
    if body.active:
        changes["disabled_reason"] = None
    async with engine(request).begin() as connection:
        row = await load_webhook(connection, principal, webhook_id, lock=True)
        if changes:
            statement = sa.update(WEBHOOKS).where(WEBHOOKS.c.id == webhook_id).values(updated_at=utcnow(), **changes)
            row = (await connection.execute(statement.returning(*WEBHOOKS.c))).one()
    return json_response(webhook_detail(row, request.app[box_key]))


async def delete_webhook(request: web.Request) -> web.Response:
    """Remove the webhook with its deliveries, their attempts and the jobs still waiting to send them."""
    principal = await authenticate(request)
    webhook_id = path_id(request, "webhook_id", "webhook")
    deliveries = sa.select(DELIVERIES.c.id).where(DELIVERIES.c.webhook_id == webhook_id)
    waiting = sa.select(DELIVERIES.c.job_id).where(
        DELIVERIES.c.webhook_id == webhook_id, DELIVERIES.c.status == "pending", DELIVERIES.c.job_id.is_not(None)
    )
    async with engine(request).begin() as connection:
        await load_webhook(connection, principal, webhook_id, lock=True)
        await connection.execute(sa.delete(JOBS).where(JOBS.c.id.in_(waiting), JOBS.c.status == "queued"))
        await connection.execute(sa.delete(ATTEMPTS).where(ATTEMPTS.c.delivery_id.in_(deliveries)))
        await connection.execute(sa.delete(DELIVERIES).where(DELIVERIES.c.webhook_id == webhook_id))
        await connection.execute(sa.delete(WEBHOOKS).where(WEBHOOKS.c.id == webhook_id))
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret at once; with ``keep_previous_seconds`` the old one keeps signing alongside until then."""
    principal = await authenticate(request)
    webhook_id = path_id(request, "webhook_id", "webhook")
    body = await parse_body(request, SecretRotate)
    box = request.app[box_key]
    now = utcnow()
    async with engine(request).begin() as connection:
        row = await load_webhook(connection, principal, webhook_id, lock=True)
        keep = body.keep_previous_seconds > 0
        statement = (
            sa.update(WEBHOOKS)
            .where(WEBHOOKS.c.id == webhook_id)
            .values(
                secret_encrypted=box.encrypt(new_secret()),
                previous_secret_encrypted=row.secret_encrypted if keep else None,
                previous_secret_expires_at=now + timedelta(seconds=body.keep_previous_seconds) if keep else None,
                updated_at=now,
            )
        )
        row = (await connection.execute(statement.returning(*WEBHOOKS.c))).one()
    return json_response(webhook_detail(row, box))
