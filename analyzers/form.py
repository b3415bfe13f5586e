"""The per-message scanning state shared by the indexes: the text form, its tokens and the raw hits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from analyzers.model import Rule
from analyzers.normalize import MIXED, OTHER, PLAIN, SIMPLE
from analyzers.scripts import (
    HANGUL_RE,
    NON_PLAIN_RE,
    NON_WORD_RE,
    NON_WORD_RUN_RE,
    TOKEN_BYTES,
    UNSPACED_CHAR_RE,
    WORD_RE,
)
from analyzers.urls import mask_urls

_OTHER_SPACE_RE = re.compile(r"[^\S ]")  # whitespace other than the plain space


class Terminal:
    """The rules that share one key (the same normalised keyword in one or more files or signals)."""

    __slots__ = ("negative", "negative_signals", "rules", "signals")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self.signals = frozenset(rule.signal for rule in self.rules if not rule.negative)
        self.negative_signals = frozenset(rule.signal for rule in self.rules if rule.negative)
        self.negative = bool(self.negative_signals)


# (terminal, start, end): characters of the scanned form.
CharHit = tuple[Terminal, int, int]
# (terminal, keyword words, last word is a word start): located in the token list only when spans are needed.
WordHit = tuple[Terminal, tuple[str, ...], bool]


class Form:
    """One form of a message (normalised, or diacritic-folded), its tokens, and the raw hits found in it.

    The source arrives normalised except for the whitespace collapse: tokens and substring search do not
    need it, so the collapsed string is only built when a pattern, a literal keyword or a span needs it.
    Hits are kept in three lists: ``words`` (located in the tokens later), ``chars`` (offsets in the
    collapsed text) and ``present`` (substrings known to occur in ``text``, located only when spans are
    needed).
    """

    __slots__ = (
        "_masked",
        "_normalized",
        "chars",
        "data",
        "hangul",
        "kind",
        "offsets",
        "present",
        "simple",
        "source",
        "text",
        "text_data",
        "tokens",
        "unspaced",
        "words",
    )

    def __init__(
        self, source: str, *, collapsed: bool, kind: int, offsets: list[int] | None = None, tokenize: bool = True
    ) -> None:
        self.source = source  # case-folded, URLs kept: what pattern pre-checks look at
        self.kind = kind
        self._normalized = source if collapsed else None
        self._masked: str | None = None
        self.simple = kind == SIMPLE  # only ASCII and inert characters: diacritic folding cannot change it
        self.offsets = offsets  # position in this form -> position in the normalised text
        # The source as bytes, for substring pre-checks (a byte search beats a search in a str that holds
        # an emoji, 4 bytes per character) and the tokeniser: UTF-8, or for SIMPLE text ASCII with "?"
        # for the inert characters (a superset of the hits of any ASCII needle, exact for the tokens).
        if kind == SIMPLE:
            data: bytes | None = source.encode() if source.isascii() else source.encode("ascii", "replace")
        else:
            data = source.encode() if kind != OTHER else None
        self.data = data
        # (``bytes.find``: ``in`` on bytes first tries the needle as an integer and formats an error)
        if data is None or data.find(b"@") >= 0 or data.find(b"://") >= 0 or data.find(b"www.") >= 0:
            self.text = text = mask_urls(source)  # URLs/e-mails blanked: what word and substring keywords see
            if text is not source and data is not None:
                data = text.encode() if kind != SIMPLE else text.encode("ascii", "replace")
        else:
            self.text = text = source
        self.text_data = data  # ``text`` as bytes (None for OTHER text), for the literal prefilter
        if not tokenize:  # the prefilter scans ``text_data``; the flags below only gate literal keywords
            self.tokens: list[str] = []
            self.hangul = kind in (MIXED, OTHER) and HANGUL_RE.search(text) is not None
            self.unspaced = kind == OTHER and UNSPACED_CHAR_RE.search(text) is not None
        elif kind in (SIMPLE, PLAIN):
            self.hangul = self.unspaced = False
            self.tokens = data.translate(TOKEN_BYTES).decode().split()  # type: ignore[union-attr]
        elif kind == MIXED:  # non-ASCII characters are word characters (no unspaced ones) or separators
            self.hangul = HANGUL_RE.search(text) is not None
            self.unspaced = False
            self.tokens = NON_WORD_RUN_RE.sub(" ", text).encode().translate(TOKEN_BYTES).decode().split()
        else:
            self.hangul, self.unspaced, self.tokens = _analyse(text)
        self.chars: list[CharHit] = []
        self.present: list[tuple[Terminal, str]] = []  # substrings known to occur, not yet located
        self.words: list[WordHit] = []

    @property
    def collapsed(self) -> bool:
        return self._normalized is self.source

    @property
    def normalized(self) -> str:
        """The normalised (whitespace-collapsed) text: what patterns run on."""
        if self._normalized is None:
            self._normalized = collapse(self.source)
        return self._normalized

    @property
    def masked(self) -> str:
        """The normalised text with URLs blanked: what literal keywords and hit spans refer to."""
        if self._masked is None:
            self._masked = self.text if self.collapsed else mask_urls(self.normalized)
        return self._masked

    def has_hits(self) -> bool:
        return bool(self.chars or self.present or self.words)

    def terminals(self) -> Iterator[Terminal]:
        for hits in (self.chars, self.present, self.words):
            for hit in hits:
                yield hit[0]

    def sibling(self) -> Form:
        """The same text with its own hit lists (the folded index, when folding changes nothing)."""
        twin = Form.__new__(Form)
        twin.source, twin._normalized, twin._masked = self.source, self._normalized, self._masked
        twin.text, twin.simple, twin.hangul, twin.unspaced = self.text, self.simple, self.hangul, self.unspaced
        twin.data, twin.text_data, twin.kind = self.data, self.text_data, self.kind
        twin.offsets, twin.tokens = self.offsets, self.tokens
        twin.chars, twin.present, twin.words = [], [], []
        return twin


def collapse(source: str) -> str:
    """Whitespace runs collapsed to one space and trimmed; usually the text is so already, and is returned."""
    # (whitespace other than the space is never printable: ``isprintable`` is a cheap C-level gate)
    if (
        "  " in source
        or source[:1] == " "
        or source[-1:] == " "
        or (not source.isprintable() and _OTHER_SPACE_RE.search(source))
    ):
        return " ".join(source.split())
    return source  # then offsets need no mapping either


_MANY_SEPARATORS = 8  # more distinct non-ASCII separators than this: tokenise with the regex


def _analyse(text: str) -> tuple[bool, bool, list[str]]:
    """For text that is not plain: whether it may have Hangul, and unspaced-script, characters, and its
    tokens (WORD_RE.findall).

    Tokens are the runs of word characters. Replacing every other character by a space and splitting at
    spaces gives the same runs, and for the usual chat text (a few emoji or symbols among Latin, Arabic,
    Hangul... words) that is several times cheaper than the regex: one C-level ``replace`` per distinct
    separator, then ``bytes.translate`` for the ASCII ones.
    """
    first = NON_PLAIN_RE.search(text)
    if first is None:
        return False, False, text.encode().translate(TOKEN_BYTES).decode().split()
    char = first.group()
    if UNSPACED_CHAR_RE.match(char):  # Thai, CJK...: few tokens, the regex is cheap; Hangul would be in them
        tokens = WORD_RE.findall(text)
        return tokens != [] and HANGUL_RE.search(" ".join(tokens)) is not None, True, tokens
    if HANGUL_RE.match(char):
        hangul = True
        separators = "".join(set(NON_WORD_RE.findall(text, first.start())))
    else:
        found = "".join(set(NON_PLAIN_RE.findall(text, first.start())))
        hangul = HANGUL_RE.search(found) is not None
        separators = "".join(NON_WORD_RE.findall(found))
    unspaced = UNSPACED_CHAR_RE.search(separators) is not None
    if len(separators) > _MANY_SEPARATORS:
        return hangul, unspaced, WORD_RE.findall(text)
    for separator in separators:
        text = text.replace(separator, " ")
    return hangul, unspaced, text.encode().translate(TOKEN_BYTES).decode().split()


def locate(tokens: list[str], words: tuple[str, ...], word_start: bool) -> Iterator[tuple[int, int, int]]:
    """Where a word hit occurs: (first token, last token, characters of the last token matched or -1)."""
    size = len(words)
    *head, last = words
    for first in range(len(tokens) - size + 1):
        if tokens[first : first + size - 1] != head:
            continue
        token = tokens[first + size - 1]
        if word_start and token.startswith(last):
            yield first, first + size - 1, len(last)
        elif not word_start and token == last:
            yield first, first + size - 1, -1
