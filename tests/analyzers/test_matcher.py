"""Matching rules, per script and per language, plus hypothesis properties of whole-word matching."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from analyzers import Matcher, Rule, RuleKind, index, normalize
from analyzers.keys import backtracks_little


def build(*specs: tuple[str, str], fold: bool = False, negatives: tuple[tuple[str, str], ...] = ()) -> Matcher:
    rules = [
        Rule(signal, text, fold_diacritics=fold, source=f"{signal}.txt", line=n)
        for n, (signal, text) in enumerate(specs, 1)
    ]
    rules += [Rule(signal, text, negative=True, source=f"{signal}.txt") for signal, text in negatives]
    matcher = Matcher(rules)
    _TOKEN_PATH[id(matcher)] = (matcher, Matcher(rules, prefilter=False))
    return matcher


# Each matcher built here, with its twin that answers flags() without the Hyperscan prefilter.
_TOKEN_PATH: dict[int, tuple[Matcher, Matcher]] = {}


def flags(matcher: Matcher, text: str) -> frozenset[str]:
    """flags() is the fast path; scan() and the token-based path must always agree with it."""
    fast = matcher.flags(text)
    assert matcher.scan(text).flags == fast
    twin = _TOKEN_PATH.get(id(matcher))
    if twin is not None and twin[0] is matcher:
        assert twin[1].flags(text) == fast
    return fast


# -- spaced scripts: whole words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "hit", "misses"),
    [
        ("pay", "I will PAY now!", ["paying now", "repay me", "pay2win", "prepay"]),  # en
        ("bayar", "sudah bayar kak", ["pembayaran", "bayaran"]),  # id
        ("dah bayar", "boss saya dah   bayar semalam", ["dah bayaran"]),  # ms
        ("bayad na", "bayad na po ako", ["bayad nang"]),  # tl
        ("chuyển khoản", "mình đã chuyển khoản rồi", ["chuyển khoảnx"]),  # vi
        ("دفعت", "لقد دفعت أمس", ["دفعتين"]),  # ar
        ("pago", "el pago está hecho", ["pagos hechos", "apago"]),  # es
        ("pix", "fiz o pix agora", ["pixel"]),  # pt
        ("ödeme", "ödeme yaptım", ["ödemeler"]),  # tr
        ("оплата", "оплата прошла", ["предоплата"]),  # ru (Cyrillic)
        ("πληρωμή", "η πληρωμή έγινε", ["πληρωμήςx"]),  # el
        ("भुगतान", "मैंने भुगतान किया", ["भुगतानों"]),  # hi (Devanagari, with marks)
    ],
)
def test_spaced_scripts_match_whole_words_only(keyword: str, hit: str, misses: list[str]) -> None:
    matcher = build(("payment", keyword))
    assert flags(matcher, hit) == {"payment"}
    for miss in misses:
        assert flags(matcher, miss) == frozenset(), miss


@pytest.mark.parametrize(
    "text",
    ["bank transfer", "BANK--transfer", "bank\n\ntransfer", "bank, transfer", "bank 💳 transfer", "bank…transfer"],
)
def test_multi_word_keywords_span_any_separator_run(text: str) -> None:
    assert flags(build(("payment", "bank transfer")), text) == {"payment"}


def test_multi_word_keywords_need_every_word_whole() -> None:
    matcher = build(("payment", "bank transfer"), ("order", "cash on delivery"))
    assert flags(matcher, "banking transfer") == frozenset()
    assert flags(matcher, "bank transfers") == frozenset()
    assert flags(matcher, "Cash on delivery, please") == {"order"}
    assert flags(matcher, "cash on deliveries") == frozenset()


# -- unspaced scripts: substrings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("付款", "我已经付款了，请查收"),  # zh (simplified)
        ("轉帳", "我剛剛轉帳了"),  # zh (traditional)
        ("支払い", "お支払いは済みました"),  # ja (kanji + kana)
        ("カード", "クレジットカードで"),  # ja (katakana)
        ("โอนเงิน", "โอนเงินแล้วนะคะ"),  # th
        ("ໂອນເງິນ", "ຂ້ອຍໂອນເງິນແລ້ວ"),  # lo
        ("ផ្ទេរប្រាក់", "ខ្ញុំបានផ្ទេរប្រាក់ហើយ"),  # km
        ("ငွေလွှဲ", "ငွေလွှဲပြီးပါပြီ"),  # my
    ],
)
def test_unspaced_scripts_match_substrings(keyword: str, text: str) -> None:
    matcher = build(("payment", keyword))
    assert flags(matcher, text) == {"payment"}
    assert flags(matcher, "nothing here 你好") == frozenset()


def test_short_and_long_unspaced_keywords() -> None:
    matcher = build(("a", "钱"), ("b", "多少"), ("c", "多少钱"), ("d", "多少钱一件"))
    assert flags(matcher, "这个多少钱一件？") == {"a", "b", "c", "d"}
    assert flags(matcher, "多少") == {"b"}


def test_nested_and_overlapping_keywords_all_fire() -> None:
    matcher = build(
        ("pay1", "付"), ("pay2", "付款"), ("pay3", "款了"), ("transfer", "transfer"), ("bank", "bank transfer")
    )
    assert flags(matcher, "已付款了") == {"pay1", "pay2", "pay3"}
    assert flags(matcher, "bank transfer done") == {"transfer", "bank"}
    hits = {(hit.keyword, hit.start, hit.end) for hit in matcher.scan("已付款了").hits}
    assert hits == {("付", 1, 2), ("付款", 1, 3), ("款了", 2, 4)}


def test_every_occurrence_is_a_hit() -> None:
    matcher = build(("pay", "pay"), ("pay_zh", "付款"))
    assert len(matcher.scan("pay, pay and pay").hits) == 3
    assert len(matcher.scan("付款付款").hits) == 2


# -- Korean: word starts ------------------------------------------------------------------------------


def test_hangul_keywords_match_at_the_start_of_a_word() -> None:
    matcher = build(("payment", "결제"), ("payment", "계좌 이체"))
    for text in ("결제", "결제는 어떻게 하나요", "카드로 결제했어요", "계좌 이체했어요", "계좌, 이체 완료"):
        assert flags(matcher, text) == {"payment"}, text
    for text in ("미결제 상태", "결 제", "계좌이체 아님"):
        assert flags(matcher, text) == frozenset(), text


# -- mixed scripts, emoji, URLs, numbers --------------------------------------------------------------


def test_mixed_scripts_emoji_urls_and_numbers() -> None:
    matcher = build(("payment", "pay"), ("payment", "付款"), ("order", "order"), ("shop", "💰"))
    assert flags(matcher, "ok付款pay") == {"payment"}
    assert flags(matcher, "pay💰now") == {"payment", "shop"}
    assert flags(matcher, "❤️pay❤️") == {"payment"}
    assert flags(matcher, "order 12345 pls 🙏🏽") == {"order"}
    assert flags(matcher, "order12345") == frozenset()
    assert flags(matcher, "see https://pay.example.com/order?pay=1 or www.pay.com") == frozenset()
    assert flags(matcher, "mail pay@order.com") == frozenset()
    assert flags(matcher, "https://x.example.com ok, pay") == {"payment"}


def test_full_width_and_invisible_characters_do_not_hide_keywords() -> None:
    matcher = build(("payment", "payment"), ("zh", "付款"))
    assert flags(matcher, "ＰＡＹＭＥＮＴ") == {"payment"}
    assert flags(matcher, "pay\u200bment") == {"payment"}
    assert flags(matcher, "付\u200b款") == {"zh"}


# -- patterns ---------------------------------------------------------------------------------------


def test_patterns_run_on_the_normalised_text() -> None:
    matcher = Matcher([Rule("amount", r"\d+\s?(?:rm|myr)\b", RuleKind.PATTERN)])
    assert flags(matcher, "Total 50 RM ok") == {"amount"}
    assert flags(matcher, "ＴＯＴＡＬ ５０ＲＭ") == {"amount"}
    assert flags(matcher, "50 rmx") == frozenset()
    hit = matcher.scan("total 50rm").hits[0]
    assert (hit.keyword, hit.start, hit.end) == (r"\d+\s?(?:rm|myr)\b", 6, 10)


@pytest.mark.parametrize("prefilter", [True, False])
def test_a_pattern_that_backtracks_without_end_gives_up_and_is_reported(
    prefilter: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer's message must not stall analysis: past its time limit the pattern counts as no match, the
    rest of the message is still analysed, and the log names the file and line, never the text."""
    monkeypatch.setattr(index, "PATTERN_TIMEOUT_SECONDS", 0.01)
    slow = Rule("amount", r"(\d+\s?)+(?:rm|myr)\b", RuleKind.PATTERN, source="amounts.yaml", line=7)
    matcher = Matcher([slow, Rule("payment", "transfer")], prefilter=prefilter)
    text = "transfer " + "1 " * 4000 + "rmx"
    with capture_logs() as events:
        assert matcher.flags(text) == {"payment"}
        assert matcher.scan(text).flags == {"payment"}
    timeouts = [event for event in events if event["event"] == "keyword_pattern_timeout"]
    assert len(timeouts) == 2
    assert (timeouts[0]["signal"], timeouts[0]["file"], timeouts[0]["line"]) == ("amount", "amounts.yaml", 7)
    assert "1 1 1" not in str(events)
    assert matcher.flags("paid 120 rm") == {"amount"}  # in time: matched as before


