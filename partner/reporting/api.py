"""Admin routes for reporting: the workspace's Events API settings, and what was sent or dead-lettered.

All of them need the admin role: the settings hold the event set and (write-only) the access token, and events
can be replayed. A workspace's admin sees and changes only their own workspace; the bootstrap token any.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from partner.accounts.auth import authenticate, not_found, require_role
from partner.admin import WORKSPACES, workspace_filter
from partner.appkeys import box_key, engine_key
from partner.openapi import (
    Endpoint,
    Flag,
    Id,
    Input,
    Output,
    Text,
    add_endpoints,
    json_response,
    parse_body,
    parse_query,
    path_id,
)
from partner.reporting.events import DEFAULT_EVENT_MAPPING
from partner.reporting.outbox import CONFIGS, OUTBOX, release_reauthorized
from partner.store.models import utcnow
from partner.web import ApiError

EVENT_STATUSES = ("queued", "sending", "delivered", "dead", "waiting_reauth")
EventStatus = Literal["queued", "sending", "delivered", "dead", "waiting_reauth"]
EventName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,99}$")]
Outcome = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}(:[a-z][a-z0-9_]{0,63})?$",
        description="conversation_started, order_placed, order_paid, signal:<name>, or signals",
    ),
]
SignalName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
REPORTING = r"/api/v1/workspaces/{workspace_id:\d+}/reporting"


class ReportingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_source: Literal["web", "app", "offline", "crm"] = "web"
    event_source_id: Text = Field(min_length=1, max_length=128)
    access_token: Text | None = Field(
        default=None, min_length=1, max_length=4096, description="Stored encrypted, never returned"
    )
    test_event_code: Text | None = Field(default=None, max_length=64)
    event_mapping: dict[Outcome, EventName | dict[SignalName, EventName]] = Field(
        default_factory=dict,
        max_length=100,
        description='Outcome -> TikTok event name; "signals" maps signal names to event names.',
    )
    allow_unidentified: Flag = True
    enabled: Flag = True

    @field_validator("event_mapping")
    @classmethod
    def _signals_only_under_signals(cls, mapping: dict[str, str | dict[str, str]]) -> dict[str, str | dict[str, str]]:
        for outcome, name in mapping.items():
            if (outcome == "signals") != isinstance(name, dict):
                expected = "an object of signal -> event name" if outcome == "signals" else "an event name"
                raise ValueError(f"{outcome} must be {expected}")
        return mapping


class ReportingOut(Output):
    workspace_id: int
    event_source: str
    event_source_id: str
    has_access_token: bool
    test_event_code: str | None
    event_mapping: dict[str, Any]
    allow_unidentified: bool
    enabled: bool
    needs_reauthorization: bool
    updated_at: datetime


class EventQuery(Input):
    status: EventStatus | None = None
    workspace_id: Id | None = Field(
        default=None, description="Only for the bootstrap admin token, which otherwise lists every workspace's."
    )
    before_id: Id | None = Field(default=None, description="Events with a smaller id (the list is newest first)")
    limit: int = Field(default=100, ge=1, le=500)


class EventOut(Output):
    id: int
    workspace_id: int
    conversation_id: int | None
    event_id: str
    event: str | None
    outcome: str
    event_time: int
    status: str
    test: bool
    attempts: int
    request_id: str | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class EventList(Output):
    events: list[EventOut]


def _config_out(row: Any) -> ReportingOut:
    return ReportingOut(
        workspace_id=row.workspace_id,
        event_source=row.event_source,
        event_source_id=row.event_source_id,
        has_access_token=bool(row.access_token_encrypted),
        test_event_code=row.test_event_code,
        event_mapping={**DEFAULT_EVENT_MAPPING, **(row.event_mapping or {})},
        allow_unidentified=row.allow_unidentified,
        enabled=row.enabled,
        needs_reauthorization=row.needs_reauthorization,
        updated_at=row.updated_at,
    )


async def get_reporting(request: web.Request) -> web.Response:
    workspace_id = path_id(request, "workspace_id", "workspace")
    await require_role(request, workspace_id, "admin")
    async with request.app[engine_key].connect() as connection:
        row = (await connection.execute(sa.select(CONFIGS).where(CONFIGS.c.workspace_id == workspace_id))).first()
    if row is None:
        raise ApiError(404, "not_found", "this workspace has no reporting configuration")
    return json_response(_config_out(row))


async def put_reporting(request: web.Request) -> web.Response:
    workspace_id = path_id(request, "workspace_id", "workspace")
    await require_role(request, workspace_id, "admin")
    body = await parse_body(request, ReportingUpdate)
    values: dict[str, Any] = body.model_dump(exclude={"access_token"})
    values["updated_at"] = utcnow()
    if body.access_token is not None:
        values["access_token_encrypted"] = request.app[box_key].encrypt(body.access_token)
        values["needs_reauthorization"] = False
    async with request.app[engine_key].begin() as connection:
        workspace = await connection.execute(sa.select(WORKSPACES.c.id).where(WORKSPACES.c.id == workspace_id))
        if workspace.first() is None:
            raise not_found("workspace")
        exists = (
            await connection.execute(sa.select(CONFIGS.c.workspace_id).where(CONFIGS.c.workspace_id == workspace_id))
        ).first()
        if exists is None:
            await connection.execute(sa.insert(CONFIGS).values(workspace_id=workspace_id, **values))
        else:
            await connection.execute(sa.update(CONFIGS).where(CONFIGS.c.workspace_id == workspace_id).values(**values))
        if body.access_token is not None:
            await release_reauthorized(connection, workspace_id)
        row = (await connection.execute(sa.select(CONFIGS).where(CONFIGS.c.workspace_id == workspace_id))).one()
    return json_response(_config_out(row))


def _event_out(row: Any) -> EventOut:
    return EventOut(
        id=row.id,
        workspace_id=row.workspace_id,
        conversation_id=row.conversation_id,
        event_id=row.event_id,
        event=row.event_name or None,
        outcome=row.outcome,
        event_time=row.event_time,
        status=row.status,
        test=row.test,
        attempts=row.attempts,
        request_id=row.request_id,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


async def list_events(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, EventQuery)
    workspace_id = await workspace_filter(request, principal, query.workspace_id)
    statement = sa.select(OUTBOX).order_by(OUTBOX.c.id.desc())
    if query.status is not None:
        statement = statement.where(OUTBOX.c.status == query.status)
    if workspace_id is not None:
        statement = statement.where(OUTBOX.c.workspace_id == workspace_id)
    if query.before_id is not None:
        statement = statement.where(OUTBOX.c.id < query.before_id)
    async with request.app[engine_key].connect() as connection:
        rows = (await connection.execute(statement.limit(query.limit))).all()
    return json_response(EventList(events=[_event_out(row) for row in rows]))


async def retry_event(request: web.Request) -> web.Response:
    """Put a dead-lettered (or re-authorization-waiting) event back in the queue, e.g. after fixing the config."""
    principal = await authenticate(request)
    event_id = path_id(request, "event_id", "event")
    async with request.app[engine_key].begin() as connection:
        row = (await connection.execute(sa.select(OUTBOX).where(OUTBOX.c.id == event_id))).first()
        if row is None or not principal.sees_workspace(row.workspace_id):
            raise not_found("event")
        if row.status not in ("dead", "waiting_reauth"):
            raise ApiError(409, "conflict", f"only dead or waiting events can be retried; this one is {row.status}")
        await connection.execute(
            sa.update(OUTBOX)
            .where(OUTBOX.c.id == event_id)
            .values(status="queued", next_attempt_at=utcnow(), attempts=0, last_error=None)
        )
        row = (await connection.execute(sa.select(OUTBOX).where(OUTBOX.c.id == event_id))).one()
    return json_response(_event_out(row))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", REPORTING, get_reporting, "The workspace's Events API settings", "admin", "reporting",
        response=ReportingOut, description="The access token is only reported as present or not.",
    ),
    Endpoint(
        "PUT", REPORTING, put_reporting, "Set the workspace's Events API settings", "admin", "reporting",
        body=ReportingUpdate, response=ReportingOut,
        description="A new access token releases the events that waited for re-authorization.",
    ),
    Endpoint(
        "GET", "/api/v1/events", list_events, "Events sent, waiting or dead-lettered, newest first", "admin",
        "reporting", query=EventQuery, response=EventList, errors=(404,),
    ),
    Endpoint(
        "POST", r"/api/v1/events/{event_id:\d+}/retry", retry_event, "Queue a dead or waiting event again",
        "admin", "reporting", response=EventOut, errors=(409,),
    ),
)  # fmt: skip


def add_routes(app: web.Application) -> None:
    add_endpoints(app, ENDPOINTS)
