"""Outbox delivery throughput: queued events to the local TikTok stand-in over loopback.

Seeds ``--events`` conversations (each with a queued ``Contact`` event) in a fresh SQLite database (or
``--database-url``), starts ``partner tiktok-sandbox`` in its own process, and runs the outbox sender until every
event is delivered, in batches of 1,000. Prints events/s and the delivery lag (time from the event's row being
written to TikTok's acknowledgement), beside a baseline measured in the same run: the same number of events as
pre-built 1,000-event request bodies posted straight to the stand-in, which is the ceiling the stand-in itself
imposes.

    .venv/bin/python benchmarks/bench_events.py --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from loopback import free_port, wait_until_ok

from partner.crypto import SecretBox
from partner.logs import configure_logging
from partner.metrics import Metrics
from partner.reporting.client import TikTokApiClient
from partner.reporting.outbox import OutboxSender
from partner.sandbox.state import DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID
from partner.settings import normalise_database_url
from partner.store import migrate
from partner.store.db import create_engine
from partner.store.models import (
    Channel,
    Contact,
    Conversation,
    OutboxEvent,
    ReportingConfig,
    Workspace,
    table,
    utcnow,
)

SECRET = "bench-secret-key-0123456789-0123456789-abcdef"


async def _seed(engine: sa.ext.asyncio.AsyncEngine, count: int, box: SecretBox) -> None:
    now = utcnow()
    event_time = int(time.time())
    async with engine.begin() as connection:
        await connection.execute(sa.insert(table(Workspace)).values(id=1, name="Bench", timezone="UTC", created_at=now))
        await connection.execute(
            sa.insert(table(Channel)).values(
                id=1, workspace_id=1, platform="whatsapp", external_id="1", name="", display_phone="15550000000",
                secrets_encrypted="", active=True, created_at=now,
            )
        )  # fmt: skip
        await connection.execute(
            sa.insert(table(ReportingConfig)).values(
                workspace_id=1, event_source="web", event_source_id=DEFAULT_MES_ID,
                access_token_encrypted=box.encrypt(DEFAULT_EVENTS_TOKEN), event_mapping={}, allow_unidentified=True,
                enabled=True, needs_reauthorization=False, updated_at=now,
            )
        )  # fmt: skip
        for start in range(0, count, 10_000):
            ids = range(start + 1, min(start + 10_000, count) + 1)
            await connection.execute(
                sa.insert(table(Contact)),
                [{"id": i, "workspace_id": 1, "channel_id": 1, "external_id": f"6281{i:08d}", "phone": f"6281{i:08d}",
                  "created_at": now, "updated_at": now} for i in ids],
            )  # fmt: skip
            await connection.execute(
                sa.insert(table(Conversation)),
                [{"id": i, "public_id": uuid.uuid4().hex, "workspace_id": 1, "channel_id": 1, "contact_id": i,
                  "status": "open", "started_at": now, "last_message_at": now, "created_at": now,
                  "updated_at": now} for i in ids],
            )  # fmt: skip
            await connection.execute(
                sa.insert(table(OutboxEvent)),
                [{"workspace_id": 1, "conversation_id": i, "event_id": f"bench_{i}", "event_name": "",
                  "outcome": "conversation_started", "event_time": event_time, "payload": {}, "test": False,
                  "status": "queued", "attempts": 0, "next_attempt_at": now, "created_at": now} for i in ids],
            )  # fmt: skip


def _start_sandbox(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "partner", "tiktok-sandbox", "--port", str(port)]
    return subprocess.Popen(command, cwd=workdir, stderr=subprocess.DEVNULL, env=os.environ.copy())


async def _wait(base: str) -> None:
    await wait_until_ok(f"{base}/_sandbox/config", what="the stand-in")


async def _reset(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/_sandbox/events", "/_sandbox/requests"):
            async with session.delete(f"{base}{path}") as response:
                await response.read()


async def _baseline(base: str, count: int) -> float:
    """Pre-built request bodies of 1,000 events posted back to back: the stand-in's own ceiling."""
    event_time = int(time.time())
    bodies = []
    for start in range(0, count, 1000):
        data = [
            {"event": "Contact", "event_time": event_time, "event_id": f"baseline_{i}",
             "user": {"phone": [hashlib.sha256(f"+6281{i:08d}".encode()).hexdigest()],
                      "external_id": [hashlib.sha256(f"6281{i:08d}".encode()).hexdigest()]},
             "page": {"url": "https://wa.me/15550000000"}}
            for i in range(start, min(start + 1000, count))
        ]  # fmt: skip
        bodies.append({"event_source": "web", "event_source_id": DEFAULT_MES_ID, "partner_name": "bench", "data": data})
    async with aiohttp.ClientSession() as session:
        client = TikTokApiClient(session, f"{base}/open_api/v1.3/", timeout_seconds=60)
        started = time.perf_counter()
        for body in bodies:
            outcome = await client.track(DEFAULT_EVENTS_TOKEN, body)
            assert outcome.kind == "delivered", outcome
        return count / (time.perf_counter() - started)


async def _deliver(engine: sa.ext.asyncio.AsyncEngine, base: str, box: SecretBox, count: int) -> tuple[float, Metrics]:
    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        client = TikTokApiClient(session, f"{base}/open_api/v1.3/", timeout_seconds=60)
        sender = OutboxSender(engine, client, box, metrics, partner_name="bench")
        started = time.perf_counter()
        delivered = 0
        while delivered < count:
            attempted = await sender.run_once()
            if attempted == 0:
                break
            delivered += attempted
        elapsed = time.perf_counter() - started
    outbox = table(OutboxEvent)
    async with engine.connect() as connection:
        done = (
            await connection.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status == "delivered")
            )
        ).scalar_one()
    assert done == count, f"only {done} of {count} delivered"
    return count / elapsed, metrics


def _lag_seconds(metrics: Metrics) -> tuple[float, float]:
    samples = metrics.event_lag.collect()[0].samples
    total = next(s.value for s in samples if s.name.endswith("_sum"))
    number = next(s.value for s in samples if s.name.endswith("_count"))
    buckets = sorted((float(s.labels["le"]), s.value) for s in samples if s.name.endswith("_bucket"))
    p99 = next(bound for bound, cumulative in buckets if cumulative >= 0.99 * number)
    return total / number, p99


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    configure_logging("console", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = normalise_database_url(args.database_url or f"sqlite:///{workdir}/bench.db")
        engine = create_engine(url)
        await migrate.upgrade(engine)
        box = SecretBox(SECRET)
        seeded = time.perf_counter()
        await _seed(engine, args.events, box)
        print(f"seeded {args.events} queued events in {time.perf_counter() - seeded:.1f} s")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        sandbox = _start_sandbox(port, workdir)
        try:
            await _wait(base)
            baseline = await _baseline(base, args.events)
            await _reset(base)
            rate, metrics = await _deliver(engine, base, box, args.events)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
            await engine.dispose()
    mean_lag, p99_lag = _lag_seconds(metrics)
    print(f"\n{args.events} events, batches of 1,000, stand-in on loopback ({engine.dialect.name})")
    print(f"{'path':<44}{'events/s':>10}")
    print(f"{'outbox sender (claim, build, hash, send, record)':<44}{rate:>10.0f}")
    print(f"{'baseline: pre-built bodies straight to stand-in':<44}{baseline:>10.0f}")
    print(f"sender / baseline: {rate / baseline:.2f}")
    print(f"delivery lag from row written: mean {mean_lag:.1f} s, p99 under {p99_lag:g} s (all queued at once)")


if __name__ == "__main__":
    asyncio.run(main())
