"""The webhook subscription API: admins only, scoped to their workspace, URLs checked, the secret generated,
encrypted at rest and readable by admins."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa
from pytest_aiohttp import AiohttpClient

from partner.appkeys import engine_key
from partner.crm.models import WEBHOOKS
from partner.crm.schemas import EVENT_TYPES
from partner.crm.subscriptions import MAX_WEBHOOKS
from partner.settings import Settings
from tests.conftest import admin_headers
from tests.crm.crm_support import Receiver, subscribe
from tests.inbox.inbox_support import Client, Workspace, build_app, create_workspace, json_of

URL = "https://crm.example.com/hooks/partner"


def _routes(webhook_id: int, delivery_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = f"/api/v1/webhooks/{webhook_id}"
    return [
        ("GET", "/api/v1/webhooks", None),
        ("POST", "/api/v1/webhooks", {"url": URL}),
        ("GET", base, None),
        ("PATCH", base, {"description": "x"}),
        ("POST", f"{base}/rotate_secret", {}),
        ("POST", f"{base}/ping", None),
        ("GET", f"{base}/deliveries", None),
        ("GET", f"{base}/deliveries/{delivery_id}", None),
        ("POST", f"{base}/deliveries/{delivery_id}/redeliver", None),
        ("DELETE", base, None),
    ]


async def test_an_admin_subscribes_and_reads_the_secret(client: Client, shop: Workspace) -> None:
    created = await subscribe(client, shop, URL, description="HubSpot")
    assert created["events"] == sorted(EVENT_TYPES)
    assert (created["include_message_text"], created["active"], created["disabled_reason"]) == (False, True, None)
    assert created["workspace_id"] == shop.id
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) >= 40
    path = f"/api/v1/webhooks/{created['id']}"
    fetched = await json_of(await client.get(path, headers=shop.headers("admin")), 200)
    assert fetched == created
    listed = await json_of(await client.get("/api/v1/webhooks", headers=shop.headers("admin")), 200)
    assert [item["id"] for item in listed["webhooks"]] == [created["id"]]
    assert "secret" not in listed["webhooks"][0]
    async with client.app[engine_key].connect() as connection:
        stored = (await connection.execute(sa.select(WEBHOOKS.c.secret_encrypted))).scalar_one()
    assert created["secret"] not in stored  # encrypted at rest


async def test_an_admin_changes_pauses_and_deletes_a_webhook(client: Client, shop: Workspace) -> None:
    created = await subscribe(client, shop, URL)
    path = f"/api/v1/webhooks/{created['id']}"
    change = {
        "url": "https://crm.example.com/v2",
        "events": ["order.changed", "message.created", "order.changed"],
        "include_message_text": True,
        "active": False,
    }
    changed = await json_of(await client.patch(path, json=change, headers=shop.headers("admin")), 200)
    assert changed["url"] == "https://crm.example.com/v2"
    assert changed["events"] == ["message.created", "order.changed"]
    assert (changed["include_message_text"], changed["active"]) == (True, False)
    assert changed["secret"] == created["secret"]
    assert changed["description"] == ""
    unchanged = await json_of(await client.patch(path, json={}, headers=shop.headers("admin")), 200)
    assert unchanged == changed
    assert (await client.delete(path, headers=shop.headers("admin"))).status == 204
    await json_of(await client.get(path, headers=shop.headers("admin")), 404)


async def test_only_admins_of_the_workspace_may_touch_webhooks(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    webhook = await subscribe(client, shop, receiver.url())
    delivery = await json_of(
        await client.post(f"/api/v1/webhooks/{webhook['id']}/ping", headers=shop.headers("admin")), 202
    )
    other = await create_workspace(client, "Other", platforms=("line",), sandbox_ids=False)
    routes = _routes(webhook["id"], delivery["id"])
    for role in ("agent", "viewer"):
        for method, path, body in routes:
            response = await client.request(method, path, json=body, headers=shop.headers(role))
            assert response.status == 403, (role, method, path)
    for method, path, body in routes:
        if path.startswith("/api/v1/webhooks/"):
            response = await client.request(method, path, json=body, headers=other.headers("admin"))
            assert response.status == 404, (method, path)
    listed = await json_of(await client.get("/api/v1/webhooks", headers=other.headers("admin")), 200)
    assert listed["webhooks"] == []
    scoped = await json_of(
        await client.get("/api/v1/webhooks", params={"workspace_id": shop.id}, headers=other.headers("admin")), 404
    )
    assert scoped["error"]["field"] == "workspace_id"
    for method, path, body in routes:
        response = await client.request(method, path, json=body)
        assert response.status == 401, (method, path)


async def test_the_bootstrap_admin_names_the_workspace(client: Client, shop: Workspace) -> None:
    missing = await json_of(await client.post("/api/v1/webhooks", json={"url": URL}, headers=admin_headers()), 422)
    assert missing["error"]["field"] == "workspace_id"
    body = {"url": URL, "workspace_id": shop.id}
    created = await json_of(await client.post("/api/v1/webhooks", json=body, headers=admin_headers()), 201)
    assert created["workspace_id"] == shop.id
    elsewhere = {**body, "workspace_id": 999}
    absent = await json_of(await client.post("/api/v1/webhooks", json=elsewhere, headers=admin_headers()), 404)
    assert absent["error"]["field"] == "workspace_id"


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("http://crm.example.com/hook", "https"),
        ("ftp://crm.example.com/hook", "https"),
        ("javascript:alert(1)", "https"),
        ("https://user:secret@crm.example.com/hook", "credentials"),
        ("https://crm.example.com/hook#part", "fragment"),
        ("https://crm.example.com:99999/hook", "port"),
        ("https:///hook-without-host", "host"),
        (" https://crm.example.com/hook", "spaces"),
        ("https://crm.example.com/a b", "spaces"),
        ("https://crm.example.com/\x00", "NUL"),
        ("https://crm.example.com/" + "a" * 2048, "2048"),
    ],
)
async def test_urls_a_crm_never_has_are_refused(client: Client, shop: Workspace, url: str, hint: str) -> None:
    webhook = await subscribe(client, shop, URL)
    for response in (
        await client.post("/api/v1/webhooks", json={"url": url}, headers=shop.headers("admin")),
        await client.patch(f"/api/v1/webhooks/{webhook['id']}", json={"url": url}, headers=shop.headers("admin")),
    ):
        body = await json_of(response, 422)
        assert body["error"]["field"] == "url"
        assert hint in body["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": URL, "events": []},
        {"url": URL, "events": ["conversation.deleted"]},
        {"url": URL, "events": "message.created"},
        {"url": URL, "include_message_text": "yes"},
        {"url": URL, "secret": "whsec_mine"},
        {"url": 42},
        {},
    ],
)
async def test_other_invalid_bodies_are_refused(client: Client, shop: Workspace, body: dict[str, Any]) -> None:
    response = await client.post("/api/v1/webhooks", json=body, headers=shop.headers("admin"))
    error = await json_of(response, 422)
    assert error["error"]["field"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook", URL])
async def test_https_or_loopback_is_accepted(client: Client, shop: Workspace, url: str) -> None:
    assert (await subscribe(client, shop, url))["url"] == url


async def test_the_operator_may_allow_plain_http(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    client = await aiohttp_client(build_app(dataclasses.replace(settings, crm_allow_http=True)))
    shop = await create_workspace(client)
    assert (await subscribe(client, shop, "http://crm.internal:8080/hook"))["url"] == "http://crm.internal:8080/hook"


async def test_a_workspace_has_a_bounded_number_of_webhooks(client: Client, shop: Workspace) -> None:
    for index in range(MAX_WEBHOOKS):
        await subscribe(client, shop, f"{URL}/{index}")
    response = await client.post("/api/v1/webhooks", json={"url": URL}, headers=shop.headers("admin"))
    await json_of(response, 409)


async def test_a_delivery_of_another_webhook_is_not_found(client: Client, shop: Workspace) -> None:
    first = await subscribe(client, shop, URL)
    second = await subscribe(client, shop, URL)
    ping = await json_of(await client.post(f"/api/v1/webhooks/{first['id']}/ping", headers=shop.headers("admin")), 202)
    path = f"/api/v1/webhooks/{second['id']}/deliveries/{ping['id']}"
    await json_of(await client.get(path, headers=shop.headers("admin")), 404)
    await json_of(await client.post(path + "/redeliver", headers=shop.headers("admin")), 404)
    own = f"/api/v1/webhooks/{first['id']}/deliveries/{ping['id']}"
    await json_of(await client.get(own, headers=shop.headers("admin")), 200)
