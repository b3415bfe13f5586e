"""Business hours are read on the wall clock of the workspace's zone: properties over generated schedules, zones and
instants (daylight-saving gaps and overlaps included), and nights split at midnight across a clock change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from partner.inbox.business_hours import DAYS, BusinessHours, as_json, is_open, stored_hours, zone_or_utc

HOURS = TypeAdapter(BusinessHours)
ZONES = [
    "UTC",
    "Asia/Jakarta",
    "Asia/Kolkata",  # +05:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",  # southern hemisphere: the change goes the other way
    "America/Santiago",
]
# Local days with a clock change in 2026, for wall times that hypothesis would rarely hit by chance.
CHANGE_DAYS = [
    datetime(2026, 3, 29),  # Berlin forward
    datetime(2026, 10, 25),  # Berlin back
    datetime(2026, 3, 8),  # New York forward
    datetime(2026, 11, 1),  # New York back
    datetime(2026, 4, 5),  # Sydney back
    datetime(2026, 10, 4),  # Sydney forward
]


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, list[list[str]]]:
    """Valid schedules: per day, sorted distinct boundaries paired into intervals; some days left out."""
    hours: dict[str, list[list[str]]] = {}
    for day in DAYS:
        if draw(st.booleans()):
            continue
        edges = sorted(draw(st.lists(st.integers(0, 1440), unique=True, max_size=8)))
        pairs = zip(edges[::2], edges[1::2], strict=False)
        hours[day] = [[_clock(start), _clock(end)] for start, end in pairs]
    return hours


def _open_minutes(hours: dict[str, list[list[str]]]) -> set[int]:
    """The reference: every open minute of the week, enumerated."""
    opened: set[int] = set()
    for index, day in enumerate(DAYS):
        for start, end in hours.get(day, []):
            first = int(start[:2]) * 60 + int(start[3:])
            last = int(end[:2]) * 60 + int(end[3:])
            opened.update(index * 1440 + minute for minute in range(first, last))
    return opened


def _complement(hours: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    result: dict[str, list[list[str]]] = {}
    for day in DAYS:
        edges = [0, *(int(t[:2]) * 60 + int(t[3:]) for interval in hours.get(day, []) for t in interval), 1440]
        gaps = [[_clock(a), _clock(b)] for a, b in zip(edges[::2], edges[1::2], strict=False) if a < b]
        result[day] = gaps
    return result


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))
near_changes = st.builds(
    lambda day, minute: day + timedelta(minutes=minute), st.sampled_from(CHANGE_DAYS), st.integers(-1440, 2880)
)
wall_times = st.one_of(near_changes, st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))


@given(schedules(), st.sampled_from(ZONES), st.one_of(instants, near_changes.map(lambda t: t.replace(tzinfo=UTC))))
def test_open_exactly_in_the_listed_minutes_of_the_local_week(
    hours: dict[str, list[list[str]]], zone_name: str, at: datetime
) -> None:
    local = at.astimezone(ZoneInfo(zone_name))
    minute_of_week = local.weekday() * 1440 + local.hour * 60 + local.minute
    assert is_open(HOURS.validate_python(hours), ZoneInfo(zone_name), at) == (minute_of_week in _open_minutes(hours))


@given(schedules(), st.sampled_from(ZONES), wall_times)
def test_only_the_wall_clock_matters_across_daylight_saving(
    hours: dict[str, list[list[str]]], zone_name: str, wall: datetime
) -> None:
    """Both occurrences of a repeated wall time agree, and agree with that wall time read in UTC."""
    zone = ZoneInfo(zone_name)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    assume(first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall)  # not a time the gap skips
    schedule = HOURS.validate_python(hours)
    expected = is_open(schedule, UTC, wall.replace(tzinfo=UTC))
    assert is_open(schedule, zone, first) == expected
    assert is_open(schedule, zone, second) == expected


@given(schedules(), st.sampled_from(ZONES), instants)
def test_a_schedule_and_its_complement_never_agree(
    hours: dict[str, list[list[str]]], zone_name: str, at: datetime
) -> None:
    zone = ZoneInfo(zone_name)
    complement = HOURS.validate_python(_complement(hours))
    assert is_open(HOURS.validate_python(hours), zone, at) != is_open(complement, zone, at)


@given(schedules())
def test_stored_form_round_trips(hours: dict[str, list[list[str]]]) -> None:
    parsed = HOURS.validate_python(hours)
    assert stored_hours(as_json(parsed)) == parsed
    assert list(as_json(parsed)) == [day for day in DAYS if day in hours]


@given(schedules(), st.sampled_from(DAYS), st.integers(0, 1439), st.integers(1, 1440))
def test_overlapping_intervals_are_refused(
    hours: dict[str, list[list[str]]], day: str, start: int, length: int
) -> None:
    end = min(start + length, 1440)
    existing = hours.get(day, [])
    starts_ends = [(int(a[:2]) * 60 + int(a[3:]), int(b[:2]) * 60 + int(b[3:])) for a, b in existing]
    overlaps = any(start < other_end and other_start < end for other_start, other_end in starts_ends)
    candidate = {**hours, day: [*existing, [_clock(start), _clock(end)]]}
    if overlaps:
        with pytest.raises(ValidationError):
            HOURS.validate_python(candidate)
    else:
        HOURS.validate_python(candidate)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from([*DAYS, "x"]), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_a_stored_value_that_is_not_a_schedule_counts_as_none(value: Any) -> None:
    result = stored_hours(value)
    assert result is None or HOURS.validate_python(result) == result


def test_nine_to_five_in_new_york_moves_in_utc_with_the_clock_change() -> None:
    zone = ZoneInfo("America/New_York")
    weekdays = HOURS.validate_python({day: [["09:00", "17:00"]] for day in DAYS[:5]})
    assert not is_open(weekdays, zone, datetime(2026, 3, 6, 13, 30, tzinfo=UTC))  # Friday 08:30 EST
    assert is_open(weekdays, zone, datetime(2026, 3, 6, 14, 30, tzinfo=UTC))  # Friday 09:30 EST
    assert is_open(weekdays, zone, datetime(2026, 3, 9, 13, 30, tzinfo=UTC))  # Monday 09:30 EDT
    assert not is_open(weekdays, zone, datetime(2026, 3, 9, 12, 30, tzinfo=UTC))  # Monday 08:30 EDT


@pytest.mark.parametrize(
    ("night", "real_hours"),
    [(datetime(2026, 3, 28, 21, 0, tzinfo=UTC), 5), (datetime(2026, 10, 24, 20, 0, tzinfo=UTC), 7)],
)
def test_a_night_split_at_midnight_is_open_throughout_a_clock_change(night: datetime, real_hours: int) -> None:
    """Sat 22:00-24:00 plus Sun 00:00-04:00 in Berlin: six wall hours, five real ones in spring, seven in autumn."""
    zone = ZoneInfo("Europe/Berlin")
    hours = HOURS.validate_python({"sat": [["22:00", "24:00"]], "sun": [["00:00", "04:00"]]})
    minutes = [night + timedelta(minutes=offset) for offset in range(real_hours * 60)]
    assert all(is_open(hours, zone, at) for at in minutes)
    assert not is_open(hours, zone, night - timedelta(minutes=1))
    assert not is_open(hours, zone, night + timedelta(hours=real_hours))


def test_no_schedule_is_always_open_and_an_empty_one_never() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert is_open(None, UTC, at)
    assert not is_open({}, UTC, at)


def test_an_unusable_stored_zone_falls_back_to_utc() -> None:
    assert zone_or_utc("Mars/Olympus_Mons") is UTC
    assert zone_or_utc("../etc/passwd") is UTC
    assert zone_or_utc(None) is UTC
    assert zone_or_utc("Asia/Jakarta") == ZoneInfo("Asia/Jakarta")
