"""Admin routes for reporting: the workspace's Events API settings, and what was sent or dead-lettered."""

from __future__ import annotations

import re
from typing import Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from partner.admin import WORKSPACES, require_admin, validation_error
from partner.appkeys import box_key, engine_key
from partner.reporting.events import DEFAULT_EVENT_MAPPING
from partner.reporting.outbox import CONFIGS, OUTBOX, release_reauthorized
from partner.store.models import utcnow
from partner.web import ApiError, read_json_object

EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
EVENT_STATUSES = ("queued", "sending", "delivered", "dead", "waiting_reauth")


class ReportingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_source: Literal["web", "app", "offline", "crm"] = "web"
    event_source_id: str = Field(min_length=1, max_length=128)
    access_token: str | None = Field(default=None, min_length=1, max_length=4096)
    test_event_code: str | None = Field(default=None, max_length=64)
    event_mapping: dict[str, Any] = Field(default_factory=dict)
    allow_unidentified: bool = True
    enabled: bool = True

    @field_validator("event_mapping")
    @classmethod
    def _names_are_valid(cls, mapping: dict[str, Any]) -> dict[str, Any]:
        for outcome, name in mapping.items():
            names = name.values() if outcome == "signals" and isinstance(name, dict) else [name]
            for value in names:
                if not isinstance(value, str) or not EVENT_NAME.match(value):
                    raise ValueError(f"event name for '{outcome}' must match {EVENT_NAME.pattern}")
        return mapping


def _workspace_id(request: web.Request) -> int:
    try:
        return int(request.match_info["workspace_id"])
    except ValueError:
        raise ApiError(404, "not_found", "workspace not found") from None


def _config_json(row: Any) -> dict[str, Any]:
    return {
        "workspace_id": row.workspace_id,
        "event_source": row.event_source,
        "event_source_id": row.event_source_id,
        "has_access_token": bool(row.access_token_encrypted),
        "test_event_code": row.test_event_code,
        "event_mapping": {**DEFAULT_EVENT_MAPPING, **(row.event_mapping or {})},
        "allow_unidentified": row.allow_unidentified,
        "enabled": row.enabled,
        "needs_reauthorization": row.needs_reauthorization,
        "updated_at": row.updated_at.isoformat(),
    }


async def get_reporting(request: web.Request) -> web.Response:
    require_admin(request)
    async with request.app[engine_key].connect() as connection:
        row = (
            await connection.execute(sa.select(CONFIGS).where(CONFIGS.c.workspace_id == _workspace_id(request)))
        ).first()
    if row is None:
        raise ApiError(404, "not_found", "this workspace has no reporting configuration")
    return web.json_response(_config_json(row))


async def put_reporting(request: web.Request) -> web.Response:
    require_admin(request)
    workspace_id = _workspace_id(request)
    try:
        body = ReportingUpdate.model_validate(await read_json_object(request))
    except ValidationError as error:
        raise validation_error(error) from None
    values: dict[str, Any] = body.model_dump(exclude={"access_token"})
    values["updated_at"] = utcnow()
    if body.access_token is not None:
        values["access_token_encrypted"] = request.app[box_key].encrypt(body.access_token)
        values["needs_reauthorization"] = False
    async with request.app[engine_key].begin() as connection:
        workspace = await connection.execute(sa.select(WORKSPACES.c.id).where(WORKSPACES.c.id == workspace_id))
        if workspace.first() is None:
            raise ApiError(404, "not_found", "workspace not found")
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
    return web.json_response(_config_json(row))


def _event_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "workspace_id": row.workspace_id,
        "conversation_id": row.conversation_id,
        "event_id": row.event_id,
        "event": row.event_name or None,
        "outcome": row.outcome,
        "event_time": row.event_time,
        "status": row.status,
        "test": row.test,
        "attempts": row.attempts,
        "request_id": row.request_id,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
    }


async def list_events(request: web.Request) -> web.Response:
    require_admin(request)
    query = sa.select(OUTBOX).order_by(OUTBOX.c.id.desc())
    status = request.query.get("status")
    if status is not None:
        if status not in EVENT_STATUSES:
            raise ApiError(400, "invalid", f"status must be one of {', '.join(EVENT_STATUSES)}", field="status")
        query = query.where(OUTBOX.c.status == status)
    if "workspace_id" in request.query:
        try:
            query = query.where(OUTBOX.c.workspace_id == int(request.query["workspace_id"]))
        except ValueError:
            raise ApiError(400, "invalid", "workspace_id must be an integer", field="workspace_id") from None
    if "before_id" in request.query:
        try:
            query = query.where(OUTBOX.c.id < int(request.query["before_id"]))
        except ValueError:
            raise ApiError(400, "invalid", "before_id must be an integer", field="before_id") from None
    try:
        limit = min(max(int(request.query.get("limit", "100")), 1), 500)
    except ValueError:
        raise ApiError(400, "invalid", "limit must be an integer", field="limit") from None
    async with request.app[engine_key].connect() as connection:
        rows = (await connection.execute(query.limit(limit))).all()
    return web.json_response({"events": [_event_json(row) for row in rows]})


async def retry_event(request: web.Request) -> web.Response:
    """Put a dead-lettered (or re-authorization-waiting) event back in the queue, e.g. after fixing the config."""
    require_admin(request)
    try:
        event_id = int(request.match_info["event_id"])
    except ValueError:
        raise ApiError(404, "not_found", "event not found") from None
    async with request.app[engine_key].begin() as connection:
        row = (await connection.execute(sa.select(OUTBOX).where(OUTBOX.c.id == event_id))).first()
        if row is None:
            raise ApiError(404, "not_found", "event not found")
        if row.status not in ("dead", "waiting_reauth"):
            raise ApiError(409, "conflict", f"only dead or waiting events can be retried; this one is {row.status}")
        await connection.execute(
            sa.update(OUTBOX)
            .where(OUTBOX.c.id == event_id)
            .values(status="queued", next_attempt_at=utcnow(), attempts=0, last_error=None)
        )
        row = (await connection.execute(sa.select(OUTBOX).where(OUTBOX.c.id == event_id))).one()
    return web.json_response(_event_json(row))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/workspaces/{workspace_id}/reporting", get_reporting)
    app.router.add_put("/api/v1/workspaces/{workspace_id}/reporting", put_reporting)
    app.router.add_get("/api/v1/events", list_events)
    app.router.add_post("/api/v1/events/{event_id}/retry", retry_event)
