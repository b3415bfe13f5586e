"""Only an admin of the workspace (or the bootstrap admin) may start or manage its TikTok connection."""

from __future__ import annotations

import dataclasses

from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from partner.app import create_app
from partner.settings import Settings
from tests.inbox.inbox_support import bearer, create_workspace

Client = TestClient[web.Request, web.Application]


async def test_roles_and_workspaces_for_the_tiktok_connection(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    configured = dataclasses.replace(settings, tiktok_app_id="sandbox-app", tiktok_app_secret="sandbox-secret")
    client: Client = await aiohttp_client(create_app(configured))
    shop = await create_workspace(client, "Shop", platforms=("whatsapp",))
    other = await create_workspace(client, "Other", platforms=("line",))
    start = f"/oauth/tiktok/authorize?workspace={shop.id}&format=json"

    allowed = await client.get(start, headers=shop.headers("admin"))
    assert allowed.status == 200, await allowed.text()
    assert "state=" in (await allowed.json())["url"]
    assert (await client.get(start, headers=shop.headers("agent"))).status == 403
    assert (await client.get(start, headers=shop.headers("viewer"))).status == 403
    assert (await client.get(start, headers=other.headers("admin"))).status == 404
    assert (await client.get(start)).status == 401
    assert (await client.get(start, headers=bearer("not-a-token"))).status == 401

    status = f"/api/v1/tiktok/connection?workspace={shop.id}"
    assert (await client.get(status, headers=shop.headers("admin"))).status == 200
    assert (await client.get(status, headers=other.headers("admin"))).status == 404
    manual = {"access_token": "events-manager-token", "event_source_id": "SANDBOX_MES_2"}
    assert (await client.put(status, json=manual, headers=shop.headers("agent"))).status == 403
    stored = await client.put(status, json=manual, headers=shop.headers("admin"))
    assert stored.status == 200, await stored.text()
    assert (await stored.json())["connected_by"] == f"user:{shop.users['admin']}"
