"""Auto-replies per channel: a greeting for a new conversation, an away message outside business hours, and
replies to keyword signals or a rule's own keywords.

Which rule answers (at most one auto-reply per inbound message, so a contact never gets a burst):

1. ``away``: the contact wrote outside the workspace's business hours. Saying that nobody is there matters more
   than anything else an automatic answer could say.
2. ``keyword``: the message fired the rule's signal or contains one of its keywords; a specific answer beats a
   generic greeting.
3. ``greeting``: the message opened a new conversation.

Within a kind, rules go by ``priority`` (lowest first), then age. A rule that may not fire now (it fired in this
conversation and is once-per-conversation, or it fired for this contact within its cooldown) is passed over, and
the next one is tried.

Nothing is sent automatically when:

* the message is an edit, is not a contact's inbound message (echoes and our own replies, automatic or not, never
  start the analysis that runs this), or was already answered (the analysis job ran again after a retry);
* it is stale (written over :data:`STALE_AFTER` ago, e.g. a backlog after an outage), the channel is inactive, or
  the platform's reply window or reply limit would refuse it;
* a person answered in the conversation in the last :data:`AGENT_ACTIVE` (agents are talking; a bot must not
  interrupt);
* the conversation already had :data:`HOURLY_CAP` auto-replies in the last hour: with once-per-conversation and
  cooldowns this stops two bots answering each other.

A reply is decided inside the analysis transaction, with the conversation row locked: the ledger row (one per
inbound message), the pending outbound message and its ``message.send`` job commit together with the analysis, so
delivery takes the normal durable path (retries, status webhooks) and a re-run never sends twice. Logs carry rule,
conversation and message ids, never text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from aiohttp import web
from sqlalchemy.engine import Connection, Row

from partner.accounts.auth import Principal
from partner.admin import WORKSPACES
from partner.analysis import AnalysedMessage
from partner.channels import CHANNELS
from partner.inbox import autoreply_rules as rules
from partner.inbox.autoreply_rules import AutoReplyCreate, AutoReplyList, AutoReplyOut, AutoReplyUpdate
from partner.inbox.business_hours import is_open, stored_hours, zone_or_utc
from partner.inbox.messages import SEND_JOB, _message_values
from partner.inbox.models import AUTO_REPLY_FIRINGS, AUTO_REPLY_RULES, CONVERSATIONS, MESSAGES, SETTINGS
from partner.inbox.rules import reply_window, rules_for
from partner.inbox.schemas import ReplyCreate
from partner.openapi import Endpoint
from partner.platforms.base import DeliveryStatus, Direction
from partner.store.models import utcnow
from partner.store.queue import JOBS, job_row
from partner.worker import JobHandler

log = structlog.get_logger(__name__)

STALE_AFTER = timedelta(minutes=30)
AGENT_ACTIVE = timedelta(minutes=15)
HOURLY_CAP = 3
HOUR = timedelta(hours=1)
Clock = Callable[[], datetime]

RULES = r"/api/v1/channels/{channel_id:\d+}/auto_replies"
RULE = RULES + r"/{rule_id:\d+}"
_PRECEDENCE = (
    "At most one auto-reply answers an inbound message: away (outside business hours), then keyword, then "
    "greeting (new conversation); within a kind the lowest priority first. Edits, stale messages and "
    "conversations where a person answered in the last 15 minutes get none, and a conversation gets at most 3 an hour."
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", RULES, rules.list_auto_replies, "Auto-reply rules of a channel", "viewer", "auto-replies",
        response=AutoReplyList, description="In the order they are tried. " + _PRECEDENCE,
    ),
    Endpoint(
        "POST", RULES, rules.create_auto_reply, "Add an auto-reply rule", "admin", "auto-replies",
        body=AutoReplyCreate, status=201, response=AutoReplyOut, errors=(409,),
        description="Text is checked against the channel platform's limit; a keyword rule names a signal of the "
        "keyword files or lists its own keywords. " + _PRECEDENCE,
    ),
    Endpoint("GET", RULE, rules.get_auto_reply, "One auto-reply rule", "viewer", "auto-replies", response=AutoReplyOut),
    Endpoint(
        "PATCH", RULE, rules.update_auto_reply, "Change an auto-reply rule", "admin", "auto-replies",
        body=AutoReplyUpdate, response=AutoReplyOut,
        description="The kind is fixed; set signal or keywords to null to switch a keyword rule's trigger.",
    ),
    Endpoint(
        "DELETE", RULE, rules.delete_auto_reply, "Delete an auto-reply rule", "admin", "auto-replies", status=204,
    ),
)  # fmt: skip

F = AUTO_REPLY_FIRINGS
_AUTOMATION = Principal(user_id=None, workspace_id=None, role="viewer")  # builds message values only, never authorises
_CONVERSATION = sa.select(
    *(CONVERSATIONS.c[name] for name in ("id", "workspace_id", "channel_id", "contact_id")),
    *(CONVERSATIONS.c[name] for name in ("last_inbound_at", "last_message_at")),
    CHANNELS.c.platform,
    CHANNELS.c.active,
).join(CHANNELS, CHANNELS.c.id == CONVERSATIONS.c.channel_id)


@dataclass(frozen=True, slots=True)
class Trigger:
    """An inbound message an auto-reply could answer, with what the decision needs to know about it."""

    message: AnalysedMessage
    conversation: Any  # a row of _CONVERSATION
    text: str | None
    now: datetime

    @property
    def conversation_id(self) -> int:
        return self.message.conversation_id


@dataclass(frozen=True, slots=True)
class Fired:
    """One earlier auto-reply to the same contact."""

    rule_id: int | None
    conversation_id: int
    fired_at: datetime


class AutoReplier:
    """The analysis follower that answers inbound messages; ``clock`` is injectable so tests need no sleeps."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock

    def __call__(self, connection: Connection, message: AnalysedMessage) -> None:
        if message.edited:
            return
        candidates = _enabled_rules(connection, message.channel_id)
        if not candidates:
            return
        trigger = _trigger(connection, message, self.clock())
        if trigger is None:
            return
        reason = _held_back(connection, trigger)
        if reason is not None:
            log.debug("auto_reply_held_back", reason=reason, conversation_id=trigger.conversation_id)
            return
        rule = _choose(connection, trigger, candidates)
        if rule is not None:
            _queue_reply(connection, trigger, rule)


