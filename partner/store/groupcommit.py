"""Group commit: concurrent requests share one transaction, and each still waits for the commit.

Webhooks and tracking-link clicks must be on disk before the caller is answered. Committing each request on its
own makes the database's commit rate the ceiling; batching the requests that arrive while a commit is in flight
keeps every guarantee and multiplies throughput. If a batch fails, each item is retried in its own transaction,
so one bad item cannot fail its neighbours; a locked database (another writer, a checkpoint) is retried first.

On SQLite each batch runs whole in one dedicated thread on a synchronous connection: one thread hop per batch
instead of one per statement, and SQLite has one writer anyway. Elsewhere the async engine runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from partner.store.db import sync_sqlite_engine

log = structlog.get_logger(__name__)

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")
ApplyBatch = Callable[[Connection, Sequence[Item]], list[Outcome]]


@dataclass(slots=True)
class _Pending(Generic[Item, Outcome]):
    item: Item
    future: asyncio.Future[Outcome]


class GroupCommitter(Generic[Item, Outcome]):
    """Runs ``apply(connection, items) -> outcomes`` (one outcome per item, in order) for batches of submissions."""

    def __init__(
        self, engine: AsyncEngine, apply: ApplyBatch[Item, Outcome], *, name: str, max_batch: int = 32
    ) -> None:
        self._engine = engine
        self._apply = apply
        self._name = name
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending[Item, Outcome]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._sync_engine = sync_sqlite_engine(engine) if engine.dialect.name == "sqlite" else None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if self._sync_engine else None

    async def submit(self, item: Item) -> Outcome:
        """Returns once the item is committed (raises if it could not be)."""
        if self._task is None:
            raise RuntimeError(f"{self._name} is not running")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return await future

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Commit everything already submitted, then stop."""
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

    async def _commit(self, batch: list[_Pending[Item, Outcome]]) -> None:
        try:
            outcomes = await self._apply_with_retries([pending.item for pending in batch])
        except Exception as error:
            if len(batch) == 1:
                log.exception("group_commit_failed", committer=self._name)
                _settle(batch[0], error=error)
                return
            for pending in batch:
                await self._commit([pending])
            return
        for pending, outcome in zip(batch, outcomes, strict=True):
            _settle(pending, outcome=outcome)

    async def _apply_with_retries(self, items: list[Item], attempts: int = 4) -> list[Outcome]:
        for attempt in range(1, attempts + 1):
            try:
                return await self._apply_once(items)
            except OperationalError as error:
                if attempt == attempts:
                    raise
                log.warning(
                    "group_commit_retry", committer=self._name, attempt=attempt, error=type(error.orig).__name__
                )
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def _apply_once(self, items: list[Item]) -> list[Outcome]:
        if self._thread is not None:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._apply_sync, items)
        async with self._engine.begin() as connection:
            return await connection.run_sync(self._apply, items)

    def _apply_sync(self, items: list[Item]) -> list[Outcome]:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as connection:
            return self._apply(connection, items)


def _settle(
    pending: _Pending[Item, Outcome], *, outcome: Outcome | None = None, error: Exception | None = None
) -> None:
    if pending.future.done():  # the caller went away; what it submitted is committed anyway
        return
    if error is not None:
        pending.future.set_exception(error)
    else:
        pending.future.set_result(outcome)  # type: ignore[arg-type]
