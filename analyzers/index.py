"""Everything matched against one text form: words, unspaced substrings, literal regexes and patterns.

Cost per message must not grow with the number of keywords, so words and unspaced keywords are found with
set operations (``analyzers.words``, ``analyzers.substrings``). Literal keywords and patterns are regexes run
one by one, each behind a cheap ``in`` pre-check on a substring every match must contain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import regex
import structlog

from analyzers.form import CharHit, Form, Terminal, collapse
from analyzers.keys import Key, backtracks_little, compile_pattern, literal_regex, required_literals
from analyzers.model import Rule
from analyzers.normalize import MIXED, OTHER, PLAIN, SIMPLE
from analyzers.prefilter import PrefilterBuilder, literal_set, prepared_line
from analyzers.scripts import HANGUL_RE, UNSPACED_CHAR_RE, UNSPACED_RE
from analyzers.substrings import SubstringIndex, indexable
from analyzers.words import WordIndex


class Index:
    """The keywords of one text form (plain, or diacritic-folded). Immutable once built."""

    __slots__ = (
        "_always",
        "_anchors",
        "_direct",
        "_empty",
        "_guard",
        "_guard_bytes",
        "_guard_set",
        "_guarded",
        "_literals",
        "_prefilter",
        "_unspaced",
        "_words",
    )

    def __init__(self, groups: dict[Key, list[Rule]], *, prefilter: bool = True) -> None:
        self._words = WordIndex()
        self._unspaced: SubstringIndex[Terminal] = SubstringIndex()
        literals: list[tuple[str, re.Pattern[str], Terminal, int]] = []
        patterns: list[tuple[regex.Pattern[str], tuple[str, ...] | None, Terminal]] = []
        builder = PrefilterBuilder()
        complete = prefilter  # every word and substring keyword is in the prefilter
        for key, rules in groups.items():
            terminal = Terminal(rules)
            if key.kind == "word":
                self._words.add(key.words, key.word_start, terminal)
                builder.add_words(key.words, key.word_start, terminal)
            elif key.kind == "unspaced" and indexable(key.text):
                self._unspaced.add(key.text, terminal)
                complete = builder.add_substring(key.text, terminal) and complete
            elif key.kind != "pattern":
                compiled, anchor = literal_regex(key.text)
                literals.append((anchor, compiled, terminal, _needs(anchor)))
            else:
                patterns.append((compile_pattern(rules[0]), required_literals(key.text), terminal))
        self._words.freeze()
        self._unspaced.freeze()
        self._literals = tuple(literals)
        self._always = tuple((pattern, terminal) for pattern, required, terminal in patterns if required is None)
        # Patterns with required literals; one scan tells which of those literals occur at all.
        self._guarded = tuple(
            (pattern, frozenset(required), terminal) for pattern, required, terminal in patterns if required is not None
        )
        self._guard = tuple(sorted({literal for _, required, _ in self._guarded for literal in required}))
        self._guard_bytes = tuple(literal.encode() for literal in self._guard)  # required literals are ASCII
        # The prefilter database answers the required literals too when they are letters and digits;
        # otherwise (or on the token path) a database of their own does.
        if complete:
            builder.add_guards(self._guard)
        self._prefilter = builder.build() if complete else None
        # per kind of prepared text, the literal anchors that can occur in it (no Thai anchor in Latin text)
        anywhere = tuple(anchor for anchor, _, _, needs in self._literals if not needs)
        self._anchors = {
            SIMPLE: anywhere,
            PLAIN: anywhere,
            MIXED: tuple(anchor for anchor, _, _, needs in self._literals if not needs & _UNSPACED),
            OTHER: tuple(anchor for anchor, _, _, _ in self._literals),
        }
        # ``direct_presence`` answers alone: the prefilter covers every keyword and required literal
        self._direct = (
            self._prefilter is not None and not self._always and (not self._guarded or self._prefilter.has_guards)
        )
        self._empty = not (self._words or self._unspaced or self._literals or self._always or self._guarded)
        guarded_apart = prefilter and (self._prefilter is None or not self._prefilter.has_guards)
        self._guard_set = literal_set(list(self._guard_bytes)) if guarded_apart else None

    def __bool__(self) -> bool:
        return not self._empty

    def scan(self, form: Form) -> None:
        """Append this index's hits on ``form`` to the form's hit lists."""
        if form.tokens:
            self._words.scan(form.tokens, form.words)
        if form.hangul and self._words.has_word_starts:
            self._words.scan_word_starts(form.tokens, form.words)
        if form.unspaced and self._unspaced:
            runs = UNSPACED_RE.findall(form.text)
            if runs:  # keywords lie inside one run: search the runs only, apart
                self._unspaced.find(runs[0] if len(runs) == 1 else "\n".join(runs), form.present)
        for anchor, literal, terminal, needs in self._literals:
            if not needs & ~_has(form) and anchor in form.text:
                _regex_hits(literal.finditer(form.masked), terminal, form.chars)
        if self._guarded and self._guard_hit(form):
            source = form.source
            for pattern, required, terminal in self._guarded:
                if any(map(source.__contains__, required)):
                    _pattern_hits(pattern, form.normalized, terminal, form.chars)
        for pattern, terminal in self._always:
            _pattern_hits(pattern, form.normalized, terminal, form.chars)

    def _guard_hit(self, form: Form) -> bool:
        """Whether the source has any literal that a guarded pattern requires (on the bytes when there are)."""
        data = form.data
        if self._guard_set is not None:
            return bool(self._guard_set.found(form.source.encode("utf-8", "surrogatepass") if data is None else data))
        if data is not None:
            return max(map(data.find, self._guard_bytes)) >= 0  # not ``in``: see ``Form``
        return any(map(form.source.__contains__, self._guard))

    @property
    def native_bytes(self) -> int:
        """Bytes of the Hyperscan databases of this index."""
        databases = (self._prefilter, self._guard_set)
        return sum(database.size for database in databases if database is not None)

    @property
    def prefiltered(self) -> bool:
        """Whether ``quick_presence`` may be used: Hyperscan covers every word and substring keyword, if any."""
        return self._prefilter is not None or not (self._words or self._unspaced)

    def quick_presence(self, form: Form, out: list[Terminal]) -> None:
        """``presence`` for a form built with ``tokenize=False``, when ``prefiltered``."""
        if self._prefilter is None:
            self._other_presence(form, out)
            return
        guards = self._prefilter.presence(form, out)
        if guards is None or not self._prefilter.has_guards:
            self._other_presence(form, out)
            return
        self._literal_presence(form, out)
        if guards:
            normalized = form.normalized
            for pattern, required, terminal in self._guarded:
                if not guards.isdisjoint(required) and _pattern_occurs(pattern, normalized, terminal):
                    out.append(terminal)
        for pattern, terminal in self._always:
            if _pattern_occurs(pattern, form.normalized, terminal):
                out.append(terminal)

    def direct_presence(self, prepared: str, kind: int, out: list[Terminal]) -> bool:
        """``quick_presence`` straight from ``prepare``'s output, without building a form (the common case).

        Returns False, having appended nothing, when the text needs a form: it holds the anchor of a literal
        keyword, or the prefilter does not cover the index alone.
        """
        prefilter = self._prefilter
        if prefilter is None or not self._direct:
            return self._empty
        for anchor in self._anchors[kind]:
            if anchor in prepared:  # the masked text is no longer than this
                return False
        line, masked = prepared_line(prepared, kind)
        guards = prefilter.scan(line, out)
        if masked and self._guarded:  # a required literal may occur only inside the URL, which patterns see
            guards = frozenset(literal for literal in self._guard if literal in prepared)
        if guards:
            normalized = collapse(prepared)
            for pattern, required, terminal in self._guarded:
                if not guards.isdisjoint(required) and _pattern_occurs(pattern, normalized, terminal):
                    out.append(terminal)
        return True

    def presence(self, form: Form, out: list[Terminal]) -> None:
        """Append the terminals that have a hit on ``form`` (``scan`` without the hit positions)."""
        tokens = form.tokens
        if tokens:
            self._words.presence(tokens, out)
        if form.hangul and self._words.has_word_starts:
            self._words.starts_presence(tokens, out)
        if form.unspaced and self._unspaced:
            runs = UNSPACED_RE.findall(form.text)
            if runs:
                self._unspaced.find_values(runs[0] if len(runs) == 1 else "\n".join(runs), out)
        self._other_presence(form, out)

    def _other_presence(self, form: Form, out: list[Terminal]) -> None:
        """Literal keywords and patterns: regexes, each behind a cheap pre-check."""
        self._literal_presence(form, out)
        if self._guarded and self._guard_hit(form):
            source = form.source
            for pattern, required, terminal in self._guarded:
                if any(map(source.__contains__, required)) and _pattern_occurs(pattern, form.normalized, terminal):
                    out.append(terminal)
        for pattern, terminal in self._always:
            if _pattern_occurs(pattern, form.normalized, terminal):
                out.append(terminal)

    def _literal_presence(self, form: Form, out: list[Terminal]) -> None:
        if self._literals:
            has = _has(form)
            for anchor, literal, terminal, needs in self._literals:
                if not needs & ~has and anchor in form.text and _occurs(literal, form.masked):
                    out.append(terminal)


_UNSPACED, _HANGUL = 1, 2
# A pattern from a keyword file meets text that customers write: one that backtracks catastrophically on some
# message (``(\d+\s?)+rm`` on a long run of digits) must not stall analysis. Past this it counts as no match.
# The limit's own bookkeeping costs about as much as a search, so short texts skip it for patterns that cannot
# blow up (``analyzers.keys.backtracks_little``): on 256 characters their worst case is well under 10 ms.
PATTERN_TIMEOUT_SECONDS = 0.05
UNLIMITED_TEXT_LENGTH = 256
log = structlog.get_logger(__name__)


def _needs(anchor: str) -> int:
    """Which kinds of characters a literal keyword's anchor has (a text without them cannot contain it)."""
    return (_UNSPACED if UNSPACED_CHAR_RE.search(anchor) else 0) | (_HANGUL if HANGUL_RE.search(anchor) else 0)


