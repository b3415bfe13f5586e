"""Keyword files: the plain and structured formats, versions, and errors that name file, line and reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from analyzers import KeywordFileError, Matcher, RuleKind, load_directory, parse_bytes, parse_file

REPO_KEYWORDS = Path(__file__).resolve().parents[2] / "keywords"


def errors_of(content: str | bytes, name: str) -> list[tuple[int | None, str]]:
    data = content.encode() if isinstance(content, str) else content
    with pytest.raises(KeywordFileError) as caught:
        parse_bytes(data, name)
    assert all(error.source == name for error in caught.value.errors)
    return [(error.line, error.reason) for error in caught.value.errors]


def test_plain_format() -> None:
    content = """# comment
@description: Paid or paying
@languages: en, id
@fold_diacritics

payment
  id: sudah bayar
re: \\d+\\s?(rm|myr)
not: no payment yet
not: id: belum bayar
\\#hashtag
\\re: not a pattern
"""
    parsed = parse_bytes(content.encode(), "payment.txt")
    assert parsed.signal == "payment"
    assert parsed.description == "Paid or paying"
    assert parsed.languages == ("en", "id")
    assert parsed.fold_diacritics
    rules = [(rule.text, rule.kind, rule.negative, rule.lang, rule.line) for rule in parsed.rules]
    assert rules == [
        ("payment", RuleKind.KEYWORD, False, None, 6),
        ("sudah bayar", RuleKind.KEYWORD, False, "id", 7),
        ("\\d+\\s?(rm|myr)", RuleKind.PATTERN, False, None, 8),
        ("no payment yet", RuleKind.KEYWORD, True, None, 9),
        ("belum bayar", RuleKind.KEYWORD, True, "id", 10),
        ("#hashtag", RuleKind.KEYWORD, False, None, 11),
        ("re: not a pattern", RuleKind.KEYWORD, False, None, 12),
    ]
    assert parsed.counts == {"keywords": 4, "negative_keywords": 2, "patterns": 1}
    assert all(rule.fold_diacritics for rule in parsed.rules)


def test_version_is_the_sha256_of_the_content() -> None:
    content = b"pay\n"
    assert parse_bytes(content, "payment.txt").version == hashlib.sha256(content).hexdigest()
    assert parse_bytes(b"\xef\xbb\xbfpay\n", "payment.txt").rules[0].text == "pay"  # a BOM is fine


def test_yaml_format_with_line_numbers() -> None:
    content = """signal: price_inquiry
description: Asks for the price
languages: [en, vi]
fold_diacritics: true
keywords:
  - how much
  - {text: giá bao nhiêu, lang: vi}
  - no
negative_keywords:
  - how much i love
patterns:
  - '\\bhm\\b'
  - {pattern: 'hmp', lang: en}
