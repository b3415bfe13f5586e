"""Admin API: workspaces and their channels. Secrets are encrypted at rest and never returned.

Creating a workspace needs the bootstrap token (``PARTNER_ADMIN_TOKEN``); a workspace's admins register its
channels, and every user may list the channels of their workspace that they see. The helpers that scope a request
to a workspace (:func:`workspace_for`, :func:`workspace_filter`) serve the other admin modules too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from sqlalchemy.exc import IntegrityError

from partner.accounts.auth import Principal, authenticate, not_found
from partner.appkeys import box_key, directory_key, engine_key
from partner.channels import CHANNELS, ChannelDirectory
from partner.inbox.business_hours import TimeZoneName
from partner.openapi import (
    BodyId,
    Endpoint,
    Id,
    Input,
    Output,
    Text,
    add_endpoints,
    json_response,
    parse_body,
    parse_query,
    validation_error,
)
from partner.store.models import Workspace, table, utcnow
from partner.web import ApiError

WORKSPACES = table(Workspace)
Platform = Literal["whatsapp", "messenger", "line", "tiktok"]


# --- scoping -----------------------------------------------------------------------------------------------------


async def _workspace_exists(request: web.Request, workspace_id: int) -> bool:
    async with request.app[engine_key].connect() as connection:
        query = sa.select(WORKSPACES.c.id).where(WORKSPACES.c.id == workspace_id)
        return (await connection.execute(query)).first() is not None


async def workspace_for(
    request: web.Request, principal: Principal, requested: int | None, *, field: str = "workspace_id"
) -> int:
    """The one workspace a request is about: a user's own (another id is 404), or the one the super-admin names."""
    if not principal.is_super_admin:
        if requested is not None and requested != principal.workspace_id:
            raise not_found("workspace", field)
        assert principal.workspace_id is not None
        return principal.workspace_id
    if requested is None:
        raise ApiError(422, "invalid", "the bootstrap admin token must name a workspace", field=field)
    if not await _workspace_exists(request, requested):
        raise not_found("workspace", field)
    return requested


async def workspace_filter(
    request: web.Request, principal: Principal, requested: int | None, *, field: str = "workspace_id"
) -> int | None:
    """Like :func:`workspace_for`, except that the super-admin naming no workspace lists every workspace (None)."""
    if principal.is_super_admin and requested is None:
        return None
    return await workspace_for(request, principal, requested, field=field)


# --- models ------------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WhatsAppSecrets(_Strict):
    access_token: Text = Field(min_length=1, max_length=4096)
    app_secret: Text | None = Field(default=None, max_length=256)


class MessengerSecrets(_Strict):
    page_access_token: Text = Field(min_length=1, max_length=4096)
    app_secret: Text | None = Field(default=None, max_length=256)


class LineSecrets(_Strict):
    channel_secret: Text = Field(min_length=1, max_length=256)
    channel_access_token: Text = Field(min_length=1, max_length=4096)


class TikTokSecrets(_Strict):
    access_token: Text = Field(min_length=1, max_length=4096)
    app_secret: Text | None = Field(default=None, max_length=256)


SECRET_MODELS: dict[str, type[_Strict]] = {
    "whatsapp": WhatsAppSecrets,
    "messenger": MessengerSecrets,
    "line": LineSecrets,
    "tiktok": TikTokSecrets,
}

# checked against the platform's model once the platform is known; documented as any of them
_SECRETS_SCHEMA = {"type": "object", "anyOf": [model.model_json_schema() for model in SECRET_MODELS.values()]}


class WorkspaceCreate(_Strict):
    name: Text = Field(min_length=1, max_length=200)
    timezone: TimeZoneName = "UTC"


class WorkspaceOut(Output):
    id: int
    name: str
    timezone: str


class ChannelCreate(_Strict):
    workspace_id: BodyId | None = Field(
        default=None,
        description="The caller's own workspace if left out; the bootstrap admin token must name one.",
    )
    platform: Platform
    external_id: Text = Field(
        min_length=1, max_length=128, description="phone_number_id / page_id / LINE channel id / business id"
    )
    name: Text = Field(default="", max_length=200)
    display_phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{6,20}$")
    line_basic_id: Text | None = Field(default=None, max_length=64)
    secrets: Annotated[dict[str, Any], WithJsonSchema(_SECRETS_SCHEMA)] = Field(
        description="whatsapp and tiktok: access_token (and app_secret); messenger: page_access_token (and "
        "app_secret); line: channel_secret and channel_access_token. Stored encrypted, never returned."
    )


