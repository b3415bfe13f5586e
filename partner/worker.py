"""Runs durable jobs after the webhook's commit: each kind has one handler; failures retry with backoff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from partner.store.queue import ClaimedJob, JobQueue

log = structlog.get_logger(__name__)

JobHandler = Callable[[dict[str, Any]], Awaitable[None]]


class PermanentJobError(Exception):
    """The job can never succeed (e.g. its row is gone); it is marked failed without retries."""


class JobWorker:
    def __init__(self, queue: JobQueue, handlers: dict[str, JobHandler], *, batch: int = 100) -> None:
        self._queue = queue
        self._handlers = handlers
        self._batch = batch

    async def run(self, stop: asyncio.Event, *, poll_seconds: float = 0.2) -> None:
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:
                log.exception("job_round_failed")
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_seconds)

    async def run_once(self) -> int:
        jobs = await self._queue.claim(list(self._handlers), limit=self._batch)
        for job in jobs:
            await self._run(job)
        return len(jobs)

    async def _run(self, job: ClaimedJob) -> None:
        with structlog.contextvars.bound_contextvars(job_id=job.id, job_kind=job.kind):
            try:
                await self._handlers[job.kind](job.payload)
            except PermanentJobError as error:
                log.warning("job_failed_permanently", reason=str(error)[:200])
                await self._queue.fail(job, str(error), retryable=False)
            except Exception as error:
                log.exception("job_failed", attempt=job.attempts)
                await self._queue.fail(job, f"{type(error).__name__}: {str(error)[:300]}")
            else:
                await self._queue.complete(job.id)
