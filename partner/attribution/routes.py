"""Tracking links: the API that creates and counts them, and ``GET /r/{slug}``, the redirect an ad's landing URL
points at. Admins create links on their workspace's channels; every role may read them and their stats.

A redirect costs at most one indexed read (the link, then cached for ``LINK_CACHE_SECONDS``) and one indexed
insert (the click). Clicks are group-committed like webhooks: concurrent redirects share one transaction, each
waits for the commit before it answers, and on SQLite a batch runs whole in one thread on a synchronous
connection. If the click cannot be stored the customer is still sent to the chat, only without a code.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
import structlog
from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from partner.accounts.auth import Principal, authenticate, not_found
from partner.admin import workspace_filter
from partner.appkeys import engine_key, settings_key
from partner.attribution.codes import SLUG_ALPHABET, SLUG_LENGTH, mint_code, mint_slug
from partner.attribution.links import LINKABLE_PLATFORMS, destination_for, redirect_url
from partner.attribution.matching import insert_unless_taken, link_stats, record_clicks
from partner.attribution.models import TRACKING_LINKS
from partner.channels import CHANNELS
from partner.client_ip import client_ip
from partner.openapi import (
    BodyId,
    Endpoint,
    Id,
    Input,
    Output,
    Text,
    add_endpoints,
    json_response,
    parse_body,
    parse_query,
    path_id,
)
from partner.store.groupcommit import GroupCommitter
from partner.store.models import utcnow
from partner.web import ApiError

log = structlog.get_logger(__name__)

LINK_CACHE_SECONDS = 30.0
LINK_CACHE_SIZE = 4096
TTCLID_MAX_LENGTH = 512
MAX_PARAMS = 32
MAX_PARAM_KEY_LENGTH = 64
MAX_PARAM_VALUE_LENGTH = 512
MAX_PARAMS_BYTES = 4096
USER_AGENT_MAX_LENGTH = 512

_SLUG = re.compile(f"[{re.escape(SLUG_ALPHABET)}]{{{SLUG_LENGTH}}}")
_TTCLID = re.compile(r"[\x21-\x7e]+")  # printable ASCII without the space: no whitespace, no control characters
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NOT_FOUND_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><meta name=robots content=noindex>"
    "<title>Link not found</title><h1>Link not found</h1><p>This link does not exist or is no longer active.</p>"
)
_LINK_COLUMNS = (*TRACKING_LINKS.c, CHANNELS.c.platform)
_LINK_WITH_CHANNEL = sa.select(
    TRACKING_LINKS.c.id,
    TRACKING_LINKS.c.channel_id,
    TRACKING_LINKS.c.greeting,
    TRACKING_LINKS.c.match_window_days,
    CHANNELS.c.platform,
    CHANNELS.c.external_id,
    CHANNELS.c.display_phone,
    CHANNELS.c.line_basic_id,
).join(CHANNELS, CHANNELS.c.id == TRACKING_LINKS.c.channel_id)
_LINK_BY_SLUG = _LINK_WITH_CHANNEL.where(TRACKING_LINKS.c.slug == sa.bindparam("b_slug"))


# --- the redirect -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a redirect needs to know about its link, resolved once and cached."""

    link_id: int
    channel_id: int
    platform: str
    destination: str
    greeting: str | None
    match_window: timedelta

    def url(self, code: str | None) -> str:
        return redirect_url(self.platform, self.destination, greeting=self.greeting, code=code)