follow = AutoReplier()


def job_handlers(app: web.Application) -> dict[str, JobHandler]:
    """None of its own: auto-replies are sent by the inbox's ``message.send`` job like any reply."""
    return {}


# --- deciding -------------------------------------------------------------------------------------------------------


def _enabled_rules(connection: Connection, channel_id: int) -> list[Row[Any]]:
    statement = sa.select(AUTO_REPLY_RULES).where(
        AUTO_REPLY_RULES.c.channel_id == channel_id, AUTO_REPLY_RULES.c.enabled.is_(True)
    )
    return sorted(connection.execute(statement).all(), key=rules.precedence)


def _trigger(connection: Connection, message: AnalysedMessage, now: datetime) -> Trigger | None:
    """Lock the conversation (concurrent analyses of one conversation decide one after the other) and load it."""
    locked = _CONVERSATION.where(CONVERSATIONS.c.id == message.conversation_id).with_for_update(of=CONVERSATIONS)
    conversation = connection.execute(locked).first()
    row = connection.execute(
        sa.select(MESSAGES.c.direction, MESSAGES.c.private_note, MESSAGES.c.deleted_at, MESSAGES.c.text).where(
            MESSAGES.c.id == message.message_id
        )
    ).first()
    if conversation is None or row is None or row.direction != Direction.INBOUND.value:
        return None
    if row.private_note or row.deleted_at is not None:  # withdrawn by the contact before we got to it
        return None
    return Trigger(message, conversation, row.text, now)


def _held_back(connection: Connection, trigger: Trigger) -> str | None:
    """Why no auto-reply may answer this message at all, or None."""
    conversation, now = trigger.conversation, trigger.now
    if _answered(connection, trigger.message.message_id):
        return "already_answered"
    if now - trigger.message.sent_at > STALE_AFTER:
        return "stale"
    if not conversation.active:
        return "channel_inactive"
    if not reply_window(conversation.platform, conversation.last_inbound_at, now).open:
        return "window_closed"
    if _over_platform_limit(connection, conversation):
        return "reply_limit"
    if _person_answered(connection, trigger.conversation_id, now - AGENT_ACTIVE):
        return "agent_active"
    recent = connection.execute(
        sa.select(sa.func.count())
        .select_from(F)
        .where(F.c.conversation_id == trigger.conversation_id, F.c.fired_at > now - HOUR)
    ).scalar_one()
    return "hourly_cap" if recent >= HOURLY_CAP else None


def _answered(connection: Connection, message_id: int) -> bool:
    return connection.execute(sa.select(F.c.id).where(F.c.trigger_message_id == message_id)).first() is not None


def _over_platform_limit(connection: Connection, conversation: Row[Any]) -> bool:
    """TikTok takes at most 10 messages until the contact writes again; automatic ones count too."""
    limit = rules_for(conversation.platform).replies_per_window
    if limit is None or conversation.last_inbound_at is None:
        return False
    sent = connection.execute(
        sa.select(sa.func.count())
        .select_from(MESSAGES)
        .where(
            MESSAGES.c.conversation_id == conversation.id,
            MESSAGES.c.direction == Direction.OUTBOUND.value,
            MESSAGES.c.private_note.is_(False),
            MESSAGES.c.sent_at >= conversation.last_inbound_at,
            sa.or_(MESSAGES.c.delivery_status.is_(None), MESSAGES.c.delivery_status != DeliveryStatus.FAILED.value),
        )
    ).scalar_one()
    return bool(sent >= limit)


