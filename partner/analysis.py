"""Keyword analysis of stored inbound messages: flags on the message, merged into the conversation.

A flag, once true on a conversation, stays true with the time it first became true; the first time a signal
fires in a conversation its event is queued in the outbox, in the same transaction as the flag. Only signal names
and booleans travel on; the text stays in the messages table.

Followers (auto-replies, outbound CRM webhooks) run after the flags are stored, in the same transaction, so what
they queue exists exactly when the analysis does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from partner.ingest.apply import CONVERSATIONS, MESSAGES, queue_outcome
from partner.reporting.events import signal_outcome
from partner.store.models import utcnow
from partner.worker import PermanentJobError


class Scanner(Protocol):
    def __call__(self, text: str) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class AnalysedMessage:
    """What followers learn about an inbound message once its flags are stored (never its text)."""

    message_id: int
    conversation_id: int
    workspace_id: int
    channel_id: int
    sent_at: datetime
    flags: frozenset[str]  # the signals this message fired
    new_signals: frozenset[str]  # signals that fired for the first time in the conversation
    new_conversation: bool  # this message opened the conversation
    edited: bool  # a re-analysis after the contact edited the message


Follower = Callable[[Connection, AnalysedMessage], None]


class MessageAnalyzer:
    """Handler for ``message.received`` jobs."""

    def __init__(
        self,
        engine: AsyncEngine,
        scan: Scanner,
        on_signals: Callable[[int, set[str]], None] | None = None,
        followers: Sequence[Follower] = (),
    ):
        self._engine = engine
        self._scan = scan
        self._on_signals = on_signals
        self._followers = tuple(followers)

    async def __call__(self, payload: dict[str, Any]) -> None:
        message_id = int(payload["message_id"])
        new_conversation = bool(payload.get("new_conversation", False))
        edited = bool(payload.get("edited", False))
        async with self._engine.begin() as connection:
            new_signals = await connection.run_sync(self._analyse, message_id, new_conversation, edited)
        if new_signals and self._on_signals is not None:
            self._on_signals(message_id, new_signals)

    def _analyse(self, connection: Connection, message_id: int, new_conversation: bool, edited: bool) -> set[str]:
        row = connection.execute(
            sa.select(
                MESSAGES.c.text,
                MESSAGES.c.conversation_id,
                MESSAGES.c.workspace_id,
                MESSAGES.c.channel_id,
                MESSAGES.c.sent_at,
            ).where(MESSAGES.c.id == message_id)
        ).first()
        if row is None:
            raise PermanentJobError(f"message {message_id} no longer exists")
        flags = self._scan(row.text) if row.text else frozenset()
        connection.execute(
            sa.update(MESSAGES).where(MESSAGES.c.id == message_id).values(flags=dict.fromkeys(sorted(flags), True))
        )
        new_signals = (
            merge_conversation_flags(connection, row.conversation_id, row.workspace_id, flags, row.sent_at)
            if flags
            else set()
        )
        analysed = AnalysedMessage(
            message_id=message_id,
            conversation_id=row.conversation_id,
            workspace_id=row.workspace_id,
            channel_id=row.channel_id,
            sent_at=row.sent_at,
            flags=flags,
            new_signals=frozenset(new_signals),
            new_conversation=new_conversation,
            edited=edited,
        )
        for follow in self._followers:
            follow(connection, analysed)
        return new_signals


def merge_conversation_flags(
    connection: Connection, conversation_id: int, workspace_id: int, flags: frozenset[str], at: datetime
) -> set[str]:
    """Add new flags to the conversation and queue their events; returns the flags that were new."""
    current = (
        connection.execute(
            sa.select(CONVERSATIONS.c.flags).where(CONVERSATIONS.c.id == conversation_id).with_for_update()
        ).scalar_one_or_none()
        or {}
    )
    new = {flag for flag in flags if flag not in current}
    if not new:
        return set()
    stamp = utcnow().isoformat()
    merged = {**current, **dict.fromkeys(sorted(new), stamp)}
    connection.execute(
        sa.update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(flags=merged, updated_at=utcnow())
    )
    for flag in sorted(new):
        queue_outcome(
            connection, workspace_id=workspace_id, conversation_id=conversation_id, outcome=signal_outcome(flag), at=at
        )
    return new
