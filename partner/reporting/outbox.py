"""The outbox sender: claims due events, batches them per workspace, delivers them, and records the outcome.

Rows were written in the same transaction as the fact that caused them. The sender claims due rows with a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes share one database and each row is sent by one of
them); a process that dies mid-send leaves rows whose lease expires and another claims them. ``event_id`` is
deterministic, so a row sent twice after a crash dedups at TikTok.

Outcomes: delivered; retry with exponential backoff and jitter (40100, 5xxxx, HTTP 429/5xx, timeouts); dead with
TikTok's message (40001, 40002, other 400xx, or older than the maximum age); waiting for re-authorization (40105:
the workspace is flagged and its events wait, they are not lost).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from partner.crypto import DecryptionError, SecretBox
from partner.metrics import Metrics
from partner.reporting.events import EventFacts, build_event, event_name_for
from partner.store.models import Channel, Contact, Conversation, OutboxEvent, ReportingConfig, table, utcnow
from partner.store.queue import backoff_seconds

log = structlog.get_logger(__name__)

OUTBOX = table(OutboxEvent)
CONFIGS = table(ReportingConfig)
CONVERSATIONS = table(Conversation)
CONTACTS = table(Contact)
CHANNELS = table(Channel)
MAX_BATCH = 1000
NO_CONFIG_RECHECK = timedelta(seconds=30)


class TrackResult(Protocol):
    """What the Events API client reports for one request (see ``partner.reporting.client``)."""

    @property
    def kind(self) -> str: ...  # delivered / retry / dead / reauth

    @property
    def code(self) -> int | None: ...

    @property
    def message(self) -> str: ...

    @property
    def request_id(self) -> str | None: ...


class EventsApi(Protocol):
    async def track(self, access_token: str, body: dict[str, Any]) -> TrackResult: ...


@dataclass(frozen=True, slots=True)
class WorkspaceReporting:
    workspace_id: int
    event_source: str
    event_source_id: str
    access_token: str | None
    test_event_code: str | None
    mapping: dict[str, Any]
    allow_unidentified: bool
    enabled: bool
    needs_reauthorization: bool


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    workspace_id: int
    conversation_id: int | None
    event_id: str
    outcome: str
    event_time: int
    payload: dict[str, Any]
    test: bool
    attempts: int
    created_at: datetime


class OutboxSender:
    def __init__(
        self,
        engine: AsyncEngine,
        api: EventsApi,
        box: SecretBox,
        metrics: Metrics,
        *,
        partner_name: str,
        max_age: timedelta = timedelta(days=7),
        lease_seconds: float = 120,
        claim_limit: int = 5000,
    ) -> None:
        self._engine = engine
        self._api = api
        self._box = box
        self._metrics = metrics
        self._partner_name = partner_name
        self._max_age = max_age
        self._lease = timedelta(seconds=lease_seconds)
        self._claim_limit = claim_limit
        self._skip_locked = engine.dialect.name == "postgresql"

    async def run(self, stop: asyncio.Event, *, poll_seconds: float = 0.5, gauge_seconds: float = 5.0) -> None:
        """Deliver until ``stop`` is set; a failing round is logged and retried, never fatal."""
        gauged_at = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                sent = await self.run_once()
                if loop.time() - gauged_at >= gauge_seconds:
                    await self.update_depth_gauge()
                    gauged_at = loop.time()
            except Exception:
                log.exception("outbox_round_failed")
                sent = 0
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_seconds)

    async def run_once(self) -> int:
        """One claim-and-send round; returns how many events were attempted."""
        rows = await self._claim()
        if not rows:
            return 0
        configs = await self._configs({row.workspace_id for row in rows})
        groups: dict[int, list[Claimed]] = defaultdict(list)
        for row in rows:
            groups[row.workspace_id].append(row)
        sends = [self._send_group(configs.get(workspace_id), group) for workspace_id, group in groups.items()]
        await asyncio.gather(*sends)
        return len(rows)

    async def update_depth_gauge(self) -> dict[str, int]:
        """Outbox rows by status, for the ``partner_outbox_events`` gauge."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(sa.select(OUTBOX.c.status, sa.func.count()).group_by(OUTBOX.c.status))
            ).all()
        counts = {str(status): int(count) for status, count in rows}
        for status in ("queued", "sending", "delivered", "dead", "waiting_reauth"):
            self._metrics.outbox_depth.labels(status).set(counts.get(status, 0))
        return counts

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        due = sa.or_(
            sa.and_(OUTBOX.c.status == "queued", OUTBOX.c.next_attempt_at <= now),
            sa.and_(OUTBOX.c.status == "sending", OUTBOX.c.locked_until < now),
        )
        candidates = sa.select(OUTBOX.c.id).where(due).order_by(OUTBOX.c.id).limit(self._claim_limit)
        if self._skip_locked:
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            sa.update(OUTBOX)
            .where(OUTBOX.c.id.in_(candidates.scalar_subquery()))
            .values(status="sending", locked_until=now + self._lease, attempts=OUTBOX.c.attempts + 1)
            .returning(
                OUTBOX.c.id, OUTBOX.c.workspace_id, OUTBOX.c.conversation_id, OUTBOX.c.event_id, OUTBOX.c.outcome,
                OUTBOX.c.event_time, OUTBOX.c.payload, OUTBOX.c.test, OUTBOX.c.attempts, OUTBOX.c.created_at,
            )
        )  # fmt: skip
        async with self._engine.begin() as connection:
            result = (await connection.execute(statement)).all()
        claimed = [
            Claimed(
                id=row.id,
                workspace_id=row.workspace_id,
                conversation_id=row.conversation_id,
                event_id=row.event_id,
                outcome=row.outcome,
                event_time=row.event_time,
                payload=row.payload or {},
                test=row.test,
                attempts=row.attempts,
                created_at=row.created_at,
            )
            for row in result
        ]
        return sorted(claimed, key=lambda c: c.id)

    async def _configs(self, workspace_ids: set[int]) -> dict[int, WorkspaceReporting]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(sa.select(CONFIGS).where(CONFIGS.c.workspace_id.in_(workspace_ids)))).all()
        return {row.workspace_id: self._config(row) for row in rows}

    def _config(self, row: Any) -> WorkspaceReporting:
        token = None
        if row.access_token_encrypted:
            try:
                token = self._box.decrypt(row.access_token_encrypted)
            except DecryptionError:
                log.error("reporting_token_unreadable", workspace_id=row.workspace_id)
        return WorkspaceReporting(
            workspace_id=row.workspace_id,
            event_source=row.event_source,
            event_source_id=row.event_source_id,
            access_token=token,
            test_event_code=row.test_event_code,
            mapping=row.event_mapping or {},
            allow_unidentified=row.allow_unidentified,
            enabled=row.enabled,
            needs_reauthorization=row.needs_reauthorization,
        )

    async def _send_group(self, config: WorkspaceReporting | None, rows: list[Claimed]) -> None:
        fresh = await self._drop_expired(rows)
        if not fresh:
            return
        if config is None or not config.access_token or not config.event_source_id:
            await self._postpone(fresh, "workspace has no reporting configuration yet")
            return
        if not config.enabled:
            await self._finish(fresh, status="dead", error="reporting is disabled for this workspace")
            return
        if config.needs_reauthorization:
            await self._finish(fresh, status="waiting_reauth", error="TikTok token needs re-authorization")
            return
        items, unsendable = await self._build(config, fresh)
        if unsendable:
            await self._finish(unsendable, status="dead", error="no identifier and the workspace does not allow it")
        for start in range(0, len(items), MAX_BATCH):
            await self._deliver(config, items[start : start + MAX_BATCH])

    async def _drop_expired(self, rows: list[Claimed]) -> list[Claimed]:
        oldest = int((utcnow() - self._max_age).timestamp())
        expired = [row for row in rows if row.event_time < oldest]
        if expired:
            days = self._max_age.total_seconds() / 86400
            await self._finish(expired, status="dead", error=f"event is older than {days:g} days")
        return [row for row in rows if row.event_time >= oldest]

    async def _build(
        self, config: WorkspaceReporting, rows: list[Claimed]
    ) -> tuple[list[tuple[Claimed, dict[str, Any]]], list[Claimed]]:
        facts = await self._facts(rows)
        items: list[tuple[Claimed, dict[str, Any]]] = []
        unsendable: list[Claimed] = []
        for row in rows:
            fact = facts.get(row.id) or _bare_facts(row)
            item, identified = build_event(
                fact, config.mapping, event_source=config.event_source, partner_name=self._partner_name
            )
            if identified or config.allow_unidentified:
                items.append((row, item))
                if not identified:
                    self._metrics.events_unidentified.inc()
            else:
                unsendable.append(row)
        return items, unsendable

    async def _facts(self, rows: list[Claimed]) -> dict[int, EventFacts]:
        conversation_ids = {row.conversation_id for row in rows if row.conversation_id is not None}
        if not conversation_ids:
            return {}
        query = (
            sa.select(
                CONVERSATIONS.c.id,
                CONVERSATIONS.c.public_id,
                CONVERSATIONS.c.ttclid,
                CONTACTS.c.external_id,
                CONTACTS.c.phone,
                CHANNELS.c.platform,
                CHANNELS.c.external_id.label("channel_external_id"),
                CHANNELS.c.display_phone,
                CHANNELS.c.line_basic_id,
            )
            .join(CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id)
            .join(CHANNELS, CHANNELS.c.id == CONVERSATIONS.c.channel_id)
            .where(CONVERSATIONS.c.id.in_(conversation_ids))
        )
        async with self._engine.connect() as connection:
            by_conversation = {row.id: row for row in (await connection.execute(query)).all()}
        facts: dict[int, EventFacts] = {}
        for row in rows:
            found = by_conversation.get(row.conversation_id)
            if found is not None:
                facts[row.id] = EventFacts(
                    event_id=row.event_id,
                    outcome=row.outcome,
                    event_time=row.event_time,
                    platform=found.platform,
                    contact_external_id=found.external_id,
                    contact_phone=found.phone,
                    ttclid=found.ttclid,
                    properties=dict(row.payload.get("properties") or {}),
                    page_url=row.payload.get("page_url") or chat_link(found),
                    lead_id=found.public_id,
                )
        return facts

    async def _deliver(self, config: WorkspaceReporting, batch: list[tuple[Claimed, dict[str, Any]]]) -> None:
        body: dict[str, Any] = {
            "event_source": config.event_source,
            "event_source_id": config.event_source_id,
            "partner_name": self._partner_name,
            "data": [item for _row, item in batch],
        }
        if config.test_event_code:
            # While a workspace has a test code, everything it reports is a test event: TikTok shows it in Test
            # Events and does not count it. Batches are per workspace, so test and live events never share one.
            body["test_event_code"] = config.test_event_code
        assert config.access_token is not None
        result = await self._api.track(config.access_token, body)
        await self._record(config, batch, result)

    async def _record(
        self, config: WorkspaceReporting, batch: list[tuple[Claimed, dict[str, Any]]], result: TrackResult
    ) -> None:
        rows = [row for row, _item in batch]
        detail = f"{result.code}: {result.message}" if result.code is not None else result.message
        if result.kind == "delivered":
            await self._delivered(batch, result.request_id, test=config.test_event_code is not None)
        elif result.kind == "reauth":
            await self._mark_reauthorization(config.workspace_id)
            await self._finish(rows, status="waiting_reauth", error=detail, request_id=result.request_id)
        elif result.kind == "dead":
            await self._finish(rows, status="dead", error=detail, request_id=result.request_id)
        else:
            await self._retry(rows, detail, result.request_id)
        log.info(
            "events_sent",
            workspace_id=config.workspace_id,
            count=len(rows),
            outcome=result.kind,
            code=result.code,
            request_id=result.request_id,
        )

    async def _delivered(
        self, batch: list[tuple[Claimed, dict[str, Any]]], request_id: str | None, *, test: bool
    ) -> None:
        now = utcnow()
        ids_by_name: dict[str, list[int]] = defaultdict(list)
        for row, item in batch:
            ids_by_name[item["event"]].append(row.id)
        async with self._engine.begin() as connection:
            for event_name, ids in ids_by_name.items():
                await connection.execute(
                    sa.update(OUTBOX)
                    .where(OUTBOX.c.id.in_(ids))
                    .values(
                        status="delivered",
                        delivered_at=now,
                        locked_until=None,
                        request_id=request_id,
                        event_name=event_name,
                        last_error=None,
                        test=test,
                    )
                )
        self._metrics.events.labels("delivered").inc(len(batch))
        for row, _item in batch:
            self._metrics.event_lag.observe(max(0.0, (now - row.created_at).total_seconds()))

    async def _retry(self, rows: Iterable[Claimed], error: str, request_id: str | None) -> None:
        rows = list(rows)
        async with self._engine.begin() as connection:
            for row in rows:
                next_at = utcnow() + timedelta(seconds=backoff_seconds(row.attempts, base=1.0, cap=900))
                await connection.execute(
                    sa.update(OUTBOX)
                    .where(OUTBOX.c.id == row.id)
                    .values(
                        status="queued",
                        next_attempt_at=next_at,
                        locked_until=None,
                        last_error=error[:1000],
                        request_id=request_id,
                    )
                )
        self._metrics.events.labels("retried").inc(len(rows))

    async def _postpone(self, rows: list[Claimed], reason: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id.in_([row.id for row in rows]))
                .values(
                    status="queued",
                    next_attempt_at=utcnow() + NO_CONFIG_RECHECK,
                    locked_until=None,
                    attempts=OUTBOX.c.attempts - 1,
                    last_error=reason,
                )
            )

    async def _finish(self, rows: list[Claimed], *, status: str, error: str, request_id: str | None = None) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id.in_([row.id for row in rows]))
                .values(status=status, locked_until=None, last_error=error[:1000], request_id=request_id)
            )
        self._metrics.events.labels(status).inc(len(rows))
        if status == "dead":
            log.warning("events_dead_lettered", count=len(rows), reason=error[:200])

    async def _mark_reauthorization(self, workspace_id: int) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.update(CONFIGS).where(CONFIGS.c.workspace_id == workspace_id).values(needs_reauthorization=True)
            )
        log.warning("tiktok_token_revoked", workspace_id=workspace_id)


