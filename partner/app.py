"""The aiohttp application, built by one factory.

Shared resources (database engine, HTTP client session, ingest writer, background workers) are created and closed
in ``cleanup_ctx`` and reached through typed ``web.AppKey``s, never module globals. On shutdown aiohttp stops
accepting, lets in-flight requests finish, then unwinds these contexts in reverse: workers stop, the writer
flushes what it holds, the engine closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Literal

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field

import oauth.routes
from partner import __version__, admin, webhooks
from partner.analysis import MessageAnalyzer
from partner.appkeys import box_key, directory_key, engine_key, http_key, settings_key
from partner.attribution import purge_expired_clicks
from partner.attribution import routes as attribution_routes
from partner.channels import ChannelDirectory
from partner.crypto import SecretBox
from partner.inbox import routes as inbox_routes
from partner.ingest.apply import MESSAGE_RECEIVED_JOB, IngestPolicy
from partner.ingest.writer import IngestWriter
from partner.keywords import KeywordRegistry
from partner.metrics import Metrics
from partner.openapi import Endpoint, Output, add_endpoints, json_response
from partner.reporting import api as reporting_api
from partner.reporting.client import TikTokApiClient
from partner.reporting.outbox import OutboxSender
from partner.settings import Settings
from partner.store import migrate
from partner.store.db import create_engine, ping
from partner.store.queue import JobQueue
from partner.web import json_errors, metrics_key, observe, request_context
from partner.webhooks import writer_key
from partner.worker import JobHandler, JobWorker

log = structlog.get_logger(__name__)

migrate_on_start_key = web.AppKey("migrate_on_start", bool)
outbox_key = web.AppKey("outbox_sender", OutboxSender)
keywords_key = web.AppKey("keywords", KeywordRegistry)
jobs_key = web.AppKey("job_worker", JobWorker)


def create_app(settings: Settings, *, migrate_on_start: bool = True) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[request_context, observe, json_errors],
    )
    app[settings_key] = settings
    app[metrics_key] = Metrics()
    app[box_key] = SecretBox(settings.secret_key, settings.old_secret_keys)
    app[migrate_on_start_key] = migrate_on_start
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_http_session)
    app.cleanup_ctx.append(_ingest_writer)
    app.cleanup_ctx.append(_keywords)
    app.cleanup_ctx.append(_workers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    add_endpoints(app, KEYWORD_ENDPOINTS)
    webhooks.add_routes(app)
    admin.add_routes(app)
    reporting_api.add_routes(app)
    attribution_routes.add_routes(app)
    oauth.routes.add_routes(app)
    inbox_routes.add_routes(app)
    app.cleanup_ctx.append(oauth.routes.reauthorization_refresher)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    engine = create_engine(settings.database_url)
    if app[migrate_on_start_key]:
        await migrate.upgrade(engine)
    app[engine_key] = engine
    directory = ChannelDirectory(engine, app[box_key])
    await directory.load()
    app[directory_key] = directory
    log.info("database_ready", backend=engine.dialect.name)
    yield
    await engine.dispose()


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=app[settings_key].http_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": f"partner/{__version__}"}) as session:
        app[http_key] = session
        yield


async def _ingest_writer(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    writer = IngestWriter(
        app[engine_key], IngestPolicy(conversation_idle=timedelta(hours=settings.conversation_idle_hours))
    )
    writer.start()
    app[writer_key] = writer
    yield
    await writer.stop()


async def _keywords(app: web.Application) -> AsyncIterator[None]:
    """Keyword files are loaded at start and watched: a file dropped in is in force within two seconds."""
    registry = KeywordRegistry(app[settings_key].keywords_dir)
    registry.load()
    app[keywords_key] = registry
    stop = asyncio.Event()
    watcher = asyncio.create_task(registry.watch(stop), name="keyword-watcher")
    yield
    stop.set()
    await watcher


class KeywordError(Output):
    file: str
    line: int | None
    reason: str


class KeywordFileStatus(Output):
    file: str
    version: str = Field(description="sha256 of the file's current content")
    state: Literal["ok", "rejected"]
    signal: str | None
    version_in_force: str | None = Field(description="The last good version, which stays in force")
    counts: dict[str, int]
    errors: list[KeywordError]


class SignalSummary(Output):
    keywords: int
    negative_keywords: int
    patterns: int
    files: list[str]


class KeywordStatus(Output):
    directory: str
    generation: int
    loaded_at: datetime | None
    signals: dict[str, SignalSummary]
    files: list[KeywordFileStatus]
    errors: list[KeywordError]


async def keywords_status(request: web.Request) -> web.Response:
    """Signals in force, their source files and versions, and load errors (names and counts, never keywords)."""
    return json_response(KeywordStatus.model_validate(request.app[keywords_key].status()))


KEYWORD_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/api/v1/keywords", keywords_status, "Keyword signals in force, their files and load errors",
        "viewer", "keywords", response=KeywordStatus,
        description="The keyword files are shared by every workspace; a bad file keeps its last good version.",
    ),
)  # fmt: skip


async def _workers(app: web.Application) -> AsyncIterator[None]:
    """Background delivery; with ``run_workers`` off (tests, one-off commands) the objects exist but do not loop."""
    settings = app[settings_key]
    client = TikTokApiClient(app[http_key], settings.tiktok_api_base, timeout_seconds=settings.http_timeout_seconds)
    sender = OutboxSender(
        app[engine_key],
        client,
        app[box_key],
        app[metrics_key],
        partner_name=settings.tiktok_partner_name,
        max_age=timedelta(days=settings.event_max_age_days),
        lease_seconds=settings.outbox_lease_seconds,
    )
    app[outbox_key] = sender
    analyzer = MessageAnalyzer(app[engine_key], app[keywords_key].flags, followers=inbox_routes.analysis_followers())
    handlers: dict[str, JobHandler] = {MESSAGE_RECEIVED_JOB: analyzer, **inbox_routes.job_handlers(app)}
    worker = JobWorker(JobQueue(app[engine_key]), handlers)
    app[jobs_key] = worker
    stop = asyncio.Event()
    tasks = []
    if settings.run_workers:
        tasks.append(asyncio.create_task(sender.run(stop, poll_seconds=settings.outbox_poll_seconds), name="outbox"))
        tasks.append(asyncio.create_task(worker.run(stop), name="jobs"))
        tasks.append(asyncio.create_task(_maintenance(app, stop), name="maintenance"))
    yield
    stop.set()
    await asyncio.gather(*tasks)


async def run_maintenance(app: web.Application) -> dict[str, int]:
    """Housekeeping that keeps promises about data: click IPs and user agents live only as long as the window."""
    async with app[engine_key].begin() as connection:
        purged = await connection.run_sync(lambda sync: purge_expired_clicks(sync))
    if purged:
        log.info("expired_clicks_purged", count=purged)
    return {"clicks_purged": purged}


async def _maintenance(app: web.Application, stop: asyncio.Event, *, every_seconds: float = 600) -> None:
    while not stop.is_set():
        try:
            await run_maintenance(app)
        except Exception:
            log.exception("maintenance_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_seconds)


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers."""
    try:
        await ping(request.app[engine_key])
    except Exception as error:  # any driver error means not ready
        log.warning("readiness_failed", error_type=type(error).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = generate_latest(request.app[metrics_key].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
