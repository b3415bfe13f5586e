"""What ingest calls, inside its own transaction, after it stored an inbound message.

``on_inbound_message(connection, conversation_id=..., new_conversation=...)`` wakes a snoozed conversation (the
contact wrote again) and, for a conversation that message created, applies round-robin assignment when the
workspace turned it on. Both are a single indexed statement in the usual case (not snoozed, round-robin off).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from partner.inbox.assignment import assign_round_robin
from partner.inbox.snoozing import wake_on_inbound


def on_inbound_message(connection: Connection, *, conversation_id: int, new_conversation: bool) -> None:
    if new_conversation:
        assign_round_robin(connection, conversation_id)
    else:
        wake_on_inbound(connection, conversation_id)


__all__ = ["assign_round_robin", "on_inbound_message", "wake_on_inbound"]
