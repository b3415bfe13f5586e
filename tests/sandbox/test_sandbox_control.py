"""``/_sandbox/``: request recording with redaction, seeded fault injection, runtime configuration."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from partner.sandbox import fingerprint
from partner.sandbox.state import DEFAULT_APP_SECRET, DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID, DEFAULT_META_TOKEN

Client = TestClient[Any, Any]
TRACK = "/open_api/v1.3/event/track/"
EVENT = {"event": "Contact", "event_time": 1_700_000_000, "lead": {"lead_id": "L1"}}


def track_body(event_id: str) -> dict[str, Any]:
    return {"event_source": "crm", "event_source_id": DEFAULT_MES_ID, "data": [{**EVENT, "event_id": event_id}]}


async def get_json(sandbox: Client, path: str) -> dict[str, Any]:
    result: dict[str, Any] = await (await sandbox.get(path)).json()
    return result


async def send_events(sandbox: Client, count: int) -> list[dict[str, Any]]:
    headers = {"Access-Token": DEFAULT_EVENTS_TOKEN}
    replies = []
    for index in range(count):
        response = await sandbox.post(TRACK, json=track_body(f"e{index}"), headers=headers)
        replies.append({"status": response.status, "body": await response.text()})
    return replies


class TestRecording:
    async def test_requests_are_recorded_in_order_with_secrets_redacted(self, sandbox: Client) -> None:
        await sandbox.post(TRACK, json=track_body("a"), headers={"Access-Token": DEFAULT_EVENTS_TOKEN})
        query = {"app_id": "sandbox-app", "secret": DEFAULT_APP_SECRET}
        await sandbox.get("/open_api/v1.3/oauth2/advertiser/get/", params=query)
        await sandbox.post(
            "/v21.0/100000000000001/messages",
            json={"messaging_product": "whatsapp", "to": "15550001111", "text": {"body": "hi"}},
            headers={"Authorization": f"Bearer {DEFAULT_META_TOKEN}"},
        )
        recorded = (await get_json(sandbox, "/_sandbox/requests"))["requests"]
        assert [entry["path"] for entry in recorded] == [
            TRACK,
            "/open_api/v1.3/oauth2/advertiser/get/",
            "/v21.0/100000000000001/messages",
        ]
        assert [entry["seq"] for entry in recorded] == [1, 2, 3]
        assert recorded[0]["headers"]["Access-Token"] == f"<redacted:{fingerprint(DEFAULT_EVENTS_TOKEN)}>"
        assert recorded[0]["body"]["data"][0]["event_id"] == "a"
        assert recorded[0]["status"] == 200
        assert recorded[1]["query"]["secret"] == f"<redacted:{fingerprint(DEFAULT_APP_SECRET)}>"
        assert recorded[2]["headers"]["Authorization"] == f"Bearer <redacted:{fingerprint(DEFAULT_META_TOKEN)}>"
        assert recorded[2]["body"]["text"] == {"body": "hi"}
        dump = str(recorded)
        for secret in (DEFAULT_EVENTS_TOKEN, DEFAULT_APP_SECRET, DEFAULT_META_TOKEN):
            assert secret not in dump

    async def test_secrets_in_bodies_and_forms_are_redacted(self, sandbox: Client) -> None:
        body = {"app_id": "sandbox-app", "secret": DEFAULT_APP_SECRET, "auth_code": "abc"}
        await sandbox.post("/open_api/v1.3/oauth2/access_token/", json=body)
        await sandbox.post("/open_api/v1.3/oauth2/access_token/", data=body)
        await sandbox.post(
            "/open_api/v1.3/oauth2/access_token/", data=b"not json", headers={"Content-Type": "text/plain"}
        )
        recorded = (await get_json(sandbox, "/_sandbox/requests"))["requests"]
        assert recorded[0]["body"]["secret"] == f"<redacted:{fingerprint(DEFAULT_APP_SECRET)}>"
        assert recorded[0]["body"]["auth_code"] == f"<redacted:{fingerprint('abc')}>"
        assert recorded[1]["body"]["secret"] == f"<redacted:{fingerprint(DEFAULT_APP_SECRET)}>"
        assert recorded[2]["body"] == "not json"

    async def test_control_calls_are_not_recorded_and_clear_works(self, sandbox: Client) -> None:
        await sandbox.get("/portal/auth", params={"app_id": "x"})
        await sandbox.get("/_sandbox/events")
        assert len((await get_json(sandbox, "/_sandbox/requests"))["requests"]) == 1
        cleared = await (await sandbox.delete("/_sandbox/requests")).json()
        assert cleared == {"cleared": 1}
        assert (await get_json(sandbox, "/_sandbox/requests"))["requests"] == []


class TestFaults:
    async def test_seeded_faults_are_reproducible(self, sandbox: Client) -> None:
        """The same seed gives the same sequence of faulted requests."""
        spec = {"error_rate": 0.3, "error_codes": [50000, 40100], "seed": 7}
        runs = []
        for _ in range(2):
            await sandbox.post("/_sandbox/faults", json=spec)
            await sandbox.delete("/_sandbox/requests")
            await send_events(sandbox, 30)
            recorded = (await get_json(sandbox, "/_sandbox/requests"))["requests"]
            runs.append([entry["fault"] for entry in recorded])
        assert runs[0] == runs[1]
        faulted = [label for label in runs[0] if label]
        assert 3 <= len(faulted) <= 18
        assert set(faulted) <= {"code_50000", "code_40100"}

    async def test_faulted_requests_record_no_events(self, sandbox: Client) -> None:
        await sandbox.post("/_sandbox/faults", json={"error_rate": 0.5, "error_codes": [50000], "seed": 1})
        replies = await send_events(sandbox, 20)
        failed = [reply for reply in replies if '"code": 50000' in reply["body"]]
        assert failed
        assert all(reply["status"] == 200 for reply in replies)
        totals = (await get_json(sandbox, "/_sandbox/events"))["totals"]
        assert totals["unique"] == 20 - len(failed)

    async def test_http_5xx_faults_have_no_json_envelope(self, sandbox: Client) -> None:
        await sandbox.post("/_sandbox/faults", json={"http_5xx_rate": 1.0, "seed": 3})
        replies = await send_events(sandbox, 5)
        assert {reply["status"] for reply in replies} <= {500, 502, 503, 504}
        assert all(reply["body"].startswith("<html>") for reply in replies)
        assert (await get_json(sandbox, "/_sandbox/events"))["totals"]["received"] == 0

    async def test_timeout_fault_sleeps_then_fails(self, sandbox: Client) -> None:
        await sandbox.post("/_sandbox/faults", json={"timeout_rate": 1.0, "timeout_seconds": 0.05})
        assert (await send_events(sandbox, 1))[0]["status"] == 504
        assert (await get_json(sandbox, "/_sandbox/requests"))["requests"][0]["fault"] == "timeout"

    async def test_targets_limit_where_faults_apply(self, sandbox: Client) -> None:
        await sandbox.post("/_sandbox/faults", json={"http_5xx_rate": 1.0, "targets": ["line"]})
        assert (await send_events(sandbox, 1))[0]["status"] == 200
        push = await sandbox.post("/v2/bot/message/push", json={})
        assert push.status >= 500

    async def test_revoke_tokens_and_clearing(self, sandbox: Client) -> None:
        result = await (await sandbox.post("/_sandbox/faults", json={"revoke_tokens": True})).json()
        assert result["revoked_tokens"] == 1
        await sandbox.delete("/_sandbox/faults")
        assert (await get_json(sandbox, "/_sandbox/faults")) == {"faults": None}
        assert '"code": 40105' in (await send_events(sandbox, 1))[0]["body"]

    @pytest.mark.parametrize(
        "spec",
        [
            {"error_rate": 1.5},
            {"error_rate": 0.6, "http_5xx_rate": 0.6},
            {"error_codes": []},
            {"error_codes": ["50000"]},
            {"timeout_seconds": -1},
            {"targets": ["smtp"]},
            {"seed": "one"},
            {"eror_rate": 0.1},
        ],
    )
    async def test_invalid_specs_are_rejected(self, sandbox: Client, spec: dict[str, Any]) -> None:
        response = await sandbox.post("/_sandbox/faults", json=spec)
        assert response.status == 400
        assert (await get_json(sandbox, "/_sandbox/faults")) == {"faults": None}


class TestConfig:
    async def test_defaults_are_visible_without_secrets(self, sandbox: Client) -> None:
        config = await get_json(sandbox, "/_sandbox/config")
        assert config["apps"][0]["app_id"] == "sandbox-app"
        assert config["apps"][0]["secret"] == f"<redacted:{fingerprint(DEFAULT_APP_SECRET)}>"
        assert [adv["advertiser_id"] for adv in config["advertisers"]] == ["7000000000000000001", "7000000000000000002"]
        assert config["events_tokens"][0]["event_source_id"] == DEFAULT_MES_ID
        assert DEFAULT_EVENTS_TOKEN not in str(config)

    async def test_registered_objects_are_usable(self, sandbox: Client) -> None:
        update = {
            "advertisers": [{"advertiser_id": "42", "advertiser_name": "Shop"}],
            "event_sets": [{"event_set_id": "MES_42", "advertiser_id": "42"}],
            "events_tokens": [{"access_token": "manual-42", "event_source_id": "MES_42"}],
        }
        response = await sandbox.post("/_sandbox/config", json=update)
        assert response.status == 200
        body = {**track_body("x"), "event_source_id": "MES_42"}
        reply = await sandbox.post(TRACK, json=body, headers={"Access-Token": "manual-42"})
        assert (await reply.json())["code"] == 0

    async def test_whatsapp_templates_can_be_registered(self, sandbox: Client) -> None:
        update = {"whatsapp_templates": [{"name": "promo_id", "language": "id", "body_parameters": 2}]}
        assert (await sandbox.post("/_sandbox/config", json=update)).status == 200
        templates = (await get_json(sandbox, "/_sandbox/config"))["whatsapp_templates"]
        assert {"name": "promo_id", "language": "id", "body_parameters": 2} in templates
        assert {"name": "hello_world", "language": "en_US", "body_parameters": 0} in templates

    @pytest.mark.parametrize(
        "update",
        [
            {"apps": [{"app_id": "a"}]},
            {"advertisers": "nope"},
            {"meta_tokens": [""]},
            {"auto_approve": "yes"},
            {"whatsapp_templates": [{"name": "x", "language": "en", "body_parameters": -1}]},
            {"colour": "blue"},
        ],
    )
    async def test_bad_updates_change_nothing(self, sandbox: Client, update: dict[str, Any]) -> None:
        before = await get_json(sandbox, "/_sandbox/config")
        response = await sandbox.post("/_sandbox/config", json={"meta_tokens": ["fresh"], **update})
        assert response.status == 400
        assert "error" in await response.json()
        assert await get_json(sandbox, "/_sandbox/config") == before
