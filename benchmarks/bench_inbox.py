"""Inbox API latency on a large SQLite inbox: the conversation list with filters and the message page.

Seeds ``--conversations`` conversations (default 100,000; one workspace holds 90 %, a second the rest) with
``--messages`` messages (default 1,000,000) into a fresh SQLite file, bulk-inserted with ``executemany`` in
chunks; then starts the service (with the inbox routes) in its own process and sends requests to it over loopback,
one at a time on a keep-alive connection, as an agent of the large workspace. Prints p50 / p95 / p99 per scenario
against the targets: list p95 < 50 ms, message page p95 < 30 ms.

    .venv/bin/python benchmarks/bench_inbox.py
    .venv/bin/python benchmarks/bench_inbox.py --conversations 20000 --messages 200000 --requests 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from loopback import free_port, wait_until_ok

from partner.accounts.auth import hash_token

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "ptk_bench-agent-token-0123456789abcdefghijklmnopqrstu"
SECRET = "bench-secret-key-0123456789-0123456789-abcdef"
PLATFORMS = ("whatsapp", "messenger", "line", "tiktok")
STATUSES = (("open", 0.20), ("pending", 0.05), ("snoozed", 0.03), ("resolved", 0.72))
LABELS = ("vip", "refund", "wholesale", "complaint", "follow-up")
AGENTS = 10
CHUNK = 20_000
WORDS = [
    "hello",
    "price",
    "stock",
    "size",
    "colour",
    "order",
    "ship",
    "today",
    "tomorrow",
    "thanks",
    "payment",
    "bayar",
    "address",
    "red",
    "blue",
]
LIST_TARGET_MS = 50.0
MESSAGES_TARGET_MS = 30.0


def _stamp(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text, so seeded rows compare like rows the service writes."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Seeder:
    """Writes the data set with plain ``sqlite3`` ``executemany`` (the schema comes from the migrations)."""

    def __init__(self, path: Path, conversations: int, messages: int, seed: int = 7) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")
        self.conversations = conversations
        self.messages = messages
        self.random = random.Random(seed)
        self.now = datetime.now(tz=UTC)

    def run(self) -> None:
        started = time.perf_counter()
        now = _stamp(self.now)
        self.db.executemany(
            "INSERT INTO workspaces (id, name, timezone, created_at) VALUES (?, ?, 'UTC', ?)",
            [(1, "Big shop", now), (2, "Small shop", now)],
        )
        channels = [(i + 1, 1 + i // 4, p, f"{p}-{i}", now) for i, p in enumerate(PLATFORMS * 2)]
        self.db.executemany(
            "INSERT INTO channels (id, workspace_id, platform, external_id, name, secrets_encrypted, active, "
            "created_at) VALUES (?, ?, ?, ?, 'bench', '', 1, ?)",
            channels,
        )
        self._users(now)
        self._insert("contacts", self._contacts(now))
        self._insert("conversations", self._conversation_rows())
        self._insert("conversation_assignments", self._assignments(now))
        self.db.execute(
            "UPDATE conversations SET assignee_id = (SELECT user_id FROM conversation_assignments"
            " WHERE conversation_id = conversations.id)"
        )
        self._insert("conversation_labels", self._labels(now))
        self._insert("messages", self._message_rows())
        self.db.commit()
        self.db.execute("ANALYZE")
        self.db.close()
        elapsed = time.perf_counter() - started
        print(f"seeded {self.conversations:,} conversations and {self.messages:,} messages in {elapsed:.1f} s")

    def _users(self, now: str) -> None:
        users = [(i + 1, 1, f"agent{i}@bench.test", "agent", now) for i in range(AGENTS)]
        self.db.executemany(
            "INSERT INTO users (id, workspace_id, email, name, role, active, created_at, updated_at) "
            "VALUES (?, ?, ?, 'Agent', ?, 1, ?, ?)",
            [(*user, now) for user in users],
        )
        self.db.execute(
            "INSERT INTO api_tokens (user_id, workspace_id, token_hash, prefix, name, created_at) "
            "VALUES (1, 1, ?, 'ptk_bench', 'bench', ?)",
            (hash_token(TOKEN), now),
        )
        self.db.executemany(
            "INSERT INTO labels (id, workspace_id, name, colour, description, created_at) "
            "VALUES (?, 1, ?, '#ff0000', '', ?)",
            [(i + 1, name, now) for i, name in enumerate(LABELS)],
        )

    def _insert(self, table: str, rows: Iterator[tuple[Any, ...]]) -> None:
        columns = COLUMNS[table]
        placeholders = ", ".join("?" * len(columns))
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 - fixed names
        for chunk in _chunks(rows):
            self.db.executemany(statement, chunk)

    def _workspace(self, conversation_id: int) -> int:
        return 1 if conversation_id % 10 else 2

    def _channel(self, conversation_id: int) -> int:
        workspace = self._workspace(conversation_id)
        return (workspace - 1) * 4 + 1 + conversation_id * 7 % 4

    def _contacts(self, now: str) -> Iterator[tuple[Any, ...]]:
        for cid in range(1, self.conversations + 1):
            yield cid, self._workspace(cid), self._channel(cid), f"628{cid:09d}", f"Customer {cid}", now, now

    def _conversation_rows(self) -> Iterator[tuple[Any, ...]]:
        for cid in range(1, self.conversations + 1):
            age = timedelta(minutes=self.random.uniform(0, 180 * 24 * 60))
            last = self.now - age
            roll, status = self.random.random(), "resolved"
            for name, share in STATUSES:
                if roll < share:
                    status = name
                    break
                roll -= share
            flags = None
            if self.random.random() < 0.08:
                flags = json.dumps({"payment": last.isoformat()})
            elif self.random.random() < 0.03:
                flags = json.dumps({"address": last.isoformat()})
            ttclid = f"E.C.P.{uuid.uuid4().hex}" if self.random.random() < 0.3 else None
            yield (
                cid, uuid.uuid4().hex, self._workspace(cid), self._channel(cid), cid, status,
                self.random.choice((None, None, "high", "low")), _stamp(last - timedelta(hours=1)), _stamp(last),
                _stamp(last), None, flags, ttclid, _stamp(last - timedelta(hours=1)), _stamp(last),
            )  # fmt: skip

    def _assignments(self, now: str) -> Iterator[tuple[Any, ...]]:
        for cid in range(1, self.conversations + 1):
            if self._workspace(cid) == 1 and self.random.random() < 0.4:
                yield cid, self.random.randint(1, AGENTS), now

    def _labels(self, now: str) -> Iterator[tuple[Any, ...]]:
        for cid in range(1, self.conversations + 1):
            if self._workspace(cid) == 1 and self.random.random() < 0.15:
                yield cid, self.random.randint(1, len(LABELS))

    def _message_rows(self) -> Iterator[tuple[Any, ...]]:
        per_conversation = max(1, self.messages // self.conversations)
        message_id = 0
        for cid in range(1, self.conversations + 1):
            for index in range(per_conversation):
                message_id += 1
                inbound = index % 3 != 2
                text = " ".join(self.random.choices(WORDS, k=6))
                sent = _stamp(self.now - timedelta(minutes=per_conversation - index))
                yield (
                    message_id, self._workspace(cid), cid, self._channel(cid), cid,
                    "inbound" if inbound else "outbound", f"m{message_id}", "text", text,
                    None if inbound else "delivered", sent, sent, 0,
                )  # fmt: skip


COLUMNS = {
    "contacts": ("id", "workspace_id", "channel_id", "external_id", "name", "created_at", "updated_at"),
    "conversations": (
        "id", "public_id", "workspace_id", "channel_id", "contact_id", "status", "priority", "started_at",
        "last_message_at", "last_inbound_at", "resolved_at", "flags", "ttclid", "created_at", "updated_at",
    ),
    "conversation_assignments": ("conversation_id", "user_id", "assigned_at"),
    "conversation_labels": ("conversation_id", "label_id"),
    "messages": (
        "id", "workspace_id", "conversation_id", "channel_id", "contact_id", "direction", "platform_message_id",
        "message_type", "text", "delivery_status", "sent_at", "created_at", "private_note",
    ),
}  # fmt: skip


# --- serving ---------------------------------------------------------------------------------------------------


def serve(database_url: str, port: int, state_dir: str) -> None:
    """The service with the inbox routes, as the lead's app factory will build it; workers off."""
    from aiohttp import web

    from partner.app import create_app
    from partner.inbox.routes import add_routes
    from partner.logs import configure_logging
    from partner.settings import Settings, normalise_database_url

    configure_logging("json", "warning")
    settings = Settings(
        database_url=normalise_database_url(database_url),
        secret_key=SECRET,
        state_dir=Path(state_dir),
        run_workers=False,
        log_format="json",
        log_level="warning",
    )
    app = create_app(settings, migrate_on_start=False)
    if not any(resource.canonical == "/api/v1/openapi.json" for resource in app.router.resources()):
        add_routes(app)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- measuring ---------------------------------------------------------------------------------------------------


