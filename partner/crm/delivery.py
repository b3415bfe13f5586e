"""The ``crm.deliver`` job: POST one event to one subscription, signed, and record the attempt.

Retry policy (the same as Stripe's and Svix's: a CRM that is down, mid-deploy or briefly misconfigured gets its
events once it recovers):

* any 2xx is delivered; the response body is never read, logged or stored;
* ``410 Gone`` means the receiver wants no more: the delivery fails and the webhook is disabled (an admin
  re-enables it with ``PATCH active=true``), and its other pending deliveries fail when their turn comes;
* anything else (other 4xx, 5xx, a redirect, which is never followed, a time-out after
  ``PARTNER_HTTP_TIMEOUT_SECONDS``, a connection error) is retried by the durable queue with exponential backoff
  and jitter, up to :data:`partner.crm.emit.MAX_ATTEMPTS` attempts; then the delivery is ``failed`` with the
  last reason, and ``POST .../redeliver`` queues it again.

Each attempt is a row (number, start, duration, status code, short error) in the same transaction as the
delivery's new state. Delivery is at least once: a crash between the receiver's 2xx and that commit repeats the
POST, with the same envelope ``id`` for the receiver to drop.

With ``include_message_text`` the message's text (or an order's description) is read from its row when the
envelope is built, so queued deliveries of a webhook that opts out, or of a message the contact deleted, carry
no text.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import sqlalchemy as sa
import structlog
from aiohttp import web
from sqlalchemy.engine import Connection

from partner.appkeys import box_key, engine_key, http_key, settings_key
from partner.crm.models import ATTEMPTS, DELIVERIES, WEBHOOKS
from partner.crm.schemas import PING
from partner.crm.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_header
from partner.crypto import DecryptionError, SecretBox
from partner.inbox.models import MESSAGES, ORDERS
from partner.store.models import utcnow
from partner.store.queue import JOBS
from partner.worker import PermanentJobError

log = structlog.get_logger(__name__)

GONE = 410
MAX_ERROR_LENGTH = 200


class RetryableDeliveryError(Exception):
    """A retryable failure: raised so the queue tries again later (the attempt is already recorded)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A delivery ready to POST: where, what, signed with which keys, and whether this is its last chance."""

    delivery_id: int
    webhook_id: int
    url: str
    event_type: str
    body: bytes
    keys: tuple[str, ...]
    attempt: int
    last_chance: bool


@dataclass(frozen=True, slots=True)
class Result:
    """What one POST came to: a status code, or an error before any came back."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == GONE


class CrmDeliverer:
    """Handler for ``crm.deliver`` jobs (payload ``{"delivery_id": int}``)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def __call__(self, payload: dict[str, Any]) -> None:
        delivery_id = payload.get("delivery_id")
        if not isinstance(delivery_id, int):
            raise PermanentJobError("crm.deliver job without a delivery id")
        with structlog.contextvars.bound_contextvars(crm_delivery_id=delivery_id):
            await self._deliver(delivery_id)

    async def _deliver(self, delivery_id: int) -> None:
        engine = self._app[engine_key]
        async with engine.begin() as connection:
            outgoing = await connection.run_sync(load, delivery_id, self._app[box_key], utcnow())
        if outgoing is None:
            return  # settled, disabled or deleted meanwhile: nothing to send
        result = await self._post(outgoing)
        async with engine.begin() as connection:
            await connection.run_sync(record, outgoing, result)
        log.info(
            "crm_delivery_attempted",
            webhook_id=outgoing.webhook_id,
            event_type=outgoing.event_type,
            attempt=outgoing.attempt,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        _raise_for(outgoing, result)

    async def _post(self, outgoing: Outgoing) -> Result:
        timeout = self._app[settings_key].http_timeout_seconds
        headers = _headers(outgoing, str(int(time.time())))
        started_at, clock = utcnow(), time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            async with self._app[http_key].post(
                outgoing.url,
                data=outgoing.body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                status_code = response.status
        except TimeoutError:
            error = f"timed out after {timeout:g} s"
        except (aiohttp.ClientError, ValueError) as failure:  # ValueError: a URL the client cannot use
            error = _describe(failure)
        duration_ms = int((time.monotonic() - clock) * 1000)
        if status_code is not None and not 200 <= status_code < 300:
            error = _status_error(status_code)
        return Result(started_at, duration_ms, status_code, error)


def _headers(outgoing: Outgoing, timestamp: str) -> dict[str, str]:
    """Signed afresh for each attempt, so the timestamp a receiver checks is this attempt's."""
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature_header(outgoing.keys, timestamp, outgoing.body),
        EVENT_HEADER: outgoing.event_type,
        DELIVERY_HEADER: str(outgoing.delivery_id),
    }


def _describe(failure: Exception) -> str:
    """The kind of failure and aiohttp's reason (host and OS error); never a URL, whose query may hold a token."""
    if isinstance(failure, ValueError):  # aiohttp.InvalidURL is one too; its text is the URL
        return f"{type(failure).__name__}: the url cannot be used"
    return f"{type(failure).__name__}: {failure}"[:MAX_ERROR_LENGTH]


def _status_error(status_code: int) -> str:
    if 300 <= status_code < 400:
        return f"HTTP {status_code}: redirects are not followed; use the final URL"
    if status_code == GONE:
        return "HTTP 410 Gone: the receiver asked for no more deliveries; the webhook is disabled"
    return f"HTTP {status_code}"


