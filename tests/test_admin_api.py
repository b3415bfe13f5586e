"""The admin API takes the same tokens and roles as the inbox.

Workspaces are created with the bootstrap token only; a workspace's admins manage its channels, links, reporting
settings, events and TikTok connection; agents and viewers read channels, links, link stats and keyword status. Every
role of workspace A, against every resource of workspace B, gets 403 or 404 and nothing of B; bad input is 400 or
422 in the one error shape, never a server error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

import oauth.routes
from oauth.models import CONNECTIONS
from partner import admin
from partner.app import create_app
from partner.appkeys import engine_key
from partner.attribution import routes as attribution_routes
from partner.attribution.models import TRACKING_LINKS
from partner.channels import CHANNELS
from partner.openapi import Endpoint
from partner.reporting import api as reporting_api
from partner.reporting.outbox import CONFIGS, OUTBOX
from partner.settings import Settings
from partner.store.models import utcnow
from tests.conftest import ClientFactory, admin_headers
from tests.inbox.inbox_support import Workspace, bearer, create_user, create_workspace, json_of

Client = TestClient[Any, Any]
Ids = dict[str, int]
_unique = count(1)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await aiohttp_client(create_app(settings))


# --- the world: two workspaces with one of everything -------------------------------------------------------------


@dataclass
class Scene:
    client: Client
    shop: Workspace
    rival: Workspace
    shop_ids: Ids
    rival_ids: Ids


async def _dead_event(client: Client, workspace_id: int, marker: str) -> int:
    now = utcnow()
    async with client.app[engine_key].begin() as connection:
        statement = sa.insert(OUTBOX).values(
            workspace_id=workspace_id,
            conversation_id=None,
            event_id=f"{marker}-event-{next(_unique)}",
            event_name="Contact",
            outcome="conversation_started",
            event_time=int(now.timestamp()),
            payload={"marker": marker},
            test=False,
            status="dead",
            attempts=3,
            last_error=f"40002: {marker} was refused",
            next_attempt_at=now,
            created_at=now,
        )
        return int((await connection.execute(statement.returning(OUTBOX.c.id))).scalar_one())


async def _connect(client: Client, workspace_id: int, marker: str) -> None:
    body = {"access_token": f"{marker.lower()}-manual-token", "event_source_id": f"{marker}SET"}
    path = f"/api/v1/tiktok/connection?workspace={workspace_id}"
    await json_of(await client.put(path, json=body, headers=admin_headers()), 200)


async def _resources(client: Client, workspace: Workspace, marker: str) -> Ids:
    """A link (on the Messenger channel), reporting settings with a token, a TikTok connection and a dead event."""
    admin_of = workspace.headers("admin")
    channel_id = workspace.channels["messenger"]
    body = {"channel_id": channel_id, "campaign": f"{marker.lower()}-campaign", "greeting": f"{marker} greeting"}
    link = await json_of(await client.post("/api/v1/links", json=body, headers=admin_of), 201)
    reporting = {"event_source_id": f"{marker}PIXEL", "access_token": f"{marker.lower()}-events-token"}
    path = f"/api/v1/workspaces/{workspace.id}/reporting"
    await json_of(await client.put(path, json=reporting, headers=admin_of), 200)
    await _connect(client, workspace.id, marker)
    return {
        "workspace_id": workspace.id,
        "channel_id": channel_id,
        "link_id": link["id"],
        "event_id": await _dead_event(client, workspace.id, marker),
    }


async def _scene(client: Client) -> Scene:
    shop = await create_workspace(client, "Shop")
    rival = await create_workspace(client, "Rival", sandbox_ids=False)
    return Scene(client, shop, rival, await _resources(client, shop, "SHOP"), await _resources(client, rival, "RIVAL"))


# --- the routes, with who may call them ---------------------------------------------------------------------------

Prepare = Callable[[Client, Ids], Awaitable[None]]


async def _make_retryable(client: Client, ids: Ids) -> None:
    async with client.app[engine_key].begin() as connection:
        await connection.execute(sa.update(OUTBOX).where(OUTBOX.c.id == ids["event_id"]).values(status="dead"))


async def _reconnect(client: Client, ids: Ids) -> None:
    await _connect(client, ids["workspace_id"], "AGAIN")


def _channel_body(ids: Ids) -> dict[str, Any]:
    return {
        "workspace_id": ids.get("workspace_id"),
        "platform": "messenger",
        "external_id": f"page-{next(_unique)}",
        "name": "Another page",
        "secrets": {"page_access_token": "new-page-token"},
    }


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    minimum: str  # viewer, agent, admin, or super (the bootstrap token only)
    ok: int = 200
    body: Callable[[Ids], Any] | None = None
    prepare: Prepare | None = None
    scoped: bool = True  # about one workspace's objects (so another workspace's caller must get 403 or 404)

    def url(self, ids: Ids) -> str:
        return self.path.format(**ids)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


REPORTING = "/api/v1/workspaces/{workspace_id}/reporting"
CONNECTION = "/api/v1/tiktok/connection?workspace={workspace_id}"
ROUTES = (
    Route("POST", "/api/v1/workspaces", "super", 201, lambda ids: {"name": "Another"}, scoped=False),
    Route("POST", "/api/v1/channels", "admin", 201, _channel_body),
    Route("GET", "/api/v1/channels?workspace_id={workspace_id}", "viewer"),
    Route("GET", REPORTING, "admin"),
    Route("PUT", REPORTING, "admin", body=lambda ids: {"event_source_id": "CHANGEDPIXEL"}),
    Route("GET", "/api/v1/events?workspace_id={workspace_id}", "admin"),
    Route("POST", "/api/v1/events/{event_id}/retry", "admin", prepare=_make_retryable),
    Route("POST", "/api/v1/links", "admin", 201, lambda ids: {"channel_id": ids["channel_id"]}),
    Route("GET", "/api/v1/links?workspace_id={workspace_id}", "viewer"),
    Route("GET", "/api/v1/links/{link_id}", "viewer"),
    Route("GET", "/api/v1/links/{link_id}/stats", "viewer"),
    Route("GET", "/api/v1/keywords", "viewer", scoped=False),
    Route("GET", CONNECTION, "admin"),
    Route("PUT", CONNECTION, "admin", body=lambda ids: {"access_token": "changed", "event_source_id": "CHANGED"}),
    Route("DELETE", CONNECTION, "admin", prepare=_reconnect),
)
RANK = {"viewer": 1, "agent": 2, "admin": 3, "super": 4}


def test_every_converted_route_is_in_the_matrix() -> None:
    tables = (admin.ENDPOINTS, reporting_api.ENDPOINTS, attribution_routes.ENDPOINTS, oauth.routes.ENDPOINTS)
    documented = {(e.method, e.openapi_path) for table in tables for e in table} | {("GET", "/api/v1/keywords")}
    covered = {(route.method, route.path.partition("?")[0]) for route in ROUTES}
    assert documented == covered


def _headers(scene: Scene, who: str) -> dict[str, str]:
    if who == "super":
        return admin_headers()
    if who == "nobody":
        return {}
    if who == "forged":
        return bearer("ptk_" + "x" * 43)
    return scene.shop.headers(who)


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_role_matrix_in_the_callers_own_workspace(client: Client, route: Route) -> None:
    scene = await _scene(client)
    ids = scene.shop_ids
    for who in ("nobody", "forged", "viewer", "agent", "admin", "super"):
        if route.prepare is not None:
            await route.prepare(client, ids)
        body = route.body(ids) if route.body is not None else None
        response = await client.request(route.method, route.url(ids), json=body, headers=_headers(scene, who))
        payload = await response.json()
        if who in ("nobody", "forged"):
            expected = 401
        elif RANK[who] < RANK[route.minimum]:
            expected = 403
        else:
            expected = route.ok
        assert response.status == expected, (who, route, payload)
        if expected >= 400:
            assert set(payload) == {"error"}
            assert payload["error"]["code"] == {401: "unauthorized", 403: "forbidden"}[expected]


async def _snapshot(client: Client) -> list[Any]:
    tables = (admin.WORKSPACES, CHANNELS, TRACKING_LINKS, CONFIGS, OUTBOX, CONNECTIONS)
    async with client.app[engine_key].connect() as connection:
        return [
            (await connection.execute(sa.select(table).order_by(*table.primary_key.columns))).all() for table in tables
        ]


async def test_every_role_of_one_workspace_is_refused_everything_of_another(client: Client) -> None:
    scene = await _scene(client)
    before = await _snapshot(client)
    for role in ("admin", "agent", "viewer"):
        for route in ROUTES:
            if not route.scoped:
                continue
            body = route.body(scene.rival_ids) if route.body is not None else None
            url = route.url(scene.rival_ids)
            response = await client.request(route.method, url, json=body, headers=scene.shop.headers(role))
            text = await response.text()
            expected = 403 if RANK[role] < RANK[route.minimum] else 404
            assert response.status == expected, (role, route, text)
            assert set(json.loads(text)) == {"error"}
            assert "rival" not in text.lower(), (role, route, text)
    assert await _snapshot(client) == before


async def test_lists_without_a_workspace_show_only_the_callers_own(client: Client) -> None:
    scene = await _scene(client)
    rival_channels = set(scene.rival.channels.values())
    for role in ("admin", "agent", "viewer"):
        headers = scene.shop.headers(role)
        channels = await json_of(await client.get("/api/v1/channels", headers=headers), 200)
        assert {channel["id"] for channel in channels["channels"]} == set(scene.shop.channels.values())
        links = await json_of(await client.get("/api/v1/links", headers=headers), 200)
        assert [link["id"] for link in links["links"]] == [scene.shop_ids["link_id"]]
        filtered = f"/api/v1/links?channel_id={scene.rival_ids['channel_id']}"
        assert (await json_of(await client.get(filtered, headers=headers), 200))["links"] == []
    events = await json_of(await client.get("/api/v1/events", headers=scene.shop.headers("admin")), 200)
    assert [event["id"] for event in events["events"]] == [scene.shop_ids["event_id"]]
    everything = await json_of(await client.get("/api/v1/channels", headers=admin_headers()), 200)
    assert rival_channels <= {channel["id"] for channel in everything["channels"]}
    everything = await json_of(await client.get("/api/v1/events", headers=admin_headers()), 200)
    assert len(everything["events"]) == 2


async def test_the_bootstrap_token_reaches_every_workspace(client: Client) -> None:
    scene = await _scene(client)
    for route in ROUTES:
        if route.method == "GET":
            response = await client.get(route.url(scene.rival_ids), headers=admin_headers())
            assert response.status == 200, (route, await response.text())
    for path in ("/api/v1/channels", "/api/v1/events", "/api/v1/links"):
        response = await client.get(f"{path}?workspace_id=999999", headers=admin_headers())
        assert (await json_of(response, 404))["error"]["field"] == "workspace_id"


async def test_a_workspace_admin_manages_only_their_workspace(client: Client) -> None:
    scene = await _scene(client)
    admin_of = scene.shop.headers("admin")
    created = await json_of(await client.post("/api/v1/channels", json=_channel_body({}), headers=admin_of), 201)
    assert created["workspace_id"] == scene.shop.id
    assert "secrets" not in created
    body = _channel_body(scene.rival_ids)
    error = await json_of(await client.post("/api/v1/channels", json=body, headers=admin_of), 404)
    assert error["error"]["field"] == "workspace_id"
    link = await json_of(await client.post("/api/v1/links", json={"channel_id": created["id"]}, headers=admin_of), 201)
    assert link["workspace_id"] == scene.shop.id
    body = {"channel_id": scene.rival_ids["channel_id"]}
    error = await json_of(await client.post("/api/v1/links", json=body, headers=admin_of), 404)
    assert error["error"] == {"code": "not_found", "message": "channel not found", "field": "channel_id"}
    retry = f"/api/v1/events/{scene.shop_ids['event_id']}/retry"
    assert (await json_of(await client.post(retry, headers=admin_of), 200))["status"] == "queued"
    assert (await json_of(await client.post(retry, headers=admin_of), 409))["error"]["code"] == "conflict"
    stored = await json_of(await client.get(CONNECTION.format(**scene.shop_ids), headers=admin_of), 200)
    assert stored["has_access_token"] is True


async def test_the_bootstrap_token_must_name_a_workspace_to_add_a_channel(client: Client) -> None:
    response = await client.post("/api/v1/channels", json=_channel_body({}), headers=admin_headers())
    assert (await json_of(response, 422))["error"]["field"] == "workspace_id"


async def test_no_one_ever_sees_a_secret(client: Client) -> None:
    scene = await _scene(client)
    secrets = ("sandbox-meta-token", "line-secret", "sandbox-line-token", "shop-events-token", "shop-manual-token")
    for who in ("viewer", "agent", "admin", "super"):
        for route in ROUTES:
            if route.method != "GET":
                continue
            response = await client.get(route.url(scene.shop_ids), headers=_headers(scene, who))
            text = await response.text()
            assert not any(secret in text for secret in secrets), (who, route)
    channels = await json_of(await client.get("/api/v1/channels", headers=scene.shop.headers("viewer")), 200)
    assert set(channels["channels"][0]) == set(admin.ChannelOut.model_fields)
    assert not {"secrets", "secrets_encrypted"} & set(admin.ChannelOut.model_fields)


async def test_a_user_limited_to_some_channels_sees_only_their_channels_and_links(client: Client) -> None:
    scene = await _scene(client)
    whatsapp = scene.shop.channels["whatsapp"]
    _, token = await create_user(client, scene.shop.id, "limited@shop.test", "viewer", channel_ids=[whatsapp])
    limited = bearer(token)
    channels = await json_of(await client.get("/api/v1/channels", headers=limited), 200)
    assert [channel["id"] for channel in channels["channels"]] == [whatsapp]
    assert (await json_of(await client.get("/api/v1/links", headers=limited), 200))["links"] == []
    for path in ("/api/v1/links/{link_id}", "/api/v1/links/{link_id}/stats"):
        assert (await client.get(path.format(**scene.shop_ids), headers=limited)).status == 404


async def test_deactivated_users_and_revoked_tokens_are_401(client: Client) -> None:
    scene = await _scene(client)
    user_id = scene.shop.users["viewer"]
    await json_of(await client.patch(f"/api/v1/users/{user_id}", json={"active": False}, headers=admin_headers()), 200)
    assert (await client.get("/api/v1/channels", headers=scene.shop.headers("viewer"))).status == 401


# --- validation -------------------------------------------------------------------------------------------------

ADMIN_TABLES: tuple[Endpoint, ...] = (
    *admin.ENDPOINTS,
    *reporting_api.ENDPOINTS,
    *attribution_routes.ENDPOINTS,
    *oauth.routes.ENDPOINTS,
)
BODY_ENDPOINTS = [endpoint for endpoint in ADMIN_TABLES if endpoint.body is not None]
QUERY_ENDPOINTS = [endpoint for endpoint in ADMIN_TABLES if endpoint.query is not None]


def _path(endpoint: Endpoint, ids: Ids) -> str:
    path = re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda match: str(ids[match.group(1)]), endpoint.path)
    required = endpoint.query.model_json_schema().get("required", []) if endpoint.query else []
    return path + ("?workspace=" + str(ids["workspace_id"]) if "workspace" in required else "")


async def _own(client: Client) -> tuple[Workspace, Ids]:
    shop = await create_workspace(client, "Shop")
    return shop, await _resources(client, shop, "SHOP")


def _caller(endpoint: Endpoint, shop: Workspace) -> dict[str, str]:
    return admin_headers() if endpoint.super_admin else shop.headers("admin")


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_bodies_that_are_not_json_objects_are_400(client: Client, endpoint: Endpoint) -> None:
    shop, ids = await _own(client)
    for raw in (b"{not json", b"[1, 2]", b"", b'"text"', b"\xff\xfe", b"null"):
        headers = {**_caller(endpoint, shop), "Content-Type": "application/json"}
        response = await client.request(endpoint.method, _path(endpoint, ids), data=raw, headers=headers)
        assert (await json_of(response, 400))["error"]["code"] == "invalid_json", raw


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_unknown_fields_and_wrong_types_are_422(client: Client, endpoint: Endpoint) -> None:
    assert endpoint.body is not None
    shop, ids = await _own(client)
    path, headers = _path(endpoint, ids), _caller(endpoint, shop)
    schema = endpoint.body.model_json_schema()
    required = set(schema.get("required", []))
    response = await client.request(endpoint.method, path, json={"surprise": 1}, headers=headers)
    assert (await json_of(response, 422))["error"]["field"] in {"surprise", *required}
    for field in schema["properties"]:
        for wrong in ({"x": [1]}, [1], 2**40, "\x00"):
            response = await client.request(endpoint.method, path, json={field: wrong}, headers=headers)
            if response.status == 422:
                assert (await response.json())["error"]["field"].split(".")[0] in {field, *required}
            else:  # only a free-form object may take any object, and text its string
                assert response.status in (200, 201, 409), (field, wrong, await response.text())


@pytest.mark.parametrize("endpoint", QUERY_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_unknown_or_repeated_query_parameters_are_422(client: Client, endpoint: Endpoint) -> None:
    shop, ids = await _own(client)
    path = _path(endpoint, ids)
    joiner = "&" if "?" in path else "?"
    kwargs: dict[str, Any] = {"json": {"access_token": "t", "event_source_id": "X"}} if endpoint.body else {}
    headers = shop.headers("admin")
    response = await client.request(endpoint.method, f"{path}{joiner}surprise=1", headers=headers, **kwargs)
    assert (await json_of(response, 422))["error"]["field"] == "surprise"
    if "?workspace=" in path:  # the parameter is required there, so the path already has it once
        name, twice = "workspace", f"{path}&workspace={shop.id}"
    else:
        name, twice = "workspace_id", f"{path}?workspace_id={shop.id}&workspace_id={shop.id}"
    response = await client.request(endpoint.method, twice, headers=headers, **kwargs)
    assert (await json_of(response, 422))["error"]["field"] == name


@pytest.mark.parametrize(
    ("method", "path", "raw", "field"),
    [
        ("POST", "/api/v1/workspaces", b'{"name": "a\\u0000b"}', "name"),
        ("POST", "/api/v1/workspaces", b'{"name": "\\ud800"}', "name"),
        ("POST", "/api/v1/workspaces", b'{"name": "   "}', "name"),
        ("POST", "/api/v1/workspaces", b'{"name": "x", "timezone": "Mars/Olympus"}', "timezone"),
        ("POST", "/api/v1/workspaces", b'{"name": "x", "timezone": "../../etc/passwd"}', "timezone"),
        ("POST", "/api/v1/channels", b'{"platform": "line", "external_id": "\\ud800", "secrets": {}}', "external_id"),
        ("POST", "/api/v1/channels", b'{"platform": "fax", "external_id": "1", "secrets": {}}', "platform"),
        (
            "POST",
            "/api/v1/channels",
            b'{"workspace_id": 2147483648, "platform": "line", "external_id": "1", "secrets": {}}',
            "workspace_id",
        ),
        (
            "POST",
            "/api/v1/channels",
            b'{"workspace_id": "1", "platform": "line", "external_id": "1", "secrets": {}}',
            "workspace_id",
        ),
        (
            "POST",
            "/api/v1/channels",
            b'{"platform": "line", "external_id": "1", "secrets": {"channel_secret": "s"}}',
            "secrets.channel_access_token",
        ),
        (
            "POST",
            "/api/v1/channels",
            b'{"platform": "whatsapp", "external_id": "1", "secrets": {"access_token": "\\ud800"}}',
            "secrets.access_token",
        ),
        ("POST", "/api/v1/links", b'{"channel_id": 100000000000000000000}', "channel_id"),
        ("POST", "/api/v1/links", b'{"channel_id": 1, "campaign": "\\udfff"}', "campaign"),
        ("PUT", REPORTING, b'{"event_source_id": "a\\u0000"}', "event_source_id"),
        ("PUT", REPORTING, b'{"event_source_id": "X", "access_token": "\\ud800"}', "access_token"),
        ("PUT", REPORTING, b'{"event_source_id": "X", "event_mapping": {"signals": "Contact"}}', "event_mapping"),
        (
            "PUT",
            REPORTING,
            b'{"event_source_id": "X", "event_mapping": {"Not an outcome": "Contact"}}',
            "event_mapping",
        ),
        ("PUT", REPORTING, b'{"event_source_id": "X", "event_mapping": {"order_paid": "no spaces"}}', "event_mapping"),
        ("PUT", REPORTING, b'{"event_source_id": "X", "event_mapping": {"order_paid": {"a": "B"}}}', "event_mapping"),
        ("PUT", REPORTING, b'{"event_source_id": "X", "enabled": "yes"}', "enabled"),
        ("PUT", CONNECTION, b'{"access_token": "\\ud800", "event_source_id": "X"}', "access_token"),
        ("PUT", CONNECTION, b'{"access_token": "t", "event_source_id": "no spaces"}', "event_source_id"),
    ],
)
async def test_bad_text_and_numbers_are_422_never_a_server_error(
    client: Client, method: str, path: str, raw: bytes, field: str
) -> None:
    shop, ids = await _own(client)
    headers = {
        **(admin_headers() if path == "/api/v1/workspaces" else shop.headers("admin")),
        "Content-Type": "application/json",
    }
    response = await client.request(method, path.format(**ids), data=raw, headers=headers)
    body = await json_of(response, 422)
    assert body["error"]["code"] == "invalid"
    assert body["error"]["field"].startswith(field), body


@pytest.mark.parametrize(
    "query",
    [
        "status=closed",
        "limit=0",
        "limit=501",
        "limit=many",
        "before_id=-1",
        "workspace_id=abc",
        "workspace_id=99999999999",
    ],
)
async def test_bad_event_filters_are_422(client: Client, query: str) -> None:
    shop, _ = await _own(client)
    response = await client.get(f"/api/v1/events?{query}", headers=shop.headers("admin"))
    assert (await json_of(response, 422))["error"]["code"] == "invalid", query


@pytest.mark.parametrize("query", ["workspace=", "workspace=0", "workspace=abc", "workspace=99999999999", ""])
async def test_bad_connection_workspace_is_422(client: Client, query: str) -> None:
    shop, _ = await _own(client)
    response = await client.get(f"/api/v1/tiktok/connection?{query}", headers=shop.headers("admin"))
    assert (await json_of(response, 422))["error"]["field"] == "workspace", query


async def test_event_mappings_for_signals_are_stored(client: Client) -> None:
    shop, ids = await _own(client)
    body = {"event_source_id": "X", "event_mapping": {"signals": {"payment": "Pay"}, "signal:order": "Order"}}
    response = await client.put(REPORTING.format(**ids), json=body, headers=shop.headers("admin"))
    mapping = (await json_of(response, 200))["event_mapping"]
    assert mapping["signals"] == {"payment": "Pay"}
    assert mapping["signal:order"] == "Order"
    assert mapping["conversation_started"] == "Contact"


async def test_workspace_time_zone_is_kept(client: Client) -> None:
    body = {"name": "Jakarta shop", "timezone": "Asia/Jakarta"}
    created = await json_of(await client.post("/api/v1/workspaces", json=body, headers=admin_headers()), 201)
    assert (created["name"], created["timezone"]) == ("Jakarta shop", "Asia/Jakarta")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/links/0",
        "/api/v1/links/2147483648",
        "/api/v1/links/99999999999999999999/stats",
        "/api/v1/links/abc",
        "/api/v1/workspaces/0/reporting",
        "/api/v1/workspaces/abc/reporting",
        "/api/v1/workspaces/2147483648/reporting",
    ],
)
async def test_ids_that_cannot_exist_are_404_in_the_error_shape(client: Client, path: str) -> None:
    response = await client.get(path, headers=admin_headers())
    assert (await json_of(response, 404))["error"]["code"] == "not_found"
