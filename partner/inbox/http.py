"""Request parsing and response helpers shared by the inbox handlers: one error shape, never a driver error."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from partner.accounts.auth import Principal, not_found
from partner.admin import WORKSPACES, validation_error
from partner.appkeys import engine_key
from partner.inbox.schemas import MAX_ID
from partner.web import ApiError, read_json_object

M = TypeVar("M", bound=BaseModel)


def engine(request: web.Request) -> AsyncEngine:
    return request.app[engine_key]


async def parse_body(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(await read_json_object(request))
    except ValidationError as error:
        raise validation_error(error) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    values: dict[str, str] = {}
    for key in request.query:
        given = request.query.getall(key)
        if len(given) > 1:
            raise ApiError(422, "invalid", "give this parameter once", field=key)
        values[key] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise validation_error(error) from None


def path_id(request: web.Request, name: str, what: str) -> int:
    """An id from the path; anything a database integer cannot hold names nothing, so it is a 404."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
        raise not_found(what)
    return int(raw)


def json_response(model: BaseModel, *, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json")


async def workspace_for(request: web.Request, principal: Principal, requested: int | None) -> int:
    """The workspace a collection request is about: the caller's own, or the one the super-admin names."""
    if not principal.is_super_admin:
        if requested is not None and requested != principal.workspace_id:
            raise not_found("workspace", "workspace_id")
        assert principal.workspace_id is not None
        return principal.workspace_id
    if requested is None:
        raise ApiError(422, "invalid", "the bootstrap admin token must name a workspace", field="workspace_id")
    async with engine(request).connect() as connection:
        found = (await connection.execute(sa.select(WORKSPACES.c.id).where(WORKSPACES.c.id == requested))).first()
    if found is None:
        raise not_found("workspace", "workspace_id")
    return requested


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The values a cursor carries; anything else is a 422 (cursors are opaque, so never hand-made)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        values = None
    if not isinstance(values, list):
        raise ApiError(422, "invalid", "cursor is not one this API returned", field="cursor")
    return values


def bad_cursor() -> ApiError:
    return ApiError(422, "invalid", "cursor is not one this API returned for this listing", field="cursor")
