"""Normalisation: the same function for keywords and messages, idempotent, with fast paths equal to the slow one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.normalize import (
    fold_diacritics,
    fold_with_offsets,
    matching_form,
    normalize,
    normalize_full,
    text_kind,
)

EMOJI_AND_SYMBOLS = "🙏😊👍💰🔥❤️😭🛒✅🤔👍🏽👨‍👩‍👧₫฿¥€£©®™…’“”•→"


def test_full_width_forms_fold_to_ascii() -> None:
    assert normalize("ＰＡＹ　ＮＯＷ １２３") == "pay now 123"


def test_case_folding_is_full() -> None:
    assert normalize("Straße") == normalize("STRASSE") == "strasse"
    assert normalize("ÖDEME") == "ödeme"


def test_invisible_characters_are_removed() -> None:
    for invisible in ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"):
        assert normalize(f"pa{invisible}yment") == "payment"


def test_whitespace_is_collapsed_and_trimmed() -> None:
    assert normalize("  bank \t\n\u00a0 transfer\u3000 ") == "bank transfer"


def test_unspaced_scripts_and_marks_survive() -> None:
    assert normalize("โอนเงินแล้ว") == "โอนเงินแล้ว"
    assert normalize("भुगतान") == "भुगतान"
    assert normalize("ｶﾀｶﾅ") == "カタカナ"


def test_text_kind_detects_the_fast_paths() -> None:
    assert text_kind("plain ascii") == 0
    assert text_kind("thanks 🙏🙏") == 0
    assert text_kind("love it ❤️") == 1  # the variation selector is invisible
    assert text_kind("pagó") == 2


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_equals_full_path(text: str) -> None:
    assert normalize(text) == normalize_full(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(max_codepoint=127), st.sampled_from(EMOJI_AND_SYMBOLS))))
def test_emoji_fast_path_equals_full_path(text: str) -> None:
    assert normalize(text) == normalize_full(text)


def test_fold_diacritics() -> None:
    assert matching_form("pagó", fold=True) == "pago"
    assert matching_form("Chuyển khoản", fold=True) == "chuyen khoan"
    assert matching_form("ödeme yaptım", fold=True) == "odeme yaptim"
    assert matching_form("İSTANBUL", fold=True) == "istanbul"
    assert matching_form("Đã thanh toán", fold=True) == "da thanh toan"
    assert matching_form("دَفَعْتُ", fold=True) == "دفعت"


def test_fold_keeps_letters_of_other_scripts() -> None:
    for text in ("โอนเงินแล้ว", "भुगतान", "결제", "支払い"):
        assert fold_diacritics(normalize(text)) == normalize(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_matching_form_is_idempotent(text: str) -> None:
    for fold in (False, True):
        once = matching_form(text, fold=fold)
        assert matching_form(once, fold=fold) == once


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fold_offsets_point_back_into_the_normalised_text(text: str) -> None:
    normalized = normalize(text)
    folded, offsets = fold_with_offsets(normalized)
    assert len(offsets) == len(folded) + 1
    assert offsets == sorted(offsets)
    assert all(0 <= offset <= len(normalized) for offset in offsets)