"""
    parsed = parse_bytes(content.encode(), "prices.yaml")
    assert parsed.signal == "price_inquiry"
    assert parsed.languages == ("en", "vi")
    assert parsed.fold_diacritics
    rules = [(rule.text, rule.kind, rule.negative, rule.lang, rule.line) for rule in parsed.rules]
    assert rules == [
        ("how much", RuleKind.KEYWORD, False, None, 6),
        ("giá bao nhiêu", RuleKind.KEYWORD, False, "vi", 7),
        ("no", RuleKind.KEYWORD, False, None, 8),  # YAML 1.1 would have read a boolean
        ("how much i love", RuleKind.KEYWORD, True, None, 10),
        ("\\bhm\\b", RuleKind.PATTERN, False, None, 12),
        ("hmp", RuleKind.PATTERN, False, "en", 13),
    ]


def test_json_format_and_signal_from_file_stem() -> None:
    parsed = parse_bytes(
        b'{"keywords": ["pay", {"text": "bayar", "lang": "id"}], "fold_diacritics": false}', "payment.json"
    )
    assert parsed.signal == "payment"
    assert [rule.text for rule in parsed.rules] == ["pay", "bayar"]
    assert parsed.rules[0].line == 1


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("payment.txt", "pay\nre: (unclosed\n", [(2, "invalid pattern")]),
        ("payment.txt", "pay\nre: x*\n", [(2, "pattern matches empty text")]),
        ("payment.txt", "pay\nnot:\n", [(2, "empty keyword")]),
        ("payment.txt", "pay\n\u200b\n", [(2, "keyword is empty after normalisation")]),
        ("payment.txt", "@fold: yes\npay\n", [(1, "unknown directive")]),
        ("payment.txt", "@fold_diacritics: maybe\npay\n", [(1, "@fold_diacritics wants true or false")]),
        ("payment.txt", "# only a comment\n", [(None, "no keywords or patterns")]),
        ("payment.txt", "not: only negative\n", [(None, "no keywords or patterns")]),
        ("Payment-Signal.txt", "pay\n", [(None, "invalid signal name")]),
        ("p.yaml", "signal: ''\nkeywords: [pay]\n", [(1, "invalid signal name")]),
        ("p.yaml", "signal: p\nkeywords: [pay\n", [(3, "invalid YAML")]),
        ("p.yaml", "signal: p\nkeyword: [pay]\n", [(2, "unknown key 'keyword'")]),
        ("p.yaml", "- pay\n", [(1, "top level must be a mapping")]),
        ("p.yaml", "", [(None, "empty file")]),
        ("p.yaml", "keywords: [{text: pay, lang: 'english!'}]\n", [(1, "invalid language tag")]),
        ("p.yaml", "keywords: [pay]\npatterns: ['[a-']\n", [(2, "invalid pattern")]),
        ("p.json", '{"keywords": ["pay",]}', [(1, "invalid JSON")]),
    ],
)
def test_bad_files_are_rejected_with_file_line_and_reason(
    name: str, content: str, expected: list[tuple[int | None, str]]
) -> None:
    found = errors_of(content, name)
    assert len(found) == len(expected), found
    for (line, reason), (want_line, want_reason) in zip(found, expected, strict=True):
        assert line == want_line
        assert reason.startswith(want_reason), reason


def test_every_problem_of_a_file_is_reported() -> None:
    found = errors_of("pay\nre: (\nre: [\n", "payment.txt")
    assert [line for line, _ in found] == [2, 3]


def test_undecodable_file_names_the_line() -> None:
    assert errors_of(b"pay\nbayar\n\xff\xfe\n", "payment.txt") == [(3, "not valid UTF-8")]


def test_directory_loading_keeps_good_files_and_reports_bad_ones(tmp_path: Path) -> None:
    (tmp_path / "payment.txt").write_text("pay\n", encoding="utf-8")
    (tmp_path / "payment_more.yaml").write_text("signal: payment\nkeywords: [bayar]\n", encoding="utf-8")
    (tmp_path / "order.txt").write_text("order\nre: (\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("not a keyword file\n", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "payment.txt~").write_text("x\n", encoding="utf-8")
    result = load_directory(tmp_path)
    assert [keyword_file.source for keyword_file in result.files] == ["payment.txt", "payment_more.yaml"]
    assert [str(error).split(": missing")[0] for error in result.errors] == ["order.txt:2: invalid pattern"]
    assert result.rejected == {"order.txt"}
    matcher = Matcher.build(result.files)  # two files of one signal merge
    assert matcher.flags("pay") == matcher.flags("bayar") == {"payment"}


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    result = load_directory(tmp_path / "absent")
    assert not result.files
    assert "cannot list directory" in result.errors[0].reason


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(KeywordFileError) as caught:
        parse_file(tmp_path / "missing.txt")
    assert caught.value.errors[0].reason.startswith("unreadable")


# -- the shipped starter set --------------------------------------------------------------------------


def test_starter_set_loads_cleanly() -> None:
    result = load_directory(REPO_KEYWORDS)
    assert result.errors == ()
    assert {".txt", ".yaml"} <= {Path(keyword_file.source).suffix for keyword_file in result.files}
    signals = {keyword_file.signal for keyword_file in result.files}
    assert {"payment", "order", "price_inquiry", "booking", "contact_request"} <= signals
    languages = {rule.lang for keyword_file in result.files for rule in keyword_file.rules}
    assert {"id", "ms", "tl", "vi", "th", "zh", "zh-hant", "ja", "ko", "ar", "es", "pt", "tr"} <= languages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I already paid via bank transfer", {"payment"}),
        ("sudah transfer ya kak, berapa ongkir?", {"payment", "price_inquiry"}),
        ("boss saya dah bayar semalam", {"payment"}),
        ("bayad na po ako via gcash", {"payment"}),
        ("mình đã chuyen khoan rồi nhé", {"payment"}),
        ("โอนเงินแล้วนะคะ", {"payment"}),
        ("我已经付款了", {"payment"}),
        ("我剛剛轉帳了", {"payment"}),
        ("お支払いは済みました", {"payment"}),
        ("어제 결제했어요", {"payment"}),
        ("لقد دفعت أمس", {"payment"}),
        ("ya pagué ayer", {"payment"}),
        ("já paguei o pix", {"payment"}),
        ("dün odeme yaptim", {"payment"}),
        ("no payment yet sorry", set()),
        ("I want to place an order", {"order"}),
        ("mau order 2 pcs", {"order"}),
        ("こんにちは、注文したいです", {"order"}),
        ("how much is this?", {"price_inquiry"}),
        ("magkano po?", {"price_inquiry"}),
        ("这个多少钱？", {"price_inquiry"}),
        ("cuánto cuesta?", {"price_inquiry"}),
        ("fiyatı ne kadar", {"price_inquiry"}),
        ("I'd like to book an appointment", {"booking"}),
        ("예약하고 싶어요", {"booking"}),
        ("quero agendar um horário", {"booking"}),
        ("please call me", {"contact_request"}),
        ("don't call me", set()),
        ("เบอร์โทรอะไรคะ", {"contact_request"}),
        ("in order to check, I love this book", set()),
    ],
)
def test_starter_set_examples(text: str, expected: set[str]) -> None:
    matcher = Matcher.build(load_directory(REPO_KEYWORDS).files)
    assert matcher.flags(text) == expected
