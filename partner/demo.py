"""``partner demo``: the whole product on one machine, with nothing configured.

Starts the local TikTok / Meta / LINE stand-in and the service (SQLite in ``.partner/demo``), creates a demo
workspace with a WhatsApp number, a LINE channel and a Messenger page, reports to the stand-in's Message Event Set,
makes tracking links, then plays five customers: some arrive from a tracked TikTok ad click, some do not, writing in
Indonesian, Thai, Chinese, Spanish and Japanese. Their webhooks are signed exactly as Meta and LINE sign them. It
prints what reached TikTok (event names, ttclid or not, signal flags: never the message text) and leaves both
servers running so the API can be explored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
from aiohttp import web

from partner.platforms import get_platform
from partner.sandbox import SandboxConfig, create_sandbox_app
from partner.sandbox.state import DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID, DEFAULT_META_TOKEN
from partner.settings import Settings, normalise_database_url

WHATSAPP_NUMBER_ID = "100000000000001"
MESSENGER_PAGE_ID = "200000000000001"
LINE_CHANNEL_ID = "1650000001"


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    platform: str
    user_id: str
    clicked_ad: bool
    messages: tuple[str, ...]


CUSTOMERS = (
    Customer("Ayu", "whatsapp", "6281234560001", True,
             ("Halo kak, saya mau pesan 2 kaos ukuran M", "Sudah transfer ya kak, mohon dicek pembayarannya 🙏")),
    Customer("Somchai", "line", "U1b2c3d4e5f60001", True,
             ("สวัสดีครับ เสื้อตัวนี้ราคาเท่าไหร่ครับ", "โอนเงินแล้วครับ")),
    Customer("Li Wei", "whatsapp", "85291230002", False, ("你好，请问这个多少钱？", "我已经付款了，谢谢")),
    Customer("María", "messenger", "7400000000000003", True,
             ("Hola, quiero reservar una mesa para 4 el sábado", "¿Me pueden llamar a este número?")),
    Customer("Kenji", "line", "U1b2c3d4e5f60005", False, ("こんにちは、予約したいです",)),
)  # fmt: skip


def _fresh_directory(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(slots=True)
class DemoWorld:
    service: str
    sandbox: str
    admin: dict[str, str]
    meta_secret: str
    line_secret: str
    links: dict[str, str]


async def run_demo(
    settings: Settings, *, data_dir: Path, out: TextIO, keep_running: bool, stop: asyncio.Event | None = None
) -> int:
    """Run the demo; returns an exit code. With ``keep_running`` it serves until ``stop`` (or Ctrl-C)."""
    _fresh_directory(data_dir)
    sandbox_port, service_port = _free_port(), _free_port()
    sandbox_url, service_url = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{service_port}"
    world = DemoWorld(
        service=service_url,
        sandbox=sandbox_url,
        admin={"Authorization": f"Bearer {secrets.token_urlsafe(24)}"},
        meta_secret=secrets.token_hex(16),
        line_secret=secrets.token_hex(16),
        links={},
    )
    demo_settings = dataclasses.replace(
        settings,
        database_url=normalise_database_url(f"sqlite:///{data_dir}/partner.db"),
        tiktok_api_base=f"{sandbox_url}/open_api/v1.3/",
        tiktok_portal_url=f"{sandbox_url}/portal/auth",
        graph_api_base=f"{sandbox_url}/v21.0/",
        line_api_base=f"{sandbox_url}/",
        public_url=service_url,
        admin_token=world.admin["Authorization"].removeprefix("Bearer "),
        meta_app_secret=world.meta_secret,
        run_workers=True,
        outbox_poll_seconds=0.2,
    )
    runners = await _start(demo_settings, sandbox_port, service_port)
    try:
        await _configure(world)
        await _play(world)
        report = await _wait_for_report(world)
        _print_report(out, world, report)
        if keep_running:
            _print_next_steps(out, world)
            await (stop or asyncio.Event()).wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    return 0


async def _start(settings: Settings, sandbox_port: int, service_port: int) -> list[web.AppRunner]:
    from partner.app import create_app

    sandbox = web.AppRunner(create_sandbox_app(SandboxConfig(auto_approve=True)), access_log=None)
    await sandbox.setup()
    await web.TCPSite(sandbox, "127.0.0.1", sandbox_port).start()
    service = web.AppRunner(create_app(settings), access_log=None, shutdown_timeout=2)
    await service.setup()
    await web.TCPSite(service, "127.0.0.1", service_port).start()
    return [sandbox, service]


async def _api(world: DemoWorld, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession(headers=world.admin) as session,
        session.request(method, f"{world.service}{path}", json=body) as response,
    ):
        payload = await response.json()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} failed: {payload}")
        return payload


async def _configure(world: DemoWorld) -> None:
    workspace = await _api(world, "POST", "/api/v1/workspaces", {"name": "Demo Shop", "timezone": "Asia/Jakarta"})
    channels: list[dict[str, Any]] = [
        {"platform": "whatsapp", "external_id": WHATSAPP_NUMBER_ID, "name": "Demo Shop WhatsApp",
         "display_phone": "+6281100000000", "secrets": {"access_token": DEFAULT_META_TOKEN}},
        {"platform": "line", "external_id": LINE_CHANNEL_ID, "name": "Demo Shop LINE", "line_basic_id": "@demoshop",
         "secrets": {"channel_secret": world.line_secret, "channel_access_token": "sandbox-line-token"}},
        {"platform": "messenger", "external_id": MESSENGER_PAGE_ID, "name": "Demo Shop Page",
         "secrets": {"page_access_token": DEFAULT_META_TOKEN}},
    ]  # fmt: skip
    for channel in channels:
        created = await _api(world, "POST", "/api/v1/channels", {"workspace_id": workspace["id"], **channel})
        link = await _api(
            world,
            "POST",
            "/api/v1/links",
            {"channel_id": created["id"], "greeting": "Hi!", "campaign": "tiktok-spring-sale"},
        )
        world.links[channel["platform"]] = link["slug"]
    reporting = {"event_source": "web", "event_source_id": DEFAULT_MES_ID, "access_token": DEFAULT_EVENTS_TOKEN}
    await _api(world, "PUT", f"/api/v1/workspaces/{workspace['id']}/reporting", reporting)


async def _click(world: DemoWorld, platform: str, ttclid: str) -> str:
    """Follow the tracking link as the ad would; returns the code the chat app will carry back."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{world.service}/r/{world.links[platform]}", params={"ttclid": ttclid}, allow_redirects=False
        ) as r,
    ):
        location = r.headers["Location"]
    parts = urlsplit(location)
    if platform == "messenger":
        return parse_qs(parts.query)["ref"][0]
    text = parse_qs(parts.query)["text"][0] if parts.netloc == "wa.me" else unquote(parts.query)
    return text.removeprefix("Hi!").strip()


