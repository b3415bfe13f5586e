"""The ``message.send`` job: deliver a stored reply through its platform's Sender and record what happened.

* Success stores the platform's message id and ``sent``; later status webhooks move it on (ingest matches them by
  platform message id).
* A retryable failure keeps the message ``pending`` with the error, and raises so the queue retries with backoff;
  after :data:`MAX_SEND_ATTEMPTS` (the queue's own limit) it becomes ``failed``.
* Anything else is ``failed`` at once with the platform's error (never the message text), and the job fails
  permanently.

LINE replies use the reply token of the conversation's last inbound message while it is fresh (under 50 s) and
unused; otherwise, or if LINE rejects the token, they are pushed with ``X-Line-Retry-Key`` set to a UUID stored
on the message, so a retried push is delivered once. A reply token is claimed before the call: a reply attempt
that timed out is retried as a push, never with the token again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import sqlalchemy as sa
import structlog
from aiohttp import web
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from partner.appkeys import directory_key, engine_key, http_key, settings_key
from partner.channels import CHANNELS, ChannelInfo
from partner.inbox.models import CONVERSATIONS, MESSAGES
from partner.ingest.apply import CONTACTS
from partner.platforms import get_platform
from partner.platforms.base import DeliveryStatus, Direction, OutboundMessage, SendError, SendResult, Template
from partner.platforms.line import ReplyTokenError
from partner.store.models import utcnow
from partner.worker import PermanentJobError

log = structlog.get_logger(__name__)

MAX_SEND_ATTEMPTS = 12  # the queue's max_attempts: the last attempt settles the message either way
REPLY_TOKEN_FRESH = timedelta(seconds=50)
TOKEN_FIELDS = {
    "whatsapp": "access_token",
    "messenger": "page_access_token",
    "line": "channel_access_token",
    "tiktok": "access_token",
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """A pending reply, loaded and ready to hand to its platform."""

    message_id: int
    channel_id: int
    attempt: int
    message: OutboundMessage


class OutboundSender:
    """Handler for ``message.send`` jobs (payload ``{"message_id": int}``)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    async def __call__(self, payload: dict[str, Any]) -> None:
        message_id = payload.get("message_id")
        if not isinstance(message_id, int):
            raise PermanentJobError("message.send job without a message id")
        with structlog.contextvars.bound_contextvars(message_id=message_id):
            await self._deliver(message_id)

    async def _deliver(self, message_id: int) -> None:
        engine = self._app[engine_key]
        async with engine.begin() as connection:
            loaded = await connection.run_sync(_load, message_id, utcnow())
        if loaded is None:
            return  # sent or settled already: a re-run after a crash does nothing
        delivery, platform = loaded
        channel = await self._app[directory_key].get(delivery.channel_id)
        token = channel.secrets.get(TOKEN_FIELDS.get(platform, "access_token")) if channel else None
        if channel is None or not token:
            await self._settle_failure(delivery, SendError("channel has no usable credentials", retryable=False))
            return
        try:
            result = await self._send(channel, str(token), delivery.message)
        except SendError as error:
            await self._settle_failure(delivery, error)
            return
        async with engine.begin() as connection:
            await connection.run_sync(_record_sent, delivery, result, utcnow())
        log.info("reply_sent", platform=platform, attempt=delivery.attempt)

    async def _send(self, channel: ChannelInfo, token: str, message: OutboundMessage) -> SendResult:
        settings = self._app[settings_key]
        base_url = {"line": settings.line_api_base, "tiktok": settings.tiktok_api_base}.get(
            channel.platform, settings.graph_api_base
        )
        sender = get_platform(channel.platform).Sender(
            self._app[http_key],
            base_url,
            channel_key=channel.external_id,
            access_token=token,
            timeout=aiohttp.ClientTimeout(total=settings.http_timeout_seconds),
        )
        try:
            return await sender.send(message)
        except ReplyTokenError:
            log.info("reply_token_rejected_pushing")
            return await sender.send(dataclasses.replace(message, reply_token=None))

    async def _settle_failure(self, delivery: Delivery, error: SendError) -> None:
        final = not error.retryable or delivery.attempt >= MAX_SEND_ATTEMPTS
        async with self._app[engine_key].begin() as connection:
            await connection.execute(
                sa.update(MESSAGES)
                .where(MESSAGES.c.id == delivery.message_id, MESSAGES.c.delivery_status == DeliveryStatus.PENDING.value)
                .values(
                    delivery_status=DeliveryStatus.FAILED.value if final else DeliveryStatus.PENDING.value,
                    error=str(error)[:500],
                    status_at=utcnow() if final else None,
                )
            )
        if final:
            raise PermanentJobError(str(error))
        raise error


