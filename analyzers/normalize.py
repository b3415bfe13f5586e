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

from analyzers.scripts import HANGUL_RE, INVISIBLE_CLASS, NON_PLAIN_RE, UNSPACED_RE, WORD_CHAR_RE, _char_class

_INVISIBLE_RE = re.compile(f"[{INVISIBLE_CLASS}]")
_PRINTABLE_INVISIBLE = tuple(chr(cp) for cp in range(0x10000) if _INVISIBLE_RE.match(chr(cp)) and chr(cp).isprintable())

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
INERT, INVISIBLE, ACTIVE = 0, 1, 2  # kinds of raw text (``text_kind``)
SIMPLE, PLAIN, MIXED, OTHER = 0, 1, 2, 3  # kinds of prepared text (``prepare``)
_KINDS: dict[str, int] = {}
_INERT_CHARS: set[str] = set()
_CACHE_LIMIT = 100_000


def normalize(text: str) -> str:
    """Return the canonical matching form of ``text`` (see module docstring)."""
    return " ".join(prepare(text)[0].split())


def prepare(text: str) -> tuple[str, int]:
    """``normalize`` except for the whitespace collapse (which tokenising does not need), and the kind of
    the result (what tokenising may assume):

    * SIMPLE: ASCII and inert characters only (the ASCII tokeniser applies, diacritic folding changes
      nothing);
    * PLAIN: ASCII and spaced-script word characters other than Hangul only;
    * MIXED: ASCII, spaced-script word characters (Hangul included) and inert separators only;
    * OTHER: anything else (unspaced scripts...).

    Most non-ASCII chat text is made only of ASCII, *stable* letters (lower-case letters that NFKC and
    case folding leave alone and that never combine with a neighbour, such as "ã", "ş", "ệ", Arabic,
    Hangul syllables) and inert symbols: its normal form is the text with ASCII letters lower-cased, which
    one regex pass proves (see ``_stable_classes``). Compatibility characters met on the way (Korean "ㅋ",
    full-width forms) are first replaced by their NFKC form, which leaves the NFKC of the text unchanged.
    """
    if text.isascii():  # most chat text
        return text.lower(), SIMPLE
    kind = text_kind(text)
    if kind != ACTIVE:
        return lower_simple(text, kind), SIMPLE
    unstable = _UNSTABLE_WORD_RE.search(text)
    if unstable is None:
        return _lower_ascii(text), PLAIN
    start = unstable.start()
    other = _UNSTABLE_RE.search(text, start)
    if other is not None and other.group() in _COMPAT:
        start = other.start()  # only characters from here on change, so the search can go on from here
        for char in set(_COMPAT_RE.findall(text, start)):
            text = text.replace(char, _COMPAT[char])
        other = _UNSTABLE_RE.search(text, start)
    if other is None:
        return _lower_ascii(text), MIXED
    return _prepare_active(text)


def lower_simple(text: str, kind: int) -> str:
    """``normalize`` for simple text, except for the whitespace collapse (which tokenising does not need)."""
    return _lower_ascii(_INVISIBLE_RE.sub("", text) if kind == INVISIBLE else text)


def _lower_ascii(text: str) -> str:
    """``text.lower()`` for text whose non-ASCII characters have no case, without a per-character lookup."""
    if text.isascii():
        return text.lower()
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def normalize_full(text: str) -> str:
    """The general path of ``normalize``, for text with characters that NFKC or case folding may change."""
    return " ".join(prepare_full(text).split())


def prepare_full(text: str) -> str:
    """``normalize_full`` except for the whitespace collapse (which tokenising does not need)."""
    return _prepare_active(text)[0]


def _prepare_active(text: str) -> tuple[str, int]:
    """``prepare_full`` and the kind of its result (see ``prepare``).

    By definition NFKC(casefold(NFKC(text) without invisible characters)). Most steps are skipped when a
    C-level check shows they change nothing: most text is NFKC already, Thai and CJK have no case, and
    invisible characters are rare. Replacing a character by its own NFKC form leaves the NFKC of the whole
    text unchanged, so Thai SARA AM and other compatibility characters (Hangul compatibility jamo such as
    "ㅋ", full-width forms) are mapped first: the text is then usually NFKC already, where a full NFKC pass
    over Thai or Hangul text costs several microseconds. Case folding and NFKC neither remove nor produce
    invisible characters, so looking for them in the result tells whether the text had any.
    """
    if "\u0e33" in text:  # Thai SARA AM, in most Thai messages: NFKC splits it into NIKHAHIT + SARA AA
        text = text.replace("\u0e33", "\u0e4d\u0e32")
    if not unicodedata.is_normalized("NFKC", text):
        for char in set(_COMPAT_RE.findall(text)):
            text = text.replace(char, _COMPAT[char])
        text = unicodedata.normalize("NFKC", text)
    folded = text.casefold()
    if folded != text:
        folded = unicodedata.normalize("NFKC", folded)
    if NON_PLAIN_RE.search(folded) is None:  # one pass: no invisible, unspaced or Hangul characters
        return folded, SIMPLE if folded.isascii() else PLAIN
    if _may_have_invisible(folded) and _INVISIBLE_RE.search(folded) is not None:
        folded = unicodedata.normalize("NFKC", _INVISIBLE_RE.sub("", text).casefold())
    return folded, SIMPLE if folded.isascii() else OTHER


