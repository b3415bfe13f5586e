"""Durable job queue on the main database.

Rows are written in the same transaction as the fact that caused them, so a crash after the webhook's 200 loses
nothing. Workers claim due rows with a lease: on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so several service
processes share the queue and each row goes to exactly one of them; a row whose lease ran out (its worker died)
is claimed again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from partner.store.models import Job, table, utcnow

JOBS = table(Job)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def job_row(kind: str, payload: dict[str, Any], *, run_at: datetime | None = None) -> dict[str, Any]:
    """Values for inserting a job inside the caller's transaction."""
    now = utcnow()
    return {
        "kind": kind,
        "payload": payload,
        "status": "queued",
        "attempts": 0,
        "max_attempts": 12,
        "run_at": run_at or now,
        "created_at": now,
        "updated_at": now,
    }


async def enqueue(connection: AsyncConnection, kind: str, payload: dict[str, Any]) -> None:
    await connection.execute(sa.insert(JOBS).values(**job_row(kind, payload)))


def backoff_seconds(attempt: int, *, base: float = 1.0, cap: float = 600.0) -> float:
    """Exponential backoff with full jitter, so retries of many rows spread out instead of arriving together."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))


class JobQueue:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._skip_locked = engine.dialect.name == "postgresql"

    async def claim(self, kinds: list[str], *, limit: int = 50, lease_seconds: float = 60) -> list[ClaimedJob]:
        now = utcnow()
        due = sa.or_(
            sa.and_(JOBS.c.status == "queued", JOBS.c.run_at <= now),
            sa.and_(JOBS.c.status == "running", JOBS.c.locked_until < now),
        )
        candidates = sa.select(JOBS.c.id).where(due, JOBS.c.kind.in_(kinds)).order_by(JOBS.c.id).limit(limit)
        if self._skip_locked:
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            sa.update(JOBS)
            .where(JOBS.c.id.in_(candidates.scalar_subquery()))
            .values(
                status="running",
                locked_until=now + timedelta(seconds=lease_seconds),
                attempts=JOBS.c.attempts + 1,
                updated_at=now,
            )
            .returning(JOBS.c.id, JOBS.c.kind, JOBS.c.payload, JOBS.c.attempts, JOBS.c.max_attempts)
        )
        async with self._engine.begin() as connection:
            rows = (await connection.execute(statement)).all()
        return [ClaimedJob(r.id, r.kind, r.payload or {}, r.attempts, r.max_attempts) for r in rows]

    async def complete(self, job_id: int) -> None:
        await self._set(job_id, status="done", locked_until=None, last_error=None)

    async def fail(self, job: ClaimedJob, error: str, *, retryable: bool = True) -> None:
        """Retry later with backoff, or give up (``failed``) when attempts are exhausted or it cannot succeed."""
        if retryable and job.attempts < job.max_attempts:
            run_at = utcnow() + timedelta(seconds=backoff_seconds(job.attempts))
            await self._set(job.id, status="queued", run_at=run_at, locked_until=None, last_error=error[:1000])
        else:
            await self._set(job.id, status="failed", locked_until=None, last_error=error[:1000])

    async def counts(self) -> dict[str, int]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(sa.select(JOBS.c.status, sa.func.count()).group_by(JOBS.c.status))
            return {str(status): int(count) for status, count in rows.all()}

    async def _set(self, job_id: int, **values: Any) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(updated_at=utcnow(), **values))
