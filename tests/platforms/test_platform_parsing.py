"""Parsing rules the corpus alone does not pin down: batches, envelopes, fallbacks and provider quirks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from partner.platforms import UnknownPlatformError, get_platform, line, messenger, tiktok, whatsapp
from partner.platforms._shared import utc_from_auto
from partner.platforms.base import Direction, ItemKind, PayloadError
from tests.corpus import read_fixture


def fixture_json(relative_path: str) -> Any:
    return json.loads(read_fixture(relative_path))


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_unknown_platform_name() -> None:
    with pytest.raises(UnknownPlatformError):
        get_platform("telegram")


@pytest.mark.parametrize(
    ("module", "raw"),
    [
        (whatsapp, b"not json"),
        (whatsapp, b"[]"),
        (whatsapp, b'{"object": "page", "entry": []}'),
        (whatsapp, b'{"object": "whatsapp_business_account"}'),
        (whatsapp, b'{"object": "whatsapp_business_account", "entry": {}}'),
        (messenger, b'{"object": "user", "entry": []}'),
        (messenger, b'{"object": "page"}'),
        (messenger, b'{"object": ["page"], "entry": []}'),
        (line, b'{"destination": "U1"}'),
        (line, b'{"events": {}}'),
        (tiktok, b'{"content": "{}"}'),
        (tiktok, b'"im_receive_msg"'),
        (line, b"\xff\xfe\x00"),
    ],
)
def test_not_the_platform_envelope_is_a_payload_error(module: Any, raw: bytes) -> None:
    with pytest.raises(PayloadError):
        module.parse(raw)


# --- WhatsApp ----------------------------------------------------------------------------------------------------


def test_whatsapp_walks_every_entry_change_message_and_status() -> None:
    """No genuine multi-entry sample exists; Graph batches up to 1000 updates, so build one from real ones."""
    text = fixture_json("whatsapp/pywa_message__text.json")
    image = fixture_json("whatsapp/pywa_message__image.json")
    read = fixture_json("whatsapp/pywa_message_status__read.json")
    template = fixture_json("whatsapp/pywa_template_status_update__approved.json")
    second_message = {**image["entry"][0]["changes"][0]["value"]["messages"][0], "id": "wamid.second"}
    image["entry"][0]["changes"][0]["value"]["messages"].append(second_message)
    image["entry"][0]["changes"].append(read["entry"][0]["changes"][0])
    batch = {
        "object": "whatsapp_business_account",
        "entry": [text["entry"][0], image["entry"][0], template["entry"][0]],
    }
    result = whatsapp.parse(encode(batch))
    assert [(item.kind, item.dedup_key) for item in result.items] == [
        (ItemKind.MESSAGE, "wamid.xyzxyz"),
        (ItemKind.MESSAGE, "wamid.xyzxyz"),
        (ItemKind.MESSAGE, "wamid.second"),
        (ItemKind.STATUS, "wamid.xyzxyz:read"),
    ]
    assert result.ignored == ["message_template_status_update"]


def test_whatsapp_unknown_field_status_and_message_type_never_raise() -> None:
    value = fixture_json("whatsapp/pywa_message__text.json")["entry"][0]["changes"][0]["value"]
    value["messages"][0]["type"] = "poll_vote"
    value["statuses"] = [{"id": "wamid.s", "status": "deleted", "timestamp": "1"}]
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}, {"field": "brand_new", "value": {}}]}],
    }
    result = whatsapp.parse(encode(body))
    [item] = result.items
    assert (item.kind, item.message_type, item.unsupported_type) == (ItemKind.MESSAGE, "unsupported", "poll_vote")
    assert result.ignored == ["status:deleted", "unknown:brand_new"]


def test_whatsapp_placeholder_timestamp_falls_back_to_now() -> None:
    [item] = whatsapp.parse(read_fixture("whatsapp/restfb_webhook-incoming-message-status-ui.json")).items
    assert abs(datetime.now(tz=UTC) - item.occurred_at) < timedelta(minutes=1)


def test_whatsapp_timestamps_are_unix_seconds() -> None:
    [item] = whatsapp.parse(read_fixture("whatsapp/pywa_message__text.json")).items
    assert item.occurred_at == datetime.fromtimestamp(1697043223, tz=UTC)


def test_whatsapp_referral_keeps_the_raw_object() -> None:
    [item] = whatsapp.parse(read_fixture("whatsapp/pywa_message__referral.json")).items
    assert item.referral is not None
    assert item.referral.raw["headline"] == "AD_TITLE"
    assert item.referral.raw["source_url"] == "AD_OR_POST_FB_URL"


# --- Messenger ---------------------------------------------------------------------------------------------------


def messenger_event(event: dict[str, Any], page: str = "PAGE") -> bytes:
    base = {"sender": {"id": "PSID"}, "recipient": {"id": page}, "timestamp": 1700000000000}
    return encode({"object": "page", "entry": [{"id": page, "time": 1700000000000, "messaging": [{**base, **event}]}]})


def test_messenger_keeps_every_attachment_of_one_message() -> None:
    attachments = [{"type": "image", "payload": {"url": "u1"}}, {"type": "video", "payload": {"url": "u2"}}]
    result = messenger.parse(messenger_event({"message": {"mid": "m_1", "text": "look", "attachments": attachments}}))
    first, second = result.items
    assert (first.dedup_key, first.platform_message_id, first.text, first.message_type) == (
        "m_1",
        "m_1",
        "look",
        "image",
    )
    assert (second.dedup_key, second.platform_message_id, second.text, second.message_type) == (
        "m_1#2",
        None,
        None,
        "video",
    )
    assert second.metadata["attachment_of"] == "m_1"


def test_messenger_delivery_gives_one_status_per_mid() -> None:
    result = messenger.parse(messenger_event({"delivery": {"mids": ["m_1", "m_2"], "watermark": 1700000000000}}))
    assert [(item.status, item.target_message_id, item.dedup_key) for item in result.items] == [
        ("delivered", "m_1", "m_1:delivered"),
        ("delivered", "m_2", "m_2:delivered"),
    ]


def test_messenger_walks_every_entry_and_event() -> None:
    one = json.loads(read_fixture("messenger/restfb_messaging-message-basic.json"))
    two = json.loads(read_fixture("messenger/restfb_messaging-reaction-1.json"))
    one["entry"][0]["messaging"].append(two["entry"][0]["messaging"][0])
    body = {"object": "page", "entry": [one["entry"][0], two["entry"][0]]}
    kinds = [item.kind for item in messenger.parse(encode(body)).items]
    assert kinds == [ItemKind.MESSAGE, ItemKind.REACTION, ItemKind.REACTION]


def test_messenger_unknown_event_is_kept_as_unsupported() -> None:
    [item] = messenger.parse(messenger_event({"game_play": {"game_id": "1"}})).items
    assert (item.kind, item.unsupported_type, item.contact_key) == (ItemKind.UNSUPPORTED, "game_play", "PSID")


def test_messenger_echo_contact_is_the_recipient() -> None:
    body = messenger_event(
        {"sender": {"id": "PAGE"}, "recipient": {"id": "PSID"}, "message": {"mid": "m", "is_echo": True, "text": "x"}}
    )
    [item] = messenger.parse(body).items
    assert (item.direction, item.contact_key, item.channel_key) == (Direction.OUTBOUND, "PSID", "PAGE")


@pytest.mark.parametrize("timestamp", [1700000000000, 1700000000, "1700000000"])
def test_messenger_accepts_millisecond_and_second_timestamps(timestamp: Any) -> None:
    [item] = messenger.parse(messenger_event({"timestamp": timestamp, "message": {"mid": "m", "text": "x"}})).items
    assert item.occurred_at == datetime.fromtimestamp(1700000000, tz=UTC)


# --- LINE --------------------------------------------------------------------------------------------------------


def test_line_console_verification_has_no_events() -> None:
    result = line.parse(b'{"destination":"Uab012345678901234567890123456789","events":[]}', route_key="1657")
    assert (result.items, result.ignored) == ([], [])


def test_line_without_route_key_uses_the_destination() -> None:
    [item] = line.parse(read_fixture("line/java_text-user.json")).items
    assert item.channel_key == "Uab012345678901234567890123456789"


def test_line_repeated_event_id_collapses_only_identical_events() -> None:
    event = json.loads(read_fixture("line/python_v3_ev00_message_text_user.json"))["events"][0]
    other = {**event, "message": {**event["message"], "id": "999", "text": "other"}}
    keys = [item.dedup_key for item in line.parse(encode({"destination": "U1", "events": [event, other, event]})).items]
    assert keys[0] != keys[1]
    assert keys[0] == keys[2]
    assert all(key.startswith("testwebhookeventid#") for key in keys)


def test_line_events_without_an_id_get_a_stable_key() -> None:
    first = line.parse(read_fixture("line/java_text-user.json"), route_key="1").items[0].dedup_key
    again = line.parse(read_fixture("line/java_text-user.json"), route_key="1").items[0].dedup_key
    assert first == again
    assert first.startswith("event:")


def test_line_timestamps_are_milliseconds() -> None:
    [item] = line.parse(read_fixture("line/python_v3_ev00_message_text_user.json"), route_key="1").items
    assert item.occurred_at == datetime.fromtimestamp(1462629479.859, tz=UTC)


# --- TikTok ------------------------------------------------------------------------------------------------------


def test_tiktok_content_may_already_be_an_object() -> None:
    envelope = fixture_json("tiktok/chatwoot_im_receive_msg_text.json")
    envelope["content"] = json.loads(envelope["content"])
    [item] = tiktok.parse(encode(envelope)).items
    assert item.text == "Hello from TikTok"


def test_tiktok_unreadable_content_is_ignored_not_fatal() -> None:
    result = tiktok.parse(encode({"event": "im_receive_msg", "user_openid": "b", "content": "{not json"}))
    assert (result.items, result.ignored) == ([], ["im_receive_msg:unreadable_content"])


def test_tiktok_eu_message_is_kept_as_unsupported() -> None:
    body = {"event": "im_receive_msg_eu", "user_openid": "b", "create_time": 1700000000, "content": '{"x":1}'}
    [item] = tiktok.parse(encode(body)).items
    assert (item.kind, item.unsupported_type, item.channel_key) == (ItemKind.UNSUPPORTED, "im_receive_msg_eu", "b")


def test_tiktok_message_time_is_content_milliseconds() -> None:
    [item] = tiktok.parse(read_fixture("tiktok/hitech_im_receive_msg_text.json")).items
    assert item.occurred_at == datetime.fromtimestamp(1789814497.488, tz=UTC)


# --- shared ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1700000000, datetime.fromtimestamp(1700000000, tz=UTC)),
        (1700000000123, datetime.fromtimestamp(1700000000.123, tz=UTC)),
        ("1700000000", datetime.fromtimestamp(1700000000, tz=UTC)),
    ],
)
def test_utc_from_auto(value: Any, expected: datetime) -> None:
    assert utc_from_auto(value) == expected


@pytest.mark.parametrize("value", [None, "TIMESTAMP", [], {}, float("nan"), 10**400, "1e999"])
def test_utc_from_auto_falls_back_to_now(value: Any) -> None:
    assert abs(utc_from_auto(value) - datetime.now(tz=UTC)) < timedelta(minutes=1)


def test_messenger_dashboard_test_of_a_non_chat_field_is_ignored() -> None:
    body = {"field": "feed", "value": {"item": "status", "verb": "add", "post_id": "1_2"}}
    result = messenger.parse(encode(body))
    assert (result.items, result.ignored) == ([], ["feed"])
