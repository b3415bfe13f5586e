"""A workspace's business hours: open intervals per weekday, read on the wall clock of the workspace's time zone.

Stored and exchanged as ``{"mon": [["09:00", "18:00"]], "sat": [["10:00", "14:00"]]}``. A day left out (or with an
empty list) is closed; no schedule at all (null) means always open, so away messages never fire.

Why the wall clock: a shop that opens at 09:00 opens at 09:00 in summer and in winter. Across a daylight-saving
change that falls out by itself: in the spring gap the skipped wall times never occur, and in the autumn overlap
the repeated hour is open (or closed) both times it occurs.

An interval ends after it starts on the same day; ``24:00`` ends it at midnight. A night shift is two intervals,
e.g. fri ``22:00-24:00`` and sat ``00:00-02:00``: each day's list stays readable and overlaps stay easy to check.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

log = structlog.get_logger(__name__)

MINUTES_PER_DAY = 24 * 60
MAX_INTERVALS_PER_DAY = 12
CLOCK_TIME = r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})  # files in the zone directory that name no place

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order


def minutes(clock_time: str) -> int:
    """Minutes after midnight of an ``HH:MM`` time (``24:00`` is 1440)."""
    hours, _, mins = clock_time.partition(":")
    return int(hours) * 60 + int(mins)


def _ordered(interval: list[str]) -> list[str]:
    start, end = interval
    if minutes(start) >= minutes(end):
        raise ValueError(
            f"{start}-{end}: an interval ends after it starts; for one past midnight end this day at 24:00 "
            "and open the next day at 00:00"
        )
    return interval


def _disjoint(intervals: list[list[str]]) -> list[list[str]]:
    ordered = sorted(intervals, key=lambda interval: minutes(interval[0]))
    for (start, end), (next_start, next_end) in itertools.pairwise(ordered):
        if minutes(next_start) < minutes(end):
            raise ValueError(f"{start}-{end} and {next_start}-{next_end} overlap")
    return ordered


ClockTime = Annotated[str, Field(pattern=CLOCK_TIME, description="HH:MM, 00:00 to 24:00")]
# [start, end]: a two-item list rather than a tuple, so the JSON schema needs no prefixItems
Interval = Annotated[list[ClockTime], Field(min_length=2, max_length=2), AfterValidator(_ordered)]
DayHours = Annotated[list[Interval], Field(max_length=MAX_INTERVALS_PER_DAY), AfterValidator(_disjoint)]
BusinessHours = dict[Weekday, DayHours]

_HOURS = TypeAdapter(BusinessHours)


def _known_zone(name: str) -> str:
    """An IANA zone name this host can load; anything else (paths, typos, ``localtime``) is refused."""
    if name in _NOT_ZONES or not _ZONE_NAME.fullmatch(name) or _load_zone(name) is None:
        raise ValueError(f"{name!r} is not an IANA time zone name, e.g. Asia/Jakarta or UTC")
    return name


TimeZoneName = Annotated[
    str,
    Field(min_length=1, max_length=64, description="IANA time zone, e.g. Asia/Jakarta"),
    AfterValidator(_known_zone),
]


@functools.lru_cache(maxsize=256)
def _load_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone_or_utc(name: str | None) -> tzinfo:
    """The zone a stored name stands for; UTC for a name that cannot be loaded (workspaces made before checks)."""
    zone = _load_zone(name) if name and name not in _NOT_ZONES and _ZONE_NAME.fullmatch(name) else None
    if zone is None:
        log.warning("workspace_timezone_unusable", timezone=(name or "")[:64])
        return UTC
    return zone


@dataclass(frozen=True, slots=True)
class Schedule:
    """Open intervals as minutes after midnight, one tuple per weekday, Monday first."""

    days: tuple[tuple[tuple[int, int], ...], ...]

    @classmethod
    def from_hours(cls, hours: BusinessHours) -> Schedule:
        return cls(tuple(tuple((minutes(start), minutes(end)) for start, end in hours.get(day, ())) for day in DAYS))

    def open_at_wall_time(self, weekday: int, minute: int) -> bool:
        return any(start <= minute < end for start, end in self.days[weekday])

    def is_open(self, at: datetime, zone: tzinfo) -> bool:
        local = at.astimezone(zone)
        return self.open_at_wall_time(local.weekday(), local.hour * 60 + local.minute)


def is_open(hours: BusinessHours | None, zone: tzinfo, at: datetime) -> bool:
    """Whether the business is open at the instant ``at`` (aware); no schedule means always open."""
    return True if hours is None else Schedule.from_hours(hours).is_open(at, zone)


def stored_hours(value: Any) -> BusinessHours | None:
    """The schedule a settings row holds; a value that is not a valid schedule counts as none (always open)."""
    if value is None:
        return None
    try:
        return _HOURS.validate_python(value)
    except ValidationError:
        log.warning("business_hours_unusable")
        return None


def as_json(hours: BusinessHours) -> dict[str, list[list[str]]]:
    """The stored form: days in week order, each interval a two-item list."""
    return {day: [[start, end] for start, end in hours[day]] for day in DAYS if day in hours}
