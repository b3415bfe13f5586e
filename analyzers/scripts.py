"""Character classes that split normalised text into word tokens and unspaced-script runs.

Matching speed depends on doing this with stdlib ``re`` character sets: a class built from explicit BMP
ranges compiles to a bitmap (one lookup per character), where ``regex`` script properties or a mark-aware
``\\w`` cost several times more per message. The classes are computed once at import from ``unicodedata``.

* A *word character* is a letter, digit, mark or ``_`` of a script written with spaces (Latin, Cyrillic,
  Greek, Arabic, Hebrew, Devanagari, Hangul...). Marks count, so Devanagari and Arabic words stay whole.
* An *unspaced character* is a letter, mark or digit of Han, Hiragana/Katakana, Thai, Lao, Khmer or Myanmar.
* Everything else (whitespace, punctuation, symbols, emoji, characters outside the BMP other than CJK
  extensions) separates tokens.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

# Blocks of scripts written without spaces between words; only their letters, marks and digits count.
UNSPACED_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x3005, 0x3007),  # ideographic iteration / closing marks, ideographic zero
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3031, 0x3035),  # kana repeat marks
    (0x303B, 0x303C),  # vertical iteration mark, masu mark
    (0x3040, 0x309F),  # Hiragana (with the combining voicing marks)
    (0x30A0, 0x30FF),  # Katakana (the middle dot U+30FB is punctuation and is excluded below)
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA9E0, 0xA9FF),  # Myanmar extended B
    (0xAA60, 0xAA7F),  # Myanmar extended A
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
)
# CJK extensions B..H live outside the BMP; they are all letters.
_SUPPLEMENTARY_UNSPACED = (0x20000, 0x3134F)

HANGUL_BLOCKS: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),
    (0x3130, 0x318F),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7AF),
    (0xD7B0, 0xD7FF),
)

# Zero-width space/joiners, word joiner, BOM/ZWNBSP, soft hyphen, Mongolian vowel separator, invisible
# operators and emoji variation selectors: invisible, and they would split or glue words. Normalisation
# removes them.
INVISIBLE_CLASS = "\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufe0e\ufe0f\ufeff"
_INVISIBLE_CODES = frozenset(
    cp for part in re.findall(".-.|.", INVISIBLE_CLASS) for cp in range(ord(part[0]), ord(part[-1]) + 1)
)

_WORDLIKE_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No"})


def _in_blocks(cp: int, blocks: Iterable[tuple[int, int]]) -> bool:
    return any(lo <= cp <= hi for lo, hi in blocks)


def _is_wordlike(cp: int) -> bool:
    return cp == 0x5F or unicodedata.category(chr(cp)) in _WORDLIKE_CATEGORIES


def _ranges(flags: Iterator[bool]) -> list[tuple[int, int]]:
    """Run-length encode a per-code-point predicate into inclusive ranges."""
    out: list[tuple[int, int]] = []
    start = -1
    cp = -1
    for cp, flag in enumerate(flags):
        if flag and start < 0:
            start = cp
        elif not flag and start >= 0:
            out.append((start, cp - 1))
            start = -1
    if start >= 0:
        out.append((start, cp))
    return out


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges
    )


def _build_classes() -> tuple[str, str, str]:
    """The word, unspaced and plain-word (word, but neither Hangul nor invisible) classes."""
    unspaced_bmp = [False] * 0x10000
    for lo, hi in UNSPACED_BLOCKS:
        for cp in range(lo, hi + 1):
            unspaced_bmp[cp] = _is_wordlike(cp)
    word = [_is_wordlike(cp) and not unspaced_bmp[cp] for cp in range(0x10000)]
    plain = [flag and cp not in _INVISIBLE_CODES and not _in_blocks(cp, HANGUL_BLOCKS) for cp, flag in enumerate(word)]
    lo, hi = _SUPPLEMENTARY_UNSPACED
    unspaced = _char_class(_ranges(iter(unspaced_bmp))) + _char_class([(lo, hi)])
    return _char_class(_ranges(iter(word))), unspaced, _char_class(_ranges(iter(plain)))


WORD_CLASS, UNSPACED_CLASS, PLAIN_WORD_CLASS = _build_classes()
HANGUL_CLASS = _char_class(HANGUL_BLOCKS)

# Any character of an unspaced script or of Hangul (whole BMP blocks: a cheap superset for gating scans).
SPECIAL_RE = re.compile("[" + _char_class(block for block in UNSPACED_BLOCKS + HANGUL_BLOCKS) + "]")

# Word tokens of spaced scripts (Hangul included): the unit of whole-word matching. Written "[c][c]*", not
# "[c]+": the regex engine then skips to the first character of a match with a fast character-set scan
# instead of trying a match at every position (two to three times faster over text with few matches).
WORD_RE = re.compile(f"[{WORD_CLASS}][{WORD_CLASS}]*")
# The same, capturing, so ``split`` alternates separators and words (used to find token offsets).
WORD_SPLIT_RE = re.compile(f"([{WORD_CLASS}]+)")
UNSPACED_RE = re.compile(f"[{UNSPACED_CLASS}][{UNSPACED_CLASS}]*")
UNSPACED_CHAR_RE = re.compile(f"[{UNSPACED_CLASS}]")
HANGUL_RE = re.compile(f"[{HANGUL_CLASS}]")
# For keywords: is a character a spaced-script word character (needs a boundary next to it)?
WORD_CHAR_RE = re.compile(f"[{WORD_CLASS}]")

# ASCII fast path: lower-case letters, keep digits and '_', turn everything else into a space, then split().
# Gives exactly WORD_RE.findall() of the normalised text for pure-ASCII input, at a fraction of the cost.
ASCII_TOKEN_TABLE = "".join(chr(cp).lower() if (chr(cp).isalnum() or cp == 0x5F) else " " for cp in range(128))
# The same for UTF-8 bytes (``bytes.translate``, far cheaper than ``str.translate``): every other ASCII byte
# becomes a space, bytes of multi-byte characters are kept. For text whose non-ASCII characters are all
# word characters, ``text.encode().translate(TOKEN_BYTES).decode().split()`` is WORD_RE.findall(text).
TOKEN_BYTES = bytes(ord(ASCII_TOKEN_TABLE[cp]) if cp < 0x80 else cp for cp in range(256))
# Characters that are neither ASCII nor word characters: separators (emoji, symbols, non-ASCII punctuation
# and spaces), unspaced-script characters, invisible characters.
NON_WORD_RE = re.compile(f"[^\\x00-\\x7f{WORD_CLASS}]")
NON_WORD_RUN_RE = re.compile(f"[^\\x00-\\x7f{WORD_CLASS}][^\\x00-\\x7f{WORD_CLASS}]*")
# The same plus Hangul and invisible characters: text without any is "plain" (no invisible, unspaced or
# Hangul characters, no separators but ASCII ones), the common case of Latin-script chat.
NON_PLAIN_RE = re.compile(f"[^\\x00-\\x7f{PLAIN_WORD_CLASS}]")
