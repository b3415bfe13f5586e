"""The normalised model every platform parser produces, and the shape every platform module follows.

A platform module (``whatsapp``, ``messenger``, ``line``, ``tiktok``) exposes:

* ``verify(raw: bytes, headers: Mapping[str, str], secrets: Sequence[bytes]) -> bool`` -- checks the
  platform's signature over the exact raw bytes with a constant-time compare; true when any candidate secret
  matches (the service-wide secret and the per-channel secrets are all candidates).
* ``parse(raw: bytes, *, route_key: str | None = None) -> ParseResult`` -- raw payload to normalised items.
  Raises :class:`PayloadError` when the body is not JSON or not the platform's envelope at all. Unknown event or
  message types never raise: they become ``UNSUPPORTED`` items or ``ignored`` entries.
* a ``Sender`` class for replies (used by the inbox).

Nothing here knows about storage or HTTP; the webhook layer turns items into rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class PayloadError(ValueError):
    """The body is not JSON, or not the platform's envelope. The message is short and safe to return."""


class ItemKind(enum.StrEnum):
    """What a normalised inbound item does to the store."""

    MESSAGE = "message"  # a chat message (inbound, or an echo of one the business sent)
    STATUS = "status"  # delivery status of one of our outbound messages
    REACTION = "reaction"  # an emoji reaction added to (or removed from, emoji=None) a message
    EDIT = "edit"  # the text of an earlier message changed
    DELETION = "deletion"  # an earlier message was unsent / revoked / deleted
    REFERRAL = "referral"  # a referral without a message (Messenger m.me / ads OPEN_THREAD, postback referral)
    FOLLOW = "follow"  # the contact added / unblocked the account (LINE follow, Messenger opt-in)
    UNFOLLOW = "unfollow"  # the contact blocked the account (LINE unfollow)
    UNSUPPORTED = "unsupported"  # an event type the service does not know; stored with its type name


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryStatus(enum.StrEnum):
    """Outbound delivery states, ordered: a status is never downgraded (``read`` beats a late ``delivered``)."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]


_STATUS_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.PLAYED: 4,
    DeliveryStatus.FAILED: 5,
}


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Where media lives on the platform; the service stores the reference, never the bytes."""

    media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Referral:
    """Ad / link referral attached to a first message, kept apart from the message content.

    ``source`` is one of ``meta_ctwa`` (click-to-WhatsApp ad), ``messenger_ad``, ``messenger_link`` (m.me ref),
    ``tiktok_ad`` (TikTok DM ad), or ``other``.
    """

    source: str
    ref: str | None = None
    ad_id: str | None = None
    click_id: str | None = None  # Meta ctwa_clid
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Location:
    """A shared location (WhatsApp, Messenger and LINE all have one); coordinates are content, not metadata."""

    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class InboundItem:
    """One normalised thing that happened, ready to be stored.

    ``dedup_key`` is unique per channel and makes storage exactly-once:
    WhatsApp message ``wamid``, status ``wamid:status``; Messenger ``mid`` (reactions ``mid:action:timestamp``);
    LINE ``webhookEventId``; TikTok ``message_id``.
    """

    kind: ItemKind
    dedup_key: str
    channel_key: str  # routes to a channel: phone_number_id / page_id / LINE channel id / TikTok business id
    contact_key: str | None  # wa_id or BSUID / PSID / LINE userId, groupId or roomId / TikTok conversation_id
    occurred_at: datetime
    direction: Direction = Direction.INBOUND
    platform_message_id: str | None = None
    message_type: str | None = None  # text, image, video, audio, document, sticker, location, ... unsupported
    unsupported_type: str | None = None  # the platform's type name when message_type/kind is unsupported
    text: str | None = None  # message text or caption; never logged, never sent to TikTok
    media: MediaRef | None = None
    reply_to: str | None = None  # platform id of the message this one replies to
    target_message_id: str | None = None  # STATUS / REACTION / EDIT / DELETION: the message it is about
    status: DeliveryStatus | None = None
    emoji: str | None = None  # REACTION: the emoji; None means the reaction was removed
    referral: Referral | None = None
    contact_name: str | None = None
    contact_phone: str | None = None  # WhatsApp wa_id (the customer's number, digits only), when known
    reply_token: str | None = None  # LINE reply token
    error: str | None = None  # STATUS failed: "code: title"
    metadata: dict[str, Any] = field(default_factory=dict)  # small, content-free extras (e.g. isRedelivery)
    location: Location | None = None  # location messages: the shared coordinates / place


@dataclass(slots=True)
class ParseResult:
    items: list[InboundItem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # known non-chat fields/events acknowledged and dropped


def utc_from_seconds(value: Any) -> datetime:
    """Platform timestamps come as int or string seconds; placeholders like "TIMESTAMP" fall back to now."""
    try:
        return datetime.fromtimestamp(int(float(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(tz=UTC)


def utc_from_millis(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(float(value)) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(tz=UTC)


@dataclass(frozen=True, slots=True)
class Template:
    """A WhatsApp message template by name and language, with its body parameters in order."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What the inbox asks a platform sender to deliver."""

    recipient: str  # contact key on the platform
    text: str | None = None
    media_url: str | None = None
    media_type: str | None = None  # image, video, audio, document
    reply_to: str | None = None
    reply_token: str | None = None  # LINE: use reply while valid, else push
    idempotency_key: str | None = None  # LINE X-Line-Retry-Key (a UUID)
    tag: str | None = None  # Messenger message tag (HUMAN_AGENT) for a reply outside the 24 h window
    template: Template | None = None  # WhatsApp: an approved template instead of text or media


@dataclass(frozen=True, slots=True)
class SendResult:
    platform_message_id: str | None


class SendError(Exception):
    """A send failed. ``retryable`` says whether the durable queue should try again."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