class LinkCache:
    """Links by slug for a short time: a campaign's clicks all hit the same few links.

    Concurrent misses for one slug share one read. Unknown slugs are not cached; each costs one indexed read.
    """

    def __init__(self, engine: AsyncEngine, *, ttl: float = LINK_CACHE_SECONDS, size: int = LINK_CACHE_SIZE) -> None:
        self._engine = engine
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[float, LinkTarget]] = {}
        self._loading: dict[str, asyncio.Task[LinkTarget | None]] = {}

    async def get(self, slug: str) -> LinkTarget | None:
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        loading = self._loading.get(slug)
        if loading is None:  # its own task: a customer who goes away does not cancel the read for the others
            loading = asyncio.create_task(self._load(slug), name="link-cache-load")
            self._loading[slug] = loading
            loading.add_done_callback(functools.partial(self._loaded, slug))
        return await asyncio.shield(loading)

    def _loaded(self, slug: str, loading: asyncio.Task[LinkTarget | None]) -> None:
        del self._loading[slug]
        if loading.cancelled() or loading.exception() is not None:  # the waiters, if any, get the error
            return
        target = loading.result()
        if target is not None:
            self._store(slug, target)

    async def _load(self, slug: str) -> LinkTarget | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(_LINK_BY_SLUG, {"b_slug": slug})).first()
        if row is None:
            return None
        destination = destination_for(
            row.platform, external_id=row.external_id, display_phone=row.display_phone, line_basic_id=row.line_basic_id
        )
        if destination is None:
            log.warning("link_without_destination", link_id=row.id, platform=row.platform)
            return None
        return LinkTarget(
            link_id=int(row.id),
            channel_id=int(row.channel_id),
            platform=row.platform,
            destination=destination,
            greeting=row.greeting,
            match_window=timedelta(days=int(row.match_window_days)),
        )

    def _store(self, slug: str, target: LinkTarget) -> None:
        if len(self._entries) >= self._size:
            now = time.monotonic()
            self._entries = {key: entry for key, entry in self._entries.items() if entry[0] > now}
            if len(self._entries) >= self._size:  # all fresh: drop the older half (insertion order)
                self._entries = dict(list(self._entries.items())[self._size // 2 :])
        self._entries[slug] = (time.monotonic() + self._ttl, target)


class ClickWriter:
    """Group commit for clicks (``partner.store.groupcommit``): one transaction per batch of redirects."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 256) -> None:
        self._committer: GroupCommitter[dict[str, Any], str] = GroupCommitter(
            engine, record_clicks, name="click-writer", max_batch=max_batch
        )

    async def record(self, row: dict[str, Any]) -> str:
        """Store one click; returns its code as committed (re-minted if the first one was taken)."""
        return await self._committer.submit(row)

    def start(self) -> None:
        self._committer.start()

    async def stop(self) -> None:
        """Commit everything already submitted, then stop."""
        await self._committer.stop()


link_cache_key = web.AppKey("attribution_link_cache", LinkCache)
click_writer_key = web.AppKey("attribution_click_writer", ClickWriter)


async def follow_link(request: web.Request) -> web.StreamResponse:
    """Record the click and send the customer to the chat with a fresh code; an unknown slug stores nothing."""
    slug = request.match_info["slug"]
    target = await request.app[link_cache_key].get(slug) if _SLUG.fullmatch(slug) else None
    if target is None:
        return web.Response(
            status=404, text=_NOT_FOUND_PAGE, content_type="text/html", headers={"Cache-Control": "no-store"}
        )
    if request.method == "HEAD":  # link checkers and previews: no click
        return _redirect(target.url(None))
    now = utcnow()
    row = {
        "link_id": target.link_id,
        "channel_id": target.channel_id,
        "code": mint_code(),
        "ttclid": _ttclid(request.query, target.link_id),
        "params": _extra_params(request.query, target.link_id),
        "ip": (client_ip(request, request.app[settings_key].trusted_proxies) or "")[:64] or None,
        "user_agent": request.headers.get("User-Agent", "")[:USER_AGENT_MAX_LENGTH] or None,
        "clicked_at": now,
        "expires_at": now + target.match_window,
        "used_at": None,
    }
    try:
        code: str | None = await request.app[click_writer_key].record(row)
    except Exception:  # the customer still reaches the chat; only attribution is lost
        log.warning("click_not_recorded", link_id=target.link_id)
        code = None
    return _redirect(target.url(code))


def _redirect(location: str) -> web.Response:
    """302 that no cache keeps (each click needs its own code) and that does not pass our URL on as a referrer."""
    return web.Response(
        status=302, headers={"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def _ttclid(query: MultiMapping[str], link_id: int) -> str | None:
    """TikTok's click id, or None. A malformed one is logged by its shape only and never stored."""
    value = query.get("ttclid")
    if not value:
        return None
    if len(value) > TTCLID_MAX_LENGTH:
        reason = "too_long"
    elif not _TTCLID.fullmatch(value):
        reason = "invalid_characters"
    else:
        return value
    log.warning("ttclid_rejected", reason=reason, length=len(value), link_id=link_id)
    return None


def _extra_params(query: MultiMapping[str], link_id: int) -> dict[str, Any] | None:
    """The other query parameters TikTok (or the advertiser) added, kept with the click within a size budget."""
    kept: dict[str, Any] = {}
    dropped = 0
    size = 2
    for key in dict.fromkeys(query.keys()):
        if key == "ttclid":
            continue
        values = [value for value in query.getall(key) if len(value) <= MAX_PARAM_VALUE_LENGTH]
        if not values or len(key) > MAX_PARAM_KEY_LENGTH or len(kept) >= MAX_PARAMS:
            dropped += 1
            continue
        value: Any = values[0] if len(values) == 1 else values
        cost = len(json.dumps({key: value})) - 1
        if size + cost > MAX_PARAMS_BYTES:
            dropped += 1
            continue
        kept[key] = value
        size += cost
    if dropped:
        log.info("click_params_dropped", count=dropped, link_id=link_id)
    return kept or None


# --- the admin API -----------------------------------------------------------------------------------------------


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel_id: BodyId = Field(
        description="A WhatsApp (with display_phone), LINE (with line_basic_id) or Messenger channel"
    )
    greeting: Text | None = Field(default=None, max_length=500, description="Pre-filled text (WhatsApp and LINE)")
    campaign: Text | None = Field(default=None, max_length=200)
    match_window_days: Annotated[int, Strict()] = Field(default=7, ge=1, le=28)

    @field_validator("greeting", "campaign")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value or None


class LinkOut(Output):
    id: int
    slug: str
    url: str = Field(description="What the ad points at: {PARTNER_PUBLIC_URL}/r/{slug}")
    workspace_id: int
    channel_id: int
    platform: str
    greeting: str | None
    campaign: str | None
    match_window_days: int
    created_at: datetime


class LinkList(Output):
    links: list[LinkOut]


class LinkQuery(Input):
    channel_id: Id | None = None
    workspace_id: Id | None = Field(
        default=None, description="Only for the bootstrap admin token, which otherwise lists every workspace's."
    )


class LinkStatsOut(Output):
    link_id: int
    clicks: int
    clicks_with_ttclid: int
    conversations: int = Field(description="Conversations started from the link's clicks")
    attributed_share: float | None = Field(description="Conversations per click; null before the first click")
    signals: dict[str, int] = Field(description="Signal -> conversations that raised it")


def _link_out(row: Any, public_url: str) -> LinkOut:
    return LinkOut(
        id=row.id,
        slug=row.slug,
        url=f"{public_url}/r/{row.slug}",
        workspace_id=row.workspace_id,
        channel_id=row.channel_id,
        platform=row.platform,
        greeting=row.greeting,
        campaign=row.campaign,
        match_window_days=row.match_window_days,
        created_at=row.created_at,
    )


def _select_links() -> sa.Select[Any]:
    return sa.select(*_LINK_COLUMNS).join(CHANNELS, CHANNELS.c.id == TRACKING_LINKS.c.channel_id)


async def create_link(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await parse_body(request, LinkCreate)
    async with request.app[engine_key].begin() as connection:
        channel = (await connection.execute(sa.select(CHANNELS).where(CHANNELS.c.id == body.channel_id))).first()
        if channel is None or not principal.may_see(channel.workspace_id, channel.id):
            raise not_found("channel", "channel_id")
        if channel.platform not in LINKABLE_PLATFORMS:
            raise ApiError(
                422, "invalid", f"{channel.platform} channels cannot take tracking links", field="channel_id"
            )
        destination = destination_for(
            channel.platform,
            external_id=channel.external_id,
            display_phone=channel.display_phone,
            line_basic_id=channel.line_basic_id,
        )
        if destination is None:
            needed = "display_phone" if channel.platform == "whatsapp" else "line_basic_id"
            raise ApiError(422, "invalid", f"the channel has no {needed} to link to", field="channel_id")
        values = {
            "workspace_id": channel.workspace_id,
            "channel_id": channel.id,
            "greeting": body.greeting,
            "campaign": body.campaign,
            "match_window_days": body.match_window_days,
            "created_at": utcnow(),
        }
        link_id = await connection.run_sync(_insert_link, values)
        row = (await connection.execute(_select_links().where(TRACKING_LINKS.c.id == link_id))).one()
    return json_response(_link_out(row, request.app[settings_key].public_url), status=201)


def _insert_link(connection: Connection, values: dict[str, Any]) -> int:
    """Insert with a fresh slug, another one if it was taken (without aborting the transaction)."""
    statement = insert_unless_taken(connection.dialect.name, TRACKING_LINKS, "slug")
    for _ in range(8):
        row = connection.execute(statement, {**values, "slug": mint_slug()}).first()
        if row is not None:
            return int(row[0])
    raise RuntimeError("could not mint a unique link slug")


async def list_links(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, LinkQuery)
    workspace_id = await workspace_filter(request, principal, query.workspace_id)
    statement = _select_links().order_by(TRACKING_LINKS.c.id)
    if workspace_id is not None:
        statement = statement.where(TRACKING_LINKS.c.workspace_id == workspace_id)
    if principal.channel_ids is not None:
        statement = statement.where(TRACKING_LINKS.c.channel_id.in_(sorted(principal.channel_ids)))
    if query.channel_id is not None:
        statement = statement.where(TRACKING_LINKS.c.channel_id == query.channel_id)
    async with request.app[engine_key].connect() as connection:
        rows = (await connection.execute(statement)).all()
    public_url = request.app[settings_key].public_url
    return json_response(LinkList(links=[_link_out(row, public_url) for row in rows]))


async def _visible_link(connection: AsyncConnection, principal: Principal, link_id: int) -> Any:
    """The link with its channel's platform, if the caller sees its workspace and channel; 404 otherwise."""
    row = (await connection.execute(_select_links().where(TRACKING_LINKS.c.id == link_id))).first()
    if row is None or not principal.may_see(row.workspace_id, row.channel_id):
        raise not_found("link")
    return row


async def get_link(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    link_id = path_id(request, "link_id", "link")
    async with request.app[engine_key].connect() as connection:
        row = await _visible_link(connection, principal, link_id)
    return json_response(_link_out(row, request.app[settings_key].public_url))


async def get_link_stats(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    link_id = path_id(request, "link_id", "link")
    async with request.app[engine_key].connect() as connection:
        await _visible_link(connection, principal, link_id)
        stats = await connection.run_sync(link_stats, link_id)
    if stats is None:  # deleted in between
        raise not_found("link")
    return json_response(
        LinkStatsOut(
            link_id=stats.link_id,
            clicks=stats.clicks,
            clicks_with_ttclid=stats.clicks_with_ttclid,
            conversations=stats.conversations,
            attributed_share=stats.attributed_share,
            signals=stats.signals,
        )
    )


LINK = r"/api/v1/links/{link_id:\d+}"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/api/v1/links", create_link, "Create a tracking link for a channel", "admin", "links",
        body=LinkCreate, status=201, response=LinkOut, errors=(404,),
        description="The channel must be the caller's (else 404) and able to take links (else 422).",
    ),
    Endpoint(
        "GET", "/api/v1/links", list_links, "Tracking links of the workspace", "viewer", "links",
        query=LinkQuery, response=LinkList, errors=(404,),
        description="A user limited to some channels sees only their links.",
    ),
    Endpoint("GET", LINK, get_link, "One tracking link", "viewer", "links", response=LinkOut),
    Endpoint(
        "GET", LINK + "/stats", get_link_stats, "Clicks, conversations and signals of a link", "viewer", "links",
        response=LinkStatsOut,
    ),
)  # fmt: skip


# --- wiring ------------------------------------------------------------------------------------------------------


async def _attribution_context(app: web.Application) -> AsyncIterator[None]:
    """Runs after the app's own database context (``add_routes`` comes after ``create_app``), stops before it."""
    engine = app[engine_key]
    app[link_cache_key] = LinkCache(engine)
    writer = ClickWriter(engine)
    writer.start()
    app[click_writer_key] = writer
    yield
    await writer.stop()


def add_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(_attribution_context)
    add_endpoints(app, ENDPOINTS)
    app.router.add_get("/r/{slug}", follow_link)  # public, for customers: not part of the API document


__all__ = ["ENDPOINTS", "ClickWriter", "LinkCache", "LinkTarget", "add_routes", "click_writer_key", "link_cache_key"]
