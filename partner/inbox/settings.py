"""Per-workspace inbox settings: round-robin assignment, the workspace's time zone and its business hours.

A workspace without a settings row has the defaults (round-robin off, no business hours: always open). The time
zone is the workspace's own ``timezone`` column, the one it was created with, so there is a single zone per
workspace; business hours live in the settings row and are read on that zone's wall clock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.engine import Connection

from partner.accounts.auth import authenticate, not_found
from partner.admin import WORKSPACES
from partner.inbox.assignment import upsert
from partner.inbox.business_hours import BusinessHours, as_json, is_open, stored_hours, zone_or_utc
from partner.inbox.http import engine, json_response, parse_body, parse_query, workspace_for
from partner.inbox.models import SETTINGS
from partner.inbox.schemas import InboxSettingsOut, InboxSettingsUpdate, WorkspaceQuery
from partner.store.models import utcnow

_SETTINGS = sa.select(WORKSPACES.c.timezone, SETTINGS.c.round_robin, SETTINGS.c.business_hours).select_from(
    WORKSPACES.outerjoin(SETTINGS, SETTINGS.c.workspace_id == WORKSPACES.c.id)
)


def read_settings(connection: Connection, workspace_id: int) -> InboxSettingsOut:
    row = connection.execute(_SETTINGS.where(WORKSPACES.c.id == workspace_id)).first()
    if row is None:
        raise not_found("workspace", "workspace_id")
    hours = stored_hours(row.business_hours)
    return InboxSettingsOut(
        workspace_id=workspace_id,
        round_robin=bool(row.round_robin),
        timezone=row.timezone,
        business_hours=hours,
        open_now=is_open(hours, zone_or_utc(row.timezone), utcnow()),
    )


def _write(connection: Connection, workspace_id: int, changes: dict[str, Any]) -> InboxSettingsOut:
    """Apply the fields the caller gave; ``business_hours: null`` clears the schedule, other nulls change nothing."""
    current = read_settings(connection, workspace_id)
    if changes.get("timezone") is not None:
        connection.execute(
            sa.update(WORKSPACES).where(WORKSPACES.c.id == workspace_id).values(timezone=changes["timezone"])
        )
    round_robin = changes.get("round_robin")
    hours: BusinessHours | None = changes.get("business_hours", current.business_hours)
    values = {
        "workspace_id": workspace_id,
        "round_robin": current.round_robin if round_robin is None else round_robin,
        "business_hours": sa.null() if hours is None else as_json(hours),
        "updated_at": utcnow(),
    }
    upsert(connection, SETTINGS, values, key="workspace_id")
    return read_settings(connection, workspace_id)


async def get_settings(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, WorkspaceQuery)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    async with engine(request).connect() as connection:
        return json_response(await connection.run_sync(read_settings, workspace_id))


async def update_settings(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, WorkspaceQuery)
    body = await parse_body(request, InboxSettingsUpdate)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    changes = body.model_dump(exclude_unset=True)
    async with engine(request).begin() as connection:
        return json_response(await connection.run_sync(_write, workspace_id, changes))
