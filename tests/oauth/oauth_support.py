"""Helpers for the authorization tests: the partner app under test, the browser flow, and the sandbox's view.

A "browser" is an aiohttp session with a cookie jar that accepts cookies from IP hosts (``unsafe=True``): both
servers are ``127.0.0.1``, and the flow depends on the binding cookie, as a real browser's would.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from oauth.models import CONNECTIONS
from partner.app import outbox_key
from partner.appkeys import box_key, engine_key
from partner.platforms import get_platform
from partner.reporting.outbox import CONFIGS
from partner.sandbox import STATE_KEY, SandboxState
from partner.store.models import utcnow
from tests.conftest import META_APP_SECRET, admin_headers

ADVERTISER_ONE, ADVERTISER_TWO = "7000000000000000001", "7000000000000000002"
PIXEL_ONE = "SANDBOX_PIXEL_1"  # owned by advertiser one in the sandbox
PHONE_NUMBER_ID = "106540352242922"
TOKEN_FIELD = re.compile(r'name="token" value="([^"]+)"')


class MovableClock:
    """The partner's clock for flow tokens, moved forward to expire them without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Partner:
    server: TestServer
    app: web.Application
    sandbox: TestServer

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    @property
    def sandbox_state(self) -> SandboxState:
        return self.sandbox.app[STATE_KEY]

    async def create_workspace(self, name: str = "Shop") -> int:
        async with aiohttp.ClientSession() as session:
            response = await session.post(self.url("/api/v1/workspaces"), json={"name": name}, headers=admin_headers())
            assert response.status == 201, await response.text()
            return int((await response.json())["id"])

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url(path), headers=admin_headers(), **kwargs) as response,
        ):
            return response.status, await response.json()

    async def connection_row(self, workspace_id: int) -> Any:
        async with self.app[engine_key].connect() as connection:
            query = sa.select(CONNECTIONS).where(CONNECTIONS.c.workspace_id == workspace_id)
            return (await connection.execute(query)).first()

    async def reporting_row(self, workspace_id: int) -> Any:
        async with self.app[engine_key].connect() as connection:
            query = sa.select(CONFIGS).where(CONFIGS.c.workspace_id == workspace_id)
            return (await connection.execute(query)).first()

    def decrypt(self, ciphertext: str) -> str:
        return self.app[box_key].decrypt(ciphertext)

    def issued_tokens(self) -> list[str]:
        """Every access token the sandbox issued (OAuth) or knows (Events Manager tokens)."""
        return list(self.sandbox_state.tokens)

    def token_requests(self, suffix: str) -> list[dict[str, Any]]:
        return [entry.to_json() for entry in self.sandbox_state.requests if entry.path.endswith(suffix)]

    async def add_whatsapp_channel(self, workspace_id: int) -> None:
        channel = {
            "workspace_id": workspace_id,
            "platform": "whatsapp",
            "external_id": PHONE_NUMBER_ID,
            "display_phone": "+15550783881",
            "secrets": {"access_token": "wa-token"},
        }
        status, body = await self.api("POST", "/api/v1/channels", json=channel)
        assert status == 201, body

    async def post_whatsapp_text(self, wamid: str, wa_id: str = "6281234567890") -> None:
        message = {"from": wa_id, "id": wamid, "timestamp": str(int(utcnow().timestamp())), "type": "text"}
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Customer"}, "wa_id": wa_id}],
            "messages": [{**message, "text": {"body": "hello"}}],
        }
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
        raw = json.dumps(payload).encode()
        headers = get_platform("whatsapp").sign(raw, META_APP_SECRET.encode())
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url("/webhooks/whatsapp"), data=raw, headers=headers) as response,
        ):
            assert response.status == 200, await response.text()

    async def deliver(self) -> int:
        return await self.app[outbox_key].run_once()

    def delivered_events(self) -> list[dict[str, Any]]:
        return [record.to_json() for record in self.sandbox_state.events]


StartPartner = Callable[..., Awaitable[Partner]]
BrowserFactory = Callable[[], aiohttp.ClientSession]


def form_token(page: str) -> str:
    found = TOKEN_FIELD.search(page)
    assert found is not None, page
    return found.group(1)


async def portal_redirect(partner: Partner, browser: aiohttp.ClientSession, workspace_id: int) -> str:
    """Start the flow in ``browser`` and return the portal URL, without visiting it."""
    response = await browser.get(
        partner.url("/oauth/tiktok/authorize"),
        params={"workspace": str(workspace_id)},
        headers=admin_headers(),
        allow_redirects=False,
    )
    assert response.status == 302, await response.text()
    return response.headers["Location"]


async def callback_url(partner: Partner, browser: aiohttp.ClientSession, workspace_id: int) -> str:
    """Start the flow in ``browser``, approve at the portal, and return the callback URL without visiting it."""
    portal = await portal_redirect(partner, browser, workspace_id)
    async with aiohttp.ClientSession() as elsewhere:  # the portal needs no partner cookie
        response = await elsewhere.get(portal, allow_redirects=False)
        assert response.status == 302, await response.text()
        return response.headers["Location"]


def with_query(url: str, **changes: str) -> str:
    return str(URL(url).update_query(changes))


async def authorize_in_browser(
    partner: Partner, browser: aiohttp.ClientSession, workspace_id: int
) -> aiohttp.ClientResponse:
    """The whole redirect chain: partner authorize -> TikTok portal (auto-approve) -> partner callback."""
    response = await browser.get(
        partner.url("/oauth/tiktok/authorize"), params={"workspace": str(workspace_id)}, headers=admin_headers()
    )
    await response.read()
    return response


async def submit_selection(
    partner: Partner,
    browser: aiohttp.ClientSession,
    token: str,
    *,
    advertiser_id: str = ADVERTISER_ONE,
    event_source_id: str = PIXEL_ONE,
    event_source: str = "web",
) -> aiohttp.ClientResponse:
    form = {
        "token": token,
        "advertiser_id": advertiser_id,
        "event_source_id": event_source_id,
        "event_source": event_source,
    }
    response = await browser.post(partner.url("/oauth/tiktok/select"), data=form)
    await response.read()
    return response


async def connect(partner: Partner, browser: aiohttp.ClientSession, workspace_id: int, **choice: str) -> str:
    """Authorize and choose; returns the final page."""
    page = await authorize_in_browser(partner, browser, workspace_id)
    assert page.status == 200, await page.text()
    done = await submit_selection(partner, browser, form_token(await page.text()), **choice)
    assert done.status == 200, await done.text()
    return await done.text()


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:8]
