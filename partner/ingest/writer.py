"""Webhook items into the store by group commit: a webhook is answered 200 only after its rows are committed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from partner.channels import ChannelInfo
from partner.ingest.apply import ApplyResult, IngestPolicy, apply_items
from partner.platforms.base import InboundItem
from partner.store.groupcommit import GroupCommitter

Pairs = Sequence[tuple[ChannelInfo, InboundItem]]


class IngestWriter:
    """One webhook's items per submission; many webhooks per transaction (see ``partner.store.groupcommit``)."""

    def __init__(self, engine: AsyncEngine, policy: IngestPolicy, *, max_batch: int = 32) -> None:
        self._policy = policy
        self._committer: GroupCommitter[Pairs, ApplyResult] = GroupCommitter(
            engine, self._apply, name="ingest-writer", max_batch=max_batch
        )

    def _apply(self, connection: Connection, webhooks: Sequence[Pairs]) -> list[ApplyResult]:
        return [apply_items(connection, pairs, self._policy) for pairs in webhooks]

    async def submit(self, pairs: Pairs) -> ApplyResult:
        """Store the items; returns once they are committed (raises if they could not be)."""
        return await self._committer.submit(pairs)

    def start(self) -> None:
        self._committer.start()

    async def stop(self) -> None:
        await self._committer.stop()
