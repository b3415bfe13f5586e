"""Find every occurrence of many keywords as substrings, with no Python loop per text position.

Used for scripts written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar) and for Hangul word starts.
Candidates come from C-level set intersections over integer codes of character n-grams: the UTF-16 bytes
of a text read as 32-bit integers (at both 2-byte shifts) are exactly its pairs of adjacent characters;
read as 64-bit integers, runs of 4 characters.

* 1-character keywords: ``in`` tests when there are few, else ``singles ∩ characters``.
* 2- to 4-character keywords: ``pair codes ∩ text pairs``; at each occurrence of the pair one C-level
  ``str.startswith(rests, position)`` with all the keywords sharing it rejects near misses.
* 5 or more characters: indexed under their first 4 characters and under characters 2-5, so 64-bit codes
  at even positions only (half the reads) still see every occurrence; then the same ``startswith`` check.

Every keyword is found independently, so nested and overlapping keywords ("付" and "付款") all fire.
Keywords with characters outside the BMP in their first 5 go the literal-regex route instead.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import chain
from typing import Generic, TypeVar

Value = TypeVar("Value")
# (value, start, end) in the searched text.
Found = tuple[Value, int, int]
# (value, keyword): a keyword known to occur, whose positions are looked up only if they are needed.
Present = tuple[Value, str]

_ENCODING = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"


def indexable(text: str) -> bool:
    """Can this keyword go in a substring index (its leading characters are in the BMP)?"""
    return max(text[:5]) < "\U00010000"


def _as_ints(data: bytes | memoryview, width: int) -> memoryview:
    """``data`` (a multiple of 2*width bytes) read as integers of ``width`` UTF-16 units (2 or 4)."""
    view = memoryview(data)
    return view.cast("I") if width == 2 else view.cast("Q")


def _code(chars: str) -> int:
    """The integer 2 or 4 BMP characters read as, the way ``_codes`` reads the text."""
    return int(_as_ints(chars.encode(_ENCODING), len(chars))[0])


def _codes(padded: memoryview, size: int, width: int, shifts: range, keys: frozenset[int]) -> frozenset[int]:
    """Which codes of ``width`` characters (2 or 4), read at ``shifts`` (bytes), are in ``keys``.

    ``padded`` is the UTF-16 text (``size`` bytes) followed by at least 8 zero bytes.
    """
    step = 2 * width
    views = (_as_ints(padded[shift : shift + (size - shift + step - 1) // step * step], width) for shift in shifts)
    return keys.intersection(chain.from_iterable(views))


class _Bucket(Generic[Value]):
    """Keywords that share a lookup n-gram at a given offset from their start."""

    __slots__ = ("chars", "keywords", "offset", "values")

    def __init__(self, chars: str, offset: int) -> None:
        self.chars = chars  # the n-gram, as found in the text
        self.offset = offset  # where it sits in each keyword
        self.keywords: tuple[str, ...] = ()
        self.values: tuple[Value, ...] = ()

    def add(self, keyword: str, value: Value) -> None:
        self.keywords = (*self.keywords, keyword)
        self.values = (*self.values, value)

    def hits(self, text: str, out: list[Found[Value]], present: list[Present[Value]] | None = None) -> None:
        """Every occurrence in ``text`` of this bucket's keywords (the bucket's n-gram is known to occur).

        With ``present``, a bucket whose only keyword is its n-gram just records that it occurs.
        """
        if present is not None and self.offset == 0 and self.keywords == (self.chars,):
            present.append((self.values[0], self.chars))
            return
        if len(self.keywords) == 1:
            self._single_hits(text, out)
            return
        chars, offset, keywords = self.chars, self.offset, self.keywords
        found = text.find(chars)
        while found >= 0:
            start = found - offset
            if start >= 0 and text.startswith(keywords, start):
                for keyword, value in zip(keywords, self.values, strict=True):
                    if text.startswith(keyword, start):
                        out.append((value, start, start + len(keyword)))
            found = text.find(chars, found + 1)

    def _single_hits(self, text: str, out: list[Found[Value]]) -> None:
        chars, offset, keyword, value = self.chars, self.offset, self.keywords[0], self.values[0]
        size = len(keyword)
        exact = keyword == chars  # the n-gram is the whole keyword: every occurrence is a hit
        found = text.find(chars)
        while found >= 0:
            start = found - offset
            if exact or (start >= 0 and text.startswith(keyword, start)):
                out.append((value, start, start + size))
            found = text.find(chars, found + 1)


_SINGLE_IN_TESTS = 16  # up to this many 1-character keywords, ``in`` tests beat a set intersection


class SubstringIndex(Generic[Value]):
    """Keywords to find as substrings, each with a value reported on a hit. Immutable once frozen."""

    __slots__ = ("_pair_keys", "_pairs", "_quad_keys", "_quads", "_single_keys", "_singles")

    def __init__(self) -> None:
        self._singles: dict[str, Value] = {}
        self._pairs: dict[int, _Bucket[Value]] = {}
        self._quads: dict[int, _Bucket[Value]] = {}
        self._single_keys: frozenset[str] = frozenset()
        self._pair_keys: frozenset[int] = frozenset()
        self._quad_keys: frozenset[int] = frozenset()

    def add(self, text: str, value: Value) -> None:
        if len(text) == 1:
            self._singles[text] = value
        elif len(text) <= 4:
            self._pairs.setdefault(_code(text[:2]), _Bucket(text[:2], 0)).add(text, value)
        else:
            for offset in (0, 1):
                chars = text[offset : offset + 4]
                self._quads.setdefault(_code(chars) * 2 + offset, _Bucket(chars, offset)).add(text, value)

    def freeze(self) -> None:
        self._single_keys = frozenset(self._singles)
        self._pair_keys = frozenset(self._pairs)
        # A quad code is stored twice as large plus the offset; the text's quads are looked up as both.
        self._quad_keys = frozenset(key // 2 for key in self._quads)

    def __bool__(self) -> bool:
        return bool(self._single_keys or self._pair_keys or self._quad_keys)

    def find(
        self, text: str, sample: str, out: list[Found[Value]], present: list[Present[Value]] | None = None
    ) -> None:
        """Append every occurrence in ``text``; ``sample`` holds all the text's characters that matter
        (e.g. its unspaced runs joined by newlines), and candidates are computed from it alone. With
        ``present``, keywords whose occurrence is already certain are recorded there without positions."""
        if self._single_keys:
            self._find_singles(text, sample, out)
        if len(sample) < 2:
            return
        data = sample.encode(_ENCODING)
        padded = memoryview(data + bytes(8))
        if self._pair_keys:
            for code in _codes(padded, len(data), 2, range(0, 4, 2), self._pair_keys):
                self._pairs[code].hits(text, out, present)
        if self._quad_keys and len(sample) > 4:
            for code in _codes(padded, len(data), 4, range(0, 8, 4), self._quad_keys):
                for key in (code * 2, code * 2 + 1):
                    bucket = self._quads.get(key)
                    if bucket is not None:
                        bucket.hits(text, out)

    def _find_singles(self, text: str, sample: str, out: list[Found[Value]]) -> None:
        if len(self._single_keys) <= _SINGLE_IN_TESTS:
            present = [char for char in self._single_keys if char in sample]
        else:
            present = list(self._single_keys.intersection(sample))
        for char in present:
            value = self._singles[char]
            out.extend((value, start, start + 1) for start in find_all(text, char))


def find_all(text: str, needle: str) -> Iterator[int]:
    start = text.find(needle)
    while start >= 0:
        yield start
        start = text.find(needle, start + 1)
