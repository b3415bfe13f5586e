"""``/event/track/``: authentication, permission, every validation rule, and 48 h deduplication."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from partner.sandbox import ManualClock
from partner.sandbox.state import DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID, DEFAULT_PIXEL_ID

Client = TestClient[Any, Any]
TRACK = "/open_api/v1.3/event/track/"
EMAIL_HASH = hashlib.sha256(b"alice@example.com").hexdigest()


def web_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "Contact",
        "event_time": 1_700_000_000,
        "event_id": "conv-1-contact",
        "user": {"email": EMAIL_HASH, "phone": [EMAIL_HASH], "ttclid": "E.C.P.abc"},
        "page": {"url": "https://shop.example/"},
        "properties": {"currency": "USD", "value": 49.5, "contents": [{"content_id": "sku-1", "price": 49.5}]},
    }
    event.update(overrides)
    return event


def body(*events: dict[str, Any], source: str = "web", source_id: str = DEFAULT_PIXEL_ID) -> dict[str, Any]:
    return {"event_source": source, "event_source_id": source_id, "data": list(events) or [web_event()]}


async def track(sandbox: Client, payload: Any, token: str | None = DEFAULT_EVENTS_TOKEN) -> dict[str, Any]:
    headers = {"Access-Token": token} if token is not None else {}
    response = await sandbox.post(TRACK, json=payload, headers=headers)
    assert response.status == 200
    assert response.headers["X-Tt-Logid"]
    result: dict[str, Any] = await response.json()
    return result


async def events(sandbox: Client) -> dict[str, Any]:
    result: dict[str, Any] = await (await sandbox.get("/_sandbox/events")).json()
    return result


class TestAuthentication:
    async def test_success_envelope(self, sandbox: Client, oauth_token: str) -> None:
        first = await track(sandbox, body(), oauth_token)
        second = await track(sandbox, body(), oauth_token)
        assert first["code"] == 0
        assert first["message"] == "OK"
        assert first["data"] == {}
        assert first["request_id"] != second["request_id"]

    @pytest.mark.parametrize(
        ("token", "code"),
        [(None, 40104), ("", 40104), ("not-a-token", 40105), (f"Bearer {DEFAULT_EVENTS_TOKEN}", 40105)],
    )
    async def test_bad_tokens(self, sandbox: Client, token: str | None, code: int) -> None:
        result = await track(sandbox, body(source_id=DEFAULT_MES_ID), token)
        assert result["code"] == code
        assert (await events(sandbox))["totals"]["received"] == 0

    async def test_revoked_token(self, sandbox: Client, oauth_token: str) -> None:
        revoke = {"app_id": "sandbox-app", "secret": "sandbox-secret", "access_token": oauth_token}
        await sandbox.post("/open_api/v1.3/oauth2/revoke_token/", json=revoke)
        result = await track(sandbox, body(), oauth_token)
        assert result == {**result, "code": 40105, "message": "Access token is incorrect or has been revoked."}

    async def test_events_token_is_bound_to_its_event_set(self, sandbox: Client) -> None:
        assert (await track(sandbox, body(source_id=DEFAULT_MES_ID)))["code"] == 0
        wrong = await track(sandbox, body(source_id=DEFAULT_PIXEL_ID))
        assert wrong["code"] == 40001
        assert DEFAULT_PIXEL_ID in wrong["message"]

    async def test_oauth_token_needs_the_owning_advertiser(self, sandbox: Client) -> None:
        form = {"app_id": "sandbox-app", "redirect_uri": "https://p.example/", "action": "authorize"}
        data = [*form.items(), ("advertiser_id", "7000000000000000001")]
        redirect = await sandbox.post("/portal/auth", data=data, allow_redirects=False)
        code = redirect.headers["Location"].split("auth_code=")[1]
        grant = {"app_id": "sandbox-app", "secret": "sandbox-secret", "auth_code": code}
        token = (await (await sandbox.post("/open_api/v1.3/oauth2/access_token/", json=grant)).json())["data"]
        access = token["access_token"]
        assert (await track(sandbox, body(source_id=DEFAULT_PIXEL_ID), access))["code"] == 0
        assert (await track(sandbox, body(source_id=DEFAULT_MES_ID), access))["code"] == 40001
        assert (await track(sandbox, body(source_id="UNREGISTERED_SET"), access))["code"] == 0

    async def test_path_needs_trailing_slash(self, sandbox: Client) -> None:
        response = await sandbox.post(TRACK.rstrip("/"), json=body(), headers={"Access-Token": "x"})
        assert response.status == 404


def without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


def with_content_id(value: Any) -> dict[str, Any]:
    event = web_event()
    event["properties"]["contents"][0]["content_id"] = value
    return event


def with_user(**fields: Any) -> dict[str, Any]:
    return web_event(user=fields)


INVALID_EVENTS: list[tuple[str, Any, str]] = [
    ("event_time string", web_event(event_time="1700000000"), "Batch.0.event_time: Not a valid integer."),
    ("event_time ISO", web_event(event_time="2024-01-01T00:00:00Z"), "Batch.0.event_time: Not a valid integer."),
    ("event_time float", web_event(event_time=1_700_000_000.5), "Batch.0.event_time: Not a valid integer."),
    ("event_time bool", web_event(event_time=True), "Batch.0.event_time: Not a valid integer."),
    ("event_time ms", web_event(event_time=1_700_000_000_000), "Batch.0.event_time: Must be a Unix timestamp"),
    ("event_time missing", without(web_event(), "event_time"), "Batch.0.event_time: Missing data"),
    ("numeric event_id", web_event(event_id=12345), "Invalid value for event_id: not a valid string."),
    ("numeric content_id", with_content_id(42), "Batch.0.properties.contents.0.content_id: Not a valid string"),
    ("event missing", without(web_event(), "event"), "Batch.0.event: Missing data for required field."),
    ("event bad name", web_event(event="9 lives!"), "Batch.0.event: Invalid event name."),
    ("event not string", web_event(event=3), "Batch.0.event: Not a valid string."),
    ("unhashed email", with_user(email="alice@example.com"), "Batch.0.user.email: Must be a SHA-256"),
    ("unhashed phone in list", with_user(phone=[EMAIL_HASH, "+12133734253"]), "Batch.0.user.phone.1: Must be"),
    ("upper-case hash", with_user(external_id=EMAIL_HASH.upper()), "Batch.0.user.external_id: Must be"),
    ("numeric ttclid", with_user(ttclid=123), "Batch.0.user.ttclid: Not a valid string."),
    ("user not object", web_event(user="alice"), "Batch.0.user: Invalid input type."),
    ("value string", web_event(properties={"value": "49.50"}), "Batch.0.properties.value: Not a valid number."),
    ("currency number", web_event(properties={"currency": 840}), "Batch.0.properties.currency: Not a valid string."),
    ("currency lower", web_event(properties={"currency": "usd"}), "Batch.0.properties.currency: Not a valid ISO"),
    ("contents not list", web_event(properties={"contents": {}}), "Batch.0.properties.contents: Not a valid list."),
    ("web without page", without(web_event(), "page"), "Batch.0.page: Missing data for required field."),
    ("page without url", web_event(page={}), "Batch.0.page.url: Missing data for required field."),
    ("item not object", "Contact", "Batch.0: Invalid input type."),
]


class TestValidation:
    @pytest.mark.parametrize(
        ("event", "message"), [(e, m) for _, e, m in INVALID_EVENTS], ids=[i for i, _, _ in INVALID_EVENTS]
    )
    async def test_event_rules(self, sandbox: Client, oauth_token: str, event: Any, message: str) -> None:
        """Each bad field fails the whole request with 40002 and a TikTok-style message."""
        result = await track(sandbox, body(web_event(event_id="ok-0"), event), oauth_token)
        assert result["code"] == 40002
        assert result["message"].replace("Batch.1", "Batch.0").startswith(message)
        assert (await events(sandbox))["totals"]["received"] == 0

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            ({"event_source": "messaging", "event_source_id": "X", "data": [web_event()]}, "event_source: Must be"),
            ({"event_source_id": "X", "data": [web_event()]}, "event_source: Missing data"),
            ({"event_source": "web", "event_source_id": 7, "data": [web_event()]}, "event_source_id: Not a valid"),
            ({"event_source": "web", "event_source_id": "X", "data": []}, "data: Length must be between 1 and 1000."),
            ({"event_source": "web", "event_source_id": "X", "data": {}}, "data: Not a valid list."),
            ({"event_source": "web", "event_source_id": "X"}, "data: Missing data for required field."),
            ({**body(), "test_event_code": 5}, "test_event_code: Not a valid string."),
            ([web_event()], "_schema: Invalid input type."),
        ],
    )
    async def test_envelope_rules(self, sandbox: Client, oauth_token: str, payload: Any, message: str) -> None:
        result = await track(sandbox, payload, oauth_token)
        assert result["code"] == 40002
        assert result["message"].startswith(message)

    async def test_more_than_1000_events_rejects_the_whole_request(self, sandbox: Client, oauth_token: str) -> None:
        many = [web_event(event_id=f"e{i}") for i in range(1001)]
        result = await track(sandbox, body(*many), oauth_token)
        assert result["code"] == 40002
        assert "between 1 and 1000" in result["message"]
        assert (await events(sandbox))["totals"]["received"] == 0
        assert (await track(sandbox, body(*many[:1000]), oauth_token))["code"] == 0
        assert (await events(sandbox))["totals"]["unique"] == 1000

    async def test_body_must_be_json(self, sandbox: Client, oauth_token: str) -> None:
        response = await sandbox.post(TRACK, data=b"{not json", headers={"Access-Token": oauth_token})
        assert (await response.json())["code"] == 40002

    @pytest.mark.parametrize(
        ("source", "extra", "name", "ok"),
        [
            ("web", {"page": {"url": "https://shop.example/"}}, "QualifiedLead", True),
            ("crm", {"lead": {"lead_id": "L1"}}, "QualifiedLead", True),
            ("crm", {"lead": {"lead_id": "L1"}}, "AddToCart", True),
            ("app", {"app": {"app_id": "123"}}, "LaunchAPP", True),
            ("offline", {}, "Purchase", True),
            ("offline", {}, "QualifiedLead", False),
            ("crm", {}, "Lead", False),
        ],
    )
    async def test_names_and_source_objects(
        self, sandbox: Client, oauth_token: str, source: str, extra: dict[str, Any], name: str, ok: bool
    ) -> None:
        """Custom names are fine except for offline; crm needs ``lead``, app needs ``app``."""
        event = {**without(web_event(event=name), "page"), **extra}
        result = await track(sandbox, body(event, source=source), oauth_token)
        assert (result["code"] == 0) is ok, result

    async def test_source_objects_can_be_switched_off(self, sandbox: Client, oauth_token: str) -> None:
        await sandbox.post("/_sandbox/config", json={"require_source_objects": False})
        result = await track(sandbox, body(without(web_event(), "page")), oauth_token)
        assert result["code"] == 0

    async def test_empty_identifiers_are_allowed(self, sandbox: Client, oauth_token: str) -> None:
        """Partners send ``""`` and ``[]`` for absent fields; TikTok accepts them."""
        result = await track(sandbox, body(with_user(email="", phone=[], external_id=[EMAIL_HASH])), oauth_token)
        assert result["code"] == 0


class TestDedup:
    async def test_duplicates_within_48h_are_counted_not_added(self, sandbox: Client, oauth_token: str) -> None:
        first = web_event(event_id="order-1")
        assert (await track(sandbox, body(first, copy.deepcopy(first)), oauth_token))["code"] == 0
        assert (await track(sandbox, body(first), oauth_token))["code"] == 0
        summary = await events(sandbox)
        assert summary["totals"] == {"received": 3, "unique": 1, "deduplicated": 2}
        record = summary["events"][0]
        assert record["count"] == 3
        assert record["deduplicated"] == 2
        assert (record["event_source_id"], record["event"], record["event_id"]) == (
            DEFAULT_PIXEL_ID,
            "Contact",
            "order-1",
        )
        assert record["payload"]["user"]["email"] == EMAIL_HASH

    async def test_dedup_key_includes_event_name_and_set(self, sandbox: Client, oauth_token: str) -> None:
        same_id = [web_event(event_id="x"), web_event(event_id="x", event="Purchase")]
        await track(sandbox, body(*same_id), oauth_token)
        await track(sandbox, body(web_event(event_id="x"), source_id="OTHER_SET"), oauth_token)
        assert (await events(sandbox))["totals"] == {"received": 3, "unique": 3, "deduplicated": 0}

    async def test_after_48h_the_same_event_is_new(self, sandbox: Client, oauth_token: str, clock: ManualClock) -> None:
        await track(sandbox, body(web_event(event_id="late")), oauth_token)
        clock.advance(48 * 3600 - 1)
        await track(sandbox, body(web_event(event_id="late")), oauth_token)
        clock.advance(2)
        await track(sandbox, body(web_event(event_id="late")), oauth_token)
        assert (await events(sandbox))["totals"] == {"received": 3, "unique": 2, "deduplicated": 1}

    async def test_events_without_id_never_dedup(self, sandbox: Client, oauth_token: str) -> None:
        event = without(web_event(), "event_id")
        await track(sandbox, body(event, event), oauth_token)
        summary = await events(sandbox)
        assert summary["totals"]["unique"] == 2
        assert summary["events"][0]["event_id"] is None

    async def test_test_event_code_is_kept_and_events_can_be_cleared(self, sandbox: Client, oauth_token: str) -> None:
        await track(sandbox, {**body(), "test_event_code": "TEST123", "partner_name": "Partner"}, oauth_token)
        assert (await events(sandbox))["events"][0]["test_event_code"] == "TEST123"
        await sandbox.delete("/_sandbox/events")
        assert (await events(sandbox))["totals"] == {"received": 0, "unique": 0, "deduplicated": 0}
