"""Users, their channel limits and their API tokens. Admins manage them; anyone may ask who they are.

A workspace always keeps one active admin: demoting or deactivating the last one is refused, so nobody can lock
a workspace out of its own settings (the bootstrap token stays as the way back in any case).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from partner.accounts.auth import Principal, authenticate, hash_token, mint_token, not_found
from partner.accounts.models import API_TOKENS, USER_CHANNELS, USERS
from partner.channels import CHANNELS
from partner.inbox.assignment import drain_queue
from partner.inbox.http import engine, json_response, parse_body, parse_query, path_id, workspace_for
from partner.inbox.schemas import (
    Me,
    MeUpdate,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    UserCreate,
    UserList,
    UserOut,
    UserUpdate,
    WorkspaceQuery,
)
from partner.store.models import utcnow
from partner.web import ApiError


def user_out(row: Any, channel_ids: Iterable[int] | None) -> UserOut:
    ids = sorted(channel_ids) if channel_ids else None
    return UserOut(
        id=row.id,
        workspace_id=row.workspace_id,
        email=row.email,
        name=row.name,
        role=row.role,
        active=row.active,
        availability=row.availability,
        capacity=row.capacity,
        channel_ids=ids,
        created_at=row.created_at,
    )


def token_out(row: Any) -> TokenOut:
    return TokenOut(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def channel_limits(connection: AsyncConnection, user_ids: list[int]) -> dict[int, list[int]]:
    rows = await connection.execute(
        sa.select(USER_CHANNELS.c.user_id, USER_CHANNELS.c.channel_id).where(USER_CHANNELS.c.user_id.in_(user_ids))
    )
    limits: dict[int, list[int]] = {}
    for user_id, channel_id in rows.all():
        limits.setdefault(int(user_id), []).append(int(channel_id))
    return limits


async def _load_user(connection: AsyncConnection, principal: Principal, user_id: int) -> Any:
    row = (await connection.execute(sa.select(USERS).where(USERS.c.id == user_id))).first()
    if row is None or not principal.sees_workspace(row.workspace_id):
        raise not_found("user")
    return row


async def _set_channels(connection: AsyncConnection, workspace_id: int, user_id: int, channel_ids: list[int]) -> None:
    wanted = sorted(set(channel_ids))
    if wanted:
        found = await connection.execute(
            sa.select(CHANNELS.c.id).where(CHANNELS.c.id.in_(wanted), CHANNELS.c.workspace_id == workspace_id)
        )
        missing = set(wanted) - {int(channel_id) for channel_id in found.scalars()}
        if missing:
            raise ApiError(422, "invalid", f"no such channel in this workspace: {min(missing)}", field="channel_ids")
    await connection.execute(sa.delete(USER_CHANNELS).where(USER_CHANNELS.c.user_id == user_id))
    if wanted:
        await connection.execute(
            sa.insert(USER_CHANNELS), [{"user_id": user_id, "channel_id": channel_id} for channel_id in wanted]
        )


async def insert_user(connection: AsyncConnection, *, workspace_id: int, email: str, name: str, role: str) -> Any:
    """Insert a user; the caller turns the IntegrityError of a duplicate e-mail into :func:`duplicate_email`."""
    now = utcnow()
    values = {"email": email.strip().lower(), "name": name.strip(), "role": role, "active": True}
    statement = sa.insert(USERS).values(workspace_id=workspace_id, created_at=now, updated_at=now, **values)
    return (await connection.execute(statement.returning(*USERS.c))).one()


def duplicate_email() -> ApiError:
    return ApiError(409, "conflict", "a user with this e-mail exists in the workspace", field="email")


async def insert_token(connection: AsyncConnection, *, user_id: int, workspace_id: int, name: str) -> tuple[Any, str]:
    """A new token row and the token itself, which exists nowhere else once returned."""
    token = mint_token()
    row = (
        await connection.execute(
            sa.insert(API_TOKENS)
            .values(
                user_id=user_id,
                workspace_id=workspace_id,
                token_hash=hash_token(token),
                prefix=token[:12],
                name=name.strip(),
                created_at=utcnow(),
            )
            .returning(*API_TOKENS.c)
        )
    ).one()
    return row, token


async def me(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user = None
    if principal.user_id is not None:
        async with engine(request).connect() as connection:
            row = await _load_user(connection, principal, principal.user_id)
            user = user_out(row, principal.channel_ids)
    return json_response(
        Me(super_admin=principal.is_super_admin, role=principal.role, workspace_id=principal.workspace_id, user=user)
    )


async def list_users(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, WorkspaceQuery)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    async with engine(request).connect() as connection:
        rows = (
            await connection.execute(sa.select(USERS).where(USERS.c.workspace_id == workspace_id).order_by(USERS.c.id))
        ).all()
        limits = await channel_limits(connection, [row.id for row in rows])
    return json_response(UserList(users=[user_out(row, limits.get(row.id)) for row in rows]))


async def create_user(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await parse_body(request, UserCreate)
    workspace_id = await workspace_for(request, principal, body.workspace_id)
    try:
        async with engine(request).begin() as connection:
            row = await insert_user(
                connection, workspace_id=workspace_id, email=body.email, name=body.name, role=body.role
            )
            if body.channel_ids:
                await _set_channels(connection, workspace_id, row.id, body.channel_ids)
    except IntegrityError:
        raise duplicate_email() from None
    return json_response(user_out(row, body.channel_ids), status=201)


async def get_user(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user_id = path_id(request, "user_id", "user")
    async with engine(request).connect() as connection:
        row = await _load_user(connection, principal, user_id)
        limits = await channel_limits(connection, [row.id])
    return json_response(user_out(row, limits.get(row.id)))


async def update_user(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user_id = path_id(request, "user_id", "user")
    body = await parse_body(request, UserUpdate)
    async with engine(request).begin() as connection:
        row = await _load_user(connection, principal, user_id)
        changes: dict[str, Any] = {}
        if body.name is not None:
            changes["name"] = body.name.strip()
        if body.role is not None:
            changes["role"] = body.role
        if body.active is not None:
            changes["active"] = body.active
        for name in ("availability", "capacity"):
            if name in body.model_fields_set and (name == "capacity" or getattr(body, name) is not None):
                changes[name] = getattr(body, name)
        if _loses_admin(row, changes):
            await _keep_an_admin(connection, row)
        if changes:
            await connection.execute(
                sa.update(USERS).where(USERS.c.id == user_id).values(updated_at=utcnow(), **changes)
            )
        if "channel_ids" in body.model_fields_set:
            await _set_channels(connection, row.workspace_id, user_id, body.channel_ids or [])
        row = (await connection.execute(sa.select(USERS).where(USERS.c.id == user_id))).one()
        if changes.keys() & {"availability", "capacity", "active", "role"} or "channel_ids" in body.model_fields_set:
            await connection.run_sync(drain_queue, row.workspace_id)
        limits = await channel_limits(connection, [user_id])
    return json_response(user_out(row, limits.get(user_id)))


async def update_me(request: web.Request) -> web.Response:
    """An agent sets their own availability; coming online picks up conversations waiting for an agent."""
    principal = await authenticate(request)
    body = await parse_body(request, MeUpdate)
    if principal.user_id is None:
        raise ApiError(409, "conflict", "the bootstrap admin token is not a user and has no availability")
    async with engine(request).begin() as connection:
        await connection.execute(
            sa.update(USERS)
            .where(USERS.c.id == principal.user_id)
            .values(availability=body.availability, updated_at=utcnow())
        )
        row = await _load_user(connection, principal, principal.user_id)
        if body.availability == "online":
            await connection.run_sync(drain_queue, row.workspace_id)
    user = user_out(row, principal.channel_ids)
    return json_response(Me(super_admin=False, role=principal.role, workspace_id=principal.workspace_id, user=user))


def _loses_admin(row: Any, changes: dict[str, Any]) -> bool:
    was_admin = row.role == "admin" and row.active
    stays_admin = changes.get("role", row.role) == "admin" and changes.get("active", row.active)
    return was_admin and not stays_admin


async def _keep_an_admin(connection: AsyncConnection, row: Any) -> None:
    others = await connection.execute(
        sa.select(sa.func.count())
        .select_from(USERS)
        .where(USERS.c.workspace_id == row.workspace_id, USERS.c.role == "admin", USERS.c.active, USERS.c.id != row.id)
    )
    if not others.scalar_one():
        raise ApiError(409, "conflict", "the workspace needs at least one active admin; promote another user first")


async def list_tokens(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user_id = path_id(request, "user_id", "user")
    async with engine(request).connect() as connection:
        await _load_user(connection, principal, user_id)
        rows = (
            await connection.execute(
                sa.select(API_TOKENS).where(API_TOKENS.c.user_id == user_id).order_by(API_TOKENS.c.id)
            )
        ).all()
    return json_response(TokenList(tokens=[token_out(row) for row in rows]))


async def create_token(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user_id = path_id(request, "user_id", "user")
    body = await parse_body(request, TokenCreate)
    async with engine(request).begin() as connection:
        user = await _load_user(connection, principal, user_id)
        row, token = await insert_token(connection, user_id=user_id, workspace_id=user.workspace_id, name=body.name)
    return json_response(TokenCreated(**token_out(row).model_dump(), token=token), status=201)


async def revoke_token(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    user_id = path_id(request, "user_id", "user")
    token_id = path_id(request, "token_id", "token")
    async with engine(request).begin() as connection:
        await _load_user(connection, principal, user_id)
        mine = sa.and_(API_TOKENS.c.id == token_id, API_TOKENS.c.user_id == user_id)
        if (await connection.execute(sa.select(API_TOKENS.c.id).where(mine))).first() is None:
            raise not_found("token")
        await connection.execute(
            sa.update(API_TOKENS).where(mine, API_TOKENS.c.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
    return web.Response(status=204)
