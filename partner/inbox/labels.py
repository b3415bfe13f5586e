"""Labels: a workspace's own names and colours for sorting conversations. Admins define them; agents apply them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from partner.accounts.auth import Principal, authenticate, not_found
from partner.inbox.http import engine, json_response, parse_body, parse_query, path_id, workspace_for
from partner.inbox.models import CONVERSATION_LABELS, LABELS
from partner.inbox.schemas import LabelCreate, LabelList, LabelOut, LabelUpdate, WorkspaceQuery
from partner.store.models import utcnow
from partner.web import ApiError


def _out(row: Any) -> LabelOut:
    return LabelOut(id=row.id, name=row.name, colour=row.colour, description=row.description, created_at=row.created_at)


def _duplicate() -> ApiError:
    return ApiError(409, "conflict", "a label with this name exists", field="name")


async def _load(connection: AsyncConnection, principal: Principal, label_id: int) -> Any:
    row = (await connection.execute(sa.select(LABELS).where(LABELS.c.id == label_id))).first()
    if row is None or not principal.sees_workspace(row.workspace_id):
        raise not_found("label")
    return row


async def list_labels(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, WorkspaceQuery)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    statement = sa.select(LABELS).where(LABELS.c.workspace_id == workspace_id).order_by(LABELS.c.name)
    async with engine(request).connect() as connection:
        rows = (await connection.execute(statement)).all()
    return json_response(LabelList(labels=[_out(row) for row in rows]))


async def create_label(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await parse_body(request, LabelCreate)
    workspace_id = await workspace_for(request, principal, body.workspace_id)
    values = body.model_dump(exclude={"workspace_id"})
    try:
        async with engine(request).begin() as connection:
            statement = sa.insert(LABELS).values(workspace_id=workspace_id, created_at=utcnow(), **values)
            row = (await connection.execute(statement.returning(*LABELS.c))).one()
    except IntegrityError:
        raise _duplicate() from None
    return json_response(_out(row), status=201)


async def update_label(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    label_id = path_id(request, "label_id", "label")
    body = await parse_body(request, LabelUpdate)
    try:
        async with engine(request).begin() as connection:
            row = await _load(connection, principal, label_id)
            changes = body.model_dump(exclude_none=True)
            if changes:
                statement = sa.update(LABELS).where(LABELS.c.id == label_id).values(**changes)
                row = (await connection.execute(statement.returning(*LABELS.c))).one()
    except IntegrityError:
        raise _duplicate() from None
    return json_response(_out(row))


async def delete_label(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    label_id = path_id(request, "label_id", "label")
    async with engine(request).begin() as connection:
        await _load(connection, principal, label_id)
        await connection.execute(sa.delete(CONVERSATION_LABELS).where(CONVERSATION_LABELS.c.label_id == label_id))
        await connection.execute(sa.delete(LABELS).where(LABELS.c.id == label_id))
    return web.Response(status=204)
