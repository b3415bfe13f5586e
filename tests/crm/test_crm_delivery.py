"""Delivery: retried with backoff through the durable queue, every attempt visible, failed after the last one,
410 disables, redirects are not followed, redelivery and ping; signatures follow secret rotation."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from partner.appkeys import engine_key
from partner.crm.emit import DELIVER_JOB, MAX_ATTEMPTS
from partner.crm.models import ATTEMPTS, WEBHOOKS
from partner.crm.signing import sign, verify
from partner.store.models import utcnow
from partner.store.queue import JOBS
from tests.crm.crm_support import Received, Receiver, crm_verifies, deliveries, make_due, run_jobs, subscribe, worker
from tests.inbox.inbox_support import Client, Workspace, add_conversation, json_of


async def _ping(client: Client, shop: Workspace, webhook_id: int) -> dict[str, Any]:
    response = await client.post(f"/api/v1/webhooks/{webhook_id}/ping", headers=shop.headers("admin"))
    body: dict[str, Any] = await json_of(response, 202)
    return body


async def _delivery(client: Client, shop: Workspace, webhook_id: int, delivery_id: int) -> dict[str, Any]:
    path = f"/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}"
    response = await client.get(path, headers=shop.headers("admin"))
    body: dict[str, Any] = await json_of(response, 200)
    return body


async def _attempt_once(client: Client) -> int:
    """One round of the worker, after bringing any waiting retry forward."""
    await make_due(client)
    return await worker(client).run_once()


async def _jobs(client: Client) -> list[Any]:
    async with client.app[engine_key].connect() as connection:
        statement = sa.select(JOBS).where(JOBS.c.kind == DELIVER_JOB).order_by(JOBS.c.id)
        return list((await connection.execute(statement)).all())


async def test_a_failing_receiver_is_retried_with_backoff_until_it_accepts(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    webhook = await subscribe(client, shop, receiver.url())
    receiver.statuses = [500, 503]
    queued = await _ping(client, shop, webhook["id"])
    assert (queued["status"], queued["attempts"], queued["event_type"]) == ("pending", 0, "ping")
    assert queued["next_attempt_at"] is not None

    failed_at = utcnow()
    assert await worker(client).run_once() == 1
    after_one = await _delivery(client, shop, webhook["id"], queued["id"])
    assert (after_one["status"], after_one["attempts"], after_one["last_status_code"]) == ("pending", 1, 500)
    assert after_one["last_error"] == "HTTP 500"
    [job] = await _jobs(client)
    assert job.status == "queued"
    assert job.run_at >= failed_at - timedelta(seconds=1)  # backed off (jittered) by the queue
    assert after_one["next_attempt_at"] is not None

    await _attempt_once(client)
    await _attempt_once(client)
    done = await _delivery(client, shop, webhook["id"], queued["id"])
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("delivered", 3, 200)
    assert done["last_error"] is None
    assert done["delivered_at"] is not None
    assert done["next_attempt_at"] is None
    assert [(a["attempt"], a["status_code"], a["error"]) for a in done["history"]] == [
        (1, 500, "HTTP 500"),
        (2, 503, "HTTP 503"),
        (3, 200, None),
    ]
    assert all(a["duration_ms"] >= 0 for a in done["history"])
    assert len({item.envelope["id"] for item in receiver.received}) == 1  # a retry is the same event
    assert all(crm_verifies(webhook["secret"], item) for item in receiver.received)
    assert done["payload"] == {"webhook_id": webhook["id"]}
    async with client.app[engine_key].connect() as connection:
        stored = str((await connection.execute(sa.select(ATTEMPTS))).all())
    assert "internal CRM detail" not in stored  # the receiver's body is never kept


async def test_the_delivery_fails_after_the_last_attempt_and_can_be_redelivered(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    webhook = await subscribe(client, shop, receiver.url())
    receiver.statuses = [500] * MAX_ATTEMPTS
    queued = await _ping(client, shop, webhook["id"])
    for _ in range(MAX_ATTEMPTS):
        assert await _attempt_once(client) == 1
    assert await _attempt_once(client) == 0
    failed = await _delivery(client, shop, webhook["id"], queued["id"])
    assert (failed["status"], failed["attempts"], failed["last_error"]) == ("failed", MAX_ATTEMPTS, "HTTP 500")
    assert failed["next_attempt_at"] is None
    assert len(failed["history"]) == MAX_ATTEMPTS
    [job] = await _jobs(client)
    assert job.status == "failed"

    path = f"/api/v1/webhooks/{webhook['id']}/deliveries/{queued['id']}/redeliver"
    again = await json_of(await client.post(path, headers=shop.headers("admin")), 202)
    assert (again["status"], again["id"], again["event_id"]) == ("pending", queued["id"], queued["event_id"])
    conflict = await json_of(await client.post(path, headers=shop.headers("admin")), 409)
    assert "pending" in conflict["error"]["message"]
    await run_jobs(client)
    delivered = await _delivery(client, shop, webhook["id"], queued["id"])
    assert (delivered["status"], delivered["attempts"]) == ("delivered", MAX_ATTEMPTS + 1)
    assert len(receiver.received) == MAX_ATTEMPTS + 1


async def test_410_gone_disables_the_webhook(client: Client, shop: Workspace, receiver: Receiver) -> None:
    webhook = await subscribe(client, shop, receiver.url(), events=["order.changed"])
    conversation_id = await add_conversation(client, shop)
    path = f"/api/v1/conversations/{conversation_id}/orders"
    for _ in range(2):
        await json_of(await client.post(path, json={}, headers=shop.headers("agent")), 201)
    receiver.statuses = [410]
    await run_jobs(client)
    first, second = await deliveries(client)
    assert (first.status, first.last_status_code) == ("failed", 410)
    assert (second.status, second.last_error, second.attempts) == ("failed", "the webhook is disabled", 0)
    assert len(receiver.received) == 1
    detail = await json_of(await client.get(f"/api/v1/webhooks/{webhook['id']}", headers=shop.headers("admin")), 200)
    assert detail["active"] is False
    assert "410" in detail["disabled_reason"]

    await json_of(await client.post(path, json={}, headers=shop.headers("agent")), 201)
    assert len(await deliveries(client)) == 2  # nothing is queued for a disabled webhook
    await _ping(client, shop, webhook["id"])  # but a ping still tests the receiver
    await run_jobs(client)
    assert [item.envelope["type"] for item in receiver.received] == ["order.changed", "ping"]
    redeliver = f"/api/v1/webhooks/{webhook['id']}/deliveries/{first.id}/redeliver"
    await json_of(await client.post(redeliver, headers=shop.headers("admin")), 409)
    enabled = await json_of(
        await client.patch(f"/api/v1/webhooks/{webhook['id']}", json={"active": True}, headers=shop.headers("admin")),
        200,
    )
    assert (enabled["active"], enabled["disabled_reason"]) == (True, None)
    await json_of(await client.post(redeliver, headers=shop.headers("admin")), 202)
    await run_jobs(client)
    assert (await deliveries(client))[0].status == "delivered"
    assert len(receiver.received) == 3


async def test_redirects_are_not_followed(client: Client, shop: Workspace, receiver: Receiver) -> None:
    webhook = await subscribe(client, shop, receiver.url())
    receiver.statuses = [302]
    queued = await _ping(client, shop, webhook["id"])
    await worker(client).run_once()
    assert [item.path for item in receiver.received] == ["/hook"]
    after = await _delivery(client, shop, webhook["id"], queued["id"])
    assert (after["status"], after["last_status_code"]) == ("pending", 302)
    assert "redirects are not followed" in after["last_error"]


async def test_time_outs_and_refused_connections_are_retried(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    slow = await subscribe(client, shop, receiver.url())
    receiver.delay = 2.0  # the client's timeout is 0.5 s
    slow_ping = await _ping(client, shop, slow["id"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refused = await subscribe(client, shop, f"http://127.0.0.1:{closed_port}/hook")
    refused_ping = await _ping(client, shop, refused["id"])
    await worker(client).run_once()
    timed_out = await _delivery(client, shop, slow["id"], slow_ping["id"])
    assert (timed_out["status"], timed_out["last_status_code"]) == ("pending", None)
    assert timed_out["last_error"] == "timed out after 0.5 s"
    assert timed_out["history"][0]["duration_ms"] >= 400
    unreachable = await _delivery(client, shop, refused["id"], refused_ping["id"])
    assert unreachable["status"] == "pending"
    assert unreachable["last_error"].startswith("ClientConnectorError")
    assert len(unreachable["last_error"]) <= 200


async def test_rotating_the_secret_changes_the_signature(client: Client, shop: Workspace, receiver: Receiver) -> None:
    webhook = await subscribe(client, shop, receiver.url())
    old = webhook["secret"]
    path = f"/api/v1/webhooks/{webhook['id']}/rotate_secret"
    rotated = await json_of(await client.post(path, json={}, headers=shop.headers("admin")), 200)
    new = rotated["secret"]
    assert new != old
    assert new.startswith("whsec_")
    assert rotated["previous_secret_expires_at"] is None
    await _ping(client, shop, webhook["id"])
    await run_jobs(client)
    [item] = receiver.received
    assert crm_verifies(new, item)
    assert not crm_verifies(old, item)

    graceful = await json_of(
        await client.post(path, json={"keep_previous_seconds": 3600}, headers=shop.headers("admin")), 200
    )
    assert graceful["previous_secret_expires_at"] is not None
    await _ping(client, shop, webhook["id"])
    await run_jobs(client)
    last = receiver.received[-1]
    assert last.headers["X-Partner-Signature"].count("sha256=") == 2
    assert crm_verifies(graceful["secret"], last)
    assert crm_verifies(new, last)  # the CRM still holding the previous secret keeps accepting meanwhile
    assert not crm_verifies(old, last)
    async with client.app[engine_key].begin() as connection:
        await connection.execute(sa.update(WEBHOOKS).values(previous_secret_expires_at=utcnow() - timedelta(seconds=1)))
    await _ping(client, shop, webhook["id"])
    await run_jobs(client)
    assert not crm_verifies(new, receiver.received[-1])


def test_the_signature_covers_body_and_timestamp_and_expires() -> None:
    secret = "whsec_test"
    body = b'{"id":"evt_1"}'
    now = int(time.time())
    headers = {"X-Partner-Timestamp": str(now), "X-Partner-Signature": sign(secret, str(now), body)}
    assert verify(secret, headers, body)
    assert crm_verifies(secret, Received("/", headers, body))
    assert not verify(secret, headers, body + b" ")
    assert not verify("whsec_other", headers, body)
    assert not verify(secret, {**headers, "X-Partner-Timestamp": str(now + 1)}, body)
    assert not verify(secret, headers, body, now=now + 301)  # a captured request cannot be replayed later
    assert not verify(secret, {**headers, "X-Partner-Timestamp": "soon"}, body)


async def test_deliveries_are_listed_newest_first_page_by_page(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    webhook = await subscribe(client, shop, receiver.url())
    ids = [(await _ping(client, shop, webhook["id"]))["id"] for _ in range(3)]
    receiver.statuses = [500]
    await worker(client).run_once()
    path = f"/api/v1/webhooks/{webhook['id']}/deliveries"
    first = await json_of(await client.get(path, params={"limit": 2}, headers=shop.headers("admin")), 200)
    assert [d["id"] for d in first["deliveries"]] == ids[::-1][:2]
    params = {"limit": 2, "cursor": first["next_cursor"]}
    second = await json_of(await client.get(path, params=params, headers=shop.headers("admin")), 200)
    assert [d["id"] for d in second["deliveries"]] == [ids[0]]
    assert second["next_cursor"] is None
    pending = await json_of(await client.get(path, params={"status": "pending"}, headers=shop.headers("admin")), 200)
    assert [d["id"] for d in pending["deliveries"]] == [ids[0]]
    assert pending["deliveries"][0]["last_status_code"] == 500
    none = await json_of(
        await client.get(path, params={"event_type": "order.changed"}, headers=shop.headers("admin")), 200
    )
    assert none["deliveries"] == []
    bad = await json_of(await client.get(path, params={"cursor": "nonsense"}, headers=shop.headers("admin")), 422)
    assert bad["error"]["field"] == "cursor"


async def test_deleting_a_webhook_drops_what_it_still_had_to_send(
    client: Client, shop: Workspace, receiver: Receiver
) -> None:
    webhook = await subscribe(client, shop, receiver.url())
    await _ping(client, shop, webhook["id"])
    response = await client.delete(f"/api/v1/webhooks/{webhook['id']}", headers=shop.headers("admin"))
    assert response.status == 204
    assert await _jobs(client) == []
    assert await deliveries(client) == []
    assert await run_jobs(client) == 0
    assert receiver.received == []
