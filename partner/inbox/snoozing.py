"""Snoozed conversations: out of the open list until their time comes or the contact writes again.

Snoozing queues an ``inbox.snooze_wake`` job due at the snooze's end; the job wakes the conversation only if that
same snooze is still in place (it was not re-snoozed, resolved or woken by a message meanwhile), so stale jobs
are harmless. A new inbound message wakes it at once (``partner.inbox.hooks``, called from ingest).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.engine import Connection

from partner.appkeys import engine_key
from partner.crm import emit as crm_events
from partner.inbox.models import CONVERSATIONS, SNOOZES
from partner.store.models import utcnow
from partner.store.queue import JOBS, job_row
from partner.worker import PermanentJobError

SNOOZE_JOB = "inbox.snooze_wake"


def set_snooze(connection: Connection, conversation_id: int, until: datetime | None) -> None:
    """Replace the conversation's snooze (None removes it) and queue its wake-up."""
    connection.execute(sa.delete(SNOOZES).where(SNOOZES.c.conversation_id == conversation_id))
    if until is None:
        return
    connection.execute(sa.insert(SNOOZES).values(conversation_id=conversation_id, until=until, created_at=utcnow()))
    payload = {"conversation_id": conversation_id, "until": until.isoformat()}
    connection.execute(sa.insert(JOBS).values(**job_row(SNOOZE_JOB, payload, run_at=until)))


def _wake_if_due(connection: Connection, conversation_id: int, until: datetime) -> None:
    current = connection.execute(
        sa.select(SNOOZES.c.until).where(SNOOZES.c.conversation_id == conversation_id)
    ).scalar_one_or_none()
    if current is None or current != until:
        return
    connection.execute(sa.delete(SNOOZES).where(SNOOZES.c.conversation_id == conversation_id))
    connection.execute(
        sa.update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.status == "snoozed")
        .values(status="open", updated_at=utcnow())
    )
    crm_events.conversation_updated(connection, conversation_id, ["status"])


async def wake_snoozed_job(app: web.Application, payload: dict[str, Any]) -> None:
    """Handler of ``inbox.snooze_wake``."""
    try:
        conversation_id = int(payload["conversation_id"])
        until = datetime.fromisoformat(str(payload["until"]))
    except (KeyError, TypeError, ValueError):
        raise PermanentJobError("malformed snooze job") from None
    async with app[engine_key].begin() as connection:
        await connection.run_sync(_wake_if_due, conversation_id, until)