def _person_answered(connection: Connection, conversation_id: int, since: datetime) -> bool:
    """An outbound message since then that no rule sent: an agent's reply, or the business's own app (an echo)."""
    automatic = sa.exists().where(F.c.reply_message_id == MESSAGES.c.id)
    statement = sa.select(MESSAGES.c.id).where(
        MESSAGES.c.conversation_id == conversation_id,
        MESSAGES.c.direction == Direction.OUTBOUND.value,
        MESSAGES.c.private_note.is_(False),
        MESSAGES.c.sent_at >= since,
        ~automatic,
    )
    return connection.execute(statement.limit(1)).first() is not None


def _choose(connection: Connection, trigger: Trigger, candidates: Sequence[Row[Any]]) -> Row[Any] | None:
    """The first rule, in precedence order, whose trigger matches and that may fire again now."""
    history = _history(connection, trigger)
    closed = any(rule.kind == "away" for rule in candidates) and _closed(connection, trigger)
    for rule in candidates:
        if _matches(rule, trigger, closed) and _may_fire(rule, trigger, history):
            return rule
    return None


def _matches(rule: Row[Any], trigger: Trigger, closed: bool) -> bool:
    if rule.kind == "greeting":
        return trigger.message.new_conversation
    if rule.kind == "away":
        return closed
    if rule.signal is not None:
        return rule.signal in trigger.message.flags
    if not rule.keywords or not trigger.text:
        return False
    return bool(rules.inline_matcher(tuple(rule.keywords)).flags(trigger.text))


def _may_fire(rule: Row[Any], trigger: Trigger, history: Sequence[Fired]) -> bool:
    mine = [fired for fired in history if fired.rule_id == rule.id]
    if rule.once_per_conversation and any(fired.conversation_id == trigger.conversation_id for fired in mine):
        return False
    quiet_since = trigger.now - timedelta(seconds=rule.cooldown_seconds)
    return not (rule.cooldown_seconds and any(fired.fired_at > quiet_since for fired in mine))


def _history(connection: Connection, trigger: Trigger) -> list[Fired]:
    """Earlier auto-replies to this contact: all of this conversation, and any recent enough for a cooldown."""
    longest = trigger.now - timedelta(seconds=rules.MAX_COOLDOWN)
    statement = sa.select(F.c.rule_id, F.c.conversation_id, F.c.fired_at).where(
        F.c.contact_id == trigger.conversation.contact_id,
        sa.or_(F.c.conversation_id == trigger.conversation_id, F.c.fired_at > longest),
    )
    return [Fired(row.rule_id, row.conversation_id, row.fired_at) for row in connection.execute(statement)]


def _closed(connection: Connection, trigger: Trigger) -> bool:
    """Whether the workspace was closed when the contact wrote (a workspace without business hours never is)."""
    row = connection.execute(
        sa.select(WORKSPACES.c.timezone, SETTINGS.c.business_hours)
        .select_from(WORKSPACES.outerjoin(SETTINGS, SETTINGS.c.workspace_id == WORKSPACES.c.id))
        .where(WORKSPACES.c.id == trigger.message.workspace_id)
    ).first()
    hours = stored_hours(row.business_hours) if row is not None else None
    if row is None or hours is None:
        return False
    written = min(trigger.message.sent_at, trigger.now)
    return not is_open(hours, zone_or_utc(row.timezone), written)


# --- replying -------------------------------------------------------------------------------------------------------


def _queue_reply(connection: Connection, trigger: Trigger, rule: Row[Any]) -> None:
    """Store the reply as pending with its send job and ledger row, and touch the conversation as a reply does."""
    conversation, now = trigger.conversation, trigger.now
    values = _message_values(conversation, _AUTOMATION, ReplyCreate(text=rule.text), rule.text, now)
    extra = {name: value for name, value in values["extra"].items() if name != "author_user_id"}
    values["extra"] = {**extra, "auto_reply_rule_id": rule.id}
    statement = sa.insert(MESSAGES).values(**values).returning(MESSAGES.c.id)
    reply_id = int(connection.execute(statement).scalar_one())
    connection.execute(sa.insert(JOBS).values(**job_row(SEND_JOB, {"message_id": reply_id})))
    connection.execute(
        sa.update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation.id)
        .values(updated_at=now, last_message_at=max(now, conversation.last_message_at))
    )
    connection.execute(
        sa.insert(F).values(
            rule_id=rule.id,
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
            trigger_message_id=trigger.message.message_id,
            reply_message_id=reply_id,
            once_per_conversation=rule.once_per_conversation,
            fired_at=now,
        )
    )
    log.info("auto_reply_queued", rule_id=rule.id, kind=rule.kind, conversation_id=conversation.id, message_id=reply_id)