def test_a_long_text_keeps_even_a_simple_pattern_within_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """One unbounded repeat is still quadratic: on 20,000 digits it would take seconds."""
    monkeypatch.setattr(index, "PATTERN_TIMEOUT_SECONDS", 0.01)
    matcher = Matcher([Rule("amount", r"\d+\s?(?:rm|myr)\b", RuleKind.PATTERN, source="a.txt", line=1)])
    with capture_logs() as events:
        assert matcher.flags("1" * 20000 + " rmx") == frozenset()
    assert [event["event"] for event in events] == ["keyword_pattern_timeout"]


@pytest.mark.parametrize(
    ("pattern", "little"),
    [
        (r"\d+\s?(?:rm|myr)\b", True),
        (r"(?:rp|idr)\s?\d[\d.,]*", True),
        (r"\border[- ]?#?\d{4,}", True),
        (r"(?:\d{3}-)?\d{4}", True),  # an optional group may hold a repeat
        (r"(\d+\s?)+rm", False),  # a repeat inside a repeat
        (r"(a|aa)+$", False),  # alternation inside a repeat
        (r".*a.*b", False),  # two long repeats: cubic
        (r"\d{2}\d{2}\d{2}", False),  # three repeats
        (r"(x)\1", False),  # a backreference
        (r"\p{Han}+", False),  # regex-only syntax: not proven
    ],
)
def test_which_patterns_are_proven_to_backtrack_little(pattern: str, little: bool) -> None:
    assert backtracks_little(pattern) is little