def _has(form: Form) -> int:
    return (_UNSPACED if form.unspaced else 0) | (_HANGUL if form.hangul else 0)


def _occurs(pattern: re.Pattern[str] | regex.Pattern[str], text: str) -> bool:
    """Whether ``pattern`` has a non-empty match in ``text`` (empty matches are never hits)."""
    match = pattern.search(text)
    if match is None:
        return False
    return match.end() > match.start() or any(found.end() > found.start() for found in pattern.finditer(text))


def _time_limit(pattern: regex.Pattern[str], text: str) -> float | None:
    """``PATTERN_TIMEOUT_SECONDS``, or none for a short text and a pattern proven to backtrack little."""
    if len(text) <= UNLIMITED_TEXT_LENGTH and backtracks_little(pattern.pattern):
        return None
    return PATTERN_TIMEOUT_SECONDS


def _pattern_occurs(pattern: regex.Pattern[str], text: str, terminal: Terminal) -> bool:
    """``_occurs`` for a keyword file's pattern, within its time limit."""
    limit = _time_limit(pattern, text)
    try:
        match = pattern.search(text, timeout=limit)
        if match is None:
            return False
        return match.end() > match.start() or any(
            found.end() > found.start() for found in pattern.finditer(text, timeout=limit)
        )
    except TimeoutError:
        _timed_out(terminal)
        return False


def _pattern_hits(pattern: regex.Pattern[str], text: str, terminal: Terminal, out: list[CharHit]) -> None:
    """Append a pattern's hits; none at all when it runs out of time (never a partial answer)."""
    hits: list[CharHit] = []
    try:
        _regex_hits(pattern.finditer(text, timeout=_time_limit(pattern, text)), terminal, hits)
    except TimeoutError:
        _timed_out(terminal)
        return
    out.extend(hits)


def _timed_out(terminal: Terminal) -> None:
    rule = terminal.rules[0]
    log.warning(
        "keyword_pattern_timeout",
        signal=rule.signal,
        file=rule.source,
        line=rule.line,
        timeout_seconds=PATTERN_TIMEOUT_SECONDS,
    )


def _regex_hits(
    matches: Iterable[re.Match[str]] | Iterable[regex.Match[str]], terminal: Terminal, out: list[CharHit]
) -> None:
    for match in matches:
        start, end = match.span()
        if end > start:
            out.append((terminal, start, end))
