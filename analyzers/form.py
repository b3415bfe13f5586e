"""The per-message scanning state shared by the indexes: the text form, its tokens and the raw hits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from analyzers.model import Rule
from analyzers.scripts import ASCII_TOKEN_TABLE, SPECIAL_RE, WORD_RE
from analyzers.urls import mask_urls


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
    Hits are kept in four lists: ``words`` (located in the tokens later), ``chars`` (offsets in the
    collapsed text), ``substrings`` (offsets in ``text``, mapped when spans are needed) and ``present``
    (substrings known to occur in ``text``, located only when spans are needed).
    """

    __slots__ = (
        "_masked",
        "_normalized",
        "chars",
        "offsets",
        "present",
        "simple",
        "source",
        "special",
        "substrings",
        "text",
        "tokens",
        "words",
    )

    def __init__(self, source: str, *, collapsed: bool, simple: bool, offsets: list[int] | None = None) -> None:
        self.source = source  # case-folded, URLs kept: what pattern pre-checks look at
        self._normalized = source if collapsed else None
        self._masked: str | None = None
        self.text = mask_urls(source)  # URLs/e-mails blanked: what word and substring keywords run on
        self.simple = simple  # only ASCII and inert characters: diacritic folding cannot change it
        # Unspaced-script or Hangul characters present (simple text has none by construction).
        self.special = not simple and SPECIAL_RE.search(self.text) is not None
        self.offsets = offsets  # position in this form -> position in the normalised text
        self.tokens = _tokens(self.text, simple)
        self.chars: list[CharHit] = []
        self.substrings: list[CharHit] = []
        self.present: list[tuple[Terminal, str]] = []  # substrings known to occur, not yet located
        self.words: list[WordHit] = []

    @property
    def collapsed(self) -> bool:
        return self._normalized is self.source

    @property
    def normalized(self) -> str:
        """The normalised (whitespace-collapsed) text: what patterns run on."""
        if self._normalized is None:
            self._normalized = " ".join(self.source.split())
        return self._normalized

    @property
    def masked(self) -> str:
        """The normalised text with URLs blanked: what literal keywords and hit spans refer to."""
        if self._masked is None:
            self._masked = self.text if self.collapsed else mask_urls(self.normalized)
        return self._masked

    def has_hits(self) -> bool:
        return bool(self.chars or self.substrings or self.present or self.words)

    def terminals(self) -> Iterator[Terminal]:
        for hits in (self.chars, self.substrings, self.present, self.words):
            for hit in hits:
                yield hit[0]

    def sibling(self) -> Form:
        """The same text with its own hit lists (the folded index, when folding changes nothing)."""
        twin = Form.__new__(Form)
        twin.source, twin._normalized, twin._masked = self.source, self._normalized, self._masked
        twin.text, twin.simple, twin.special = self.text, self.simple, self.special
        twin.offsets, twin.tokens = self.offsets, self.tokens
        twin.chars, twin.substrings, twin.present, twin.words = [], [], [], []
        return twin


def _tokens(text: str, simple: bool) -> list[str]:
    if not simple:
        return WORD_RE.findall(text)
    # Inert characters are separators, like "?": an ASCII copy tokenises the same, much faster.
    ascii_text = text if text.isascii() else text.encode("ascii", "replace").decode("ascii")
    return ascii_text.translate(ASCII_TOKEN_TABLE).split()


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
