"""Signed, single-use flow tokens: the OAuth ``state`` and the token embedded in the selection form.

A token is ``v1.<payload>.<signature>``. The payload (base64url JSON) names the purpose, the workspace, the
initiator, a hash of the browser-binding cookie and the expiry; the HMAC (``SecretBox.sign``) makes any change to
it detectable, so the callback can trust what the payload says without a lookup. The nonce is also a row in
``oauth_states``, and consuming a token is one conditional UPDATE, so it works once even when two requests race.

The browser binding is what makes the state a CSRF defence rather than only a signed parameter: the flow sets a
cookie (one per workspace) when it starts, and the callback must come from a browser holding it. A callback
crafted elsewhere -- a link started in another browser, or for another workspace -- connects nothing.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from authlib.common.security import generate_token
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oauth.models import STATES
from partner.crypto import SecretBox
from partner.store.models import utcnow

STATE_TTL = timedelta(minutes=10)
SELECT_TTL = timedelta(minutes=30)  # choosing an event set can mean a trip to Events Manager
PURGE_AFTER = timedelta(days=1)
AUTHORIZE = "authorize"
SELECT = "select"
BINDING_COOKIE_PREFIX = "partner_oauth_w"
BINDING_COOKIE_MAX_AGE = 3600
_VERSION = "v1"
_DOMAIN = b"partner-oauth-state:"  # keeps these signatures apart from anything else SecretBox signs
_BROWSER_TOKEN = re.compile(r"^[A-Za-z0-9]{32,64}$")

Clock = Callable[[], datetime]


class StateProblem(enum.StrEnum):
    """Why a token was refused; the routes turn each into words an advertiser understands."""

    MALFORMED = "malformed"  # missing, not ours, or altered
    WRONG_PURPOSE = "wrong_purpose"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    BROWSER_MISMATCH = "browser_mismatch"
    OTHER_WORKSPACE = "other_workspace"


class StateError(Exception):
    def __init__(self, problem: StateProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class StateClaims:
    nonce: str
    purpose: str
    workspace_id: int
    initiator: str
    binding: str  # SHA-256 hex of the browser-binding cookie
    expires_at: datetime


def binding_cookie_name(workspace_id: int) -> str:
    """One cookie per workspace, so flows for two workspaces in one browser do not overwrite each other."""
    return f"{BINDING_COOKIE_PREFIX}{workspace_id}"


def browser_token(cookies: Mapping[str, str], workspace_id: int) -> str:
    """The browser's binding secret for this workspace: the existing cookie if well formed, else a new one."""
    existing = cookies.get(binding_cookie_name(workspace_id), "")
    return existing if _BROWSER_TOKEN.match(existing) else generate_token(43)


def binding_hash(browser: str) -> str:
    return hashlib.sha256(browser.encode()).hexdigest()


def check_binding(claims: StateClaims, cookies: Mapping[str, str]) -> None:
    """The request must come from the browser that started the flow for this workspace."""
    held = cookies.get(binding_cookie_name(claims.workspace_id))
    if held is None:
        others = any(name.startswith(BINDING_COOKIE_PREFIX) for name in cookies)
        raise StateError(StateProblem.OTHER_WORKSPACE if others else StateProblem.BROWSER_MISMATCH)
    if not hmac.compare_digest(binding_hash(held), claims.binding):
        raise StateError(StateProblem.BROWSER_MISMATCH)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StateStore:
    """Issues, checks and consumes flow tokens. ``clock`` is injectable so tests can expire a token."""

    def __init__(self, engine: AsyncEngine, box: SecretBox, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._box = box
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def issue(self, *, purpose: str, workspace_id: int, initiator: str, binding: str, ttl: timedelta) -> str:
        now = self.now()
        nonce = generate_token(32)
        expires_at = now + ttl
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.insert(STATES).values(
                    nonce=nonce,
                    purpose=purpose,
                    workspace_id=workspace_id,
                    initiator=initiator,
                    expires_at=expires_at,
                    created_at=now,
                )
            )
        payload = {
            "n": nonce,
            "p": purpose,
            "w": workspace_id,
            "i": initiator,
            "b": binding,
            "x": int(expires_at.timestamp()),
        }
        body = f"{_VERSION}.{_b64encode(json.dumps(payload, separators=(',', ':')).encode())}"
        return f"{body}.{self._box.sign(_DOMAIN + body.encode())}"

    def decode(self, token: str, *, purpose: str) -> StateClaims:
        """Signature, purpose and expiry, without touching the database."""
        version, _, rest = token.partition(".")
        encoded, _, signature = rest.partition(".")
        if version != _VERSION or not encoded or not signature:
            raise StateError(StateProblem.MALFORMED)
        if not self._box.verify(_DOMAIN + f"{version}.{encoded}".encode(), signature):
            raise StateError(StateProblem.MALFORMED)
        try:
            payload: Any = json.loads(_b64decode(encoded))
            claims = StateClaims(
                nonce=_text(payload["n"]),
                purpose=_text(payload["p"]),
                workspace_id=_integer(payload["w"]),
                initiator=_text(payload["i"]),
                binding=_text(payload["b"]),
                expires_at=datetime.fromtimestamp(_integer(payload["x"]), tz=UTC),
            )
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise StateError(StateProblem.MALFORMED) from None
        if claims.purpose != purpose:
            raise StateError(StateProblem.WRONG_PURPOSE)
        if claims.expires_at <= self.now():
            raise StateError(StateProblem.EXPIRED)
        return claims

    async def ensure_unused(self, connection: AsyncConnection, claims: StateClaims) -> None:
        """Read-only check, for a form that may be shown again with an error before the token is spent."""
        row = (await connection.execute(sa.select(STATES).where(STATES.c.nonce == claims.nonce))).first()
        self._raise_if_unusable(row, claims)

    async def consume(self, connection: AsyncConnection, claims: StateClaims) -> None:
        """Mark the token used, atomically; raises if it already was (replay), has expired, or is unknown."""
        now = self.now()
        result = await connection.execute(
            sa.update(STATES)
            .where(
                STATES.c.nonce == claims.nonce,
                STATES.c.purpose == claims.purpose,
                STATES.c.workspace_id == claims.workspace_id,
                STATES.c.used_at.is_(None),
                STATES.c.expires_at > now,
            )
            .values(used_at=now)
        )
        if result.rowcount == 1:
            return
        row = (await connection.execute(sa.select(STATES).where(STATES.c.nonce == claims.nonce))).first()
        self._raise_if_unusable(row, claims)
        raise StateError(StateProblem.REPLAYED)  # lost a race to a concurrent request

    def _raise_if_unusable(self, row: Any, claims: StateClaims) -> None:
        if row is None:  # purged long after expiry, or never issued with this key
            raise StateError(StateProblem.EXPIRED)
        if row.purpose != claims.purpose or row.workspace_id != claims.workspace_id:
            raise StateError(StateProblem.MALFORMED)
        if row.used_at is not None:
            raise StateError(StateProblem.REPLAYED)
        if row.expires_at <= self.now():
            raise StateError(StateProblem.EXPIRED)

    async def purge(self) -> int:
        """Forget tokens that expired more than a day ago; a replay of one then reads as expired."""
        async with self._engine.begin() as connection:
            result = await connection.execute(sa.delete(STATES).where(STATES.c.expires_at < self.now() - PURGE_AFTER))
        return int(result.rowcount or 0)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _integer(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("expected an integer")
    return value
