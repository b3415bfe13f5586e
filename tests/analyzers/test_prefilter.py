"""The Hyperscan prefilter answers flags() exactly as the token-based path does, from any thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers import Matcher, Rule, RuleKind
from analyzers.prefilter import AVAILABLE

# Words of several scripts, a Hangul word that matches at word starts, unspaced ones, and accented ones.
WORDS = ["pay", "paid", "bank", "transfer", "sudah", "bayar", "chuyển", "khoản", "pagó", "оплата", "دفعت", "결제"]
UNSPACED = ["付款", "付", "โอนเงิน", "お支払い"]
SEPARATORS = [
    " ",
    "  ",
    ", ",
    "-",
    "\n",
    " 💳 ",
    "…",
    "。",
    "ก",
    "_",
    "x",
    "é",
    "\u200b",
    " https://pay.example/bank ",
    " me@bank.example ",
    "www.pay.example",
    "!",
]
KEYWORDS = st.one_of(
    st.sampled_from(WORDS + UNSPACED),
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(" ".join),
)


def matchers(keywords: list[str], fold: bool) -> tuple[Matcher, Matcher]:
    rules = [
        Rule(f"s{n % 3}", keyword, fold_diacritics=fold, source="t.txt", line=n) for n, keyword in enumerate(keywords)
    ]
    return Matcher(rules), Matcher(rules, prefilter=False)


@pytest.mark.skipif(not AVAILABLE, reason="Hyperscan has no wheel for this platform")
def test_the_prefilter_is_in_use_where_hyperscan_is_installed() -> None:
    prefiltered, plain = matchers(["pay", "bank transfer", "付款"], fold=False)
    assert prefiltered.prefiltered
    assert not plain.prefiltered


@settings(max_examples=400, deadline=None)
@given(
    keywords=st.lists(KEYWORDS, min_size=1, max_size=6),
    parts=st.lists(st.one_of(st.sampled_from(WORDS + UNSPACED), st.sampled_from(SEPARATORS)), max_size=14),
    fold=st.booleans(),
)
def test_flags_agree_with_the_token_path_on_keyword_dense_text(
    keywords: list[str], parts: list[str], fold: bool
) -> None:
    prefiltered, plain = matchers(keywords, fold)
    text = "".join(parts)
    assert prefiltered.flags(text) == plain.flags(text) == prefiltered.scan(text).flags


@settings(max_examples=200, deadline=None)
@given(keywords=st.lists(KEYWORDS, min_size=1, max_size=4), text=st.text(max_size=60))
def test_flags_agree_with_the_token_path_on_any_text(keywords: list[str], text: str) -> None:
    prefiltered, plain = matchers(keywords, fold=False)
    assert prefiltered.flags(text) == plain.flags(text)


# Patterns whose required literals the prefilter answers (letters and digits), or does not ("#").
PATTERNS = [r"\d+\s?(?:rm|myr)\b", r"(?:rp|idr)\s?\d[\d.,]*", r"order[- ]?#?\d{4,}", r"#\d{3}"]
AMOUNT_PARTS = ["rm", "myr", "rp", "idr", "order", "#", "12345", "1"]
LITERALS = ["line pay付款", "💳 pay", "c.o.d", "555โอนเงิน", "付款!"]  # keywords matched as literal regexes
PATTERN_PARTS = [*AMOUNT_PARTS, " ", "-", "付款", "ok", "https://shop.example/", "/"]


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3, unique=True),
    keywords=st.lists(st.one_of(KEYWORDS, st.sampled_from(LITERALS)), max_size=3),
    parts=st.lists(
        st.one_of(st.sampled_from(PATTERN_PARTS + LITERALS), st.sampled_from(WORDS + SEPARATORS)), max_size=12
    ),
)
def test_patterns_and_literal_keywords_agree_with_the_token_path(
    patterns: list[str], keywords: list[str], parts: list[str]
) -> None:
    rules = [Rule(f"p{n}", pattern, RuleKind.PATTERN, source="p.txt", line=n) for n, pattern in enumerate(patterns)]
    rules += [Rule("k", keyword, source="k.txt", line=n) for n, keyword in enumerate(keywords)]
    prefiltered, plain = Matcher(rules), Matcher(rules, prefilter=False)
    text = "".join(parts)
    assert prefiltered.flags(text) == plain.flags(text) == prefiltered.scan(text).flags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paid 120 rm", {"p0"}),
        ("paid 120  rm", {"p0"}),  # patterns see whitespace runs collapsed
        ("paid 120\n\trm", {"p0"}),
        ("paid 120rm, order #12345", {"p0", "p2"}),
        ("see https://shop.example/120rm", {"p0"}),  # patterns see URLs, keywords do not
        ("https://shop.example/?ref=order-12345 ok", {"p2"}),
        ("farm 12 storm", set()),
    ],
)
def test_required_literals_found_by_the_prefilter(text: str, expected: set[str]) -> None:
    patterns = PATTERNS[:3]  # their required literals are letters: the prefilter's database answers them
    rules = [Rule(f"p{n}", pattern, RuleKind.PATTERN, source="p.txt", line=n) for n, pattern in enumerate(patterns)]
    prefiltered, plain = Matcher(rules), Matcher(rules, prefilter=False)
    assert prefiltered.flags(text) == plain.flags(text) == expected


@pytest.mark.parametrize(
    ("keyword", "text", "expected"),
    [
        ("bank transfer", "bank ,  transfer", True),
        ("bank transfer", "bank 💳💳 transfer!", True),
        ("bank transfer", "bank xtransfer", False),
        ("bank transfer", "banktransfer", False),
        ("bank transfer", "bank é transfer", False),  # a word between the words
        ("bank transfer", "bank transfers", False),
        ("oплата картой", "оплата оплата картой", False),  # different first letter (Latin o): no hit
        ("оплата картой", "оплата оплата картой", True),
        ("결제", "결제는 완료", True),  # Hangul: the start of a word
        ("결제", "미결제", False),
        ("pay", "see https://pay.example.com/pay", False),  # inside a URL: masked
        ("pay", "pay_later", False),  # "_" is a word character
        ("付款", "已经付款了 ok", True),
        ("555โอนเงิน", "โอนแล้ว 555โอนเงิน ค่ะ", True),  # a literal keyword in unspaced text
        ("付款!", "请付款!谢谢", True),
        ("付款!", "付款 了", False),
    ],
)
def test_separator_and_boundary_cases(keyword: str, text: str, expected: bool) -> None:
    prefiltered, plain = matchers([keyword], fold=False)
    assert bool(prefiltered.flags(text)) is expected
    assert plain.flags(text) == prefiltered.flags(text)


def test_threads_scan_one_matcher_at_once() -> None:
    """Hyperscan needs a scratch space per thread; each thread gets its own."""
    prefiltered, _ = matchers(["pay", "bank transfer", "付款"], fold=False)
    texts = ["i will pay", "bank - transfer", "已付款", "nothing here"] * 500
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(prefiltered.flags, texts))
    assert results == [prefiltered.flags(text) for text in texts]
    assert results[:4] == [{"s0"}, {"s1"}, {"s2"}, frozenset()]
