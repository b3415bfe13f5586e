"""Request and response models of the CRM webhook API (the OpenAPI document is generated from them).

The URL's shape is checked here (http or https, a host, no credentials, no fragment); whether plain http is
allowed depends on the deployment, so that check is the handler's (:func:`partner.crm.subscriptions.check_scheme`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, field_validator

from partner.inbox.schemas import Flag, Input, Text, WorkspaceQuery

EventType = Literal["conversation.created", "conversation.updated", "message.created", "order.changed", "signal.raised"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
PING = "ping"
DeliveryStatus = Literal["pending", "delivered", "failed"]
MAX_URL_LENGTH = 2048
MAX_GRACE_SECONDS = 7 * 24 * 3600


def _url_shape(value: str) -> str:
    """Refuse what a CRM endpoint never is, so the API answers 422 instead of a delivery failing for ever."""
    if value != value.strip() or any(character.isspace() or ord(character) < 32 for character in value):
        raise ValueError("the url must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("the url must start with https:// (or http:// where allowed)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the url must not contain credentials; the signature authenticates the delivery")
    if parts.fragment or value.endswith("#"):
        raise ValueError("the url must not have a #fragment (it is never sent)")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError("the url's port is not valid") from None
    if not parts.hostname:
        raise ValueError("the url needs a host")
    return value


WebhookUrl = Annotated[Text, Field(min_length=8, max_length=MAX_URL_LENGTH), AfterValidator(_url_shape)]
Events = Annotated[
    list[EventType],
    Field(min_length=1, max_length=len(EVENT_TYPES) * 4, description="event types to receive; ping always arrives"),
]


def _distinct(value: list[str] | None) -> list[str] | None:
    return None if value is None else sorted(set(value))


class WebhookCreate(WorkspaceQuery, Input):
    url: WebhookUrl = Field(description="https (http only to a loopback host, or where the operator allows it)")
    events: Events = Field(default_factory=lambda: list(EVENT_TYPES))
    description: Text = Field(default="", max_length=200)
    include_message_text: Flag = Field(
        default=False,
        description="also send the text of messages and notes and order descriptions (read when sending); "
        "otherwise only metadata leaves the service",
    )
    active: Flag = True

    _events = field_validator("events")(_distinct)


class WebhookUpdate(Input):
    url: WebhookUrl | None = None
    events: Events | None = None
    description: Text | None = Field(default=None, max_length=200)
    include_message_text: Flag | None = None
    active: Flag | None = Field(default=None, description="true re-enables a webhook the service disabled")

    _events = field_validator("events")(_distinct)


class SecretRotate(Input):
    keep_previous_seconds: int = Field(
        default=0,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="keep signing with the old secret too for this long (0: it stops at once)",
    )


class WebhookOut(BaseModel):
    id: int
    workspace_id: int
    url: str
    description: str
    events: list[str]
    include_message_text: bool
    active: bool
    disabled_reason: str | None = Field(description="why the service turned it off, e.g. the receiver answered 410")
    created_at: datetime
    updated_at: datetime


class WebhookDetail(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 key of X-Partner-Signature")
    previous_secret_expires_at: datetime | None = Field(description="until then the old secret signs too")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryQuery(Input):
    status: DeliveryStatus | None = None
    event_type: Literal[EventType, "ping"] | None = None
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=25, ge=1, le=100)


class DeliveryOut(BaseModel):
    id: int = Field(description="also the X-Partner-Delivery header")
    webhook_id: int
    event_id: str = Field(description="the envelope's id; the same on every attempt and redelivery")
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = Field(description="the receiver's last HTTP status; null if none came back")
    last_error: str | None = Field(description="short reason of the last failure, never the response body")
    next_attempt_at: datetime | None = Field(description="when a pending delivery is tried next")
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None


class DeliveryDetail(DeliveryOut):
    history: list[AttemptOut] = Field(description="every attempt, oldest first")
    payload: dict[str, Any] = Field(description="the event's data as queued (text is added only when sent)")


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None
