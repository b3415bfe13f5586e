"""Queueing CRM events: in the caller's transaction, one delivery row and one job per matching subscription.

Callers (the inbox handlers, the analysis follower, the snooze job) call the functions below on their own
connection, so an event is queued exactly when its cause commits, and not at all when it rolls back. A workspace
without active subscriptions costs one indexed query and nothing else: data is built only when someone listens.

Events and what their ``data`` carries (ids, states and metadata, never message text; see ``include_message_text``
in :mod:`partner.crm.delivery` for the opt-in):

* ``conversation.created`` / ``conversation.updated``: ``{"conversation": snapshot}`` (status, priority,
  channel, contact, assignee, labels, signal names, attribution, times); updated also has ``changes``, the fields
  the change touched. A snapshot is the state when queued, so a receiver can apply it without fetching.
* ``message.created``: ``{"conversation": ref, "message": metadata}`` (direction, type, private note or not,
  length, whether it has media, signal names, author, times).
* ``order.changed``: ``{"conversation": ref, "order": fields except the description, "change": created|updated}``.
* ``signal.raised``: ``{"conversation": ref, "signal": name, "message_id": id}``, once per signal and conversation.

Event ids are deterministic where the event is a fact that happens once (a conversation's creation, a message, a
signal), so re-running their cause queues nothing new; other events get a random id when queued. Retries and
redeliveries keep the id. Deliveries are independent jobs, so events can arrive out of order: compare
``created_at`` (or the snapshot's ``updated_at``) rather than trusting arrival order.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from partner.channels import CHANNELS
from partner.crm.models import DELIVERIES, WEBHOOKS
from partner.crm.schemas import PING
from partner.inbox.models import ASSIGNMENTS, CONVERSATION_LABELS, CONVERSATIONS, LABELS, MESSAGES, ORDERS, SNOOZES
from partner.store.models import Contact, table, utcnow
from partner.store.queue import JOBS, job_row

if TYPE_CHECKING:
    from partner.analysis import AnalysedMessage

DELIVER_JOB = "crm.deliver"
MAX_ATTEMPTS = 16  # with the queue's backoff (doubling from 1 s, capped at 10 min, full jitter): up to ~75 min
CONTACTS = table(Contact)
C = CONVERSATIONS


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    events: frozenset[str]


def active_webhooks(connection: Connection, workspace_id: int) -> list[Subscriber]:
    """The workspace's active webhooks (one indexed query; usually none)."""
    rows = connection.execute(
        sa.select(WEBHOOKS.c.id, WEBHOOKS.c.events).where(WEBHOOKS.c.workspace_id == workspace_id, WEBHOOKS.c.active)
    ).all()
    return [Subscriber(row.id, frozenset(row.events or ())) for row in rows]


def wanting(webhooks: Sequence[Subscriber], event_type: str) -> list[int]:
    return [webhook.id for webhook in webhooks if event_type in webhook.events]


def subscribers(connection: Connection, workspace_id: int, event_type: str) -> list[int]:
    """Ids of the workspace's active webhooks that want this event type."""
    return wanting(active_webhooks(connection, workspace_id), event_type)


def event_id(workspace_id: int, event_type: str, key: str | None = None) -> str:
    """Derived from the event's identity when it has one, so its cause can run twice and queue it once."""
    if key is None:
        return f"evt_{uuid.uuid4().hex}"
    return "evt_" + hashlib.sha256(f"{workspace_id}|{event_type}|{key}".encode()).hexdigest()[:32]


def emit(
    connection: Connection, workspace_id: int, event_type: str, data: dict[str, Any], *, key: str | None = None
) -> int:
    """Queue the event for every active subscription that wants it; returns how many deliveries were queued."""
    targets = subscribers(connection, workspace_id, event_type)
    return len(queue(connection, workspace_id, targets, event_type, data, key=key))


def queue(
    connection: Connection,
    workspace_id: int,
    webhook_ids: Sequence[int],
    event_type: str,
    data: dict[str, Any],
    *,
    key: str | None = None,
) -> list[int]:
    """One delivery and its job per webhook; returns the ids of the deliveries that were new."""
    identifier = event_id(workspace_id, event_type, key)
    now = utcnow()
    queued = []
    for webhook_id in webhook_ids:
        values = {
            "webhook_id": webhook_id,
            "workspace_id": workspace_id,
            "event_id": identifier,
            "event_type": event_type,
            "data": data,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        delivery_id = _insert_new(connection, values)
        if delivery_id is not None:
            schedule(connection, delivery_id)
            queued.append(delivery_id)
    return queued


def _insert_new(connection: Connection, values: dict[str, Any]) -> int | None:
    """Insert unless this subscription already has this event; the new id, or None."""
    module: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        module.insert(DELIVERIES)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
        .returning(DELIVERIES.c.id)
    )
    return connection.execute(statement).scalar_one_or_none()


