"""Tables of the outbound CRM webhooks: subscriptions, one delivery per (subscription, event), every attempt.

A delivery row is written in the same transaction as the change that caused it, together with its durable
``crm.deliver`` job, so an event exists exactly when its cause does. ``(webhook_id, event_id)`` is unique: an
event with a deterministic id (a conversation's creation, a message, a signal) is queued once per subscription
however often its cause is re-run. Attempts are kept row by row so an admin can see why a delivery failed.

The delivery's ``data`` never holds message text: when a subscription opted in, the text is read from the
message at send time, so the text stays in one table and a deleted message is not sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from partner.store.models import UTCDateTime, table, utcnow


def _now() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


class CrmWebhook(SQLModel, table=True):
    """A URL of the workspace's CRM and the events it wants; the signing secret is stored encrypted."""

    __tablename__ = "crm_webhooks"
    __table_args__ = (sa.Index("ix_crm_webhooks_workspace", "workspace_id", "active"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=200)
    events: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    include_message_text: bool = Field(default=False)
    active: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, max_length=200)  # why the service turned it off (410)
    secret_encrypted: str = Field()
    previous_secret_encrypted: str | None = Field(default=None)  # still signs until previous_secret_expires_at
    previous_secret_expires_at: datetime | None = _when()
    created_at: datetime = _now()
    updated_at: datetime = _now()


class CrmDelivery(SQLModel, table=True):
    """One event on its way to one subscription: pending, then delivered or failed."""

    __tablename__ = "crm_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_crm_deliveries_webhook_event"),
        sa.Index("ix_crm_deliveries_webhook", "webhook_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="crm_webhooks.id")
    workspace_id: int = Field(foreign_key="workspaces.id")
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    status: str = Field(default="pending", max_length=16)  # pending / delivered / failed
    attempts: int = Field(default=0)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=200)  # never the receiver's body
    job_id: int | None = Field(default=None)  # the queue job that (re)tries it; its run_at is the next attempt
    created_at: datetime = _now()  # also the event's created_at
    updated_at: datetime = _now()
    delivered_at: datetime | None = _when()


class CrmDeliveryAttempt(SQLModel, table=True):
    """One POST of a delivery: when, how long, and what came back (status code or a short error)."""

    __tablename__ = "crm_delivery_attempts"
    __table_args__ = (sa.Index("ix_crm_delivery_attempts_delivery", "delivery_id", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="crm_deliveries.id")
    attempt: int = Field()
    started_at: datetime = _now()
    duration_ms: int = Field(default=0)
    status_code: int | None = Field(default=None)
    error: str | None = Field(default=None, max_length=200)


WEBHOOKS = table(CrmWebhook)
DELIVERIES = table(CrmDelivery)
ATTEMPTS = table(CrmDeliveryAttempt)
