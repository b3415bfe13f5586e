"""Helpers shared by the attribution tests: the app with the attribution routes, and API shortcuts.

Not a conftest: ``tests/sandbox`` already has a package-less ``conftest`` module, and two would clash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from partner.app import create_app
from partner.appkeys import engine_key
from partner.attribution import routes
from partner.attribution.models import CLICKS
from partner.settings import Settings
from tests.conftest import admin_headers

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]

WHATSAPP_PHONE = "15550001111"
LINE_BASIC_ID = "@abc1234"
PAGE_ID = "104560000000001"


async def attribution_client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    """The service as built by ``create_app`` plus the attribution routes (wired only once, if app.py has them)."""
    app = create_app(settings)
    if not any(resource.canonical == "/r/{slug}" for resource in app.router.resources()):
        routes.add_routes(app)
    return await aiohttp_client(app)


async def workspace(client: Client) -> int:
    response = await client.post("/api/v1/workspaces", json={"name": "Attribution"}, headers=admin_headers())
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def channel(client: Client, workspace_id: int, platform: str, **extra: Any) -> int:
    defaults: dict[str, dict[str, Any]] = {
        "whatsapp": {
            "external_id": "106540352242922",
            "display_phone": f"+{WHATSAPP_PHONE}",
            "secrets": {"access_token": "wa-token"},
        },
        "line": {
            "external_id": "1650000000",
            "line_basic_id": LINE_BASIC_ID,
            "secrets": {"channel_secret": "line-secret", "channel_access_token": "line-token"},
        },
        "messenger": {"external_id": PAGE_ID, "secrets": {"page_access_token": "page-token"}},
        "tiktok": {"external_id": "tt-business-1", "secrets": {"access_token": "tt-token"}},
    }
    body = {"workspace_id": workspace_id, "platform": platform, **defaults[platform], **extra}
    response = await client.post("/api/v1/channels", json=body, headers=admin_headers())
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def link(client: Client, channel_id: int, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/links", json={"channel_id": channel_id, **fields}, headers=admin_headers())
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def whatsapp_link(client: Client, **fields: Any) -> dict[str, Any]:
    channel_id = await channel(client, await workspace(client), "whatsapp")
    return await link(client, channel_id, **fields)


async def click(client: Client, slug: str, query: str = "", **headers: str) -> str:
    """Follow a tracking link without following its redirect; returns the Location."""
    response = await client.get(f"/r/{slug}{query}", allow_redirects=False, headers=headers)
    assert response.status == 302, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    return response.headers["Location"]


async def clicks(client: Client) -> list[Any]:
    async with client.app[engine_key].connect() as connection:
        return list((await connection.execute(sa.select(CLICKS).order_by(CLICKS.c.id))).all())