def test_patterns_see_urls_but_keywords_do_not() -> None:
    matcher = Matcher([Rule("link", r"shop\.example\.com", RuleKind.PATTERN), Rule("shop", "shop")])
    assert flags(matcher, "https://shop.example.com/p/1") == {"link"}


# -- negatives --------------------------------------------------------------------------------------


def test_negative_phrase_suppresses_only_the_hits_inside_it() -> None:
    matcher = build(("payment", "payment"), ("payment", "pay"), negatives=(("payment", "no payment yet"),))
    assert flags(matcher, "no payment yet") == frozenset()
    assert flags(matcher, "No  payment, yet!") == frozenset()
    assert flags(matcher, "no payment yet, I will pay tomorrow") == {"payment"}
    result = matcher.scan("no payment yet")
    assert [hit.keyword for hit in result.suppressed] == ["payment"]
    assert [hit.keyword for hit in result.negatives] == ["no payment yet"]


def test_negatives_apply_per_signal_and_across_scripts() -> None:
    matcher = build(
        ("payment", "付款"), ("order", "付款"), ("payment", "bayar"),
        negatives=(("payment", "还没付款"), ("payment", "belum bayar")),
    )  # fmt: skip
    assert flags(matcher, "我还没付款") == {"order"}
    assert flags(matcher, "我还没付款，现在付款了") == {"payment", "order"}
    assert flags(matcher, "belum bayar kak") == frozenset()


