"""Everything matched against one text form: words, unspaced substrings, literal regexes and patterns.

Cost per message must not grow with the number of keywords, so words and unspaced keywords are found with
set operations (``analyzers.words``, ``analyzers.substrings``). Literal keywords and patterns are regexes run
one by one, each behind a cheap ``in`` pre-check on a substring every match must contain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import regex

from analyzers.form import CharHit, Form, Terminal
from analyzers.keys import Key, compile_pattern, literal_regex, required_literals
from analyzers.model import Rule
from analyzers.scripts import HANGUL_RE, UNSPACED_RE
from analyzers.substrings import SubstringIndex, indexable
from analyzers.words import WordIndex


class Index:
    """The keywords of one text form (plain, or diacritic-folded). Immutable once built."""

    __slots__ = ("_always", "_guard", "_guarded", "_literals", "_unspaced", "_words")

    def __init__(self, groups: dict[Key, list[Rule]]) -> None:
        self._words = WordIndex()
        self._unspaced: SubstringIndex[Terminal] = SubstringIndex()
        literals: list[tuple[str, re.Pattern[str], Terminal]] = []
        patterns: list[tuple[regex.Pattern[str], tuple[str, ...] | None, Terminal]] = []
        for key, rules in groups.items():
            terminal = Terminal(rules)
            if key.kind == "word" and WordIndex.accepts(key.words, key.word_start):
                self._words.add(key.words, key.word_start, terminal)
            elif key.kind == "unspaced" and indexable(key.text):
                self._unspaced.add(key.text, terminal)
            elif key.kind != "pattern":
                compiled, anchor = literal_regex(key.text)
                literals.append((anchor, compiled, terminal))
            else:
                patterns.append((compile_pattern(rules[0]), required_literals(key.text), terminal))
        self._words.freeze()
        self._unspaced.freeze()
        self._literals = tuple(literals)
        self._always = tuple((pattern, terminal) for pattern, required, terminal in patterns if required is None)
        # Patterns with required literals; one regex tells whether any of those literals occurs at all.
        self._guarded = tuple(
            (pattern, required, terminal) for pattern, required, terminal in patterns if required is not None
        )
        self._guard = tuple(sorted({literal for _, required, _ in self._guarded for literal in required}))

    def __bool__(self) -> bool:
        return bool(self._words or self._unspaced or self._literals or self._always or self._guarded)

    def scan(self, form: Form) -> None:
        """Append this index's hits on ``form`` to the form's hit lists."""
        if form.tokens:
            self._words.scan(form.tokens, form.words)
        if form.special:
            if self._words.has_word_starts and HANGUL_RE.search(form.text):
                self._words.scan_word_starts(form.tokens, form.words)
            if self._unspaced:
                runs = UNSPACED_RE.findall(form.text)
                if runs:
                    sample = runs[0] if len(runs) == 1 else "\n".join(runs)
                    self._unspaced.find(form.text, sample, form.substrings, form.present)
        for anchor, literal, terminal in self._literals:
            if anchor in form.text:
                _regex_hits(literal.finditer(form.masked), terminal, form.chars)
        source = form.source
        if self._guarded and any(map(source.__contains__, self._guard)):
            for pattern, required, terminal in self._guarded:
                if any(map(source.__contains__, required)):
                    _regex_hits(pattern.finditer(form.normalized), terminal, form.chars)
        for pattern, terminal in self._always:
            _regex_hits(pattern.finditer(form.normalized), terminal, form.chars)


def _regex_hits(
    matches: Iterable[re.Match[str]] | Iterable[regex.Match[str]], terminal: Terminal, out: list[CharHit]
) -> None:
    for match in matches:
        start, end = match.span()
        if end > start:
            out.append((terminal, start, end))
