"""Codes, the marker and its extraction: what users and chat apps do to pre-filled text must not lose the code,
and text without a marker must never yield one (nor be changed)."""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from partner.attribution.codes import (
    CODE_ALPHABET,
    CODE_LENGTH,
    extract_code,
    marker,
    mint_code,
    mint_slug,
    normalise_code,
    prefilled_text,
)
from partner.attribution.links import destination_for, line_url, messenger_url, redirect_url, whatsapp_url

CODE = "ABCD2345"


def test_minted_codes_use_the_alphabet_and_mix_digits_and_letters() -> None:
    codes = {mint_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == CODE_LENGTH
        assert set(code) <= set(CODE_ALPHABET)
        assert any(char.isdigit() for char in code)
        assert any(char.isalpha() for char in code)
    assert not set("01IO") & set(CODE_ALPHABET)
    assert len(CODE_ALPHABET) == 32  # 8 symbols x 5 bits = 40 bits


def test_slugs_are_url_safe_and_distinct() -> None:
    slugs = {mint_slug() for _ in range(2000)}
    assert len(slugs) == 2000
    assert all(len(slug) == 10 and slug.isalnum() and slug.isascii() for slug in slugs)


@pytest.mark.parametrize(
    ("text", "expected_text"),
    [
        ("Hi, I want this [ref:ABCD2345]", "Hi, I want this"),
        ("[ref:ABCD2345]", ""),
        ("ref: abcd 2345", ""),
        ("(ref ABCD2345) do you have it in blue?", "do you have it in blue?"),
        ("REF:ABCD-2345", ""),
        ("Hello ［ref：ＡＢＣＤ２３４５］ thanks", "Hello thanks"),
        ("Hello 【REF：abcd２３４５】", "Hello"),
        ("hello\n[ref:ABCD2345]\nthanks", "hello\nthanks"),
        ("Price?[ref:ABCD2345]", "Price?"),
        ("I want it [ ref : ABCD\n2345 ] now", "I want it now"),
        ("Is it available? [ref:abcd2345", "Is it available?"),
        ("Is it available? ref#ABCD2345.", "Is it available? ."),
        ("ｶﾀｶﾅ のまま [ref:ABCD2345]", "ｶﾀｶﾅ のまま"),
        ("two [ref:ABCD2345] markers [ref:EFGH6789] here", "two markers here"),
        ("zero\u200bwidth [ref:\u200bABCD2345]", "zero\u200bwidth"),
    ],
)
def test_marker_variants_are_found_and_removed(text: str, expected_text: str) -> None:
    assert extract_code(text) == (CODE, expected_text)


@pytest.mark.parametrize(
    "text",
    [
        "please refer to my last order 2345",
        "ref 3 red cats",  # prose after a bare "ref" is not a code
        "xref ABCD2345",
        "ref ABCD2345X",
        "[ref:ABCDEFGH]",  # minted codes always mix digits and letters
        "[ref:23456789]",
        "[ref:ABCD234]",
        "[ref:ABCD0O1I]",
        "payment done, ref number 12345678",  # digits only
        "",
        "ref",
    ],
)
def test_text_without_a_valid_marker_is_left_alone(text: str) -> None:
    assert extract_code(text) == (None, text)


def test_normalise_code_accepts_messenger_refs_and_typed_codes() -> None:
    assert normalise_code("ABCD2345") == CODE
    assert normalise_code("abcd-2345") == CODE
    assert normalise_code("ＡＢＣＤ２３４５") == CODE
    for bad in ("ABCD234", "ABCD23456", "ABCD 2345 ", "ABCDEFGH", "AB+D2345", "ad_campaign_7", ""):
        assert normalise_code(bad) is None, bad


# --- properties -------------------------------------------------------------------------------------------------

codes = st.text(alphabet=CODE_ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH).filter(
    lambda code: any(c.isdigit() for c in code) and any(c.isalpha() for c in code)
)
# Surrounding text: anything, in any script, that does not itself spell "ref".
surrounding = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60).filter(
    lambda text: "ref" not in unicodedata.normalize("NFKC", text).lower()
)
spaces = st.sampled_from([" ", "  ", "\n", "\u3000", "\t", "\u200b", " \n"])


def _recase(text: str, flips: list[bool]) -> str:
    return "".join(
        char.swapcase() if flip else char for char, flip in zip(text, flips + [False] * len(text), strict=False)
    )


@given(code=codes, before=surrounding, after=surrounding, gap=spaces)
def test_marker_survives_any_surrounding_text(code: str, before: str, after: str, gap: str) -> None:
    found, rest = extract_code(f"{before}{gap}{marker(code)}{gap}{after}")
    assert found == code
    assert _squash(rest) == _squash(before + after)  # only the marker and blanks went


