"""Property tests: whatever JSON arrives, ``parse`` returns a ParseResult or raises PayloadError, nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partner.platforms import PLATFORMS, get_platform
from partner.platforms.base import InboundItem, ParseResult, PayloadError
from tests.corpus import corpus_files, read_fixture

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    # Values the parsers look at, so random bodies reach the interesting branches.
    | st.sampled_from(["text", "message", "image", "whatsapp_business_account", "page", "instagram", "im_receive_msg"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)

# Envelopes close enough to each platform's to get past the first check.
ENVELOPES: dict[str, Any] = {
    "whatsapp": st.fixed_dictionaries(
        {"object": st.just("whatsapp_business_account"), "entry": st.lists(JSON_VALUES, max_size=3)}
    ),
    "messenger": st.fixed_dictionaries(
        {"object": st.sampled_from(["page", "instagram"]), "entry": st.lists(JSON_VALUES, max_size=3)}
    ),
    "line": st.fixed_dictionaries({"destination": JSON_VALUES, "events": st.lists(JSON_VALUES, max_size=3)}),
    "tiktok": st.fixed_dictionaries(
        {
            "event": st.sampled_from(["im_receive_msg", "im_send_msg", "im_mark_read_msg", "im_receive_msg_eu", "x"]),
            "user_openid": JSON_VALUES,
            "content": JSON_VALUES | JSON_VALUES.map(json.dumps),
        }
    ),
}

FIXTURES = corpus_files()


def parse_or_payload_error(platform: str, raw: bytes) -> ParseResult | None:
    try:
        result = get_platform(platform).parse(raw, route_key="channel-1")
    except PayloadError:
        return None
    assert isinstance(result, ParseResult)
    assert all(isinstance(item, InboundItem) and isinstance(item.dedup_key, str) for item in result.items)
    assert all(isinstance(reason, str) for reason in result.ignored)
    return result


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@settings(max_examples=150, deadline=None)
@given(value=JSON_VALUES)
def test_random_json_never_raises_anything_but_payload_error(platform: str, value: Any) -> None:
    parse_or_payload_error(platform, json.dumps(value).encode())


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_envelopes_parse(platform: str, data: st.DataObject) -> None:
    envelope = data.draw(ENVELOPES[platform])
    assert parse_or_payload_error(platform, json.dumps(envelope).encode()) is not None


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@settings(max_examples=50, deadline=None)
@given(raw=st.binary(max_size=64))
def test_random_bytes_never_raise_anything_but_payload_error(platform: str, raw: bytes) -> None:
    parse_or_payload_error(platform, raw)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside a JSON value, the root included."""
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths.extend(paths_of(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths.extend(paths_of(child, (*prefix, index)))
    return paths


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)
    return copy


@st.composite
def mutated_fixture(draw: st.DrawFn) -> tuple[str, bytes]:
    """A corpus fixture with one to three subtrees (objects, lists, ids, timestamps, ...) replaced at random."""
    relative_path = draw(st.sampled_from(FIXTURES))
    value = json.loads(read_fixture(relative_path))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths_of(value)))
        value = replaced(value, path, draw(JSON_VALUES))
    return relative_path.split("/", 1)[0], json.dumps(value).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_fixture())
def test_mutated_fixtures_never_raise_anything_but_payload_error(case: tuple[str, bytes]) -> None:
    platform, raw = case
    parse_or_payload_error(platform, raw)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_deeply_nested_json_is_a_payload_error_or_parses(platform: str) -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(PayloadError):
        get_platform(platform).parse(raw)