async def _wait(session: aiohttp.ClientSession, base: str) -> None:
    await wait_until_ok(f"{base}/healthz", what="the service")


async def _timed(session: aiohttp.ClientSession, url: str) -> tuple[float, Any]:
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {body}")
    return (time.perf_counter() - started) * 1000, body


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


async def _scenario(session: aiohttp.ClientSession, urls: list[str]) -> tuple[float, float, float]:
    for url in urls[:5]:
        await _timed(session, url)  # warm the connection and the page cache
    return _percentiles([(await _timed(session, url))[0] for url in urls])


async def _cursor_urls(session: aiohttp.ClientSession, base: str, query: str, pages: int) -> list[str]:
    """URLs of successive pages, found by following next_cursor."""
    urls, cursor = [], None
    for _ in range(pages):
        url = f"{base}/api/v1/conversations?{query}" + (f"&cursor={cursor}" if cursor else "")
        urls.append(url)
        _, body = await _timed(session, url)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    return urls


@dataclass(frozen=True, slots=True)
class Result:
    kind: str
    scenario: str
    p50: float
    p95: float
    p99: float
    target: float | None


def _list_scenarios() -> dict[str, str]:
    day_ago = (datetime.now(tz=UTC) - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    return {
        "open (default tab, with counts)": "status=open",
        "open, assigned to me": "status=open&assignee=me",
        "open, unassigned, one channel": "status=open&assignee=unassigned&channel_id=1",
        "pending, one platform": "status=pending&platform=whatsapp",
        "label vip, any status": "status=all&label=vip",
        "flag payment, open": "status=open&flag=payment",
        "attributed, open, sort last_message_at": "status=open&attributed=true&sort=last_message_at",
        "updated in the last day, all": f"status=all&updated_since={day_ago}",
        "all statuses (counts over the workspace)": "status=all",
        "all statuses, counts off": "status=all&counts=false",
    }


async def _list_results(session: aiohttp.ClientSession, base: str, requests: int) -> list[Result]:
    results = []
    for name, query in _list_scenarios().items():
        urls = [f"{base}/api/v1/conversations?{query}"] * requests
        results.append(Result("list", name, *await _scenario(session, urls), LIST_TARGET_MS))
    deep = await _cursor_urls(session, base, "status=all&limit=25&counts=false", 40)
    pages = (deep * requests)[:requests]
    results.append(Result("list", "pages 1-40 by cursor", *await _scenario(session, pages), LIST_TARGET_MS))
    words = random.Random(5)
    search = [f"{base}/api/v1/conversations?status=open&q=payment+{words.choice(WORDS)}" for _ in range(20)]
    results.append(Result("search", "q= text search (LIKE, no target)", *await _scenario(session, search), None))
    return results


async def _message_results(
    session: aiohttp.ClientSession, base: str, requests: int, conversations: int
) -> list[Result]:
    picker = random.Random(3)
    ids = [i for i in (picker.randrange(1, conversations) for _ in range(requests)) if i % 10] or [1]  # big shop
    pages = [f"{base}/api/v1/conversations/{i}/messages?limit=50" for i in ids]
    results = [Result("messages", "first page of a conversation", *await _scenario(session, pages), MESSAGES_TARGET_MS)]
    _, first = await _timed(session, f"{base}/api/v1/conversations/{ids[0]}/messages?limit=5")
    after = [f"{base}/api/v1/conversations/{ids[0]}/messages?limit=5&cursor={first['next_cursor']}"] * requests
    results.append(Result("messages", "next page by cursor", *await _scenario(session, after), MESSAGES_TARGET_MS))
    details = [f"{base}/api/v1/conversations/{i}" for i in ids]
    results.append(Result("detail", "one conversation", *await _scenario(session, details), None))
    return results


async def measure(base: str, requests: int, conversations: int) -> list[Result]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=1)) as session:
        await _wait(session, base)
        return [
            *await _list_results(session, base, requests),
            *await _message_results(session, base, requests, conversations),
        ]


