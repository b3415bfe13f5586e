"""Client for TikTok's Business API: Events API 2.0 ``/event/track/`` and the advertiser OAuth endpoints.

TikTok answers errors with HTTP 200 and a non-zero body ``code`` (spec §1.6), so every call is classified
from the body first and the HTTP status second. ``track`` never raises for API or transport failures: it
returns a :class:`TrackOutcome` the outbox turns into "done", "retry later", "ask for re-authorisation" or
"dead letter". The OAuth calls return typed results or raise:

* :class:`TikTokApiError` -- base; carries ``code``, ``message``, ``request_id``, ``http_status``
    - :class:`Throttled` -- code 40100 or HTTP 429: retry with backoff
    - :class:`TransientError` -- 5xxxx codes, HTTP 5xx, timeouts, connection errors, bodies that are not
      TikTok's JSON envelope: retry
    - :class:`AuthRevoked` -- 40104 / 40105: the token is missing or revoked, re-authorise
    - :class:`Rejected` -- any other error code (40001, 40002, 40101, 40110, ...): fix the request, never retry

Tokens and app secrets are sent and nothing else: they never appear in logs, exceptions or reprs, and
request bodies are never logged.
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

DEFAULT_BASE_URL = "https://business-api.tiktok.com/open_api/v1.3/"
DEFAULT_TIMEOUT_SECONDS = 10.0
SUCCESS_CODES = frozenset({0, 20001})  # 20001 is treated as (partial) success, as RudderStack does
THROTTLED_CODE = 40100
REAUTH_CODES = frozenset({40104, 40105})

log = structlog.get_logger(__name__)


class OutcomeKind(enum.StrEnum):
    """What the caller should do with the events it sent."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REAUTH = "reauth"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class TrackOutcome:
    kind: OutcomeKind
    code: int | None
    message: str
    request_id: str | None
    http_status: int | None
    retry_after: float | None = None  # seconds, from an HTTP 429 ``Retry-After`` header

    @property
    def delivered(self) -> bool:
        return self.kind is OutcomeKind.DELIVERED


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str = field(repr=False)
    advertiser_ids: tuple[str, ...]
    scope: tuple[int, ...]
    request_id: str | None


@dataclass(frozen=True, slots=True)
class AdvertiserInfo:
    advertiser_id: str
    advertiser_name: str


@dataclass(frozen=True, slots=True)
class RevokedToken:
    app_id: str
    advertiser_ids: tuple[str, ...]