def _squash(text: str) -> str:
    return "".join(char for char in text if not char.isspace() and char != "\u200b")


@given(
    code=codes,
    before=surrounding,
    flips=st.lists(st.booleans(), max_size=16),
    inserts=st.lists(st.tuples(st.integers(min_value=1, max_value=CODE_LENGTH - 1), spaces), max_size=CODE_LENGTH),
    colon=st.sampled_from([":", "：", ": ", " : ", ":\n"]),
    brackets=st.sampled_from([("[", "]"), ("(", ")"), ("［", "］"), ("【", "】"), ("{", "}")]),
)
def test_marker_survives_case_changes_and_inserted_spaces(
    code: str,
    before: str,
    flips: list[bool],
    inserts: list[tuple[int, str]],
    colon: str,
    brackets: tuple[str, str],
) -> None:
    mangled = code
    for position, gap in sorted(dict(inserts).items(), reverse=True):  # one gap per place, back to front
        mangled = mangled[:position] + gap + mangled[position:]
    text = f"{before} {brackets[0]}{_recase('ref', flips)}{colon}{_recase(mangled, flips[3:])}{brackets[1]}"
    found, rest = extract_code(text)
    assert found == code
    assert rest == before.strip()


@given(text=st.text(max_size=200))
def test_random_text_without_a_marker_never_yields_a_code(text: str) -> None:
    assume("ref" not in unicodedata.normalize("NFKC", text).lower())
    assert extract_code(text) == (None, text)


words = st.sampled_from(
    ["ref", "REF", "Ref:", "the", "order", "please", "ship", "today", "red", "cats", "bag", "ABC", "ref#", "size", "M"]
)


@given(parts=st.lists(words, max_size=20), separator=st.sampled_from([" ", "\n", "  "]))
def test_prose_with_ref_but_no_digits_never_yields_a_code(parts: list[str], separator: str) -> None:
    text = separator.join(parts)
    assert extract_code(text) == (None, text)


@given(code=codes, greeting=st.text(max_size=80))
def test_prefilled_text_round_trips(code: str, greeting: str) -> None:
    assume("ref" not in unicodedata.normalize("NFKC", greeting).lower())
    found, rest = extract_code(prefilled_text(greeting, code))
    assert found == code
    assert rest == greeting.strip()


# --- redirect URLs ----------------------------------------------------------------------------------------------


def test_whatsapp_url_carries_greeting_and_marker_in_text() -> None:
    url = whatsapp_url("15550001111", "Hola! ¿Tienen stock? & 100% [ref:ABCD2345]")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "wa.me", "/15550001111")
    assert parse_qs(parts.query) == {"text": ["Hola! ¿Tienen stock? & 100% [ref:ABCD2345]"]}
    assert "+" not in parts.query
    assert " " not in parts.query


def test_line_url_encodes_the_at_sign_and_the_text() -> None:
    url = line_url("@abc1234", "こんにちは [ref:ABCD2345]")
    assert url.startswith("https://line.me/R/oaMessage/%40abc1234/?")
    assert unquote(urlsplit(url).query) == "こんにちは [ref:ABCD2345]"


def test_messenger_url_puts_the_code_in_ref() -> None:
    assert messenger_url("104560000000001", "ABCD2345") == "https://m.me/104560000000001?ref=ABCD2345"
    assert messenger_url("104560000000001", None) == "https://m.me/104560000000001"


def test_redirect_without_code_still_opens_the_chat() -> None:
    assert redirect_url("whatsapp", "15550001111", greeting=None, code=None) == "https://wa.me/15550001111"
    assert redirect_url("line", "@abc", greeting="hi", code=None) == "https://line.me/R/oaMessage/%40abc/?hi"
    with pytest.raises(ValueError, match="tiktok"):
        redirect_url("tiktok", "x", greeting=None, code="ABCD2345")


def test_destinations() -> None:
    assert destination_for("whatsapp", external_id="1", display_phone="+15550001111", line_basic_id=None) == (
        "15550001111"
    )
    assert destination_for("whatsapp", external_id="1", display_phone=None, line_basic_id=None) is None
    assert destination_for("line", external_id="1", display_phone=None, line_basic_id="abc1234") == "@abc1234"
    assert destination_for("line", external_id="1", display_phone=None, line_basic_id="@") is None
    assert destination_for("messenger", external_id="42", display_phone=None, line_basic_id=None) == "42"
    assert destination_for("tiktok", external_id="42", display_phone=None, line_basic_id=None) is None
