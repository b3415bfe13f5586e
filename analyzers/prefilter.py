"""A Hyperscan scan that answers ``Matcher.flags`` without tokenising the message.

Tokenising a message and probing a set with its tokens cost more than everything else ``flags`` does. So the
whole-word and unspaced keywords of an index, and the literals its patterns require, are compiled as byte
literals into one Hyperscan database, and one C-level pass over the message's *token line* reports which
of them occur:

* The token line is the message's tokens joined by single spaces, with a space at each end, built with
  C-level byte operations only (every separator character becomes a space, runs of spaces become one).
* A keyword ``w1 w2`` matches whole words exactly where ``" w1 w2 "`` occurs in the token line; a
  word-start keyword (its last word ends in Hangul) where ``" w1 w2"`` occurs. No boundary check is left
  to Python.
* Unspaced keywords (Han, kana, Thai...) are substrings of the text (URLs masked). Text with unspaced
  characters is scanned as the token line, a newline and the text: no literal holds a newline, and a
  word literal occurs in the text only where it occurs in the token line, which comes first (with
  ``HS_FLAG_SINGLEMATCH`` each literal is reported at its first occurrence).
* A pattern's required literals (``analyzers.keys.required_literals``) made of ASCII letters and digits
  occur in the token line exactly where they occur in the text; when the text had a URL masked they may
  also occur in the URL, so then the caller checks them on the unmasked text as before.

Every literal is compiled with ``HS_FLAG_SINGLEMATCH``: a message reports each literal once at most, so the
callback runs about as often as keywords hit. UTF-8 is self-synchronising, so a literal made of whole
characters only matches at character boundaries. Hyperscan is optional: without it (a platform without a
wheel) ``flags`` takes the token-based path, which gives the same answers.
"""

from __future__ import annotations

import re
import threading

from analyzers.form import Form, Terminal
from analyzers.normalize import MIXED, OTHER, PLAIN, SIMPLE
from analyzers.scripts import NON_WORD_RUN_RE, TOKEN_BYTES, UNSPACED_CHAR_RE, UNSPACED_RE
from analyzers.urls import mask_urls

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
        try:
            scratch = self._local.scratch
        except AttributeError:  # the first scan in this thread
            scratch = self._local.scratch = hyperscan.Scratch(self._database)
        self._database.scan(data, _collect, context=hits, scratch=scratch)
        return hits


def _collect(ident: int, start: int, end: int, flags: int, hits: object) -> None:
    hits.append(ident)  # type: ignore[attr-defined]  # the list ``found`` passes as the context


def literal_set(literals: list[bytes]) -> LiteralSet | None:
    """A ``LiteralSet``, or None without Hyperscan or without literals."""
    return LiteralSet(literals) if AVAILABLE and literals else None


NO_GUARDS: frozenset[str] = frozenset()


class Prefilter:
    """The keyword and required-literal database of one index; built once, then only read.

    Literal ids below ``len(terminals)`` stand for keyword terminals, the others for required literals.
    """

    __slots__ = ("_count", "_guards", "_literals", "_terminals")

    def __init__(self, literals: list[bytes], terminals: list[Terminal], guards: list[str]) -> None:
        self._literals = LiteralSet(literals + [guard.encode() for guard in guards])
        self._terminals = terminals
        self._count = len(terminals)
        self._guards = guards

    @property
    def size(self) -> int:
        return self._literals.size

    @property
    def has_guards(self) -> bool:
        return bool(self._guards)

    def presence(self, form: Form, out: list[Terminal]) -> frozenset[str] | None:
        """Append the terminals of the word and unspaced keywords in ``form`` (built with ``tokenize=False``);
        return the required literals that occur in the text, or None when a masked URL leaves that open."""
        line = token_line(form)
        if form.unspaced:
            line += b"\n" + form.text.encode("utf-8", "surrogatepass")
        guards = self.scan(line, out)
        return guards if form.text is form.source else None

    def scan(self, line: bytes, out: list[Terminal]) -> frozenset[str]:
        """Append the terminals whose keywords occur in a token line; return the required literals in it."""
        hits = self._literals.found(line)
        if not hits:
            return NO_GUARDS
        count = self._count
        if max(hits) < count:
            out.extend(map(self._terminals.__getitem__, hits))
            return NO_GUARDS
        terminals, guards = self._terminals, self._guards
        out.extend(terminals[hit] for hit in hits if hit < count)
        return frozenset(guards[hit - count] for hit in hits if hit >= count)


def token_line(form: Form) -> bytes:
    """The form's tokens joined by single spaces, with a space before and after (see the module docstring)."""
    data = form.text_data
    if data is None or form.kind in (MIXED, OTHER):
        data = NON_WORD_RUN_RE.sub(" ", form.text).encode("utf-8", "surrogatepass")
    # ASCII separators (and "?", standing for inert characters) become spaces, then runs of spaces one space
    return _SPACE_RUN.sub(b" ", b" " + data.translate(TOKEN_BYTES) + b" ")


def prepared_line(prepared: str, kind: int) -> tuple[bytes, bool]:
    """What ``Prefilter.presence`` scans for a form of ``prepared`` text, built without the form, and whether
    a URL or e-mail address was masked on the way (then required literals must be checked on the text)."""
    masked = False
    if kind in (SIMPLE, PLAIN):
        data = prepared.encode() if kind == PLAIN or prepared.isascii() else prepared.encode("ascii", "replace")
        if data.find(b"@") >= 0 or data.find(b"://") >= 0 or data.find(b"www.") >= 0:
            text = mask_urls(prepared)
            if text is not prepared:
                masked, prepared = True, text
                data = text.encode() if kind == PLAIN or text.isascii() else text.encode("ascii", "replace")
    else:
        if "@" in prepared or "://" in prepared or "www." in prepared:
            text = mask_urls(prepared)
            masked, prepared = text is not prepared, text
        data = NON_WORD_RUN_RE.sub(" ", prepared).encode("utf-8", "surrogatepass")
    line = _SPACE_RUN.sub(b" ", b" " + data.translate(TOKEN_BYTES) + b" ")
    if kind == OTHER and UNSPACED_CHAR_RE.search(prepared) is not None:
        line += b"\n" + prepared.encode("utf-8", "surrogatepass")
    return line, masked


class PrefilterBuilder:
    """Collects an index's keywords and required literals; ``build`` compiles them (None without Hyperscan)."""

    def __init__(self) -> None:
        self._literals: list[bytes] = []
        self._terminals: list[Terminal] = []
        self._guards: list[str] = []

    def add_words(self, words: tuple[str, ...], word_start: bool, terminal: Terminal) -> None:
        """A whole-word keyword; with ``word_start`` its last word may be the start of a longer text word."""
        literal = " " + " ".join(words) + ("" if word_start else " ")
        self._literals.append(literal.encode())
        self._terminals.append(terminal)

    def add_substring(self, text: str, terminal: Terminal) -> bool:
        """Add an unspaced keyword; False when it is not made of unspaced characters only (not handled here)."""
        if UNSPACED_RE.fullmatch(text) is None:
            return False
        self._literals.append(text.encode())
        self._terminals.append(terminal)
        return True

    def add_guards(self, literals: tuple[str, ...]) -> None:
        """Add the required literals of patterns, unless one is not made of ASCII letters and digits only (then
        none is: the caller checks them itself)."""
        if all(literal.isascii() and literal.isalnum() for literal in literals):
            self._guards.extend(literals)

    def build(self) -> Prefilter | None:
        if not AVAILABLE or not (self._literals or self._guards):
            return None
        return Prefilter(self._literals, self._terminals, self._guards)
