"""Turn normalised webhook items into rows, inside the caller's transaction.

Every item first claims its ``(channel, dedup_key)`` in the ``inbound_events`` ledger; if the key is already
there the item is a replay (Meta retries for days, LINE redelivers) and nothing changes. The slow work that
follows a stored message (keyword analysis, reporting, auto-replies) is queued as a job row in the same
transaction, so it survives a crash after the platform got its 200.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from partner.attribution import claim_click, extract_code
from partner.channels import ChannelInfo
from partner.inbox.hooks import on_inbound_message
from partner.platforms.base import DeliveryStatus, Direction, InboundItem, ItemKind, utc_from_millis
from partner.store.fastsql import Executor, executor_for
from partner.store.models import Contact, Conversation, InboundEvent, Message, OutboxEvent, UTCDateTime, table, utcnow
from partner.store.queue import JOBS, job_row

CONTACTS = table(Contact)
CONVERSATIONS = table(Conversation)
LEDGER = table(InboundEvent)
MESSAGES = table(Message)
OUTBOX = table(OutboxEvent)

MESSAGE_RECEIVED_JOB = "message.received"
CONVERSATION_STARTED = "conversation_started"


@dataclass(slots=True)
class ApplyResult:
    stored: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    conversation_idle: timedelta = timedelta(hours=24)


def event_id_for(workspace_id: int, conversation_public_id: str, outcome: str) -> str:
    """Deterministic, so any retry or replay of the same outcome dedups at TikTok (event + event_id, 48 h)."""
    digest = hashlib.sha256(f"{workspace_id}|{conversation_public_id}|{outcome}".encode()).hexdigest()
    return f"mp_{digest[:40]}"


@functools.cache
def _insert_ignore_statement(dialect: str, target: sa.Table, keys: tuple[str, ...]) -> Any:
    """Built once per table and key: executing with bound values skips SQLAlchemy's per-call statement work."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(target).on_conflict_do_nothing(index_elements=list(keys)).returning(target.c.id)


def insert_ignore(
    connection: Connection | Executor, target: sa.Table, values: dict[str, Any], keys: list[str]
) -> int | None:
    """Insert unless the unique key exists; returns the new id, or None for a duplicate."""
    connection = executor_for(connection)
    statement = _insert_ignore_statement(connection.dialect.name, target, tuple(keys))
    row = connection.execute(statement, values).first()
    return None if row is None else int(row[0])


_AT = sa.bindparam("b_at", type_=UTCDateTime())
_CONTACT_LOOKUP = sa.select(CONTACTS.c.id, CONTACTS.c.name, CONTACTS.c.phone).where(
    CONTACTS.c.channel_id == sa.bindparam("b_channel"), CONTACTS.c.external_id == sa.bindparam("b_external")
)
_OPEN_CONVERSATION_LOOKUP = (
    sa.select(CONVERSATIONS.c.id, CONVERSATIONS.c.last_message_at)
    .where(
        CONVERSATIONS.c.channel_id == sa.bindparam("b_channel"),
        CONVERSATIONS.c.contact_id == sa.bindparam("b_contact"),
        CONVERSATIONS.c.status != "resolved",  # open, pending or snoozed
    )
    .order_by(CONVERSATIONS.c.id.desc())
    .limit(1)
)
_CONVERSATION_INSERT = sa.insert(CONVERSATIONS).returning(CONVERSATIONS.c.id)
_MESSAGE_INSERT = sa.insert(MESSAGES).returning(MESSAGES.c.id)
_JOB_INSERT = sa.insert(JOBS)
_LATEST_MESSAGE_AT = sa.case((CONVERSATIONS.c.last_message_at < _AT, _AT), else_=CONVERSATIONS.c.last_message_at)
_TOUCH = (
    sa.update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == sa.bindparam("b_id"))
    .values(last_message_at=_LATEST_MESSAGE_AT, updated_at=sa.bindparam("b_now", type_=UTCDateTime()))
)
_TOUCH_INBOUND = _TOUCH.values(last_inbound_at=_AT)


