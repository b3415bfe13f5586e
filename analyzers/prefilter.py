"""A Hyperscan scan that answers ``Matcher.flags`` without tokenising the message.

Tokenising a message and probing a set with its tokens cost more than everything else ``flags`` does. So the
whole-word and unspaced keywords of an index are also compiled, as byte literals, into Hyperscan databases,
and one C-level pass over the message reports which of them occur:

* Words: the message's *token line* is its tokens joined by single spaces, with a space at each end, built
  with C-level byte operations only (every separator character becomes a space, runs of spaces become one).
  A keyword ``w1 w2`` matches whole words exactly where ``" w1 w2 "`` occurs in the token line; a word-start
  keyword (its last word ends in Hangul) where ``" w1 w2"`` occurs. No boundary check is left to Python.
* Unspaced keywords (Han, kana, Thai...) are substrings of the text (URLs masked), as in the substring index.

Every literal is compiled with ``HS_FLAG_SINGLEMATCH``: a message reports each keyword once at most, so the
callback runs about as often as keywords hit. UTF-8 is self-synchronising, so a literal made of whole
characters only matches at character boundaries. Hyperscan is optional: without it (a platform without a
wheel) ``flags`` takes the token-based path, which gives the same answers.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from analyzers.form import Form, Terminal
from analyzers.normalize import MIXED, OTHER
from analyzers.scripts import NON_WORD_RUN_RE, TOKEN_BYTES, UNSPACED_RE

try:
    import hyperscan

    AVAILABLE = True
except ImportError:  # pragma: no cover - platforms without a wheel
    AVAILABLE = False
_SPACE_RUN = re.compile(b"  +")


class LiteralSet:
    """Byte literals compiled into one Hyperscan database; ``found`` lists which occur (each once at most).

    Hyperscan wants one scratch space per thread, so each thread that scans gets its own.
    """

    __slots__ = ("_database", "_local")

    def __init__(self, literals: list[bytes]) -> None:
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._database.compile(
            expressions=literals,
            ids=list(range(len(literals))),
            flags=hyperscan.HS_FLAG_SINGLEMATCH,
            literal=True,
        )
        self._local = threading.local()

    @property
    def size(self) -> int:
        """Bytes of the compiled database (outside Python's heap, so tracemalloc does not see it)."""
        return int(self._database.size())

    def found(self, data: bytes) -> list[int]:
        """Indexes (in the list given when built) of the literals that occur in ``data``."""
        hits: list[int] = []
        self._database.scan(data, _collect, context=hits, scratch=self._scratch())
        return hits

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        return scratch


class _Database:
    """A literal set whose literals stand for terminals."""

    __slots__ = ("_literals", "_terminals")

    def __init__(self, literals: list[bytes], terminals: list[Terminal]) -> None:
        self._literals = LiteralSet(literals)
        self._terminals = terminals

    @property
    def size(self) -> int:
        return self._literals.size

    def scan(self, data: bytes, out: list[Terminal]) -> None:
        hits = self._literals.found(data)
        if hits:
            out.extend(map(self._terminals.__getitem__, hits))


def _collect(ident: int, start: int, end: int, flags: int, hits: object) -> None:
    hits.append(ident)  # type: ignore[attr-defined]  # the list ``found`` passes as the context


def literal_set(literals: list[bytes]) -> LiteralSet | None:
    """A ``LiteralSet``, or None without Hyperscan or without literals."""
    return LiteralSet(literals) if AVAILABLE and literals else None


class Prefilter:
    """The word and substring databases of one index; built once, then only read."""

    __slots__ = ("_substrings", "_words")

    def __init__(self, words: _Database | None, substrings: _Database | None) -> None:
        self._words = words
        self._substrings = substrings

    @property
    def size(self) -> int:
        return sum(database.size for database in (self._words, self._substrings) if database is not None)

    def presence(self, form: Form, out: list[Terminal]) -> None:
        """Append the terminals of the word and unspaced keywords in ``form`` (built with ``tokenize=False``)."""
        if self._words is not None:
            self._words.scan(token_line(form), out)
        if self._substrings is not None and form.unspaced:
            self._substrings.scan(form.text.encode("utf-8", "surrogatepass"), out)


def token_line(form: Form) -> bytes:
    """The form's tokens joined by single spaces, with a space before and after (see the module docstring)."""
    data = form.text_data
    if data is None or form.kind in (MIXED, OTHER):
        data = NON_WORD_RUN_RE.sub(" ", form.text).encode("utf-8", "surrogatepass")
    # ASCII separators (and "?", standing for inert characters) become spaces, then runs of spaces one space
    return _SPACE_RUN.sub(b" ", b" " + data.translate(TOKEN_BYTES) + b" ")


class PrefilterBuilder:
    """Collects an index's keywords; ``build`` compiles them (None without Hyperscan)."""

    def __init__(self) -> None:
        self._words: tuple[list[bytes], list[Terminal]] = ([], [])
        self._substrings: tuple[list[bytes], list[Terminal]] = ([], [])

    def add_words(self, words: tuple[str, ...], word_start: bool, terminal: Terminal) -> None:
        """A whole-word keyword; with ``word_start`` its last word may be the start of a longer text word."""
        literal = " " + " ".join(words) + ("" if word_start else " ")
        self._words[0].append(literal.encode())
        self._words[1].append(terminal)

    def add_substring(self, text: str, terminal: Terminal) -> bool:
        """Add an unspaced keyword; False when it is not made of unspaced characters only (not handled here)."""
        if UNSPACED_RE.fullmatch(text) is None:
            return False
        self._substrings[0].append(text.encode())
        self._substrings[1].append(terminal)
        return True

    def build(self) -> Prefilter | None:
        if not AVAILABLE:
            return None
        words = _Database(*self._words) if self._words[0] else None
        substrings = _Database(*self._substrings) if self._substrings[0] else None
        return Prefilter(words, substrings) if words or substrings else None
