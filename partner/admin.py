"""Admin API: channel registration. Secrets are encrypted at rest and never returned.

Until users and roles exist, the bootstrap admin token from ``PARTNER_ADMIN_TOKEN`` authorises these routes.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from partner.appkeys import box_key, directory_key, engine_key, settings_key
from partner.channels import CHANNELS, ChannelDirectory
from partner.store.models import Workspace, table, utcnow
from partner.web import ApiError, read_json_object

WORKSPACES = table(Workspace)


def require_admin(request: web.Request) -> None:
    expected = request.app[settings_key].admin_token
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if expected is None or not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "a valid admin token is required (Authorization: Bearer ...)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WhatsAppSecrets(_Strict):
    access_token: str = Field(min_length=1, max_length=4096)
    app_secret: str | None = Field(default=None, max_length=256)


class MessengerSecrets(_Strict):
    page_access_token: str = Field(min_length=1, max_length=4096)
    app_secret: str | None = Field(default=None, max_length=256)


class LineSecrets(_Strict):
    channel_secret: str = Field(min_length=1, max_length=256)
    channel_access_token: str = Field(min_length=1, max_length=4096)


class TikTokSecrets(_Strict):
    access_token: str = Field(min_length=1, max_length=4096)
    app_secret: str | None = Field(default=None, max_length=256)


SECRET_MODELS: dict[str, type[_Strict]] = {
    "whatsapp": WhatsAppSecrets,
    "messenger": MessengerSecrets,
    "line": LineSecrets,
    "tiktok": TikTokSecrets,
}


class ChannelCreate(_Strict):
    workspace_id: int = Field(gt=0)
    platform: Literal["whatsapp", "messenger", "line", "tiktok"]
    external_id: str = Field(
        min_length=1, max_length=128, description="phone_number_id / page_id / LINE channel id / business id"
    )
    name: str = Field(default="", max_length=200)
    display_phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{6,20}$")
    line_basic_id: str | None = Field(default=None, max_length=64)
    secrets: dict[str, Any]


class WorkspaceCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", max_length=64)


def validation_error(error: ValidationError) -> ApiError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    return ApiError(422, "invalid", first["msg"], field=field)


def channel_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "workspace_id": row.workspace_id,
        "platform": row.platform,
        "external_id": row.external_id,
        "name": row.name,
        "display_phone": row.display_phone,
        "line_basic_id": row.line_basic_id,
        "active": row.active,
        "created_at": row.created_at.isoformat(),
    }


async def create_workspace(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        body = WorkspaceCreate.model_validate(await read_json_object(request))
    except ValidationError as error:
        raise validation_error(error) from None
    async with request.app[engine_key].begin() as connection:
        workspace_id = (
            await connection.execute(
                sa.insert(WORKSPACES)
                .values(name=body.name, timezone=body.timezone, created_at=utcnow())
                .returning(WORKSPACES.c.id)
            )
        ).scalar_one()
    return web.json_response({"id": workspace_id, "name": body.name, "timezone": body.timezone}, status=201)


async def create_channel(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        body = ChannelCreate.model_validate(await read_json_object(request))
        secrets = SECRET_MODELS[body.platform].model_validate(body.secrets)
    except ValidationError as error:
        raise validation_error(error) from None
    box, engine = request.app[box_key], request.app[engine_key]
    async with engine.begin() as connection:
        if (
            await connection.execute(sa.select(WORKSPACES.c.id).where(WORKSPACES.c.id == body.workspace_id))
        ).first() is None:
            raise ApiError(404, "not_found", "workspace not found", field="workspace_id")
        try:
            row = (
                await connection.execute(
                    sa.insert(CHANNELS)
                    .values(
                        workspace_id=body.workspace_id,
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
                409,
                "conflict",
                f"a {body.platform} channel with this id is already registered",
                field="external_id",
            ) from None
    await request.app[directory_key].load()
    return web.json_response(channel_json(row), status=201)


async def list_channels(request: web.Request) -> web.Response:
    require_admin(request)
    async with request.app[engine_key].connect() as connection:
        rows = (await connection.execute(sa.select(CHANNELS).order_by(CHANNELS.c.id))).all()
    return web.json_response({"channels": [channel_json(row) for row in rows]})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/workspaces", create_workspace)
    app.router.add_post("/api/v1/channels", create_channel)
    app.router.add_get("/api/v1/channels", list_channels)


__all__ = ["ChannelDirectory", "add_routes", "box_key", "engine_key", "require_admin"]
