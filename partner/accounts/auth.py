"""Who is calling: bearer tokens, roles, and the workspace and channels a caller may see.

A token is 256 random bits shown once; the database keeps only its SHA-256, looked up through a unique index, so
the comparison happens inside the index (no early-exit string compare in Python) and a copy of the table cannot
be replayed. The bootstrap ``PARTNER_ADMIN_TOKEN`` is a super-admin for every workspace.

Rules every handler follows: a caller never learns that another workspace's object exists (404), a role that is
too low is 403 whatever the object, and a user limited to some channels sees the others' conversations as absent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import sqlalchemy as sa
from aiohttp import web

from partner.accounts.models import API_TOKENS, USER_CHANNELS, USERS
from partner.appkeys import engine_key, settings_key
from partner.store.models import utcnow
from partner.web import ApiError

Role = Literal["admin", "agent", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "agent": 2, "admin": 3}
TOKEN_PREFIX = "ptk_"  # noqa: S105 - the public prefix of every token, not a secret
LAST_USED_RESOLUTION = timedelta(minutes=5)  # last_used_at is refreshed at most this often: no write per request


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller. ``user_id`` and ``workspace_id`` are None for the bootstrap super-admin."""

    user_id: int | None
    workspace_id: int | None
    role: Role
    channel_ids: frozenset[int] | None = None  # None: every channel of the workspace

    @property
    def is_super_admin(self) -> bool:
        return self.user_id is None

    def at_least(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def sees_workspace(self, workspace_id: int) -> bool:
        return self.is_super_admin or self.workspace_id == workspace_id

    def sees_channel(self, channel_id: int) -> bool:
        return self.channel_ids is None or channel_id in self.channel_ids

    def may_see(self, workspace_id: int, channel_id: int) -> bool:
        """Both checks a conversation (or anything on one channel) needs."""
        return self.sees_workspace(workspace_id) and self.sees_channel(channel_id)


SUPER_ADMIN = Principal(user_id=None, workspace_id=None, role="admin")
_principal_key = web.RequestKey("inbox_principal", Principal)


def mint_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "a valid API token is required (Authorization: Bearer ...)")


def not_found(what: str, field: str | None = None) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found", field=field)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate(request: web.Request) -> Principal:
    """The caller of this request (cached on it), or a 401."""
    if _principal_key in request:
        return request[_principal_key]
    token = _bearer(request)
    if token is None:
        raise unauthorized()
    principal = await _principal_for(request, token)
    request[_principal_key] = principal
    return principal


async def _principal_for(request: web.Request, token: str) -> Principal:
    admin_token = request.app[settings_key].admin_token
    if admin_token is not None and hmac.compare_digest(token.encode(), admin_token.encode()):
        return SUPER_ADMIN
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        raise unauthorized()
    query = (
        sa.select(
            API_TOKENS.c.id, API_TOKENS.c.last_used_at, USERS.c.id.label("user_id"), USERS.c.workspace_id, USERS.c.role
        )
        .join(USERS, USERS.c.id == API_TOKENS.c.user_id)
        .where(API_TOKENS.c.token_hash == hash_token(token), API_TOKENS.c.revoked_at.is_(None), USERS.c.active)
    )
    engine = request.app[engine_key]
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
        if row is None:
            raise unauthorized()
        channels = (
            await connection.execute(
                sa.select(USER_CHANNELS.c.channel_id).where(USER_CHANNELS.c.user_id == row.user_id)
            )
        ).scalars()
        channel_ids = frozenset(int(channel_id) for channel_id in channels) or None
    if row.last_used_at is None or utcnow() - row.last_used_at > LAST_USED_RESOLUTION:
        async with engine.begin() as connection:
            await connection.execute(
                sa.update(API_TOKENS).where(API_TOKENS.c.id == row.id).values(last_used_at=utcnow())
            )
    role: Role = row.role
    return Principal(user_id=int(row.user_id), workspace_id=int(row.workspace_id), role=role, channel_ids=channel_ids)


async def require_role(request: web.Request, workspace_id: int | None, minimum: Role) -> Principal:
    """Authenticate, then insist on ``minimum`` (403) and, when given, on access to ``workspace_id`` (404).

    The role is checked first, so a caller whose role is too low learns nothing about whether an object exists.
    """
    principal = await authenticate(request)
    if not principal.at_least(minimum):
        raise ApiError(403, "forbidden", f"this needs the {minimum} role or higher (yours: {principal.role})")
    if workspace_id is not None and not principal.sees_workspace(workspace_id):
        raise not_found("workspace")
    return principal


__all__ = [
    "ROLE_RANK",
    "SUPER_ADMIN",
    "Principal",
    "Role",
    "authenticate",
    "hash_token",
    "mint_token",
    "not_found",
    "require_role",
]