def chat_link(channel: Any) -> str:
    """The public link that opens a chat with the channel: the page a click-to-message ad leads to."""
    if channel.platform == "whatsapp" and channel.display_phone:
        return f"https://wa.me/{channel.display_phone}"
    if channel.platform == "messenger":
        return f"https://m.me/{channel.channel_external_id}"
    if channel.platform == "line" and channel.line_basic_id:
        return f"https://line.me/R/ti/p/{channel.line_basic_id}"
    return "https://www.tiktok.com/"


def _bare_facts(row: Claimed) -> EventFacts:
    return EventFacts(
        event_id=row.event_id,
        outcome=row.outcome,
        event_time=row.event_time,
        platform="",
        contact_external_id="",
        contact_phone=None,
        ttclid=None,
        properties=dict(row.payload.get("properties") or {}),
    )


async def release_reauthorized(connection: AsyncConnection, workspace_id: int) -> int:
    """After a new token is stored, events that waited for it go back to the queue."""
    result = await connection.execute(
        sa.update(OUTBOX)
        .where(OUTBOX.c.workspace_id == workspace_id, OUTBOX.c.status == "waiting_reauth")
        .values(status="queued", next_attempt_at=utcnow(), attempts=0)
    )
    return int(result.rowcount or 0)


__all__ = ["OutboxSender", "event_name_for", "release_reauthorized"]
