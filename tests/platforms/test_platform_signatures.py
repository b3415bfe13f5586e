"""Webhook signatures: missing, malformed, wrong, right (any candidate secret), per platform quirks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from types import ModuleType

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from partner.platforms import PLATFORMS, line, messenger, tiktok, whatsapp
from tests.corpus import read_fixture

SECRET = b"app-secret-under-test"
OTHER = b"some-other-secret"
BODY = b'{"object":"page","entry":[]}'


def platform_modules() -> list[ModuleType]:
    return [whatsapp, messenger, line, tiktok]


@pytest.fixture(params=platform_modules(), ids=lambda module: module.NAME)
def module(request: pytest.FixtureRequest) -> ModuleType:
    chosen: ModuleType = request.param
    return chosen


def test_registry_holds_the_four_platform_modules() -> None:
    assert dict(PLATFORMS) == {module.NAME: module for module in platform_modules()}


def test_signed_body_verifies(module: ModuleType) -> None:
    headers = module.sign(BODY, SECRET)
    assert module.verify(BODY, headers, [SECRET])


def test_any_candidate_secret_may_match(module: ModuleType) -> None:
    headers = module.sign(BODY, SECRET)
    assert module.verify(BODY, headers, [OTHER, SECRET])
    assert not module.verify(BODY, headers, [OTHER])
    assert not module.verify(BODY, headers, [])


def test_missing_header_is_rejected(module: ModuleType) -> None:
    assert not module.verify(BODY, {}, [SECRET])
    assert not module.verify(BODY, {"Content-Type": "application/json"}, [SECRET])


def test_tampered_body_is_rejected(module: ModuleType) -> None:
    headers = module.sign(BODY, SECRET)
    assert not module.verify(BODY + b" ", headers, [SECRET])


def test_signature_of_another_secret_is_rejected(module: ModuleType) -> None:
    assert not module.verify(BODY, module.sign(BODY, OTHER), [SECRET])


@pytest.mark.parametrize("garbage", ["", "sha256=", "t=,s=", "not a signature", "sha256=zz", "é", "t=1,s=é"])
def test_malformed_header_is_rejected(module: ModuleType, garbage: str) -> None:
    assert not module.verify(BODY, {module.SIGNATURE_HEADER: garbage}, [SECRET])


def test_header_lookup_ignores_case_for_plain_dicts_and_multidicts(module: ModuleType) -> None:
    headers = module.sign(BODY, SECRET)
    lowered = {name.lower(): value for name, value in headers.items()}
    uppered = {name.upper(): value for name, value in headers.items()}
    proxy = CIMultiDictProxy(CIMultiDict(uppered))
    assert module.verify(BODY, lowered, [SECRET])
    assert module.verify(BODY, uppered, [SECRET])
    assert module.verify(BODY, proxy, [SECRET])


def test_an_empty_secret_never_verifies(module: ModuleType) -> None:
    """An unset secret must not turn into a key that anyone can sign with."""
    assert not module.verify(BODY, module.sign(BODY, b""), [b""])


def test_verification_needs_no_json(module: ModuleType) -> None:
    raw = b"\xff\xfe not json at all"
    assert module.verify(raw, module.sign(raw, SECRET), [SECRET])


# --- Meta --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("meta", [whatsapp, messenger], ids=["whatsapp", "messenger"])
def test_meta_header_format(meta: ModuleType) -> None:
    expected = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    assert meta.sign(BODY, SECRET)["X-Hub-Signature-256"] == f"sha256={expected}"
    assert meta.verify(BODY, {"X-Hub-Signature-256": f"sha256={expected.upper()}"}, [SECRET])
    assert not meta.verify(BODY, {"X-Hub-Signature-256": expected}, [SECRET]), "the sha256= prefix is required"
    sha1 = hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()
    assert not meta.verify(BODY, {"X-Hub-Signature": f"sha1={sha1}"}, [SECRET]), "legacy SHA-1 is not accepted"


def test_meta_signs_the_escaped_unicode_bytes_as_they_arrived() -> None:
    """Meta sends ``äöå`` as ``\\u00e4\\u00f6\\u00e5``; decoding and re-encoding the JSON changes the bytes."""
    raw = b'{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"\\u00e4\\u00f6\\u00e5"}}]}]}'
    headers = messenger.sign(raw, SECRET)
    assert messenger.verify(raw, headers, [SECRET])
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()
    assert "äöå".encode() in reserialised
    assert not messenger.verify(reserialised, headers, [SECRET])


def test_meta_verifies_a_corpus_fixture_byte_for_byte() -> None:
    raw = read_fixture("whatsapp/restfb_webhook-incoming-message-location.json")
    assert b"\\u" in raw  # the corpus keeps Meta's escaped form
    assert whatsapp.verify(raw, whatsapp.sign(raw, SECRET), [SECRET])


# --- LINE --------------------------------------------------------------------------------------------------------


def test_line_reference_vector_from_the_official_sdk() -> None:
    headers = {"x-line-signature": "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="}
    assert line.verify(b"bodybodybodybody", headers, [b"channel_secret"])
    assert line.sign(b"bodybodybodybody", b"channel_secret")["x-line-signature"] == headers["x-line-signature"]
    assert not line.verify(b"bodybodybodybody", headers, [b"another_secret"])


def test_line_signature_is_base64_not_hex() -> None:
    hex_digest = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    assert not line.verify(BODY, {"x-line-signature": hex_digest}, [SECRET])


# --- TikTok ------------------------------------------------------------------------------------------------------


def tiktok_header(raw: bytes, secret: bytes, timestamp: int) -> dict[str, str]:
    digest = hmac.new(secret, f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return {"TikTok-Signature": f"t={timestamp},s={digest}"}


def test_tiktok_signs_timestamp_dot_body() -> None:
    now = 1_789_814_497
    assert tiktok.sign(BODY, SECRET, timestamp=now) == {
        "Content-Type": "application/json",
        **tiktok_header(BODY, SECRET, now),
    }
    assert tiktok.verify(BODY, tiktok_header(BODY, SECRET, now), [SECRET], now=now + 10)


@pytest.mark.parametrize("age", [-301, 301, 86_400])
def test_tiktok_rejects_stale_or_future_timestamps(age: int) -> None:
    now = 1_789_814_497
    headers = tiktok_header(BODY, SECRET, now - age)
    assert not tiktok.verify(BODY, headers, [SECRET], now=now)
    assert tiktok.verify(BODY, headers, [SECRET], now=now, tolerance_seconds=abs(age) + 1)


def test_tiktok_default_tolerance_uses_the_clock() -> None:
    assert tiktok.verify(BODY, tiktok.sign(BODY, SECRET), [SECRET])
    stale = tiktok_header(BODY, SECRET, int(time.time()) - 3600)
    assert not tiktok.verify(BODY, stale, [SECRET])


def test_tiktok_timestamp_is_part_of_the_signed_payload() -> None:
    now = 1_789_814_497
    signature = tiktok_header(BODY, SECRET, now)["TikTok-Signature"].split("s=")[1]
    assert not tiktok.verify(BODY, {"TikTok-Signature": f"t={now + 1},s={signature}"}, [SECRET], now=now)


@pytest.mark.parametrize(
    "header", ["s=abc", "t=1789814497", "t=abc,s=abc", "t=-1,s=abc", "t=1789814497;s=abc", "t=99999999999999,s=a"]
)
def test_tiktok_malformed_headers(header: str) -> None:
    assert not tiktok.verify(BODY, {"TikTok-Signature": header}, [SECRET], now=1_789_814_497)
