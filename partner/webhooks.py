"""Inbound webhook endpoints: verify the raw bytes, parse, store in one transaction, then answer 200.

Unknown channels answer 200 with a warning (Meta's dashboard sends test payloads for numbers nobody owns, and a
non-200 would only make the platform retry); a bad signature is 401 and a malformed body 400, and in both cases
nothing is stored. The process never dies on input.
"""

from __future__ import annotations

import hmac

import structlog
from aiohttp import web

from partner.appkeys import directory_key, settings_key
from partner.channels import ChannelDirectory, ChannelInfo
from partner.ingest.writer import IngestWriter
from partner.platforms import base, get_platform
from partner.settings import Settings
from partner.web import error_response, metrics_key

log = structlog.get_logger(__name__)

writer_key = web.AppKey("ingest_writer", IngestWriter)


async def meta_handshake(request: web.Request) -> web.Response:
    """Meta's subscription check: echo ``hub.challenge`` when the verify token matches."""
    settings = request.app[settings_key]
    query = request.query
    expected = settings.meta_verify_token
    if (
        query.get("hub.mode") == "subscribe"
        and expected is not None
        and _constant_time_equal(query.get("hub.verify_token", ""), expected)
    ):
        return web.Response(text=query.get("hub.challenge", ""))
    return error_response(403, "forbidden", "verify token does not match")


def _constant_time_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())


async def receive_whatsapp(request: web.Request) -> web.Response:
    return await _receive(request, "whatsapp")


async def receive_messenger(request: web.Request) -> web.Response:
    return await _receive(request, "messenger")


async def receive_tiktok(request: web.Request) -> web.Response:
    return await _receive(request, "tiktok")


async def receive_line(request: web.Request) -> web.Response:
    return await _receive(request, "line", route_key=request.match_info["channel_id"])


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    if request.content_length is not None and request.content_length > limit:
        return None
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None


async def _receive(request: web.Request, platform: str, *, route_key: str | None = None) -> web.Response:
    app = request.app
    settings, metrics, directory = app[settings_key], app[metrics_key], app[directory_key]
    raw = await _read_body(request, settings.max_body_bytes)
    if raw is None:
        metrics.webhook_rejected.labels(platform, "too_large").inc()
        return error_response(413, "payload_too_large", f"body is larger than {settings.max_body_bytes} bytes")
    await directory.refresh_if_stale()
    secrets = await _candidate_secrets(directory, platform, route_key, settings)
    if route_key is not None and not secrets:
        log.warning("webhook_unknown_channel", platform=platform, channel_key=route_key)
        return web.json_response({"ok": True})
    module = get_platform(platform)
    if not module.verify(raw, request.headers, secrets):
        metrics.webhook_rejected.labels(platform, "signature").inc()
        return error_response(401, "invalid_signature", "signature missing or does not match")
    try:
        parsed = module.parse(raw, route_key=route_key)
    except base.PayloadError as error:
        metrics.webhook_rejected.labels(platform, "payload").inc()
        return error_response(400, "invalid_payload", str(error))
    pairs = await _route(directory, platform, parsed.items)
    if pairs:
        result = await app[writer_key].submit(pairs)
        for kind, count in result.stored.items():
            metrics.webhook_items.labels(platform, kind).inc(count)
        if result.duplicates:
            metrics.webhook_duplicates.labels(platform).inc(result.duplicates)
    return web.json_response({"ok": True})


async def _candidate_secrets(
    directory: ChannelDirectory, platform: str, route_key: str | None, settings: Settings
) -> list[bytes]:
    if platform == "line" and route_key is not None:
        channel = await directory.find("line", route_key)
        secret = channel.secrets.get("channel_secret") if channel else None
        return [str(secret).encode()] if secret else []
    service_secret = settings.meta_app_secret if platform in ("whatsapp", "messenger") else None
    if platform == "tiktok":
        service_secret = settings.tiktok_app_secret
    return directory.signing_secrets(platform, service_secret)


async def _route(
    directory: ChannelDirectory, platform: str, items: list[base.InboundItem]
) -> list[tuple[ChannelInfo, base.InboundItem]]:
    pairs: list[tuple[ChannelInfo, base.InboundItem]] = []
    unknown: set[str] = set()
    for item in items:
        channel = directory.cached(platform, item.channel_key) or await directory.find(platform, item.channel_key)
        if channel is None:
            unknown.add(item.channel_key)
        else:
            pairs.append((channel, item))
    if unknown:
        log.warning("webhook_unknown_channel", platform=platform, channel_keys=sorted(unknown)[:10])
    return pairs


def add_routes(app: web.Application) -> None:
    app.router.add_get("/webhooks/whatsapp", meta_handshake)
    app.router.add_post("/webhooks/whatsapp", receive_whatsapp)
    app.router.add_get("/webhooks/messenger", meta_handshake)
    app.router.add_post("/webhooks/messenger", receive_messenger)
    app.router.add_post("/webhooks/line/{channel_id}", receive_line)
    app.router.add_post("/webhooks/tiktok", receive_tiktok)
