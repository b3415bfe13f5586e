"""What ingest calls, inside its own transaction, after it stored an inbound message.

``on_inbound_message(db, conversation_id=..., workspace_id=..., new_conversation=...)`` wakes a snoozed
conversation (the contact wrote again) and, for a conversation that message created, applies round-robin
assignment when the workspace turned it on. The usual case (not snoozed, round-robin off) is one prebuilt indexed
statement, run on the ingest hot path's fast executor.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from partner.inbox.assignment import assign_round_robin
from partner.inbox.models import CONVERSATIONS, SETTINGS, SNOOZES
from partner.store.fastsql import Executor, executor_for
from partner.store.models import UTCDateTime, utcnow

_ROUND_ROBIN_ON = sa.select(SETTINGS.c.round_robin).where(SETTINGS.c.workspace_id == sa.bindparam("b_workspace"))
_WAKE = (
    sa.update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == sa.bindparam("b_id"), CONVERSATIONS.c.status == "snoozed")
    .values(status="open", updated_at=sa.bindparam("b_now", type_=UTCDateTime()))
)


def on_inbound_message(
    connection: Connection | Executor, *, conversation_id: int, workspace_id: int, new_conversation: bool
) -> None:
    db = executor_for(connection)
    if new_conversation:
        setting = db.execute(_ROUND_ROBIN_ON, {"b_workspace": workspace_id}).first()
        if setting is not None and setting[0]:
            assign_round_robin(db.connection, conversation_id)
        return
    woken = db.execute(_WAKE, {"b_id": conversation_id, "b_now": utcnow()})
    if woken.rowcount:
        db.connection.execute(sa.delete(SNOOZES).where(SNOOZES.c.conversation_id == conversation_id))


__all__ = ["assign_round_robin", "on_inbound_message"]
