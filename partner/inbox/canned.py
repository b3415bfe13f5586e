"""Canned responses: saved replies an agent inserts by typing ``/shortcut``.

A reply whose text is ``/shortcut`` becomes the canned text; ``/shortcut more words`` becomes the canned text
followed by `` more words``. Text that starts with ``/`` but names no canned response is sent as typed.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from partner.accounts.auth import Principal, authenticate, not_found
from partner.inbox.http import engine, json_response, parse_body, parse_query, path_id, workspace_for
from partner.inbox.models import CANNED
from partner.inbox.schemas import CannedCreate, CannedList, CannedOut, CannedQuery, CannedUpdate
from partner.store.models import utcnow
from partner.web import ApiError

_SHORTCUT = re.compile(r"^/([A-Za-z0-9_-]{1,64})(?=\s|$)")


def _out(row: Any) -> CannedOut:
    return CannedOut(
        id=row.id, shortcut=row.shortcut, text=row.text, created_at=row.created_at, updated_at=row.updated_at
    )


def _duplicate() -> ApiError:
    return ApiError(409, "conflict", "a canned response with this shortcut exists", field="shortcut")


async def expand_shortcut(connection: AsyncConnection, workspace_id: int, text: str | None) -> str | None:
    """The reply text with a leading ``/shortcut`` replaced by its canned response."""
    match = _SHORTCUT.match(text or "")
    if text is None or match is None:
        return text
    canned = (
        await connection.execute(
            sa.select(CANNED.c.text).where(CANNED.c.workspace_id == workspace_id, CANNED.c.shortcut == match.group(1))
        )
    ).scalar_one_or_none()
    return text if canned is None else canned + text[match.end() :]


async def _load(connection: AsyncConnection, principal: Principal, canned_id: int) -> Any:
    row = (await connection.execute(sa.select(CANNED).where(CANNED.c.id == canned_id))).first()
    if row is None or not principal.sees_workspace(row.workspace_id):
        raise not_found("canned response")
    return row


async def list_canned(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, CannedQuery)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    statement = sa.select(CANNED).where(CANNED.c.workspace_id == workspace_id).order_by(CANNED.c.shortcut)
    if query.prefix is not None:
        statement = statement.where(CANNED.c.shortcut.startswith(query.prefix, autoescape=True))
    async with engine(request).connect() as connection:
        rows = (await connection.execute(statement)).all()
    return json_response(CannedList(canned_responses=[_out(row) for row in rows]))


async def create_canned(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await parse_body(request, CannedCreate)
    workspace_id = await workspace_for(request, principal, body.workspace_id)
    now = utcnow()
    values = {"workspace_id": workspace_id, "shortcut": body.shortcut, "text": body.text}
    try:
        async with engine(request).begin() as connection:
            statement = sa.insert(CANNED).values(created_at=now, updated_at=now, **values).returning(*CANNED.c)
            row = (await connection.execute(statement)).one()
    except IntegrityError:
        raise _duplicate() from None
    return json_response(_out(row), status=201)


async def get_canned(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    canned_id = path_id(request, "canned_id", "canned response")
    async with engine(request).connect() as connection:
        row = await _load(connection, principal, canned_id)
    return json_response(_out(row))


async def update_canned(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    canned_id = path_id(request, "canned_id", "canned response")
    body = await parse_body(request, CannedUpdate)
    changes = body.model_dump(exclude_none=True)
    try:
        async with engine(request).begin() as connection:
            await _load(connection, principal, canned_id)
            statement = sa.update(CANNED).where(CANNED.c.id == canned_id).values(updated_at=utcnow(), **changes)
            row = (await connection.execute(statement.returning(*CANNED.c))).one()
    except IntegrityError:
        raise _duplicate() from None
    return json_response(_out(row))


async def delete_canned(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    canned_id = path_id(request, "canned_id", "canned response")
    async with engine(request).begin() as connection:
        await _load(connection, principal, canned_id)
        await connection.execute(sa.delete(CANNED).where(CANNED.c.id == canned_id))
    return web.Response(status=204)
