"""Identifier hashing for the Events API: TikTok's published vectors, phone normalisation, properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partner.reporting.hashing import (
    hash_email,
    hash_external_id,
    hash_phone,
    is_sha256_hex,
    normalize_email,
    normalize_phone,
)

EMAIL_VECTOR = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"
PHONE_VECTOR = "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"
EXTERNAL_ID_VECTOR = "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"


class TestPublishedVectors:
    """The three examples in TikTok's "Report App, Web, Offline, or CRM Events" page (spec §1.4)."""

    def test_email(self) -> None:
        assert hash_email(" ALICE_abc@gmail.com ") == EMAIL_VECTOR

    def test_phone(self) -> None:
        assert hash_phone("(+1)2133734253") == PHONE_VECTOR

    def test_external_id(self) -> None:
        assert hash_external_id("user_123") == EXTERNAL_ID_VECTOR


class TestPhone:
    @pytest.mark.parametrize(
        ("raw", "region"),
        [
            ("+1 213-373-4253", None),
            ("12133734253", None),  # WhatsApp wa_id: digits, no "+"
            ("001 213 373 4253", None),
            ("(213) 373-4253", "US"),
            ("1 213 373 4253", "US"),
            ("+12133734253", "GB"),
        ],
    )
    def test_spellings_of_one_number_hash_alike(self, raw: str, region: str | None) -> None:
        assert normalize_phone(raw, region) == "+12133734253"
        assert hash_phone(raw, region) == PHONE_VECTOR

    def test_national_number_with_region(self) -> None:
        assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
        assert normalize_phone("015123456789", "DE") == "+4915123456789"

    def test_international_digits_win_when_the_national_reading_is_invalid(self) -> None:
        assert normalize_phone("442079460958", "US") == "+442079460958"

    @pytest.mark.parametrize("raw", ["", "   ", "abc", "1", "+", "US.13491208655302741918", "+999 1234"])
    def test_unusable_input_is_none(self, raw: str) -> None:
        assert hash_phone(raw) is None

    def test_none_is_none(self) -> None:
        assert hash_phone(None) is None


class TestEmailAndExternalId:
    @pytest.mark.parametrize("raw", ["", "  ", "no-at-sign", "two@@signs.com", "a b@c.com", "@example.com"])
    def test_invalid_email_is_none(self, raw: str) -> None:
        assert hash_email(raw) is None

    def test_none_values(self) -> None:
        assert hash_email(None) is None
        assert hash_external_id(None) is None
        assert hash_external_id("   ") is None

    def test_external_id_is_trimmed_but_keeps_case(self) -> None:
        assert hash_external_id(" User_123 ") == hashlib.sha256(b"User_123").hexdigest()

    @pytest.mark.parametrize("hasher", [hash_email, hash_external_id, hash_phone])
    def test_already_hashed_values_pass_through(self, hasher: object) -> None:
        assert callable(hasher)
        assert hasher(EMAIL_VECTOR) == EMAIL_VECTOR

    def test_upper_case_digest_passes_through_lowered_for_email(self) -> None:
        assert hash_email(EMAIL_VECTOR.upper()) == EMAIL_VECTOR


emails = st.builds(
    lambda local, domain, pad: f"{pad}{local}@{domain}{pad}",
    # ASCII: Unicode case mapping is not round-trip ("ß".upper() == "SS"), and TikTok only says "lowercase".
    st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="@"), min_size=1),
    st.from_regex(r"[A-Za-z0-9-]{1,20}\.[A-Za-z]{2,6}", fullmatch=True),
    st.sampled_from(["", " ", "  \t"]),
)


class TestProperties:
    @given(st.one_of(st.text(), emails))
    def test_email_hash_is_idempotent(self, raw: str) -> None:
        hashed = hash_email(raw)
        if hashed is not None:
            assert is_sha256_hex(hashed)
            assert hash_email(hashed) == hashed

    @given(st.one_of(st.text(), emails))
    def test_email_normalisation_is_idempotent(self, raw: str) -> None:
        once = normalize_email(raw)
        if once is not None:
            assert normalize_email(once) == once

    @given(emails)
    def test_email_case_and_padding_do_not_matter(self, raw: str) -> None:
        assert hash_email(raw.upper()) == hash_email(raw.lower().strip())

    @given(st.text())
    def test_external_id_hash_is_idempotent(self, raw: str) -> None:
        hashed = hash_external_id(raw)
        if hashed is not None:
            assert hash_external_id(hashed) == hashed

    @given(st.one_of(st.text(), st.from_regex(r"\+?[0-9 ()-]{6,20}", fullmatch=True)))
    def test_phone_hash_is_idempotent_and_e164(self, raw: str) -> None:
        hashed = hash_phone(raw)
        if hashed is not None:
            assert hash_phone(hashed) == hashed
            phone = normalize_phone(raw)
            assert phone is not None
            assert phone.startswith("+")
            assert phone[1:].isdigit()
            assert normalize_phone(phone) == phone