async def _play(world: DemoWorld) -> None:
    now = int(time.time())
    for index, customer in enumerate(CUSTOMERS):
        marker = (
            await _click(world, customer.platform, f"E.C.P.demo{index}{secrets.token_hex(6)}")
            if customer.clicked_ad
            else None
        )
        for turn, text in enumerate(customer.messages):
            body = f"{text} {marker}" if marker and turn == 0 and customer.platform != "messenger" else text
            referral = marker if customer.platform == "messenger" and turn == 0 else None
            await _send(world, customer, f"{index}-{turn}", body, now + turn, referral)


async def _send(world: DemoWorld, customer: Customer, key: str, text: str, at: int, ref: str | None) -> None:
    builders: dict[str, Callable[..., tuple[str, bytes, bytes]]] = {
        "whatsapp": _whatsapp_webhook,
        "line": _line_webhook,
        "messenger": _messenger_webhook,
    }
    path, raw, secret = builders[customer.platform](world, customer, key, text, at, ref)
    headers = get_platform(customer.platform).sign(raw, secret)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{world.service}{path}", data=raw, headers=headers) as r,
    ):
        if r.status != 200:
            raise RuntimeError(f"webhook refused: {r.status}")


def _whatsapp_webhook(
    world: DemoWorld, customer: Customer, key: str, text: str, at: int, _ref: str | None
) -> tuple[str, bytes, bytes]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000000", "phone_number_id": WHATSAPP_NUMBER_ID},
        "contacts": [{"profile": {"name": customer.name}, "wa_id": customer.user_id}],
        "messages": [{"from": customer.user_id, "id": f"wamid.DEMO{key}", "timestamp": str(at), "type": "text",
                      "text": {"body": text}}],
    }  # fmt: skip
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return "/webhooks/whatsapp", json.dumps(body).encode(), world.meta_secret.encode()