def test_negatives_work_across_files_with_different_folding() -> None:
    rules = [
        Rule("payment", "pagó", fold_diacritics=True, source="a.txt"),
        Rule("payment", "no pagó", negative=True, source="b.txt"),
    ]
    matcher = Matcher(rules)
    assert flags(matcher, "ya pago") == {"payment"}
    assert flags(matcher, "todavía no pagó") == frozenset()


# -- diacritic folding --------------------------------------------------------------------------------


def test_diacritic_folding_is_per_list() -> None:
    folded = build(("payment", "pagó"), ("payment", "chuyển khoản"), fold=True)
    strict = build(("payment", "pagó"), ("payment", "chuyển khoản"))
    for text in ("ya pago", "ya pagó", "chuyen khoan roi", "Chuyển khoản rồi"):
        assert flags(folded, text) == {"payment"}, text
    assert flags(strict, "ya pagó") == {"payment"}
    assert flags(strict, "ya pago") == frozenset()
    assert flags(strict, "chuyen khoan") == frozenset()


def test_hit_spans_point_into_the_normalised_text() -> None:
    matcher = build(("p", "pago"), ("z", "付款"), ("k", "결제"), ("b", "bank transfer"), fold=True)
    text = "  YA   PAGÓ!  付款 ❤️ 결제했어요 and a Bank -- Transfer"
    normalized = normalize(text)
    spans = {normalized[hit.start : hit.end] for hit in matcher.scan(text).hits}
    assert spans == {"pagó", "付款", "결제", "bank -- transfer"}


def test_empty_and_blank_messages() -> None:
    matcher = build(("payment", "pay"))
    assert flags(matcher, "") == frozenset()
    assert flags(matcher, " \n\t ") == frozenset()
    assert Matcher.empty().scan("pay").flags == frozenset()


# -- properties -------------------------------------------------------------------------------------

LATIN = "abcdefghijklmnopqrstuvwxyzáéíóúñçöüş"
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыэюя"
WORDS = {"latin": LATIN, "cyrillic": CYRILLIC, "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"}
SEPARATORS = st.sampled_from([" ", "  ", ", ", "! ", "\n", " 🙏 ", " - ", "... ", "？"])


@st.composite
def sentence_with_keyword(draw: st.DrawFn) -> tuple[str, str]:
    alphabet = WORDS[draw(st.sampled_from(sorted(WORDS)))]
    word = st.text(alphabet=alphabet, min_size=1, max_size=8)
    keyword = draw(st.lists(word, min_size=1, max_size=3).map(" ".join))
    before, after = draw(st.lists(word, max_size=6)), draw(st.lists(word, max_size=6))
    parts = [*before, keyword, *after]
    separators = [draw(SEPARATORS) for _ in parts]
    return keyword, "".join(part + separator for part, separator in zip(parts, separators, strict=True))


@settings(max_examples=300, deadline=None)
@given(sentence_with_keyword())
def test_keyword_between_word_boundaries_is_always_found(case: tuple[str, str]) -> None:
    keyword, text = case
    assert flags(build(("signal", keyword)), text) == {"signal"}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(WORDS)).flatmap(
        lambda script: st.tuples(
            st.text(alphabet=WORDS[script], min_size=1, max_size=8),
            st.text(alphabet=WORDS[script], max_size=4),
            st.text(alphabet=WORDS[script], max_size=4),
        )
    )
)
def test_keyword_inside_a_longer_word_is_never_found(case: tuple[str, str, str]) -> None:
    keyword, left, right = case
    assume(left or right)
    text = f"{left}{keyword}{right} and more"
    assume(normalize(keyword) not in normalize(text).split())
    assert flags(build(("signal", keyword)), text) == frozenset()


HAN = "我你他已经付款了订单多少钱这个还有货吗谢谢老板发货"


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=HAN, min_size=1, max_size=6),
    st.text(alphabet=HAN, max_size=40),
    st.text(alphabet=HAN, max_size=40),
)
def test_unspaced_keyword_anywhere_is_found(keyword: str, left: str, right: str) -> None:
    assert flags(build(("signal", keyword)), left + keyword + right) == {"signal"}