def _may_have_invisible(text: str) -> bool:
    """A C-level pre-check: most invisible characters are not printable (``str.isprintable``)."""
    return not text.isprintable() or any(map(text.__contains__, _PRINTABLE_INVISIBLE))


def _compat_table() -> dict[str, str]:
    """BMP characters whose NFKC form differs from them, with that form."""
    table: dict[str, str] = {}
    for cp in range(0x10000):
        char = chr(cp)
        form = unicodedata.normalize("NFKC", char)
        if form != char:
            table[char] = form
    return table


_COMPAT = _compat_table()
_COMPAT_RE = re.compile("[" + "".join(re.escape(char) for char in sorted(_COMPAT)) + "]")


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
    if _INERT_TEXT_RE.fullmatch(text) is not None:  # emoji, punctuation, symbols: one C-level pass
        return INERT
    if _SIMPLE_TEXT_RE.fullmatch(text) is not None:
        return INVISIBLE
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


def _code_ranges(codes: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for cp in codes:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


_INERT_BLOCKS = ((0x80, 0x3100), (0xFE00, 0x10000), (0x1F000, 0x1FC00), (0xE0000, 0xE0080))


def _static_inert_class() -> str:
    """The inert characters of the blocks where chat text has them (punctuation, symbols, emoji, tags).

    Precomputed so that text made of them is recognised in one regex pass; any other inert character is
    still recognised, one at a time, by ``_classify``. As ranges: outside the BMP a regex class is a list
    checked item by item.
    """
    codes = [cp for low, high in _INERT_BLOCKS for cp in range(low, high) if _is_static_inert(chr(cp))]
    return _char_class(_code_ranges(codes))


def _is_static_inert(char: str) -> bool:
    return not _INVISIBLE_RE.match(char) and _is_inert(char)


_INERT_CLASS = _static_inert_class()
_INERT_TEXT_RE = re.compile(f"[\\x00-\\x7f{_INERT_CLASS}]*")
_SIMPLE_TEXT_RE = re.compile(f"[\\x00-\\x7f{_INERT_CLASS}{_INVISIBLE_RE.pattern[1:-1]}]*")


def _stable_classes() -> tuple[str, str]:
    """Stable plain word characters, and all stable characters (see ``prepare``).

    A character is stable when it is a word character other than an invisible one, NFKC and case folding
    leave it unchanged, it is a starter (combining class 0) and it is not the second character of any
    canonical composition (Hangul vowel and final jamo, which compose algorithmically, included). Text made
    of ASCII and stable characters passes the NFKC quick check (so it is NFKC), case folds to itself with
    ASCII lower-cased, and lower-casing ASCII letters cannot create a composition (the character after
    them would have to combine). The static inert characters are stable too (they are not word
    characters: they are the separators of MIXED text). Plain ones are neither Hangul nor unspaced.
    """
    combining_seconds: set[int] = set(range(0x1160, 0x1200)) | set(range(0xD7B0, 0xD800))
    for cp in range(0x30000):
        decomposition = unicodedata.decomposition(chr(cp)).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            combining_seconds.add(int(decomposition[1], 16))
    words = [cp for cp in range(0x80, 0x10000) if cp not in combining_seconds and _is_stable_word(chr(cp))]
    plain = [cp for cp in words if not NON_PLAIN_RE.match(chr(cp))]
    inert = [cp for low, high in _INERT_BLOCKS for cp in range(low, high) if _is_static_inert(chr(cp))]
    inert = [cp for cp in inert if cp not in combining_seconds]
    return _char_class(_code_ranges(plain)), _char_class(_code_ranges(sorted({*words, *inert})))


def _is_stable_word(char: str) -> bool:
    if not WORD_CHAR_RE.match(char) or _INVISIBLE_RE.match(char) or unicodedata.combining(char):
        return False
    return char.casefold() == char and unicodedata.normalize("NFKC", char) == char


_STABLE_WORD_CLASS, _STABLE_CLASS = _stable_classes()
# The first character that is neither ASCII nor a stable plain word character / nor ASCII nor stable.
_UNSTABLE_WORD_RE = re.compile(f"[^\\x00-\\x7f{_STABLE_WORD_CLASS}]")
_UNSTABLE_RE = re.compile(f"[^\\x00-\\x7f{_STABLE_CLASS}]")
