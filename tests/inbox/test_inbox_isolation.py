"""Workspaces are sealed: every role of workspace A, against every resource of workspace B, gets 403 or 404 and
nothing of B. And input is never a server error: bad JSON, wrong types, unknown fields and oversize values are
400 or 422 in the one error shape, on every route with a body or a query."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from inbox_support import Client, ClientFactory, Workspace, add_conversation, create_workspace, inbox_client, json_of

from partner.accounts.models import API_TOKENS, USERS
from partner.appkeys import engine_key
from partner.inbox.models import CANNED, CONVERSATIONS, LABELS, ORDERS, SETTINGS
from partner.inbox.routes import ENDPOINTS
from partner.ingest.apply import OUTBOX
from partner.settings import Settings
from tests.conftest import admin_headers


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await inbox_client(aiohttp_client, settings)


async def _resources(client: Client, workspace: Workspace, contact_name: str) -> dict[str, int]:
    """One of everything in ``workspace``: conversation, label, canned response, and a token of its agent."""
    admin = workspace.headers("admin")
    label = await json_of(
        await client.post("/api/v1/labels", json={"name": f"label-{contact_name}"}, headers=admin), 201
    )
    canned_body = {"shortcut": f"canned-{contact_name}", "text": f"text of {contact_name}"}
    canned = await json_of(await client.post("/api/v1/canned_responses", json=canned_body, headers=admin), 201)
    conversation_id = await add_conversation(client, workspace, texts=(f"message from {contact_name}",))
    tokens = await json_of(await client.get(f"/api/v1/users/{workspace.users['agent']}/tokens", headers=admin), 200)
    order_path = f"/api/v1/conversations/{conversation_id}/orders"
    order = await json_of(await client.post(order_path, json={"value": 5, "currency": "IDR"}, headers=admin), 201)
    webhook = await json_of(await client.post("/api/v1/webhooks", json={"url": "https://crm.test"}, headers=admin), 201)
    rules = f"/api/v1/channels/{workspace.channels['whatsapp']}/auto_replies"
    rule = await json_of(await client.post(rules, json={"kind": "greeting", "text": "hi"}, headers=admin), 201)
    return {
        "conversation_id": conversation_id,
        "label_id": label["id"],
        "canned_id": canned["id"],
        "user_id": workspace.users["agent"],
        "token_id": tokens["tokens"][0]["id"],
        "order_id": order["id"],
        "webhook_id": webhook["id"],
        "channel_id": workspace.channels["whatsapp"],
        "rule_id": rule["id"],
        "workspace_id": workspace.id,
    }


def _requests(ids: dict[str, int]) -> list[tuple[str, str, Any]]:
    w = ids["workspace_id"]
    return [
        ("GET", "/api/v1/conversations/{conversation_id}", None),
        ("PATCH", "/api/v1/conversations/{conversation_id}", {"status": "resolved"}),
        ("GET", "/api/v1/conversations/{conversation_id}/messages", None),
        ("POST", "/api/v1/conversations/{conversation_id}/messages", {"text": "hi"}),
        ("POST", "/api/v1/conversations/{conversation_id}/messages", {"text": "note", "private": True}),
        ("GET", "/api/v1/conversations/{conversation_id}/orders", None),
        ("POST", "/api/v1/conversations/{conversation_id}/orders", {"status": "paid"}),
        ("PATCH", "/api/v1/conversations/{conversation_id}/orders/{order_id}", {"status": "cancelled"}),
        ("PATCH", "/api/v1/labels/{label_id}", {"colour": "#000000"}),
        ("DELETE", "/api/v1/labels/{label_id}", None),
        ("GET", "/api/v1/canned_responses/{canned_id}", None),
        ("PATCH", "/api/v1/canned_responses/{canned_id}", {"text": "changed"}),
        ("DELETE", "/api/v1/canned_responses/{canned_id}", None),
        ("GET", "/api/v1/users/{user_id}", None),
        ("PATCH", "/api/v1/users/{user_id}", {"name": "changed"}),
        ("GET", "/api/v1/users/{user_id}/tokens", None),
        ("POST", "/api/v1/users/{user_id}/tokens", {}),
        ("DELETE", "/api/v1/users/{user_id}/tokens/{token_id}", None),
        ("GET", f"/api/v1/conversations?workspace_id={w}", None),
        ("GET", f"/api/v1/labels?workspace_id={w}", None),
        ("GET", f"/api/v1/canned_responses?workspace_id={w}", None),
        ("GET", f"/api/v1/users?workspace_id={w}", None),
        ("GET", f"/api/v1/inbox/settings?workspace_id={w}", None),
        ("PATCH", f"/api/v1/inbox/settings?workspace_id={w}", {"round_robin": True}),
        ("POST", "/api/v1/labels", {"name": "intruder", "workspace_id": w}),
        ("POST", "/api/v1/canned_responses", {"shortcut": "intruder", "text": "x", "workspace_id": w}),
        ("POST", "/api/v1/users", {"email": "intruder@x.test", "role": "admin", "workspace_id": w}),
    ]


async def _snapshot(client: Client) -> list[Any]:
    """Every row the requests could change (a token's last_used_at moves with any use, so it is left out)."""
    tables = (CONVERSATIONS, LABELS, CANNED, USERS, API_TOKENS, SETTINGS, ORDERS, OUTBOX)
    async with client.app[engine_key].connect() as connection:
        return [
            (
                await connection.execute(
                    sa.select(*(column for column in table.c if column.name != "last_used_at")).order_by(
                        *table.primary_key.columns
                    )
                )
            ).all()
            for table in tables
        ]


async def test_every_role_of_one_workspace_is_refused_everything_of_another(client: Client) -> None:
    shop = await create_workspace(client, "Shop")
    rival = await create_workspace(client, "Rival", sandbox_ids=False)
    await _resources(client, shop, "shopper")
    rival_ids = await _resources(client, rival, "rivalcustomer")
    before = await _snapshot(client)
    seen: list[tuple[str, str, str, int]] = []
    for role in ("admin", "agent", "viewer"):
        for method, template, body in _requests(rival_ids):
            path = template.format(**rival_ids)
            response = await client.request(method, path, json=body, headers=shop.headers(role))
            text = await response.text()
            seen.append((role, method, path, response.status))
            assert response.status in (403, 404), (role, method, path, response.status, text)
            assert set((await response.json()).keys()) == {"error"}
            assert "rival" not in text.lower(), (role, method, path, text)
    assert await _snapshot(client) == before
    # the role check comes first, so a low role learns nothing about existence either
    assert {status for role, method, _, status in seen if role == "viewer" and method != "GET"} == {403}


async def test_own_workspace_baseline_answers_for_each_role(client: Client) -> None:
    """The same requests against the caller's own workspace succeed where the role allows (so the 404s above are
    about the workspace, not broken requests)."""
    shop = await create_workspace(client, "Shop")
    ids = await _resources(client, shop, "shopper")
    allowed = {"viewer": 0, "agent": 0, "admin": 0}
    for role in ("viewer", "agent", "admin"):
        for method, template, body in _requests(ids):
            if method == "DELETE":
                continue
            response = await client.request(method, template.format(**ids), json=body, headers=shop.headers(role))
            assert response.status in (200, 201, 403, 409), (role, method, template, await response.text())
            allowed[role] += response.status in (200, 201, 409)
    assert allowed["viewer"] < allowed["agent"] < allowed["admin"]


# --- validation ------------------------------------------------------------------------------------------------------


async def _ids_for_validation(client: Client) -> tuple[Workspace, dict[str, int]]:
    shop = await create_workspace(client)
    return shop, await _resources(client, shop, "x")


def _path(template: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda match: str(ids[match.group(1)]), template)


BODY_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if endpoint.body is not None]
QUERY_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if endpoint.query is not None]


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_bodies_that_are_not_json_objects_are_400(client: Client, endpoint: Any) -> None:
    shop, ids = await _ids_for_validation(client)
    path = _path(endpoint.path, ids)
    for raw in (b"{not json", b"[1, 2]", b"", b'"text"', b"\xff\xfe"):
        response = await client.request(
            endpoint.method, path, data=raw, headers={**shop.headers("admin"), "Content-Type": "application/json"}
        )
        body = await json_of(response, 400)
        assert body["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_unknown_fields_and_wrong_types_are_422(client: Client, endpoint: Any) -> None:
    shop, ids = await _ids_for_validation(client)
    path = _path(endpoint.path, ids)
    response = await client.request(endpoint.method, path, json={"surprise": 1}, headers=shop.headers("admin"))
    required = set(endpoint.body.model_json_schema().get("required", []))
    body = await json_of(response, 422)
    assert body["error"]["field"] in {"surprise", *required}
    for field, schema in endpoint.body.model_json_schema()["properties"].items():
        wrong: Any = {"x": [1]} if schema.get("type") != "object" else 5
        response = await client.request(endpoint.method, path, json={field: wrong}, headers=shop.headers("admin"))
        assert (await json_of(response, 422))["error"]["field"].split(".")[0] in {field, *required}


@pytest.mark.parametrize("endpoint", QUERY_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_unknown_or_repeated_query_parameters_are_422(client: Client, endpoint: Any) -> None:
    shop, ids = await _ids_for_validation(client)
    path = _path(endpoint.path, ids)
    kwargs: dict[str, Any] = {"json": {}} if endpoint.body is not None else {}
    response = await client.request(endpoint.method, path + "?surprise=1", headers=shop.headers("admin"), **kwargs)
    assert (await json_of(response, 422))["error"]["field"] == "surprise"
    response = await client.request(
        endpoint.method,
        path + f"?workspace_id={shop.id}&workspace_id={shop.id}",
        headers=shop.headers("admin"),
        **kwargs,
    )
    assert (await json_of(response, 422))["error"]["field"] == "workspace_id"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "status=closed",
        "assignee=someone",
        "channel_id=-1",
        "channel_id=99999999999",
        "assignee=8328635804",
        "updated_since=yesterday",
        "updated_since=9999-12-31T23:59:59-23:00",
        "sort=random",
        "attributed=maybe",
        "q=",
        "flag=" + "x" * 65,
        "flag=a%22b",
        "flag=Payment",
        "q=%00",
        "label=a%00b",
    ],
)
async def test_bad_list_parameters_are_422(client: Client, query: str) -> None:
    shop = await create_workspace(client)
    response = await client.get(f"/api/v1/conversations?{query}", headers=shop.headers("agent"))
    assert (await json_of(response, 422))["error"]["code"] == "invalid", query