class TikTokApiError(Exception):
    """A failed call; the message is TikTok's (or ours for transport failures), never a credential."""

    def __init__(self, message: str, *, code: int | None, request_id: str | None, http_status: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.http_status = http_status

    def __str__(self) -> str:
        return f"TikTok API code={self.code} http={self.http_status} request_id={self.request_id}: {self.message}"


class Throttled(TikTokApiError):  # noqa: N818 - the documented hierarchy reads as outcomes
    """Rate limited (40100 or HTTP 429): retry later with backoff."""


class TransientError(TikTokApiError):
    """TikTok-side or network failure: the same request may succeed later."""


class AuthRevoked(TikTokApiError):  # noqa: N818 - see Throttled
    """The access token is missing, wrong or revoked: the advertiser has to authorise again."""


class Rejected(TikTokApiError):  # noqa: N818 - see Throttled
    """TikTok refused the request itself (permission or parameters): retrying cannot help."""


@dataclass(frozen=True, slots=True)
class _Reply:
    http_status: int | None
    code: int | None
    message: str
    request_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None


def classify(http_status: int | None, code: int | None) -> OutcomeKind:
    """Body code first, except that a gateway's 429 / 5xx always means "try again"."""
    if http_status is None or http_status == 429 or http_status >= 500:
        return OutcomeKind.RETRY
    if code is None:
        # 2xx without TikTok's envelope is a glitch; a bare 4xx (e.g. 404 for a missing slash) is our bug.
        return OutcomeKind.RETRY if http_status < 400 or http_status == 408 else OutcomeKind.DEAD
    if code in SUCCESS_CODES:
        return OutcomeKind.DELIVERED
    if code == THROTTLED_CODE or 50000 <= code <= 59999:
        return OutcomeKind.RETRY
    if code in REAUTH_CODES:
        return OutcomeKind.REAUTH
    return OutcomeKind.DEAD


def _error_for(reply: _Reply) -> TikTokApiError:
    kind_of = classify(reply.http_status, reply.code)
    kind: type[TikTokApiError]
    if reply.code == THROTTLED_CODE or reply.http_status == 429:
        kind = Throttled
    elif kind_of is OutcomeKind.RETRY:
        kind = TransientError
    elif kind_of is OutcomeKind.REAUTH:
        kind = AuthRevoked
    else:
        kind = Rejected
    return kind(reply.message, code=reply.code, request_id=reply.request_id, http_status=reply.http_status)


class TikTokApiClient:
    """One client per base URL; the caller owns the session (and closes it)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/") + "/"
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    @property
    def base_url(self) -> str:
        return self._base_url

    async def track(self, access_token: str, body: dict[str, Any]) -> TrackOutcome:
        """Send one Events API 2.0 request (≤ 1,000 events; the caller batches)."""
        reply = await self._call("POST", "event/track/", access_token=access_token, json_body=body)
        return TrackOutcome(
            kind=classify(reply.http_status, reply.code),
            code=reply.code,
            message=reply.message,
            request_id=reply.request_id,
            http_status=reply.http_status,
            retry_after=reply.retry_after,
        )

    async def exchange_auth_code(self, app_id: str, secret: str, auth_code: str) -> TokenGrant:
        body = {"app_id": app_id, "secret": secret, "auth_code": auth_code}
        reply = await self._call("POST", "oauth2/access_token/", json_body=body)
        data = _checked(reply)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise _malformed(reply, "access_token missing from the token response.")
        advertiser_ids = tuple(str(item) for item in data.get("advertiser_ids") or ())
        scope = tuple(int(item) for item in data.get("scope") or () if isinstance(item, int))
        return TokenGrant(token, advertiser_ids, scope, reply.request_id)

    async def get_advertisers(self, app_id: str, secret: str, access_token: str) -> list[AdvertiserInfo]:
        params = {"app_id": app_id, "secret": secret}
        reply = await self._call("GET", "oauth2/advertiser/get/", access_token=access_token, params=params)
        items = _checked(reply).get("list")
        if not isinstance(items, list):
            raise _malformed(reply, "list missing from the advertiser response.")
        return [
            AdvertiserInfo(str(item.get("advertiser_id", "")), str(item.get("advertiser_name", "")))
            for item in items
            if isinstance(item, dict) and item.get("advertiser_id") is not None
        ]

    async def revoke_token(self, app_id: str, secret: str, access_token: str) -> RevokedToken:
        body = {"app_id": app_id, "secret": secret, "access_token": access_token}
        data = _checked(await self._call("POST", "oauth2/revoke_token/", json_body=body))
        advertiser_ids = tuple(str(item) for item in data.get("advertiser_ids") or ())
        return RevokedToken(str(data.get("app_id", app_id)), advertiser_ids)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        access_token: str | None = None,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> _Reply:
        headers = {"Access-Token": access_token} if access_token is not None else {}
        started = time.monotonic()
        try:
            async with self._session.request(
                method, self._base_url + path, headers=headers, params=params, json=json_body, timeout=self._timeout
            ) as response:
                reply = _parse(response.status, await response.read(), response.headers.get("Retry-After"))
        except TimeoutError:
            reply = _Reply(None, None, "Request to TikTok timed out.")
        except aiohttp.ClientError as error:
            # The exception text can contain the URL, and the advertiser call puts the secret in the query.
            reply = _Reply(None, None, f"Connection to TikTok failed: {type(error).__name__}.")
        log.info(
            "tiktok_api_call",
            endpoint=path,
            http_status=reply.http_status,
            code=reply.code,
            request_id=reply.request_id,
            elapsed_ms=round((time.monotonic() - started) * 1000),
        )
        return reply


def _parse(http_status: int, raw: bytes, retry_after: str | None) -> _Reply:
    delay = _seconds(retry_after)
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), int):
        return _Reply(http_status, None, f"HTTP {http_status} without TikTok's JSON envelope.", retry_after=delay)
    data = payload.get("data")
    request_id = payload.get("request_id")
    return _Reply(
        http_status,
        payload["code"],
        str(payload.get("message", "")),
        request_id if isinstance(request_id, str) else None,
        data if isinstance(data, dict) else {},
        delay,
    )


def _seconds(header: str | None) -> float | None:
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def _checked(reply: _Reply) -> dict[str, Any]:
    if classify(reply.http_status, reply.code) is not OutcomeKind.DELIVERED:
        raise _error_for(reply)
    return reply.data


def _malformed(reply: _Reply, message: str) -> TransientError:
    return TransientError(message, code=reply.code, request_id=reply.request_id, http_status=reply.http_status)
