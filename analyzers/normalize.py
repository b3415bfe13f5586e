"""Text normalisation shared by keywords and messages, so both sides compare in the same form.

``normalize``: NFKC (folds full-width and compatibility forms), invisible characters removed, case-folded,
NFKC again (case folding can leave text un-normalised), whitespace runs collapsed to one space and trimmed.
It is idempotent. Pure-ASCII text takes a fast path (``lower`` + whitespace collapse) that gives the same
result, because most chat traffic is ASCII and NFKC/casefold cost several microseconds per message.

``fold_diacritics``: optional, per keyword list. Removes Latin/Greek/Cyrillic combining accents, Arabic
harakat and Hebrew points, and maps a few letters that have no decomposition (đ, ı, ø, ł, ħ, ŧ), so that
"pagó" matches "pago" and "chuyen khoan" matches "chuyển khoản". Thai, Indic and CJK marks are never removed:
they are letters of those scripts, not optional accents.

Most chat text is ASCII plus emoji. Characters such as emoji, symbols and punctuation that NFKC, case
folding and diacritic folding leave alone, and that are not letters, are *inert*: text whose non-ASCII
characters are all inert takes the ASCII fast path too (``is_simple``), with the same result.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from functools import lru_cache

from analyzers.scripts import HANGUL_RE, UNSPACED_RE, WORD_CHAR_RE

# Zero-width space/joiners, word joiner, BOM/ZWNBSP, soft hyphen, Mongolian vowel separator, invisible
# operators and emoji variation selectors: invisible, and they would split or glue words.
_INVISIBLE_RE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufe0e\ufe0f\ufeff]")

_FOLDED_MARKS = (
    "\u0300-\u036f"  # combining diacritical marks (Latin, Greek, Cyrillic accents)
    "\u0483-\u0487"  # Cyrillic titlo and friends
    "\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"  # Hebrew points and cantillation
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"  # Arabic harakat
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"  # combining mark supplements
)
_FOLDED_MARK_RE = re.compile(f"[{_FOLDED_MARKS}]")
_EXTRA_FOLDS = {"đ": "d", "ı": "i", "ø": "o", "ł": "l", "ħ": "h", "ŧ": "t", "ŀ": "l", "\u0640": ""}
_EXTRA_FOLD_RE = re.compile("[" + "".join(_EXTRA_FOLDS) + "]")
_EXTRA_FOLD_TABLE = str.maketrans(_EXTRA_FOLDS)


_WHITESPACE_RUN_RE = re.compile(r"\s+")
_NON_ASCII_RE = re.compile("[^\x00-\x7f]")
INERT, INVISIBLE, ACTIVE = 0, 1, 2
_KINDS: dict[str, int] = {}
_INERT_CHARS: set[str] = set()
_CACHE_LIMIT = 100_000


def normalize(text: str) -> str:
    """Return the canonical matching form of ``text`` (see module docstring)."""
    kind = text_kind(text)
    if kind == ACTIVE:
        return normalize_full(text)
    return " ".join(lower_simple(text, kind).split())


def lower_simple(text: str, kind: int) -> str:
    """``normalize`` for simple text, except for the whitespace collapse (which tokenising does not need)."""
    return (_INVISIBLE_RE.sub("", text) if kind == INVISIBLE else text).lower()


def normalize_full(text: str) -> str:
    """The general path of ``normalize``, for text with characters that NFKC or case folding may change."""
    return " ".join(prepare_full(text).split())


def prepare_full(text: str) -> str:
    """``normalize_full`` except for the whitespace collapse (which tokenising does not need)."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE_RE.sub("", text)
    return unicodedata.normalize("NFKC", text.casefold())


def collapse_offsets(text: str) -> Callable[[int], int]:
    """Map offsets in ``text`` to offsets in ``" ".join(text.split())`` (for characters that survive)."""
    ends: list[int] = []
    removed: list[int] = []
    total = 0
    for match in _WHITESPACE_RUN_RE.finditer(text):
        start, end = match.span()
        total += end - start - (0 if start == 0 or end == len(text) else 1)
        ends.append(end)
        removed.append(total)

    def mapped(offset: int) -> int:
        index = bisect_right(ends, offset)
        return offset - (removed[index - 1] if index else 0)

    return mapped


def text_kind(text: str) -> int:
    """INERT: ASCII and inert characters only; INVISIBLE: also invisible ones; ACTIVE: anything else."""
    if text.isascii():
        return INERT
    first = _NON_ASCII_RE.search(text)
    if first is not None:  # Thai, CJK, accented Latin...: usually decided by the first such character
        char = first.group()
        kind = _KINDS.get(char)
        if (kind if kind is not None else _classify(char)) == ACTIVE:
            return ACTIVE
    chars = set(_NON_ASCII_RE.findall(text))
    if _INERT_CHARS.issuperset(chars):
        return INERT
    worst = INERT
    for char in chars:
        kind = _KINDS.get(char)
        if kind is None:
            kind = _classify(char)
        if kind == ACTIVE:
            return ACTIVE
        worst = max(worst, kind)
    return worst


def is_simple(text: str) -> bool:
    """True when the ASCII fast path applies to ``text`` unchanged (see module docstring)."""
    return text_kind(text) == INERT


def _classify(char: str) -> int:
    """Cached: the table only grows with the distinct characters seen, and is bounded."""
    kind = INVISIBLE if _INVISIBLE_RE.match(char) else INERT if _is_inert(char) else ACTIVE
    if len(_KINDS) < _CACHE_LIMIT:
        _KINDS[char] = kind
        if kind == INERT:
            _INERT_CHARS.add(char)
    return kind


def _is_inert(char: str) -> bool:
    if char.isspace():  # split() drops it on both paths; NFKC maps these to spaces or keeps them
        return all(part.isspace() for part in unicodedata.normalize("NFKC", char))
    if WORD_CHAR_RE.match(char) or UNSPACED_RE.match(char) or HANGUL_RE.match(char):
        return False
    if unicodedata.category(char)[0] in "LMN" or unicodedata.combining(char):
        return False
    unchanged = unicodedata.normalize("NFKC", char) == char and unicodedata.normalize("NFD", char) == char
    return unchanged and char.casefold() == char and char.lower() == char


def fold_diacritics(normalized: str) -> str:
    """Strip optional accents from already-normalised text (see module docstring); idempotent."""
    if normalized.isascii() or is_simple(normalized):
        return normalized
    text = _FOLDED_MARK_RE.sub("", unicodedata.normalize("NFD", normalized))
    text = unicodedata.normalize("NFC", text)
    if _EXTRA_FOLD_RE.search(text):
        text = text.translate(_EXTRA_FOLD_TABLE)
    if text.startswith(" ") or text.endswith(" ") or "  " in text:  # a removed mark stood alone
        text = " ".join(text.split())
    return text


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    return fold_diacritics(char)


def fold_with_offsets(normalized: str) -> tuple[str, list[int]]:
    """Fold character by character and return, for each folded position, its index in ``normalized``.

    Used only when folding changed the length (a standalone combining mark, Arabic harakat): hits found
    in the folded text must be reported, and compared with negatives, in ``normalized`` coordinates.
    The returned list has one extra entry so an exclusive end offset maps too.
    """
    parts: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(normalized):
        folded = _fold_char(char)
        parts.append(folded)
        offsets.extend([index] * len(folded))
    offsets.append(len(normalized))
    return "".join(parts), offsets


def matching_form(text: str, *, fold: bool) -> str:
    """The form keywords are indexed in: normalised, then folded when the list asks for it."""
    normalized = normalize(text)
    return fold_diacritics(normalized) if fold else normalized
