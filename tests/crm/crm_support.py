"""Helpers of the CRM webhook tests: a receiving CRM, subscribing, running the queue, and inbound messages."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from partner.analysis import MessageAnalyzer
from partner.app import keywords_key
from partner.appkeys import engine_key
from partner.crm import routes as crm_routes
from partner.crm.emit import DELIVER_JOB
from partner.crm.models import DELIVERIES
from partner.inbox import routes as inbox_routes
from partner.ingest.apply import MESSAGE_RECEIVED_JOB
from partner.platforms import get_platform
from partner.store.models import utcnow
from partner.store.queue import JOBS, JobQueue
from partner.worker import JobWorker
from tests.conftest import META_APP_SECRET
from tests.inbox.inbox_support import SANDBOX_CHANNELS, Client, Workspace, json_of

TOLERANCE = 300


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def envelope(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value

    @property
    def data(self) -> dict[str, Any]:
        data = self.envelope["data"]
        assert isinstance(data, dict)
        return data


def crm_verifies(secret: str, received: Received, *, now: float | None = None) -> bool:
    """The check a CRM implements from the documentation: fresh timestamp, HMAC of "<ts>.<raw body>"."""
    timestamp = received.headers["X-Partner-Timestamp"]
    if abs((now or time.time()) - int(timestamp)) > TOLERANCE:
        return False
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256).hexdigest()
    offered = [part.strip() for part in received.headers["X-Partner-Signature"].split(",")]
    return any(hmac.compare_digest(f"sha256={mac}", part) for part in offered)


@dataclass
class Receiver:
    """A CRM endpoint: records every request and answers with the queued statuses (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    server: TestServer | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        app.router.add_post("/elsewhere", self._handle)
        return app

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path, dict(request.headers), await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        headers = {"Location": self.url("/elsewhere")} if 300 <= status < 400 else None
        return web.Response(status=status, text="internal CRM detail that must not be stored", headers=headers)

    def of_type(self, event_type: str) -> list[Received]:
        return [item for item in self.received if item.headers.get("X-Partner-Event") == event_type]


async def subscribe(client: Client, shop: Workspace, url: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/webhooks", json={"url": url, **fields}, headers=shop.headers("admin"))
    body: dict[str, Any] = await json_of(response, 201)
    return body


def worker(client: Client) -> JobWorker:
    """Analysis and CRM deliveries only: replies would otherwise be sent to the real platforms."""
    app = client.app
    analyzer = MessageAnalyzer(app[engine_key], app[keywords_key].flags, followers=inbox_routes.analysis_followers())
    handlers = {MESSAGE_RECEIVED_JOB: analyzer, **crm_routes.job_handlers(app)}
    return JobWorker(JobQueue(app[engine_key]), handlers)


async def run_jobs(client: Client) -> int:
    """Run due jobs until none are left (analysis queues deliveries, which then run in the next round)."""
    done = 0
    for _ in range(10):
        ran = await worker(client).run_once()
        if ran == 0:
            break
        done += ran
    return done


async def make_due(client: Client) -> None:
    """Bring queued retries forward instead of sleeping through the backoff."""
    async with client.app[engine_key].begin() as connection:
        await connection.execute(
            sa.update(JOBS).where(JOBS.c.kind == DELIVER_JOB, JOBS.c.status == "queued").values(run_at=utcnow())
        )


async def deliveries(client: Client) -> list[Any]:
    async with client.app[engine_key].connect() as connection:
        return list((await connection.execute(sa.select(DELIVERIES).order_by(DELIVERIES.c.id))).all())


async def say(client: Client, text: str, *, wamid: str, contact: str = "6281234567890") -> None:
    """A customer's WhatsApp message, through the signed webhook; then the analysis job runs."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": SANDBOX_CHANNELS["whatsapp"]["external_id"]},
        "contacts": [{"profile": {"name": "Sari"}, "wa_id": contact}],
        "messages": [{"from": contact, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                      "text": {"body": text}}],
    }  # fmt: skip
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
               "value": value}]}]}  # fmt: skip
    raw = json.dumps(payload).encode()
    headers = get_platform("whatsapp").sign(raw, META_APP_SECRET.encode())
    response = await client.post("/webhooks/whatsapp", data=raw, headers=headers)
    assert response.status == 200, await response.text()
    await run_jobs(client)
