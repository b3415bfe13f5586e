"""Tables of the inbox: labels, assignments, snoozes, canned responses, settings, auto-reply rules.

Assignment and snooze live beside ``conversations`` (one row per conversation at most) rather than in it, so the
ingest path that writes conversations never has to know about them. The indexes the inbox list needs on
``conversations`` and ``messages`` are declared here too, so the metadata matches migration ``0002_inbox``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from partner.store.models import Conversation, Message, UTCDateTime, table, utcnow


def _now() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


class Label(SQLModel, table=True):
    __tablename__ = "labels"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name", name="uq_labels_workspace_name"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    name: str = Field(max_length=64)
    colour: str = Field(default="#1f93ff", max_length=7)
    description: str = Field(default="", max_length=200)
    created_at: datetime = _now()


class ConversationLabel(SQLModel, table=True):
    __tablename__ = "conversation_labels"
    __table_args__ = (sa.Index("ix_conversation_labels_label", "label_id", "conversation_id"),)

    conversation_id: int = Field(foreign_key="conversations.id", primary_key=True)
    label_id: int = Field(foreign_key="labels.id", primary_key=True)


class ConversationAssignment(SQLModel, table=True):
    """Who answers a conversation; no row means unassigned."""

    __tablename__ = "conversation_assignments"
    __table_args__ = (sa.Index("ix_conversation_assignments_user", "user_id", "conversation_id"),)

    conversation_id: int = Field(foreign_key="conversations.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    assigned_at: datetime = _now()


class ConversationSnooze(SQLModel, table=True):
    """Until when a snoozed conversation stays out of the way; an inbound message or the time wakes it."""

    __tablename__ = "conversation_snoozes"

    conversation_id: int = Field(foreign_key="conversations.id", primary_key=True)
    until: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = _now()


class CannedResponse(SQLModel, table=True):
    """A saved reply; ``/shortcut`` at the start of a reply expands to its text."""

    __tablename__ = "canned_responses"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "shortcut", name="uq_canned_responses_shortcut"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    shortcut: str = Field(max_length=64)
    text: str = Field(max_length=6000)
    created_at: datetime = _now()
    updated_at: datetime = _now()


class InboxSettings(SQLModel, table=True):
    """Per-workspace inbox behaviour; a workspace without a row has the defaults."""

    __tablename__ = "inbox_settings"

    workspace_id: int = Field(foreign_key="workspaces.id", primary_key=True)
    round_robin: bool = Field(default=False)
    business_hours: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON, nullable=True)  # None: always open
    updated_at: datetime = _now()


class RoundRobinCursor(SQLModel, table=True):
    """The agent who got a channel's last automatic assignment, so the next one goes to the following agent."""

    __tablename__ = "round_robin_cursors"

    channel_id: int = Field(foreign_key="channels.id", primary_key=True)
    last_user_id: int = Field()


