"""Signed webhooks in, events out at the local TikTok stand-in: names, ids, hashes, retries, faults, revocation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from partner.app import create_app, outbox_key
from partner.appkeys import engine_key
from partner.platforms import get_platform
from partner.sandbox import SandboxConfig, create_sandbox_app
from partner.sandbox.state import DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID
from partner.settings import Settings
from partner.store.models import OutboxEvent, table
from tests.conftest import META_APP_SECRET, admin_headers

Client = TestClient[web.Request, web.Application]
PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture
async def sandbox(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_sandbox_app(SandboxConfig()))


@pytest.fixture
async def app_client(aiohttp_client: AiohttpClient, settings: Settings, sandbox: TestServer) -> Client:
    base = str(sandbox.make_url("/open_api/v1.3/"))
    return await aiohttp_client(create_app(dataclasses.replace(settings, tiktok_api_base=base)))


async def _setup(client: Client, *, token: str = DEFAULT_EVENTS_TOKEN) -> int:
    workspace = await client.post("/api/v1/workspaces", json={"name": "Shop"}, headers=admin_headers())
    workspace_id = int((await workspace.json())["id"])
    channel = {
        "workspace_id": workspace_id,
        "platform": "whatsapp",
        "external_id": PHONE_NUMBER_ID,
        "display_phone": "+15550783881",
        "secrets": {"access_token": "wa-token"},
    }
    assert (await client.post("/api/v1/channels", json=channel, headers=admin_headers())).status == 201
    reporting = {"event_source": "web", "event_source_id": DEFAULT_MES_ID, "access_token": token}
    response = await client.put(f"/api/v1/workspaces/{workspace_id}/reporting", json=reporting, headers=admin_headers())
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["has_access_token"] is True
    assert "access_token" not in body
    return workspace_id


async def _post_text(client: Client, wamid: str, wa_id: str, text: str) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": "Customer"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": wamid,
                                    "timestamp": "1893456000",
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    raw = json.dumps(payload).encode()
    headers = get_platform("whatsapp").sign(raw, META_APP_SECRET.encode())
    response = await client.post("/webhooks/whatsapp", data=raw, headers=headers)
    assert response.status == 200


async def _sandbox_json(sandbox: TestServer, path: str) -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(sandbox.make_url(path)) as response:
        return await response.json()


async def _track_requests(sandbox: TestServer) -> list[dict[str, Any]]:
    recorded = await _sandbox_json(sandbox, "/_sandbox/requests")
    requests = recorded["requests"] if isinstance(recorded, dict) else recorded
    return [r for r in requests if r["path"].endswith("/event/track/")]


async def _statuses(client: Client) -> Counter[str]:
    outbox = table(OutboxEvent)
    async with client.app[engine_key].connect() as connection:
        rows = (await connection.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status))).all()
    return Counter(dict(rows))


async def _drain(client: Client, rounds: int = 50) -> None:
    """Run the sender until nothing is due, pulling retry times forward so backoff does not slow the test."""
    outbox = table(OutboxEvent)
    for _ in range(rounds):
        async with client.app[engine_key].begin() as connection:
            await connection.execute(
                sa.update(outbox).where(outbox.c.status == "queued").values(next_attempt_at=sa.func.current_timestamp())
            )
        await client.app[outbox_key].run_once()
        if (await _statuses(client))["queued"] == 0:
            return


async def test_conversation_start_reaches_tiktok_with_hashed_identifiers(
    app_client: Client, sandbox: TestServer
) -> None:
    await _setup(app_client)
    await _post_text(app_client, "wamid.E2E1", "6281234567890", "hello, is this available?")
    await app_client.app[outbox_key].run_once()

    [request] = await _track_requests(sandbox)
    body = request["body"]
    assert body["event_source"] == "web"
    assert body["event_source_id"] == DEFAULT_MES_ID
    assert body["partner_name"]
    [event] = body["data"]
    assert event["event"] == "Contact"
    assert event["event_time"] == 1893456000
    assert isinstance(event["event_id"], str)
    assert event["user"]["phone"] == [hashlib.sha256(b"+6281234567890").hexdigest()]
    assert event["user"]["external_id"] == [hashlib.sha256(b"6281234567890").hexdigest()]
    assert "ttclid" not in event["user"]
    assert event["page"]["url"] == "https://wa.me/15550783881"
    assert (await _statuses(app_client)) == Counter({"delivered": 1})


async def test_message_text_never_reaches_tiktok(app_client: Client, sandbox: TestServer) -> None:
    texts = ["Saya sudah transfer pembayaran tadi pagi", "付款已经完成了谢谢", "quiero pagar con tarjeta por favor"]
    await _setup(app_client)
    for index, text in enumerate(texts):
        await _post_text(app_client, f"wamid.PRIV{index}", f"62812000000{index}", text)
    await _drain(app_client)
    recorded = json.dumps(await _sandbox_json(sandbox, "/_sandbox/requests"), ensure_ascii=False)
    for text in texts:
        for start in range(len(text) - 5):
            assert text[start : start + 6] not in recorded


async def test_every_event_arrives_exactly_once_despite_injected_failures(
    aiohttp_client: AiohttpClient, settings: Settings, sandbox: TestServer
) -> None:
    """30% of requests fail: TikTok error codes, HTTP 5xx, and time-outs (the client gives up after 0.3 s)."""
    base = str(sandbox.make_url("/open_api/v1.3/"))
    app_client = await aiohttp_client(
        create_app(dataclasses.replace(settings, tiktok_api_base=base, http_timeout_seconds=0.3))
    )
    await _setup(app_client)
    import aiohttp

    faults = {
        "error_rate": 0.2,
        "error_codes": [50000, 40100],
        "http_5xx_rate": 0.05,
        "timeout_rate": 0.1,
        "timeout_seconds": 1.0,
        "seed": 7,
    }
    async with aiohttp.ClientSession() as session:
        response = await session.post(sandbox.make_url("/_sandbox/faults"), json=faults)
        assert response.status == 200, await response.text()
    for index in range(40):
        await _post_text(app_client, f"wamid.F{index}", f"6281300000{index:02d}", "hi")
        if index % 4 == 3:
            await _drain(app_client, rounds=200)

    assert (await _statuses(app_client)) == Counter({"delivered": 40})
    attempts = await _track_requests(sandbox)
    faults = {str(attempt.get("fault")).split(":")[0] for attempt in attempts if attempt.get("fault")}
    assert len(attempts) > 10, "some requests should have failed and been retried"
    assert "timeout" in faults, faults
    assert any(fault.startswith("code_") for fault in faults), faults
    assert any(fault.startswith("http_5") for fault in faults), faults
    accepted = await _sandbox_json(sandbox, "/_sandbox/events")
    events = accepted["events"] if isinstance(accepted, dict) else accepted
    per_id = Counter(event["event_id"] for event in events)
    assert len(per_id) == 40
    assert set(per_id.values()) == {1}


async def test_revoked_token_parks_events_until_a_new_token_is_stored(app_client: Client, sandbox: TestServer) -> None:
    workspace_id = await _setup(app_client, token="token-that-sandbox-does-not-know")
    await _post_text(app_client, "wamid.R1", "6281234500001", "hello")
    await app_client.app[outbox_key].run_once()
    assert (await _statuses(app_client)) == Counter({"waiting_reauth": 1})
    config = await app_client.get(f"/api/v1/workspaces/{workspace_id}/reporting", headers=admin_headers())
    assert (await config.json())["needs_reauthorization"] is True

    update = {"event_source": "web", "event_source_id": DEFAULT_MES_ID, "access_token": DEFAULT_EVENTS_TOKEN}
    response = await app_client.put(
        f"/api/v1/workspaces/{workspace_id}/reporting", json=update, headers=admin_headers()
    )
    assert (await response.json())["needs_reauthorization"] is False
    await app_client.app[outbox_key].run_once()
    assert (await _statuses(app_client)) == Counter({"delivered": 1})


async def test_rejected_events_are_dead_lettered_with_tiktoks_message_and_can_be_replayed(
    app_client: Client, sandbox: TestServer
) -> None:
    workspace_id = await _setup(app_client)
    bad_mapping = {"event_source": "offline", "event_source_id": DEFAULT_MES_ID, "event_mapping": {}}
    await app_client.put(f"/api/v1/workspaces/{workspace_id}/reporting", json=bad_mapping, headers=admin_headers())
    outbox = table(OutboxEvent)
    await _post_text(app_client, "wamid.D1", "6281234500002", "hello")
    async with app_client.app[engine_key].begin() as connection:  # a custom name offline sources refuse
        await connection.execute(sa.update(outbox).values(outcome="signal:payment"))
    await app_client.app[outbox_key].run_once()

    dead = await (await app_client.get("/api/v1/events", params={"status": "dead"}, headers=admin_headers())).json()
    [event] = dead["events"]
    assert event["last_error"].startswith("40002")
    good = {"event_source": "web", "event_source_id": DEFAULT_MES_ID}
    await app_client.put(f"/api/v1/workspaces/{workspace_id}/reporting", json=good, headers=admin_headers())
    retried = await app_client.post(f"/api/v1/events/{event['id']}/retry", headers=admin_headers())
    assert retried.status == 200
    await app_client.app[outbox_key].run_once()
    assert (await _statuses(app_client)) == Counter({"delivered": 1})
    again = await app_client.post(f"/api/v1/events/{event['id']}/retry", headers=admin_headers())
    assert again.status == 409


async def test_events_older_than_the_maximum_age_are_dead_lettered(app_client: Client, sandbox: TestServer) -> None:
    await _setup(app_client)
    await _post_text(app_client, "wamid.OLD", "6281234500003", "hello")
    outbox = table(OutboxEvent)
    async with app_client.app[engine_key].begin() as connection:
        await connection.execute(sa.update(outbox).values(event_time=1_000_000_000))
    await app_client.app[outbox_key].run_once()
    dead = await (await app_client.get("/api/v1/events", params={"status": "dead"}, headers=admin_headers())).json()
    assert dead["events"][0]["last_error"] == "event is older than 7 days"
    assert await _track_requests(sandbox) == []


async def test_without_reporting_configuration_events_wait(client: Client) -> None:
    workspace = await client.post("/api/v1/workspaces", json={"name": "No config"}, headers=admin_headers())
    assert workspace.status == 201
    channel = {
        "workspace_id": (await workspace.json())["id"],
        "platform": "whatsapp",
        "external_id": PHONE_NUMBER_ID,
        "secrets": {"access_token": "wa-token"},
    }
    await client.post("/api/v1/channels", json=channel, headers=admin_headers())
    await _post_text(client, "wamid.W1", "6281234500004", "hello")
    await client.app[outbox_key].run_once()
    queued = await (await client.get("/api/v1/events", params={"status": "queued"}, headers=admin_headers())).json()
    assert queued["events"][0]["last_error"] == "workspace has no reporting configuration yet"
    assert queued["events"][0]["attempts"] == 0


async def test_test_event_code_marks_the_workspaces_events_as_test(app_client: Client, sandbox: TestServer) -> None:
    workspace_id = await _setup(app_client)
    config = {"event_source": "web", "event_source_id": DEFAULT_MES_ID, "test_event_code": "TEST123"}
    await app_client.put(f"/api/v1/workspaces/{workspace_id}/reporting", json=config, headers=admin_headers())
    await _post_text(app_client, "wamid.TEST", "6281234500005", "hello")
    await app_client.app[outbox_key].run_once()
    [request] = await _track_requests(sandbox)
    assert request["body"]["test_event_code"] == "TEST123"
    events = await (await app_client.get("/api/v1/events", headers=admin_headers())).json()
    assert events["events"][0]["test"] is True


async def test_unidentified_events_are_sent_when_allowed_and_counted(app_client: Client, sandbox: TestServer) -> None:
    """A contact with no phone (e.g. LINE) has nothing TikTok can match; it is still reported, and counted."""
    from partner.store.models import Contact

    workspace_id = await _setup(app_client)
    await _post_text(app_client, "wamid.U1", "6281234500006", "hello")
    async with app_client.app[engine_key].begin() as connection:
        await connection.execute(sa.update(table(Contact)).values(phone=None))
    await app_client.app[outbox_key].run_once()
    [request] = await _track_requests(sandbox)
    assert "phone" not in request["body"]["data"][0]["user"]
    metrics = await (await app_client.get("/metrics")).text()
    assert "partner_events_unidentified_total 1.0" in metrics

    strict = {"event_source": "web", "event_source_id": DEFAULT_MES_ID, "allow_unidentified": False}
    await app_client.put(f"/api/v1/workspaces/{workspace_id}/reporting", json=strict, headers=admin_headers())
    await _post_text(app_client, "wamid.U2", "6281234500007", "hello")
    async with app_client.app[engine_key].begin() as connection:
        await connection.execute(sa.update(table(Contact)).values(phone=None))
    await app_client.app[outbox_key].run_once()
    dead = await (await app_client.get("/api/v1/events", params={"status": "dead"}, headers=admin_headers())).json()
    assert dead["events"][0]["last_error"] == "no identifier and the workspace does not allow it"


async def test_outbox_depth_gauge(app_client: Client, sandbox: TestServer) -> None:
    await _setup(app_client)
    await _post_text(app_client, "wamid.G1", "6281234500008", "hello")
    counts = await app_client.app[outbox_key].update_depth_gauge()
    assert counts == {"queued": 1}
    metrics = await (await app_client.get("/metrics")).text()
    assert 'partner_outbox_events{status="queued"} 1.0' in metrics