class ChannelOut(Output):
    id: int
    workspace_id: int
    platform: str
    external_id: str
    name: str
    display_phone: str | None
    line_basic_id: str | None
    active: bool
    created_at: datetime


class ChannelList(Output):
    channels: list[ChannelOut]


class ChannelQuery(Input):
    workspace_id: Id | None = Field(
        default=None, description="Only for the bootstrap admin token, which otherwise lists every workspace's."
    )


def channel_out(row: Any) -> ChannelOut:
    return ChannelOut(
        id=row.id,
        workspace_id=row.workspace_id,
        platform=row.platform,
        external_id=row.external_id,
        name=row.name,
        display_phone=row.display_phone,
        line_basic_id=row.line_basic_id,
        active=row.active,
        created_at=row.created_at,
    )


# --- handlers ----------------------------------------------------------------------------------------------------


async def create_workspace(request: web.Request) -> web.Response:
    body = await parse_body(request, WorkspaceCreate)
    async with request.app[engine_key].begin() as connection:
        workspace_id = (
            await connection.execute(
                sa.insert(WORKSPACES)
                .values(name=body.name, timezone=body.timezone, created_at=utcnow())
                .returning(WORKSPACES.c.id)
            )
        ).scalar_one()
    return json_response(WorkspaceOut(id=workspace_id, name=body.name, timezone=body.timezone), status=201)


async def create_channel(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await parse_body(request, ChannelCreate)
    try:
        secrets = SECRET_MODELS[body.platform].model_validate(body.secrets)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in ("secrets", *first["loc"]))
        raise ApiError(422, "invalid", first["msg"], field=where) from None
    workspace_id = await workspace_for(request, principal, body.workspace_id)
    box, engine = request.app[box_key], request.app[engine_key]
    try:
        async with engine.begin() as connection:
            row = (
                await connection.execute(
                    sa.insert(CHANNELS)
                    .values(
                        workspace_id=workspace_id,
                        platform=body.platform,
                        external_id=body.external_id,
                        name=body.name,
                        display_phone=(body.display_phone or "").lstrip("+") or None,
                        line_basic_id=body.line_basic_id,
                        secrets_encrypted=box.encrypt_json(secrets.model_dump(exclude_none=True)),
                        active=True,
                        created_at=utcnow(),
                    )
                    .returning(*CHANNELS.c)
                )
            ).one()
    except IntegrityError:
        raise ApiError(
            409, "conflict", f"a {body.platform} channel with this id is already registered", field="external_id"
        ) from None
    await request.app[directory_key].load()
    return json_response(channel_out(row), status=201)


async def list_channels(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, ChannelQuery)
    workspace_id = await workspace_filter(request, principal, query.workspace_id)
    statement = sa.select(CHANNELS).order_by(CHANNELS.c.id)
    if workspace_id is not None:
        statement = statement.where(CHANNELS.c.workspace_id == workspace_id)
    if principal.channel_ids is not None:
        statement = statement.where(CHANNELS.c.id.in_(sorted(principal.channel_ids)))
    async with request.app[engine_key].connect() as connection:
        rows = (await connection.execute(statement)).all()
    return json_response(ChannelList(channels=[channel_out(row) for row in rows]))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/api/v1/workspaces", create_workspace, "Create a workspace", "admin", "workspaces",
        body=WorkspaceCreate, status=201, response=WorkspaceOut, super_admin=True,
        description="Its users, channels and settings are then managed by its own admins.",
    ),
    Endpoint(
        "POST", "/api/v1/channels", create_channel, "Register a channel (WhatsApp number, page, LINE or TikTok)",
        "admin", "channels", body=ChannelCreate, status=201, response=ChannelOut, errors=(404, 409),
        description="The secrets are stored encrypted and never returned; an id another channel has is 409.",
    ),
    Endpoint(
        "GET", "/api/v1/channels", list_channels, "Channels of the workspace", "viewer", "channels",
        query=ChannelQuery, response=ChannelList, errors=(404,),
        description="A user limited to some channels sees only those. Never includes secrets.",
    ),
)  # fmt: skip


def add_routes(app: web.Application) -> None:
    add_endpoints(app, ENDPOINTS)


__all__ = [
    "ENDPOINTS",
    "WORKSPACES",
    "ChannelDirectory",
    "add_routes",
    "box_key",
    "engine_key",
    "validation_error",
    "workspace_filter",
    "workspace_for",
]