def _line_webhook(
    world: DemoWorld, customer: Customer, key: str, text: str, at: int, _ref: str | None
) -> tuple[str, bytes, bytes]:
    event = {
        "type": "message", "mode": "active", "timestamp": at * 1000, "webhookEventId": f"01DEMO{key}",
        "deliveryContext": {"isRedelivery": False}, "replyToken": secrets.token_hex(16),
        "source": {"type": "user", "userId": customer.user_id},
        "message": {"id": f"5{key.replace('-', '')}", "type": "text", "quoteToken": "q", "text": text},
    }  # fmt: skip
    body = {"destination": "Udemoshopbot", "events": [event]}
    return f"/webhooks/line/{LINE_CHANNEL_ID}", json.dumps(body).encode(), world.line_secret.encode()


def _messenger_webhook(
    world: DemoWorld, customer: Customer, key: str, text: str, at: int, ref: str | None
) -> tuple[str, bytes, bytes]:
    message: dict[str, Any] = {"mid": f"m_DEMO{key}", "text": text}
    if ref:
        message["referral"] = {"ref": ref, "source": "ADS", "type": "OPEN_THREAD", "ad_id": "demo-ad"}
    entry = {"id": MESSENGER_PAGE_ID, "time": at * 1000, "messaging": [
        {"sender": {"id": customer.user_id}, "recipient": {"id": MESSENGER_PAGE_ID}, "timestamp": at * 1000,
         "message": message}]}  # fmt: skip
    return "/webhooks/messenger", json.dumps({"object": "page", "entry": [entry]}).encode(), world.meta_secret.encode()


async def _wait_for_report(world: DemoWorld, within: float = 20.0) -> list[dict[str, Any]]:
    """The events TikTok received, once the outbox has nothing left to send."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pending = [
            e
            for e in (await _api(world, "GET", "/api/v1/events?limit=500"))["events"]
            if e["status"] in ("queued", "sending")
        ]
        jobs_idle = not pending
        if jobs_idle:
            await asyncio.sleep(1.0)  # let analysis of the last messages queue their signals
            again = (await _api(world, "GET", "/api/v1/events?limit=500"))["events"]
            if not [e for e in again if e["status"] in ("queued", "sending")]:
                break
        await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as session, session.get(f"{world.sandbox}/_sandbox/requests") as response:
        requests = (await response.json())["requests"]
    return [event for r in requests if r["path"].endswith("/event/track/") for event in r["body"]["data"]]


def _print_report(out: TextIO, world: DemoWorld, events: list[dict[str, Any]]) -> None:
    out.write("\nTikTok Messaging Partner demo\n")
    out.write(f"  service   {world.service}\n  TikTok, Meta and LINE stand-in   {world.sandbox}\n\n")
    out.write("Customers (message text stays in the service):\n")
    for customer in CUSTOMERS:
        source = "tracked TikTok ad click" if customer.clicked_ad else "organic (no click)"
        out.write(f"  {customer.name:<8} {customer.platform:<9} {source}, {len(customer.messages)} message(s)\n")
    out.write(f"\nReported to TikTok's Events API ({len(events)} events):\n")
    out.write(f"  {'event':<16}{'ttclid':<10}{'phone':<7}{'flags':<24}event_id\n")
    for event in events:
        user = event.get("user", {})
        flags = ",".join(f"{k}={str(v).lower()}" for k, v in event.get("properties", {}).items() if isinstance(v, bool))
        out.write(
            f"  {event['event']:<16}{'yes' if 'ttclid' in user else 'no':<10}{'hashed' if 'phone' in user else '-':<7}"
            f"{flags or '-':<24}{event['event_id'][:20]}\n"
        )


def _print_next_steps(out: TextIO, world: DemoWorld) -> None:
    token = world.admin["Authorization"]
    out.write("\nWhere to look next (servers keep running; Ctrl-C stops them):\n")
    out.write(f"  curl -H '{token}' {world.service}/api/v1/events\n")
    out.write(f"  curl -H '{token}' {world.service}/api/v1/channels\n")
    out.write(f"  curl {world.service}/metrics | grep partner_\n")
    out.write(f"  curl {world.sandbox}/_sandbox/requests   # exactly what TikTok received\n")
    out.flush()
