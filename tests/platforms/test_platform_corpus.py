"""Every fixture of the shared corpus parses without an exception; hand-written expectations hold where written."""

from __future__ import annotations

from collections import Counter
from enum import Enum
from typing import Any

import pytest

from partner.platforms import PLATFORMS, get_platform
from partner.platforms.base import InboundItem, ParseResult
from tests.corpus import corpus_files, read_fixture
from tests.platforms.expectations import EXPECTED, LINE_ROUTE_KEY, Expectation

ALL_FIXTURES = corpus_files()


def parse_fixture(relative_path: str) -> ParseResult:
    platform = relative_path.split("/", 1)[0]
    route_key = LINE_ROUTE_KEY if platform == "line" else None
    return get_platform(platform).parse(read_fixture(relative_path), route_key=route_key)


def field_value(item: InboundItem, path: str) -> Any:
    """``"referral.source"`` -> item.referral.source; a missing metadata key or a None parent reads as None."""
    value: Any = item
    for part in path.split("."):
        if value is None:
            return None
        value = value.get(part) if isinstance(value, dict) else getattr(value, part)
    return value.value if isinstance(value, Enum) else value


def check_expectation(result: ParseResult, expected: Expectation) -> None:
    kinds = Counter(item.kind.value for item in result.items)
    assert dict(kinds) == expected["kinds"]
    assert result.ignored == expected.get("ignored", [])
    for index, checks in enumerate(expected.get("items", [])):
        item = result.items[index]
        actual = {path: field_value(item, path) for path in checks}
        assert actual == checks, f"item {index}"
    if expected.get("unique_dedup_keys"):
        keys = [item.dedup_key for item in result.items]
        assert len(set(keys)) == len(keys)


def test_corpus_covers_all_four_platforms() -> None:
    folders = Counter(path.split("/", 1)[0] for path in ALL_FIXTURES)
    assert set(folders) == set(PLATFORMS)
    assert all(count > 0 for count in folders.values())


def test_expectations_name_existing_fixtures_on_every_platform() -> None:
    assert set(EXPECTED) <= set(ALL_FIXTURES)
    assert len(EXPECTED) >= 60
    assert {path.split("/", 1)[0] for path in EXPECTED} == set(PLATFORMS)


@pytest.mark.parametrize("relative_path", ALL_FIXTURES)
def test_fixture_parses(relative_path: str) -> None:
    result = parse_fixture(relative_path)
    for item in result.items:
        assert item.dedup_key
        assert isinstance(item.channel_key, str)
        assert item.occurred_at.tzinfo is not None
    keys = [item.dedup_key for item in result.items]
    assert len(set(keys)) == len(keys), "items of one body must not share a dedup key"
    expected = EXPECTED.get(relative_path)
    if expected is not None:
        check_expectation(result, expected)


def test_every_fixture_yields_items_or_an_ignored_reason() -> None:
    """Nothing is silently dropped: each body becomes items, or says what it ignored."""
    results = {path: parse_fixture(path) for path in ALL_FIXTURES}
    silent = [path for path, result in results.items() if not result.items and not result.ignored]
    assert silent == []