class Order(SQLModel, table=True):
    """An order or reservation taken in a conversation; placing and paying it are reported to TikTok."""

    __tablename__ = "orders"
    __table_args__ = (sa.Index("ix_orders_conversation", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    conversation_id: int = Field(foreign_key="conversations.id")
    kind: str = Field(max_length=16)  # order / reservation
    status: str = Field(max_length=16)  # placed / paid / cancelled
    reference: str | None = Field(default=None, max_length=64)  # the shop's own order number
    value: str | None = Field(default=None, max_length=32)  # a decimal, kept as text so no backend rounds it
    currency: str | None = Field(default=None, max_length=3)
    description: str = Field(default="", max_length=500)
    reserved_for: datetime | None = _when()
    created_by: int | None = Field(default=None)
    created_at: datetime = _now()
    updated_at: datetime = _now()
    paid_at: datetime | None = _when()


class AutoReplyRule(SQLModel, table=True):
    """What a channel answers by itself: a greeting, an away message, or a reply to a signal or keywords."""

    __tablename__ = "auto_reply_rules"
    __table_args__ = (sa.Index("ix_auto_reply_rules_channel", "channel_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    channel_id: int = Field(foreign_key="channels.id")
    kind: str = Field(max_length=16)  # greeting / away / keyword
    name: str = Field(default="", max_length=100)
    text: str = Field(max_length=6000)
    enabled: bool = Field(default=True)
    signal: str | None = Field(default=None, max_length=64)  # keyword rules: a signal of the keyword files...
    keywords: list[str] | None = Field(default=None, sa_type=sa.JSON, nullable=True)  # ... or their own keywords
    cooldown_seconds: int = Field(default=86_400)
    once_per_conversation: bool = Field(default=True)
    priority: int = Field(default=100)
    created_at: datetime = _now()
    updated_at: datetime = _now()


class AutoReplyFiring(SQLModel, table=True):
    """An auto-reply sent (queued) in answer to one inbound message: the ledger behind once-only and cooldowns.

    One row per inbound message at most, so a re-run analysis job never answers twice; a rule that fires once
    per conversation has at most one row per conversation. ``rule_id`` is cleared when the rule is deleted.
    """

    __tablename__ = "auto_reply_firings"
    __table_args__ = (
        sa.UniqueConstraint("trigger_message_id", name="uq_auto_reply_firings_trigger"),
        sa.UniqueConstraint("reply_message_id", name="uq_auto_reply_firings_reply"),
        sa.Index("ix_auto_reply_firings_conversation", "conversation_id", "fired_at"),
        sa.Index("ix_auto_reply_firings_contact", "contact_id", "fired_at"),
        sa.Index(
            "uq_auto_reply_firings_once",
            "rule_id",
            "conversation_id",
            unique=True,
            sqlite_where=sa.text("once_per_conversation"),
            postgresql_where=sa.text("once_per_conversation"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule_id: int | None = Field(default=None, foreign_key="auto_reply_rules.id")
    conversation_id: int = Field(foreign_key="conversations.id")
    contact_id: int = Field(foreign_key="contacts.id")
    trigger_message_id: int = Field(foreign_key="messages.id")
    reply_message_id: int = Field(foreign_key="messages.id")
    once_per_conversation: bool = Field()
    fired_at: datetime = _now()


LABELS = table(Label)
CONVERSATION_LABELS = table(ConversationLabel)
ASSIGNMENTS = table(ConversationAssignment)
SNOOZES = table(ConversationSnooze)
CANNED = table(CannedResponse)
SETTINGS = table(InboxSettings)
ROUND_ROBIN = table(RoundRobinCursor)
ORDERS = table(Order)
AUTO_REPLY_RULES = table(AutoReplyRule)
AUTO_REPLY_FIRINGS = table(AutoReplyFiring)
CONVERSATIONS = table(Conversation)
MESSAGES = table(Message)

FLAGGED = CONVERSATIONS.c.flags.is_not(None)
ATTRIBUTED = sa.or_(CONVERSATIONS.c.ttclid.is_not(None), CONVERSATIONS.c.referral.is_not(None))

# Indexes for the inbox list on the shared tables. Declared with Column objects, they attach to those tables'
# metadata, so ``alembic check`` sees them; migration 0002_inbox creates them.
INDEXES = (
    sa.Index(
        "ix_conversations_inbox_status_updated",
        CONVERSATIONS.c.workspace_id,
        CONVERSATIONS.c.status,
        CONVERSATIONS.c.updated_at,
        CONVERSATIONS.c.id,
    ),
    sa.Index(
        "ix_conversations_inbox_status_last_message",
        CONVERSATIONS.c.workspace_id,
        CONVERSATIONS.c.status,
        CONVERSATIONS.c.last_message_at,
        CONVERSATIONS.c.id,
    ),
    sa.Index(
        "ix_conversations_inbox_last_message",
        CONVERSATIONS.c.workspace_id,
        CONVERSATIONS.c.last_message_at,
        CONVERSATIONS.c.id,
    ),
    # Counting the tabs reads only the index: channel filters, channel-limited agents, mine and unassigned...
    sa.Index(
        "ix_conversations_inbox_counts",
        CONVERSATIONS.c.workspace_id,
        CONVERSATIONS.c.status,
        CONVERSATIONS.c.channel_id,
        CONVERSATIONS.c.assignee_id,
    ),
    # ... and the flag and attribution filters read only the rows that can match.
    sa.Index(
        "ix_conversations_inbox_flagged",
        CONVERSATIONS.c.workspace_id,
        CONVERSATIONS.c.status,
        sqlite_where=FLAGGED,
        postgresql_where=FLAGGED,
    ),
    sa.Index(
        "ix_conversations_inbox_attributed",
        CONVERSATIONS.c.workspace_id,
        CONVERSATIONS.c.status,
        sqlite_where=ATTRIBUTED,
        postgresql_where=ATTRIBUTED,
    ),
)