def _raise_for(outgoing: Outgoing, result: Result) -> None:
    """Tell the queue what happened: done, never again, or again later."""
    if result.delivered:
        return
    if result.gone:
        raise PermanentJobError(result.error or "gone")
    if outgoing.last_chance:
        raise PermanentJobError(f"gave up after attempt {outgoing.attempt}: {result.error}")
    raise RetryableDeliveryError(result.error or "not delivered")


# --- in the database --------------------------------------------------------------------------------------------


_LOAD = (
    sa.select(
        DELIVERIES,
        WEBHOOKS.c.url,
        WEBHOOKS.c.active,
        WEBHOOKS.c.include_message_text,
        WEBHOOKS.c.secret_encrypted,
        WEBHOOKS.c.previous_secret_encrypted,
        WEBHOOKS.c.previous_secret_expires_at,
        JOBS.c.attempts.label("job_attempts"),
        JOBS.c.max_attempts.label("job_max_attempts"),
    )
    .join(WEBHOOKS, WEBHOOKS.c.id == DELIVERIES.c.webhook_id)
    .outerjoin(JOBS, JOBS.c.id == DELIVERIES.c.job_id)
)


def load(connection: Connection, delivery_id: int, box: SecretBox, now: datetime) -> Outgoing | None:
    """The delivery as a signed request, or None when there is nothing to send (and why is recorded)."""
    row = connection.execute(_LOAD.where(DELIVERIES.c.id == delivery_id).with_for_update(of=DELIVERIES)).first()
    if row is None or row.status != "pending":
        return None
    if not row.active and row.event_type != PING:
        _fail_unsent(connection, delivery_id, "the webhook is disabled", now)
        return None
    try:
        keys = _keys(row, box, now)
    except DecryptionError:
        _fail_unsent(connection, delivery_id, "the secret cannot be decrypted (was PARTNER_SECRET_KEY changed?)", now)
        return None
    attempt = int(row.attempts) + 1
    last_chance = row.job_attempts is None or row.job_attempts >= row.job_max_attempts
    body = envelope(connection, row, include_text=row.include_message_text)
    return Outgoing(delivery_id, row.webhook_id, row.url, row.event_type, body, tuple(keys), attempt, last_chance)


def _keys(row: Any, box: SecretBox, now: datetime) -> list[str]:
    """The current secret, and the previous one while its grace period after a rotation lasts."""
    keys = [box.decrypt(row.secret_encrypted)]
    expires = row.previous_secret_expires_at
    if row.previous_secret_encrypted and expires is not None and expires > now:
        keys.append(box.decrypt(row.previous_secret_encrypted))
    return keys


def envelope(connection: Connection, row: Any, *, include_text: bool) -> bytes:
    """The JSON body: ``{"id", "type", "created_at", "workspace_id", "data"}``, compact and UTF-8."""
    data = dict(row.data or {})
    if include_text:
        data = _with_text(connection, row.event_type, data)
    document = {
        "id": row.event_id,
        "type": row.event_type,
        "created_at": row.created_at.isoformat(),
        "workspace_id": row.workspace_id,
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _with_text(connection: Connection, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """For an opted-in webhook: the message's current text (null once deleted), or the order's description."""
    if event_type == "message.created" and isinstance(data.get("message"), dict):
        message_id = data["message"].get("id")
        found = connection.execute(
            sa.select(MESSAGES.c.text, MESSAGES.c.deleted_at).where(MESSAGES.c.id == message_id)
        ).first()
        text = None if found is None or found.deleted_at is not None else found.text
        return {**data, "message": {**data["message"], "text": text}}
    if event_type == "order.changed" and isinstance(data.get("order"), dict):
        order_id = data["order"].get("id")
        description = connection.execute(
            sa.select(ORDERS.c.description).where(ORDERS.c.id == order_id)
        ).scalar_one_or_none()
        return {**data, "order": {**data["order"], "description": description}}
    return data


def record(connection: Connection, outgoing: Outgoing, result: Result) -> None:
    """Store the attempt and the delivery's new state; a 410 also disables the webhook."""
    now = utcnow()
    connection.execute(
        sa.insert(ATTEMPTS).values(
            delivery_id=outgoing.delivery_id,
            attempt=outgoing.attempt,
            started_at=result.started_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error,
        )
    )
    values: dict[str, Any] = {
        "status": _status_after(outgoing, result),
        "attempts": DELIVERIES.c.attempts + 1,
        "last_status_code": result.status_code,
        "last_error": result.error,
        "updated_at": now,
    }
    if result.delivered:
        values["delivered_at"] = now
    connection.execute(sa.update(DELIVERIES).where(DELIVERIES.c.id == outgoing.delivery_id).values(**values))
    if result.gone:
        connection.execute(
            sa.update(WEBHOOKS)
            .where(WEBHOOKS.c.id == outgoing.webhook_id)
            .values(active=False, disabled_reason="the receiver answered 410 Gone", updated_at=now)
        )


def _status_after(outgoing: Outgoing, result: Result) -> str:
    if result.delivered:
        return "delivered"
    return "failed" if result.gone or outgoing.last_chance else "pending"


def _fail_unsent(connection: Connection, delivery_id: int, reason: str, now: datetime) -> None:
    """Settle a delivery that will not be attempted (its webhook was disabled after it was queued)."""
    connection.execute(
        sa.update(DELIVERIES)
        .where(DELIVERIES.c.id == delivery_id)
        .values(status="failed", last_error=reason, updated_at=now)
    )