def schedule(connection: Connection, delivery_id: int) -> None:
    """A fresh ``crm.deliver`` job for the delivery (first time, or a redelivery), due now."""
    values = {**job_row(DELIVER_JOB, {"delivery_id": delivery_id}), "max_attempts": MAX_ATTEMPTS}
    job_id = connection.execute(sa.insert(JOBS).values(**values).returning(JOBS.c.id)).scalar_one()
    connection.execute(sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(job_id=job_id))


def ping(connection: Connection, workspace_id: int, webhook_id: int) -> int:
    """A ``ping`` to one webhook, whatever events it chose; returns the delivery id."""
    [delivery_id] = queue(connection, workspace_id, [webhook_id], PING, {"webhook_id": webhook_id})
    return delivery_id


# --- events from the inbox ------------------------------------------------------------------------------------------


def conversation_updated(connection: Connection, conversation_id: int, changes: Sequence[str]) -> None:
    """``conversation.updated`` after the API (or a snooze ending) changed the conversation's ``changes``.

    A snooze time implies the status, so a change of ``snoozed_until`` is reported as a ``status`` change too.
    """
    workspace_id = _workspace_of(connection, conversation_id) if changes else None
    if workspace_id is None:
        return
    targets = subscribers(connection, workspace_id, "conversation.updated")
    if targets:
        fields = set(changes) | ({"status"} if "snoozed_until" in changes else set())
        data = {"conversation": conversation_snapshot(connection, conversation_id), "changes": sorted(fields)}
        queue(connection, workspace_id, targets, "conversation.updated", data)


def message_created(connection: Connection, workspace_id: int, message_id: int) -> None:
    """``message.created`` for a stored message (inbound from analysis, replies and notes from the API)."""
    _message_created(connection, workspace_id, message_id, subscribers(connection, workspace_id, "message.created"))


def _message_created(connection: Connection, workspace_id: int, message_id: int, targets: list[int]) -> None:
    if targets:
        data = message_data(connection, message_id)
        queue(connection, workspace_id, targets, "message.created", data, key=str(message_id))


def order_changed(connection: Connection, workspace_id: int, order_id: int, change: str) -> None:
    """``order.changed`` after an order was created (``change="created"``) or changed (``"updated"``)."""
    targets = subscribers(connection, workspace_id, "order.changed")
    if targets:
        data = {**order_data(connection, order_id), "change": change}
        queue(connection, workspace_id, targets, "order.changed", data)


def inbound_analysed(connection: Connection, message: AnalysedMessage) -> None:
    """After analysis of an inbound message: the conversation it opened, the message, the signals it raised.

    Emitted here rather than at ingest, so the webhook hot path stays as it is. A re-analysis of an edited
    message raises only signals that are new to the conversation; the message itself was announced already.
    """
    webhooks = active_webhooks(connection, message.workspace_id)
    if not webhooks:
        return
    if message.new_conversation:
        _conversation_created(connection, message, wanting(webhooks, "conversation.created"))
    if not message.edited:
        targets = wanting(webhooks, "message.created")
        _message_created(connection, message.workspace_id, message.message_id, targets)
    if message.new_signals:
        _signals_raised(connection, message, wanting(webhooks, "signal.raised"))


def _conversation_created(connection: Connection, message: AnalysedMessage, targets: list[int]) -> None:
    if targets:
        data = {"conversation": conversation_snapshot(connection, message.conversation_id)}
        key = str(message.conversation_id)
        queue(connection, message.workspace_id, targets, "conversation.created", data, key=key)


def _signals_raised(connection: Connection, message: AnalysedMessage, targets: list[int]) -> None:
    if not targets:
        return
    ref = conversation_ref(connection, message.conversation_id)
    for signal in sorted(message.new_signals):
        data = {"conversation": ref, "signal": signal, "message_id": message.message_id}
        key = f"{message.conversation_id}|{signal}"
        queue(connection, message.workspace_id, targets, "signal.raised", data, key=key)


# --- what the events carry ------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _workspace_of(connection: Connection, conversation_id: int) -> int | None:
    found = connection.execute(sa.select(C.c.workspace_id).where(C.c.id == conversation_id)).scalar_one_or_none()
    return None if found is None else int(found)


def conversation_ref(connection: Connection, conversation_id: int) -> dict[str, Any]:
    public_id = connection.execute(sa.select(C.c.public_id).where(C.c.id == conversation_id)).scalar_one()
    return {"id": conversation_id, "public_id": public_id}