@pytest.mark.parametrize(
    "body",
    [
        {"text": "a\x00b"},
        {"text": "x" * 20001},
        {"text": ""},
        {"text": 5},
        {"media_url": "ftp://x", "media_type": "image"},
        {"media_url": "https://x.test/a.png", "media_type": "sticker"},
        {"private": "yes", "text": "x"},
    ],
)
async def test_bad_replies_are_422(client: Client, body: dict[str, Any]) -> None:
    shop = await create_workspace(client)
    conversation_id = await add_conversation(client, shop)
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages", json=body, headers=shop.headers("agent")
    )
    assert response.status == 422


async def test_ids_that_cannot_exist_are_404_in_the_error_shape(client: Client) -> None:
    shop = await create_workspace(client)
    for path in (
        "/api/v1/conversations/abc",
        "/api/v1/conversations/0",
        "/api/v1/conversations/99999999999999999999",
        "/api/v1/labels/2147483648",
        "/api/v1/users/-1",
    ):
        response = await client.get(path, headers=shop.headers("admin"))
        assert response.status in (404, 405), path
        if response.status == 404:
            assert (await response.json())["error"]["code"] == "not_found"


async def test_bootstrap_admin_reaches_every_workspace(client: Client) -> None:
    shop = await create_workspace(client, "Shop")
    ids = await _resources(client, shop, "shopper")
    for method, template, body in _requests(ids):
        if method == "GET":
            response = await client.request(method, template.format(**ids), json=body, headers=admin_headers())
            assert response.status == 200, template


def test_flag_names_follow_the_analyzers_signal_names() -> None:
    from analyzers.model import SIGNAL_NAME_RE
    from partner.inbox.schemas import SIGNAL_NAME

    assert f"^{SIGNAL_NAME_RE.pattern}$" == SIGNAL_NAME
