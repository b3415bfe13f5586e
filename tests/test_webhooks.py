"""Every fixture in the shared corpus, signed as its platform would sign it, posted to the running app.

Checks what was stored (ledger rows by kind, messages), that a replay stores nothing new, and the error paths:
bad signature 401, malformed body 400, oversize 413, unknown channel 200 with nothing stored.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from partner.appkeys import engine_key, settings_key
from partner.platforms import get_platform
from partner.platforms.base import ItemKind, PayloadError
from partner.store.models import InboundEvent, Message, OutboxEvent, table
from tests.conftest import META_APP_SECRET, TIKTOK_APP_SECRET, admin_headers
from tests.corpus import corpus_dir
from tests.platforms.expectations import EXPECTED, LINE_ROUTE_KEY

Client = TestClient[web.Request, web.Application]
LINE_CHANNEL_ID = LINE_ROUTE_KEY
LINE_SECRET = "line-channel-secret-for-tests"
FIXTURES = sorted(
    path.relative_to(corpus_dir()).as_posix()
    for platform in ("whatsapp", "messenger", "line", "tiktok")
    for path in (corpus_dir() / platform).glob("*.json")
)


def _parse(platform: str, raw: bytes) -> list[Any]:
    try:
        return get_platform(platform).parse(raw, route_key=LINE_CHANNEL_ID).items
    except PayloadError:
        return []


async def _workspace(client: Client) -> int:
    response = await client.post("/api/v1/workspaces", json={"name": "Corpus"}, headers=admin_headers())
    assert response.status == 201
    return int((await response.json())["id"])


async def _register(client: Client, workspace_id: int, platform: str, external_id: str) -> None:
    secrets = {
        "whatsapp": {"access_token": "wa-token"},
        "messenger": {"page_access_token": "page-token"},
        "line": {"channel_secret": LINE_SECRET, "channel_access_token": "line-token"},
        "tiktok": {"access_token": "tt-token", "app_secret": TIKTOK_APP_SECRET},
    }[platform]
    body = {"workspace_id": workspace_id, "platform": platform, "external_id": external_id, "secrets": secrets}
    response = await client.post("/api/v1/channels", json=body, headers=admin_headers())
    assert response.status in (201, 409), await response.text()


def _signed(platform: str, raw: bytes) -> tuple[str, dict[str, str]]:
    module = get_platform(platform)
    if platform == "line":
        return f"/webhooks/line/{LINE_CHANNEL_ID}", module.sign(raw, LINE_SECRET.encode())
    secret = TIKTOK_APP_SECRET if platform == "tiktok" else META_APP_SECRET
    return f"/webhooks/{platform}", module.sign(raw, secret.encode())


async def _stored(client: Client) -> tuple[Counter[str], int]:
    async with client.app[engine_key].connect() as connection:
        ledger = table(InboundEvent)
        rows = (await connection.execute(sa.select(ledger.c.kind, sa.func.count()).group_by(ledger.c.kind))).all()
        messages = (await connection.execute(sa.select(sa.func.count()).select_from(table(Message)))).scalar_one()
    return Counter(dict(rows)), int(messages)


@pytest.mark.parametrize("fixture", FIXTURES)
async def test_fixture_is_stored_once(client: Client, fixture: str) -> None:
    """Signed and posted, the fixture stores one ledger row per distinct item; a replay stores nothing."""
    platform = fixture.split("/")[0]
    raw = (corpus_dir() / fixture).read_bytes()
    items = _parse(platform, raw)
    workspace_id = await _workspace(client)
    channel_keys = {item.channel_key for item in items} | ({LINE_CHANNEL_ID} if platform == "line" else set())
    for channel_key in sorted(channel_keys):
        await _register(client, workspace_id, platform, channel_key)
    path, headers = _signed(platform, raw)

    response = await client.post(path, data=raw, headers={**headers, "Content-Type": "application/json"})
    assert response.status == 200, await response.text()
    stored, messages = await _stored(client)
    expected = Counter({kind: len(keys) for kind, keys in _distinct_keys(items).items()})
    assert stored == expected
    if fixture in EXPECTED:  # written by hand from the fixture, independent of the parser
        assert stored == Counter({kind: n for kind, n in EXPECTED[fixture]["kinds"].items() if n})

    replay = await client.post(path, data=raw, headers={**headers, "Content-Type": "application/json"})
    assert replay.status == 200
    assert await _stored(client) == (stored, messages)


def _distinct_keys(items: list[Any]) -> dict[str, set[tuple[str, str]]]:
    keys: dict[str, set[tuple[str, str]]] = {}
    seen: set[tuple[str, str]] = set()
    for item in items:
        key = (item.channel_key, item.dedup_key[:300])
        if key not in seen:
            seen.add(key)
            keys.setdefault(item.kind.value, set()).add(key)
    return keys


async def _whatsapp_channel(client: Client) -> None:
    workspace_id = await _workspace(client)
    await _register(client, workspace_id, "whatsapp", "106540352242922")


def _text_payload(wamid: str, text: str = "hello there", phone_number_id: str = "106540352242922") -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                            "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "6281234567890"}],
                            "messages": [
                                {
                                    "from": "6281234567890",
                                    "id": wamid,
                                    "timestamp": "1760000000",
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
    return json.dumps(payload).encode()


async def test_text_message_creates_contact_conversation_message_and_outbox_row(client: Client) -> None:
    await _whatsapp_channel(client)
    raw = _text_payload("wamid.ONE")
    path, headers = _signed("whatsapp", raw)
    assert (await client.post(path, data=raw, headers=headers)).status == 200
    async with client.app[engine_key].connect() as connection:
        message = (await connection.execute(sa.select(table(Message)))).one()
        outbox = (await connection.execute(sa.select(table(OutboxEvent)))).all()
    assert message.text == "hello there"
    assert message.direction == "inbound"
    assert message.platform_message_id == "wamid.ONE"
    assert [row.outcome for row in outbox] == ["conversation_started"]


async def test_second_message_joins_the_open_conversation(client: Client) -> None:
    await _whatsapp_channel(client)
    for wamid in ("wamid.A", "wamid.B"):
        raw = _text_payload(wamid)
        path, headers = _signed("whatsapp", raw)
        assert (await client.post(path, data=raw, headers=headers)).status == 200
    async with client.app[engine_key].connect() as connection:
        conversations = (
            await connection.execute(sa.select(sa.func.count(sa.distinct(table(Message).c.conversation_id))))
        ).scalar_one()
        outbox = (await connection.execute(sa.select(sa.func.count()).select_from(table(OutboxEvent)))).scalar_one()
    assert conversations == 1
    assert outbox == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401),
        ({"X-Hub-Signature-256": "not-a-signature"}, 401),
    ],
)
async def test_bad_signature_is_401_and_stores_nothing(client: Client, headers: dict[str, str], status: int) -> None:
    await _whatsapp_channel(client)
    response = await client.post("/webhooks/whatsapp", data=_text_payload("wamid.X"), headers=headers)
    assert response.status == status
    assert (await response.json())["error"]["code"] == "invalid_signature"
    assert await _stored(client) == (Counter(), 0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"not json", "JSON"), (b'{"object": "page", "entry": []}', "whatsapp"), (b"[1, 2]", "")],
)
async def test_malformed_body_is_400_and_stores_nothing(client: Client, body: bytes, reason: str) -> None:
    await _whatsapp_channel(client)
    path, headers = _signed("whatsapp", body)
    response = await client.post(path, data=body, headers=headers)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_payload"
    assert reason.lower() in error["message"].lower()
    assert await _stored(client) == (Counter(), 0)


async def test_oversize_body_is_413(client: Client) -> None:
    limit = client.app[settings_key].max_body_bytes
    body = b"{" + b" " * (limit + 10) + b"}"
    response = await client.post("/webhooks/whatsapp", data=body)
    assert response.status == 413


async def test_unknown_channel_is_acknowledged_and_nothing_stored(client: Client) -> None:
    await _whatsapp_channel(client)
    raw = _text_payload("wamid.Y", phone_number_id="123456123")
    path, headers = _signed("whatsapp", raw)
    response = await client.post(path, data=raw, headers=headers)
    assert response.status == 200
    assert await _stored(client) == (Counter(), 0)


async def test_unknown_line_channel_is_acknowledged(client: Client) -> None:
    raw = b'{"destination": "U1", "events": []}'
    response = await client.post("/webhooks/line/unknown-channel", data=raw, headers={"x-line-signature": "x"})
    assert response.status == 200


async def test_meta_handshake(client: Client) -> None:
    ok = await client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "meta-verify-token-for-tests", "hub.challenge": "42"},
    )
    assert ok.status == 200
    assert await ok.text() == "42"
    wrong = await client.get(
        "/webhooks/messenger", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "42"}
    )
    assert wrong.status == 403


def test_most_fixtures_have_hand_written_expectations() -> None:
    assert len(set(EXPECTED) & set(FIXTURES)) >= 150


def test_corpus_has_every_platform() -> None:
    platforms = Counter(fixture.split("/")[0] for fixture in FIXTURES)
    assert set(platforms) == {"whatsapp", "messenger", "line", "tiktok"}
    assert sum(platforms.values()) >= 200


def test_item_kinds_cover_the_model() -> None:
    """The corpus exercises messages, statuses, reactions, edits, deletions, referrals and follows."""
    kinds: Counter[str] = Counter()
    for fixture in FIXTURES:
        platform = fixture.split("/")[0]
        kinds.update(item.kind.value for item in _parse(platform, (corpus_dir() / fixture).read_bytes()))
    for kind in (ItemKind.MESSAGE, ItemKind.STATUS, ItemKind.REACTION, ItemKind.EDIT, ItemKind.DELETION):
        assert kinds[kind.value] > 0, kind


async def test_channel_registered_by_another_process_is_found_on_first_use(client: Client) -> None:
    """A stale in-memory directory must not acknowledge and drop a message for a channel it has not seen."""
    from partner.appkeys import box_key
    from partner.channels import CHANNELS
    from partner.store.models import utcnow

    workspace_id = await _workspace(client)
    async with client.app[engine_key].begin() as connection:  # as another process would write it
        await connection.execute(
            sa.insert(CHANNELS).values(
                workspace_id=workspace_id, platform="whatsapp", external_id="106540352242922", name="",
                secrets_encrypted=client.app[box_key].encrypt_json({"access_token": "t"}), active=True,
                created_at=utcnow(),
            )
        )  # fmt: skip
    raw = _text_payload("wamid.ELSEWHERE")
    path, headers = _signed("whatsapp", raw)
    assert (await client.post(path, data=raw, headers=headers)).status == 200
    stored, messages = await _stored(client)
    assert (stored, messages) == (Counter({"message": 1}), 1)