def apply_items(
    connection: Connection | Executor, pairs: Iterable[tuple[ChannelInfo, InboundItem]], policy: IngestPolicy
) -> ApplyResult:
    connection = executor_for(connection)
    result = ApplyResult()
    for channel, item in pairs:
        if _claim(connection, channel, item) is None:
            result.duplicates += 1
            continue
        _APPLIERS[item.kind](connection, channel, item, policy)
        result.stored[item.kind.value] += 1
    return result


def _claim(connection: Executor, channel: ChannelInfo, item: InboundItem) -> int | None:
    return insert_ignore(
        connection,
        LEDGER,
        {
            "channel_id": channel.id,
            "dedup_key": item.dedup_key[:300],
            "kind": item.kind.value,
            "detail": (item.unsupported_type or "")[:128] or None,
            "received_at": utcnow(),
        },
        ["channel_id", "dedup_key"],
    )


def _contact_id(connection: Executor, channel: ChannelInfo, item: InboundItem) -> int:
    key = item.contact_key or "unknown"
    row = connection.execute(_CONTACT_LOOKUP, {"b_channel": channel.id, "b_external": key}).first()
    if row is not None:
        changes = {}
        if item.contact_name and item.contact_name != row.name:
            changes["name"] = item.contact_name[:256]
        if item.contact_phone and item.contact_phone != row.phone:
            changes["phone"] = item.contact_phone[:32]
        if changes:
            connection.execute(
                sa.update(CONTACTS).where(CONTACTS.c.id == row.id).values(updated_at=utcnow(), **changes)
            )
        return int(row.id)
    now = utcnow()
    new_id = insert_ignore(
        connection,
        CONTACTS,
        {
            "workspace_id": channel.workspace_id,
            "channel_id": channel.id,
            "external_id": key[:256],
            "name": (item.contact_name or None) and item.contact_name[:256],
            "phone": item.contact_phone,
            "created_at": now,
            "updated_at": now,
        },
        ["channel_id", "external_id"],
    )
    if new_id is not None:
        return new_id
    return int(
        connection.execute(
            sa.select(CONTACTS.c.id).where(CONTACTS.c.channel_id == channel.id, CONTACTS.c.external_id == key)
        ).scalar_one()
    )


def _open_conversation(
    connection: Executor, channel: ChannelInfo, item: InboundItem, contact_id: int, policy: IngestPolicy
) -> tuple[int, str | None]:
    """The contact's current conversation, or a new one after resolve or idle time.

    Returns the id and, for a conversation created here, its public id (None when it already existed).
    """
    at = item.occurred_at
    row = connection.execute(_OPEN_CONVERSATION_LOOKUP, {"b_channel": channel.id, "b_contact": contact_id}).first()
    if row is not None and at - row.last_message_at < policy.conversation_idle:
        return int(row.id), None
    if row is not None:
        connection.execute(
            sa.update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == row.id)
            .values(status="resolved", resolved_at=utcnow(), updated_at=utcnow())
        )
    return _create_conversation(connection, channel, item, contact_id)


