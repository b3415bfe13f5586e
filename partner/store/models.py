"""Tables. One workspace per advertiser business; everything else hangs off it.

Uniqueness constraints carry the exactly-once guarantees: ``inbound_events (channel_id, dedup_key)`` for every
webhook item, ``messages (channel_id, platform_message_id)`` for messages, ``outbox_events (event_id)`` for
TikTok events.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def table(model: type[SQLModel]) -> sa.Table:
    """The Core table of a model, for set-based statements on the hot paths."""
    return cast(sa.Table, model.__table__)  # type: ignore[attr-defined]


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones and PostgreSQL gets the same values."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _now_ts(*, index: bool = False) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)


def _json(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=sa.JSON, nullable=nullable)


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    created_at: datetime = _now_ts()


class Channel(SQLModel, table=True):
    """A WhatsApp number, a Messenger page, a LINE channel or a TikTok business account."""

    __tablename__ = "channels"
    __table_args__ = (sa.UniqueConstraint("platform", "external_id", name="uq_channels_platform_external"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id", index=True)
    platform: str = Field(max_length=20)
    external_id: str = Field(max_length=128)  # phone_number_id / page_id / LINE channel id / business id
    name: str = Field(default="", max_length=200)
    display_phone: str | None = Field(default=None, max_length=32)  # WhatsApp number for wa.me links
    line_basic_id: str | None = Field(default=None, max_length=64)  # LINE @id for oaMessage links
    secrets_encrypted: str = Field(default="")  # Fernet JSON: access token, app secret, channel secret
    active: bool = Field(default=True)
    created_at: datetime = _now_ts()


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("channel_id", "external_id", name="uq_contacts_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id", index=True)
    channel_id: int = Field(foreign_key="channels.id")
    external_id: str = Field(max_length=256)  # wa_id or BSUID / PSID / LINE user, group or room id
    name: str | None = Field(default=None, max_length=256)
    phone: str | None = Field(default=None, max_length=32)  # digits, WhatsApp wa_id
    following: bool | None = Field(default=None)
    created_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()


class Conversation(SQLModel, table=True):
    """A run of messages with one contact on one channel; a new one starts after resolve or idle time."""

    __tablename__ = "conversations"
    __table_args__ = (
        sa.Index("ix_conversations_contact_open", "channel_id", "contact_id", "status"),
        sa.Index("ix_conversations_workspace_updated", "workspace_id", "updated_at"),
        sa.Index("ix_conversations_click_id", "click_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=32, unique=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    channel_id: int = Field(foreign_key="channels.id")
    contact_id: int = Field(foreign_key="contacts.id")
    status: str = Field(default="open", max_length=16)
    priority: str | None = Field(default=None, max_length=16)
    started_at: datetime = _now_ts()
    last_message_at: datetime = _now_ts()
    last_inbound_at: datetime | None = _ts(nullable=True)
    resolved_at: datetime | None = _ts(nullable=True)
    flags: dict[str, Any] | None = _json()  # signal -> ISO time it first became true
    referral: dict[str, Any] | None = _json()  # raw first referral (Meta ctwa, Messenger ref/ad), apart from text
    attribution_source: str | None = Field(default=None, max_length=32)  # tiktok / meta
    ttclid: str | None = Field(default=None, max_length=512)
    click_id: int | None = Field(default=None)
    # a copy of conversation_assignments.user_id, kept by ``partner.inbox.assignment.assign``: tab counts read it
    # from an index instead of probing the assignments of every conversation
    assignee_id: int | None = Field(default=None)
    created_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("channel_id", "platform_message_id", name="uq_messages_channel_platform_id"),
        sa.Index("ix_messages_conversation_created", "conversation_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    conversation_id: int = Field(foreign_key="conversations.id")
    channel_id: int = Field(foreign_key="channels.id")
    contact_id: int = Field(foreign_key="contacts.id")
    direction: str = Field(max_length=8)
    platform_message_id: str | None = Field(default=None, max_length=256)
    message_type: str = Field(default="text", max_length=32)
    unsupported_type: str | None = Field(default=None, max_length=128)
    text: str | None = Field(default=None)
    media: dict[str, Any] | None = _json()
    reply_to: str | None = Field(default=None, max_length=256)
    delivery_status: str | None = Field(default=None, max_length=16)
    status_at: datetime | None = _ts(nullable=True)
    error: str | None = Field(default=None, max_length=500)
    flags: dict[str, Any] | None = _json()  # signal -> true, from the keyword analyzer
    referral: dict[str, Any] | None = _json()
    extra: dict[str, Any] | None = _json()  # reactions, reply token, redelivery marker
    private_note: bool = Field(default=False)
    sent_at: datetime = _now_ts()  # when the platform says it happened
    edited_at: datetime | None = _ts(nullable=True)
    deleted_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _now_ts()


class InboundEvent(SQLModel, table=True):
    """Ledger of every webhook item applied: inserting here first is what makes a replay change nothing."""

    __tablename__ = "inbound_events"
    __table_args__ = (sa.UniqueConstraint("channel_id", "dedup_key", name="uq_inbound_events_channel_key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel_id: int = Field(foreign_key="channels.id")
    dedup_key: str = Field(max_length=300)
    kind: str = Field(max_length=16)
    detail: str | None = Field(default=None, max_length=128)  # unsupported type name, ignored reason
    received_at: datetime = _now_ts()


class Job(SQLModel, table=True):
    """Durable work queue: analysis, reporting, sends and CRM deliveries run from here after the commit."""

    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_due", "status", "run_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] | None = _json()
    status: str = Field(default="queued", max_length=16)  # queued / running / done / failed
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=12)
    run_at: datetime = _now_ts()
    locked_until: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()


class ReportingConfig(SQLModel, table=True):
    """Where and how a workspace reports to TikTok's Events API."""

    __tablename__ = "reporting_configs"

    workspace_id: int = Field(foreign_key="workspaces.id", primary_key=True)
    event_source: str = Field(default="web", max_length=16)
    event_source_id: str = Field(default="", max_length=128)
    access_token_encrypted: str | None = Field(default=None)
    test_event_code: str | None = Field(default=None, max_length=64)
    event_mapping: dict[str, Any] | None = _json()  # outcome -> event name
    allow_unidentified: bool = Field(default=True)
    enabled: bool = Field(default=True)
    needs_reauthorization: bool = Field(default=False)
    updated_at: datetime = _now_ts()


class OutboxEvent(SQLModel, table=True):
    """A TikTok event waiting for, or done with, delivery. Written in the same transaction as its cause."""

    __tablename__ = "outbox_events"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id", index=True)
    conversation_id: int | None = Field(default=None, index=True)
    event_id: str = Field(max_length=128, unique=True)
    event_name: str = Field(max_length=100)
    outcome: str = Field(max_length=64)  # conversation_started / signal:payment / order_placed ...
    event_time: int = Field(sa_type=sa.BigInteger)
    payload: dict[str, Any] | None = _json()  # the data[] item without user.ttclid, added at send time
    test: bool = Field(default=False)
    status: str = Field(default="queued", max_length=16)  # queued/sending/delivered/dead/waiting_reauth
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _now_ts()
    locked_until: datetime | None = _ts(nullable=True)
    request_id: str | None = Field(default=None, max_length=128)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _now_ts()
    delivered_at: datetime | None = _ts(nullable=True)
