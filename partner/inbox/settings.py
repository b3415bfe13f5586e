"""Per-workspace inbox settings (today: round-robin assignment); a workspace without a row has the defaults."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from partner.accounts.auth import authenticate
from partner.inbox.assignment import upsert
from partner.inbox.http import engine, json_response, parse_body, parse_query, workspace_for
from partner.inbox.models import SETTINGS
from partner.inbox.schemas import InboxSettingsOut, InboxSettingsUpdate, WorkspaceQuery
from partner.store.models import utcnow


async def _read(request: web.Request, workspace_id: int) -> InboxSettingsOut:
    async with engine(request).connect() as connection:
        row = (await connection.execute(sa.select(SETTINGS).where(SETTINGS.c.workspace_id == workspace_id))).first()
    return InboxSettingsOut(workspace_id=workspace_id, round_robin=bool(row and row.round_robin))


async def get_settings(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, WorkspaceQuery)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    return json_response(await _read(request, workspace_id))


async def update_settings(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, WorkspaceQuery)
    body = await parse_body(request, InboxSettingsUpdate)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    current = await _read(request, workspace_id)
    merged = current.model_copy(update=body.model_dump(exclude_none=True))
    values = {"workspace_id": workspace_id, "round_robin": merged.round_robin, "updated_at": utcnow()}
    async with engine(request).begin() as connection:
        await connection.run_sync(upsert, SETTINGS, values, key="workspace_id")
    return json_response(merged)