def _report(results: list[Result]) -> bool:
    print(f"\n{'kind':<9} {'scenario':<44} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  target p95")
    ok = True
    for result in results:
        target = "" if result.target is None else f"< {result.target:.0f}"
        verdict = "-" if result.target is None else ("ok" if result.p95 < result.target else "MISSED")
        ok &= verdict != "MISSED"
        print(
            f"{result.kind:<9} {result.scenario:<44} {result.p50:8.2f} {result.p95:8.2f} {result.p99:8.2f}"
            f"  {target:>5} {verdict}"
        )
    return ok


async def _migrate(database_url: str) -> None:
    from partner.settings import normalise_database_url
    from partner.store import migrate
    from partner.store.db import create_engine

    engine = create_engine(normalise_database_url(database_url))
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario")
    parser.add_argument("--workdir", help="keep the database here instead of a temporary directory")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # internal: run the service on this database
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, tempfile.mkdtemp())
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "bench-inbox.db"
        path.unlink(missing_ok=True)
        database_url = f"sqlite:///{path}"
        asyncio.run(_migrate(database_url))
        Seeder(path, args.conversations, args.messages).run()
        port = free_port()
        command = [sys.executable, __file__, "--serve", database_url, "--port", str(port)]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}  # the checkout, not what the editable install maps
        server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        try:
            results = asyncio.run(measure(f"http://127.0.0.1:{port}", args.requests, args.conversations))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("requests over loopback to the service in its own process, one at a time, SQLite (WAL)")
    return 0 if _report(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
