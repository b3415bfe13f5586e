"""Group commit for webhooks: many concurrent requests share one transaction, each still waits for the commit.

A webhook is answered 200 only after its rows are committed. Committing each request on its own would make the
database's commit rate the ceiling; batching the requests that arrive while a commit is in flight keeps every
guarantee and multiplies throughput. If a batch fails, each request in it is retried in its own transaction, so
one bad payload cannot fail its neighbours.

On SQLite each batch runs whole in one dedicated thread on a synchronous connection: one thread hop per batch
instead of one per statement (the async driver's cost), and SQLite has one writer anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from partner.channels import ChannelInfo
from partner.ingest.apply import ApplyResult, IngestPolicy, apply_items
from partner.platforms.base import InboundItem
from partner.store.db import sync_sqlite_engine

log = structlog.get_logger(__name__)

Pairs = Sequence[tuple[ChannelInfo, InboundItem]]


@dataclass(slots=True)
class _Submission:
    pairs: Pairs
    future: asyncio.Future[ApplyResult]


class IngestWriter:
    def __init__(self, engine: AsyncEngine, policy: IngestPolicy, *, max_batch: int = 32) -> None:
        self._engine = engine
        self._policy = policy
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._sync_engine = sync_sqlite_engine(engine) if engine.dialect.name == "sqlite" else None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") if self._sync_engine else None

    async def submit(self, pairs: Pairs) -> ApplyResult:
        """Store the items; returns once they are committed (raises if they could not be)."""
        if self._task is None:
            raise RuntimeError("ingest writer is not running")
        future: asyncio.Future[ApplyResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Submission(pairs, future))
        return await future

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def stop(self) -> None:
        """Finish everything already submitted, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._thread is not None and self._sync_engine is not None:
            self._thread.shutdown(wait=True)
            self._sync_engine.dispose()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[_Submission]) -> None:
        try:
            results = await self._apply_with_retries(batch)
        except Exception:
            if len(batch) == 1:
                log.exception("ingest_commit_failed", items=len(batch[0].pairs))
                _settle(batch[0], error=RuntimeError("could not store webhook"))
                return
            for submission in batch:
                await self._commit([submission])
            return
        for submission, result in zip(batch, results, strict=True):
            _settle(submission, result=result)

    async def _apply_with_retries(self, batch: list[_Submission], attempts: int = 4) -> list[ApplyResult]:
        """A locked database (another writer, a checkpoint) is transient: try again before giving up."""
        for attempt in range(1, attempts + 1):
            try:
                return await self._apply_in_one_transaction(batch)
            except OperationalError as error:
                if attempt == attempts:
                    raise
                log.warning("ingest_retry", attempt=attempt, error_type=type(error.orig).__name__)
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def _apply_in_one_transaction(self, batch: list[_Submission]) -> list[ApplyResult]:
        if self._thread is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._apply_sync, [s.pairs for s in batch])
        async with self._engine.begin() as connection:
            return [await connection.run_sync(apply_items, s.pairs, self._policy) for s in batch]

    def _apply_sync(self, batches: list[Pairs]) -> list[ApplyResult]:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as connection:
            return [apply_items(connection, pairs, self._policy) for pairs in batches]


def _settle(submission: _Submission, *, result: ApplyResult | None = None, error: Exception | None = None) -> None:
    if submission.future.done():  # the request was cancelled (client went away); the rows are stored anyway
        return
    if error is not None:
        submission.future.set_exception(error)
    else:
        assert result is not None
        submission.future.set_result(result)