def _create_conversation(
    connection: Executor, channel: ChannelInfo, item: InboundItem, contact_id: int
) -> tuple[int, str]:
    now, at = utcnow(), item.occurred_at
    public_id = uuid.uuid4().hex
    inbound_at = at if item.direction is Direction.INBOUND else None
    conversation_id = connection.execute(
        _CONVERSATION_INSERT,
        {
            "public_id": public_id,
            "workspace_id": channel.workspace_id,
            "channel_id": channel.id,
            "contact_id": contact_id,
            "status": "open",
            "started_at": at,
            "last_message_at": at,
            "last_inbound_at": inbound_at,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    return int(conversation_id), public_id


def queue_outcome(
    connection: Connection | Executor,
    *,
    workspace_id: int,
    conversation_id: int,
    outcome: str,
    at: datetime,
    public_id: str | None = None,
) -> bool:
    """Write the outbox row for a reportable outcome, once per conversation and outcome."""
    connection = executor_for(connection)
    if public_id is None:
        public_id = connection.execute(
            sa.select(CONVERSATIONS.c.public_id).where(CONVERSATIONS.c.id == conversation_id)
        ).scalar_one()
    now = utcnow()
    inserted = insert_ignore(
        connection,
        OUTBOX,
        {
            "workspace_id": workspace_id,
            "conversation_id": conversation_id,
            "event_id": event_id_for(workspace_id, public_id, outcome),
            "event_name": "",
            "outcome": outcome,
            "event_time": int(at.timestamp()),
            "payload": {},
            "test": False,
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
        ["event_id"],
    )
    return inserted is not None


def _message_values(channel: ChannelInfo, item: InboundItem, conversation_id: int, contact_id: int) -> dict[str, Any]:
    extra: dict[str, Any] = dict(item.metadata)
    if item.reply_token:
        extra["reply_token"] = item.reply_token
    if item.kind is ItemKind.REACTION:
        extra["emoji"] = item.emoji
        extra["target"] = item.target_message_id
    now = utcnow()
    return {
        "workspace_id": channel.workspace_id,
        "conversation_id": conversation_id,
        "channel_id": channel.id,
        "contact_id": contact_id,
        "direction": item.direction.value,
        "platform_message_id": item.platform_message_id,
        "message_type": ("reaction" if item.kind is ItemKind.REACTION else item.message_type or "text")[:32],
        "unsupported_type": (item.unsupported_type or None) and item.unsupported_type[:128],
        "text": item.text,
        "media": _media_json(item),
        "reply_to": item.reply_to or (item.target_message_id if item.kind is ItemKind.REACTION else None),
        "delivery_status": DeliveryStatus.SENT.value if item.direction is Direction.OUTBOUND else None,
        "referral": _referral_json(item),
        "extra": extra or None,
        "sent_at": item.occurred_at,
        "created_at": now,
    }


def _media_json(item: InboundItem) -> dict[str, Any] | None:
    media: dict[str, Any] = {k: v for k, v in asdict(item.media).items() if v is not None} if item.media else {}
    if item.location is not None:
        media["location"] = {k: v for k, v in asdict(item.location).items() if v is not None}
    return media or None


def _referral_json(item: InboundItem) -> dict[str, Any] | None:
    if item.referral is None:
        return None
    return {
        "source": item.referral.source,
        "ref": item.referral.ref,
        "ad_id": item.referral.ad_id,
        "click_id": item.referral.click_id,
        "raw": item.referral.raw,
    }


def _apply_message(connection: Executor, channel: ChannelInfo, item: InboundItem, policy: IngestPolicy) -> None:
    if item.direction is Direction.OUTBOUND and _update_echoed(connection, channel, item):
        return
    code = None
    if item.direction is Direction.INBOUND and item.text:
        # The click reference is ours, not the customer's words: the inbox and the analyzer never see it.
        code, cleaned = extract_code(item.text)
        if code is not None:
            item = dataclasses.replace(item, text=cleaned or None, metadata={**item.metadata, "click_code": code})
    contact_id = _contact_id(connection, channel, item)
    conversation_id, new_public_id = _open_conversation(connection, channel, item, contact_id, policy)
    if code is not None:
        _attribute_click(connection, channel, conversation_id, code, item.occurred_at)
    values = _message_values(channel, item, conversation_id, contact_id)
    if item.platform_message_id:
        message_id = insert_ignore(connection, MESSAGES, values, ["channel_id", "platform_message_id"])
    else:
        message_id = int(connection.execute(_MESSAGE_INSERT, values).scalar_one())
    if message_id is None:
        return
    if new_public_id is None or item.referral is not None:
        _touch_conversation(connection, conversation_id, item)
    _attribute_referral(connection, channel, conversation_id, item)
    if item.direction is Direction.INBOUND:
        on_inbound_message(
            connection,
            conversation_id=conversation_id,
            workspace_id=channel.workspace_id,
            new_conversation=new_public_id is not None,
        )
        if new_public_id is not None:
            queue_outcome(
                connection,
                workspace_id=channel.workspace_id,
                conversation_id=conversation_id,
                outcome=CONVERSATION_STARTED,
                at=item.occurred_at,
                public_id=new_public_id,
            )
        received = {"message_id": message_id, "conversation_id": conversation_id}
        if new_public_id is not None:
            received["new_conversation"] = True
        connection.execute(_JOB_INSERT, job_row(MESSAGE_RECEIVED_JOB, received))


def _update_echoed(connection: Executor, channel: ChannelInfo, item: InboundItem) -> bool:
    """An echo of a message we sent updates that row instead of adding a new one."""
    if not item.platform_message_id:
        return False
    updated = connection.execute(
        sa.update(MESSAGES)
        .where(
            MESSAGES.c.channel_id == channel.id,
            MESSAGES.c.platform_message_id == item.platform_message_id,
            MESSAGES.c.direction == Direction.OUTBOUND.value,
        )
        .values(
            delivery_status=sa.case(
                (MESSAGES.c.delivery_status.in_(("pending", "failed")), DeliveryStatus.SENT.value),
                (MESSAGES.c.delivery_status.is_(None), DeliveryStatus.SENT.value),
                else_=MESSAGES.c.delivery_status,
            )
        )
    )
    return bool(updated.rowcount)


def _touch_conversation(connection: Executor, conversation_id: int, item: InboundItem) -> None:
    if item.referral is not None:
        # First touch wins: only a conversation without a referral takes this one.
        connection.execute(
            sa.update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.referral.is_(None))
            .values(referral=_referral_json(item), attribution_source=_attribution_source(item))
        )
    statement = _TOUCH_INBOUND if item.direction is Direction.INBOUND else _TOUCH
    connection.execute(statement, {"b_id": conversation_id, "b_at": item.occurred_at, "b_now": utcnow()})


def _attribute_referral(connection: Executor, channel: ChannelInfo, conversation_id: int, item: InboundItem) -> None:
    """Messenger carries our code in ``ref`` (m.me links, ads): the same claim as a code in text."""
    if item.referral is not None and item.referral.ref:
        _attribute_click(connection, channel, conversation_id, item.referral.ref, item.occurred_at)


def _attribute_click(connection: Executor, channel: ChannelInfo, conversation_id: int, code: str, at: datetime) -> None:
    """Tie the conversation to the tracked click the code names: first touch wins, a code is used once."""
    attributed = connection.execute(
        sa.select(CONVERSATIONS.c.click_id).where(CONVERSATIONS.c.id == conversation_id)
    ).scalar_one()
    if attributed is not None:
        return
    match = claim_click(connection.connection, channel_id=channel.id, code=code, at=at)
    if match is None:
        return
    connection.execute(
        sa.update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.click_id.is_(None))
        .values(
            click_id=match.click_id,
            ttclid=match.ttclid,
            attribution_source=sa.func.coalesce(CONVERSATIONS.c.attribution_source, "tiktok"),
            updated_at=utcnow(),
        )
    )


def _attribution_source(item: InboundItem) -> str | None:
    if item.referral is None:
        return None
    return "tiktok" if item.referral.source.startswith("tiktok") else "meta"


def _apply_status(connection: Executor, channel: ChannelInfo, item: InboundItem, policy: IngestPolicy) -> None:
    """Never downgrade: a late ``delivered`` does not overwrite ``read``."""
    if item.status is None:
        return
    if not item.target_message_id:
        _apply_watermark(connection, channel, item)
        return
    row = connection.execute(
        sa.select(MESSAGES.c.id, MESSAGES.c.delivery_status).where(
            MESSAGES.c.channel_id == channel.id, MESSAGES.c.platform_message_id == item.target_message_id
        )
    ).first()
    if row is None:
        return
    current = DeliveryStatus(row.delivery_status) if row.delivery_status else DeliveryStatus.PENDING
    if item.status.rank <= current.rank:
        return
    connection.execute(
        sa.update(MESSAGES)
        .where(MESSAGES.c.id == row.id)
        .values(delivery_status=item.status.value, status_at=item.occurred_at, error=(item.error or None))
    )


def _apply_watermark(connection: Executor, channel: ChannelInfo, item: InboundItem) -> None:
    """A read receipt without a message id: everything we sent that contact up to the watermark was read."""
    watermark = item.metadata.get("watermark")
    if item.status is not DeliveryStatus.READ or watermark is None or not item.contact_key:
        return
    upto = utc_from_millis(watermark)
    lower = [status.value for status in DeliveryStatus if status.rank < DeliveryStatus.READ.rank]
    contact = sa.select(CONTACTS.c.id).where(
        CONTACTS.c.channel_id == channel.id, CONTACTS.c.external_id == item.contact_key
    )
    connection.execute(
        sa.update(MESSAGES)
        .where(
            MESSAGES.c.channel_id == channel.id,
            MESSAGES.c.contact_id.in_(contact.scalar_subquery()),
            MESSAGES.c.direction == Direction.OUTBOUND.value,
            MESSAGES.c.sent_at <= upto,
            sa.or_(MESSAGES.c.delivery_status.is_(None), MESSAGES.c.delivery_status.in_(lower)),
        )
        .values(delivery_status=DeliveryStatus.READ.value, status_at=item.occurred_at)
    )


def _apply_reaction(connection: Executor, channel: ChannelInfo, item: InboundItem, policy: IngestPolicy) -> None:
    contact_id = _contact_id(connection, channel, item)
    conversation_id, _ = _open_conversation(connection, channel, item, contact_id, policy)
    values = _message_values(channel, item, conversation_id, contact_id)
    values["platform_message_id"] = None  # a reaction's id may repeat per emoji change; the ledger dedups it
    connection.execute(sa.insert(MESSAGES).values(**values))
    _touch_conversation(connection, conversation_id, item)


def _apply_edit(connection: Executor, channel: ChannelInfo, item: InboundItem, policy: IngestPolicy) -> None:
    target = item.target_message_id or item.platform_message_id
    if not target:
        return
    row = connection.execute(
        sa.update(MESSAGES)
        .where(MESSAGES.c.channel_id == channel.id, MESSAGES.c.platform_message_id == target)
        .values(text=item.text, edited_at=item.occurred_at)
        .returning(MESSAGES.c.id, MESSAGES.c.conversation_id, MESSAGES.c.direction)
    ).first()
    if row is not None and row.direction == Direction.INBOUND.value:
        connection.execute(
            sa.insert(JOBS).values(
                **job_row(
                    MESSAGE_RECEIVED_JOB,
                    {"message_id": row.id, "conversation_id": row.conversation_id, "edited": True},
                )
            )
        )


def _apply_deletion(connection: Executor, channel: ChannelInfo, item: InboundItem, policy: IngestPolicy) -> None:
    target = item.target_message_id or item.platform_message_id
    if target:
        connection.execute(
            sa.update(MESSAGES)
            .where(MESSAGES.c.channel_id == channel.id, MESSAGES.c.platform_message_id == target)
            .values(deleted_at=item.occurred_at)
        )


def _apply_referral(connection: Executor, channel: ChannelInfo, item: InboundItem, policy: IngestPolicy) -> None:
    contact_id = _contact_id(connection, channel, item)
    conversation_id, _ = _open_conversation(connection, channel, item, contact_id, policy)
    _touch_conversation(connection, conversation_id, item)
    _attribute_referral(connection, channel, conversation_id, item)


def _apply_follow(connection: Executor, channel: ChannelInfo, item: InboundItem, policy: IngestPolicy) -> None:
    contact_id = _contact_id(connection, channel, item)
    connection.execute(
        sa.update(CONTACTS)
        .where(CONTACTS.c.id == contact_id)
        .values(following=item.kind is ItemKind.FOLLOW, updated_at=utcnow())
    )


def _apply_unsupported(connection: Executor, channel: ChannelInfo, item: InboundItem, policy: IngestPolicy) -> None:
    """The ledger row (kind ``unsupported``, detail = type name) is the record; nothing else to change."""


_APPLIERS = {
    ItemKind.MESSAGE: _apply_message,
    ItemKind.STATUS: _apply_status,
    ItemKind.REACTION: _apply_reaction,
    ItemKind.EDIT: _apply_edit,
    ItemKind.DELETION: _apply_deletion,
    ItemKind.REFERRAL: _apply_referral,
    ItemKind.FOLLOW: _apply_follow,
    ItemKind.UNFOLLOW: _apply_follow,
    ItemKind.UNSUPPORTED: _apply_unsupported,
}