_SNAPSHOT = sa.select(
    *(C.c[name] for name in ("id", "public_id", "status", "priority", "flags", "referral", "ttclid")),
    *(C.c[name] for name in ("attribution_source", "started_at", "last_message_at", "last_inbound_at")),
    *(C.c[name] for name in ("resolved_at", "created_at", "updated_at", "channel_id", "contact_id")),
    CHANNELS.c.platform,
    CHANNELS.c.name.label("channel_name"),
    CONTACTS.c.external_id.label("contact_external_id"),
    CONTACTS.c.name.label("contact_name"),
    CONTACTS.c.phone.label("contact_phone"),
    ASSIGNMENTS.c.user_id.label("assignee_id"),
    SNOOZES.c.until.label("snoozed_until"),
).select_from(
    C.join(CHANNELS, CHANNELS.c.id == C.c.channel_id)
    .join(CONTACTS, CONTACTS.c.id == C.c.contact_id)
    .outerjoin(ASSIGNMENTS, ASSIGNMENTS.c.conversation_id == C.c.id)
    .outerjoin(SNOOZES, SNOOZES.c.conversation_id == C.c.id)
)


def conversation_snapshot(connection: Connection, conversation_id: int) -> dict[str, Any]:
    """The conversation as a CRM needs it: who, where, which state, which signals; no message text."""
    row = connection.execute(_SNAPSHOT.where(C.c.id == conversation_id)).one()
    labels = connection.execute(
        sa.select(LABELS.c.name)
        .join(CONVERSATION_LABELS, CONVERSATION_LABELS.c.label_id == LABELS.c.id)
        .where(CONVERSATION_LABELS.c.conversation_id == conversation_id)
        .order_by(LABELS.c.name)
    ).scalars()
    referral = row.referral if isinstance(row.referral, dict) and row.referral else None
    return {
        "id": row.id,
        "public_id": row.public_id,
        "status": row.status,
        "priority": row.priority,
        "channel": {"id": row.channel_id, "platform": row.platform, "name": row.channel_name},
        "contact": {
            "id": row.contact_id,
            "external_id": row.contact_external_id,
            "name": row.contact_name,
            "phone": row.contact_phone,
        },
        "assignee_id": row.assignee_id,
        "labels": list(labels),
        "signals": sorted(row.flags) if isinstance(row.flags, dict) else [],
        "attributed": bool(row.ttclid or referral),
        "attribution_source": row.attribution_source,
        "snoozed_until": _iso(row.snoozed_until),
        **{name: _iso(getattr(row, name)) for name in _SNAPSHOT_TIMES},
    }


_SNAPSHOT_TIMES = ("started_at", "last_message_at", "last_inbound_at", "resolved_at", "created_at", "updated_at")

_MESSAGE = sa.select(
    *(MESSAGES.c[name] for name in ("id", "conversation_id", "channel_id", "direction", "message_type", "flags")),
    *(MESSAGES.c[name] for name in ("private_note", "delivery_status", "media", "extra", "sent_at", "created_at")),
    sa.func.coalesce(sa.func.length(MESSAGES.c.text), 0).label("length"),
    CHANNELS.c.platform,
    C.c.public_id,
).select_from(
    MESSAGES.join(CHANNELS, CHANNELS.c.id == MESSAGES.c.channel_id).join(C, C.c.id == MESSAGES.c.conversation_id)
)


def message_data(connection: Connection, message_id: int) -> dict[str, Any]:
    """A message's metadata: its length in characters stands in for its text, which stays here."""
    row = connection.execute(_MESSAGE.where(MESSAGES.c.id == message_id)).one()
    extra = row.extra if isinstance(row.extra, dict) else {}
    author = extra.get("author_user_id")
    message = {
        "id": row.id,
        "direction": row.direction,
        "platform": row.platform,
        "channel_id": row.channel_id,
        "message_type": row.message_type,
        "private": row.private_note,
        "length": int(row.length),
        "has_media": bool(row.media),
        "signals": sorted(row.flags) if isinstance(row.flags, dict) else [],
        "delivery_status": row.delivery_status,
        "author_user_id": author if isinstance(author, int) else None,
        "sent_at": _iso(row.sent_at),
        "created_at": _iso(row.created_at),
    }
    return {"conversation": {"id": row.conversation_id, "public_id": row.public_id}, "message": message}


_ORDER_FIELDS = ("id", "kind", "status", "reference", "value", "currency", "created_by")
_ORDER_TIMES = ("reserved_for", "paid_at", "created_at", "updated_at")


def order_data(connection: Connection, order_id: int) -> dict[str, Any]:
    """An order without its description (free text an agent wrote; sent only to opted-in subscriptions)."""
    row = connection.execute(sa.select(ORDERS).where(ORDERS.c.id == order_id)).one()
    order = {name: getattr(row, name) for name in _ORDER_FIELDS}
    order.update({name: _iso(getattr(row, name)) for name in _ORDER_TIMES})
    return {"conversation": conversation_ref(connection, row.conversation_id), "order": order}