def _load(connection: Connection, message_id: int, now: datetime) -> tuple[Delivery, str] | None:
    """Read the reply, count this attempt, and for LINE claim a fresh reply token; None if nothing is to send."""
    row = connection.execute(
        sa.select(MESSAGES, CONTACTS.c.external_id.label("recipient"))
        .join(CONTACTS, CONTACTS.c.id == MESSAGES.c.contact_id)
        .where(MESSAGES.c.id == message_id)
        .with_for_update(of=MESSAGES)
    ).first()
    if row is None:
        raise PermanentJobError("the message no longer exists")
    if row.direction != Direction.OUTBOUND.value or row.private_note:
        raise PermanentJobError("not an outbound reply")
    if row.delivery_status != DeliveryStatus.PENDING.value:
        return None
    platform = _platform(connection, row.conversation_id)
    extra = dict(row.extra or {})
    extra["send_attempts"] = int(extra.get("send_attempts", 0)) + 1
    reply_token = None
    if platform == "line" and not extra.get("reply_token_claimed"):
        reply_token = _claim_reply_token(connection, row.conversation_id, now)
        extra["reply_token_claimed"] = True
    connection.execute(sa.update(MESSAGES).where(MESSAGES.c.id == message_id).values(extra=extra))
    media = row.media if isinstance(row.media, dict) else {}
    message = OutboundMessage(
        recipient=row.recipient,
        text=row.text,
        media_url=media.get("url"),
        media_type=media.get("type"),
        reply_token=reply_token,
        idempotency_key=extra.get("line_retry_key"),
        tag=tag if isinstance(tag := extra.get("message_tag"), str) else None,
        template=_template(extra.get("template")),
    )
    return Delivery(message_id, row.channel_id, extra["send_attempts"], message), platform


def _template(stored: object) -> Template | None:
    if not isinstance(stored, dict):
        return None
    parameters = stored.get("parameters") or []
    return Template(str(stored.get("name")), str(stored.get("language")), tuple(str(value) for value in parameters))


def _platform(connection: Connection, conversation_id: int) -> str:
    return str(
        connection.execute(
            sa.select(CHANNELS.c.platform)
            .join(CONVERSATIONS, CONVERSATIONS.c.channel_id == CHANNELS.c.id)
            .where(CONVERSATIONS.c.id == conversation_id)
        ).scalar_one()
    )


def _claim_reply_token(connection: Connection, conversation_id: int, now: datetime) -> str | None:
    """The last inbound message's reply token if under 50 s old and unused, marked used; else None (push)."""
    inbound = connection.execute(
        sa.select(MESSAGES.c.id, MESSAGES.c.extra, MESSAGES.c.sent_at)
        .where(MESSAGES.c.conversation_id == conversation_id, MESSAGES.c.direction == Direction.INBOUND.value)
        .order_by(MESSAGES.c.id.desc())
        .limit(1)
    ).first()
    extra = inbound.extra if inbound is not None and isinstance(inbound.extra, dict) else {}
    token = extra.get("reply_token")
    if inbound is None or not isinstance(token, str) or extra.get("reply_token_used"):
        return None
    if now - inbound.sent_at >= REPLY_TOKEN_FRESH:
        return None
    connection.execute(
        sa.update(MESSAGES).where(MESSAGES.c.id == inbound.id).values(extra={**extra, "reply_token_used": True})
    )
    return token


def _record_sent(connection: Connection, delivery: Delivery, result: SendResult, now: datetime) -> None:
    """Store the platform id and ``sent``; an echo that arrived first under that id is folded into this row."""
    platform_id = result.platform_message_id
    if platform_id is not None:
        _fold_echo(connection, delivery, platform_id)
    values: dict[str, Any] = {"delivery_status": DeliveryStatus.SENT.value, "status_at": now, "error": None}
    if platform_id is not None:
        values["platform_message_id"] = platform_id
    try:
        connection.execute(
            sa.update(MESSAGES)
            .where(MESSAGES.c.id == delivery.message_id, MESSAGES.c.delivery_status == DeliveryStatus.PENDING.value)
            .values(**values)
        )
    except IntegrityError:
        raise PermanentJobError("platform message id already belongs to another message") from None


def _fold_echo(connection: Connection, delivery: Delivery, platform_id: str) -> None:
    """Meta may echo a sent message before its send call returns; ingest then stored the echo as its own row."""
    echo = connection.execute(
        sa.select(MESSAGES.c.id, MESSAGES.c.direction).where(
            MESSAGES.c.channel_id == delivery.channel_id,
            MESSAGES.c.platform_message_id == platform_id,
            MESSAGES.c.id != delivery.message_id,
        )
    ).first()
    if echo is not None and echo.direction == Direction.OUTBOUND.value:
        connection.execute(sa.delete(MESSAGES).where(MESSAGES.c.id == echo.id))
