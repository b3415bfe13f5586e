"""Decide how each keyword is matched, and validate it (the loader reports these errors with file and line).

A normalised keyword takes one of four routes:

* ``word``: only spaced-script words separated by whitespace/punctuation ("bank transfer", "don't").
  Whole-word match; when the last word ends in Hangul it matches at the start of a word ("결제" in "결제는").
* ``unspaced``: only Han/kana/Thai/Lao/Khmer/Myanmar characters ("付款", "โอนเงิน"): substring match.
* ``literal``: anything else (symbols, emoji, "line pay付款"): a literal regex with whole-word boundaries at
  spaced-script ends. Checked one by one, so keep these few.
* ``pattern``: a ``regex`` expression written by the list author.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex

from analyzers.model import KeywordFileError, LoadError, Rule, RuleKind
from analyzers.normalize import matching_form
from analyzers.scripts import HANGUL_RE, UNSPACED_RE, WORD_CHAR_RE, WORD_CLASS, WORD_RE

MAX_KEYWORD_CHARS = 200


@dataclass(frozen=True, slots=True)
class Key:
    """How one normalised keyword is matched; rules with equal keys share one index entry."""

    kind: str  # "word" | "unspaced" | "literal" | "pattern"
    words: tuple[str, ...] = ()
    word_start: bool = False  # the last word ends in Hangul: it matches the start of a text word
    text: str = ""


def rule_key(rule: Rule) -> Key:
    """Validate a rule and return its key; raises KeywordFileError naming file and line."""
    if rule.kind is RuleKind.PATTERN:
        compile_pattern(rule)
        return Key("pattern", text=rule.text)
    form = matching_form(rule.text, fold=rule.fold_diacritics)
    if not form:
        raise rule_error(rule, "keyword is empty after normalisation")
    if len(form) > MAX_KEYWORD_CHARS:
        raise rule_error(rule, f"keyword longer than {MAX_KEYWORD_CHARS} characters")
    return classify(form)


def compile_pattern(rule: Rule) -> regex.Pattern[str]:
    """Compile a pattern rule (case-insensitive, ``regex`` V0 syntax); reject ones matching empty text."""
    try:
        compiled = regex.compile(rule.text, regex.IGNORECASE | regex.VERSION0)
    except regex.error as exc:
        raise rule_error(rule, f"invalid pattern: {exc}") from exc
    if compiled.search("") is not None:
        raise rule_error(rule, "pattern matches empty text")
    return compiled


def rule_error(rule: Rule, reason: str) -> KeywordFileError:
    return KeywordFileError([LoadError(rule.source, rule.line, reason)])


def classify(form: str) -> Key:
    """Pick the matching route of a normalised keyword (see module docstring)."""
    words = tuple(WORD_RE.findall(form))
    leftover = WORD_RE.sub("", form)
    if words and all(_is_separator(char) for char in leftover):
        return Key("word", words=words, word_start=HANGUL_RE.match(words[-1][-1]) is not None, text=form)
    if UNSPACED_RE.fullmatch(form):
        return Key("unspaced", text=form)
    return Key("literal", text=form)


def _is_separator(char: str) -> bool:
    return unicodedata.category(char)[0] in "PZ"


def _char_kind(char: str) -> str:
    if WORD_CHAR_RE.match(char):
        return "w"
    return "u" if UNSPACED_RE.match(char) else ("s" if char == " " else "o")


def literal_regex(form: str) -> tuple[re.Pattern[str], str]:
    """A literal keyword's regex, and its longest fixed piece (a cheap ``in`` pre-check).

    Whole-word boundaries where the keyword starts/ends with a spaced-script letter; a space matches any run
    of spaces; where the keyword switches between a spaced and an unspaced script a space is optional.
    """
    pieces: list[str] = []
    segments: list[str] = [""]
    previous = ""
    for char in form:
        kind = _char_kind(char)
        if {previous, kind} == {"w", "u"}:
            pieces.append(" ?")
        if kind != previous:
            segments.append("")
        pieces.append(" +" if kind == "s" else re.escape(char))
        segments[-1] += "" if kind == "s" else char
        previous = kind
    head = f"(?<![{WORD_CLASS}])" if _char_kind(form[0]) == "w" else ""
    tail = f"(?![{WORD_CLASS}])" if _char_kind(form[-1]) == "w" else ""
    return re.compile(head + "".join(pieces) + tail), max(segments, key=len)


def required_literals(pattern: str) -> tuple[str, ...] | None:
    """Strings one of which every match of ``pattern`` contains (lower-case ASCII), or None if unknown.

    A cheap ``in`` test on these skips the regex for most messages ("rp"/"idr" for ``(?:rp|idr)\\s?\\d+``).
    Uses the stdlib regex parser; any pattern it cannot read (``regex``-only syntax) simply runs always.
    """
    try:
        parser: Any = importlib.import_module("re._parser")
        tree = parser.parse(pattern)
        found = _required(tree)
    except Exception:  # an optimisation only: unknown syntax or changed internals mean "always run"
        return None
    # Checked against text whose URLs are blanked and whose whitespace may not be collapsed yet.
    if not found or not all(literal.isascii() and literal.split() == [literal] for literal in found):
        return None
    return tuple(sorted({literal.lower() for literal in found}))


def _required(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    """For a parsed sequence: a set of strings one of which every match contains, or None."""
    best: set[str] | None = None
    run = ""
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            run += chr(arg)
            continue
        best, run = _better(best, {run} if run else None), ""
        if name == "SUBPATTERN":
            best = _better(best, _required(arg[-1]))
        elif name == "ATOMIC_GROUP":
            best = _better(best, _required(arg))
        elif name == "BRANCH":
            branches = [_required(branch) for branch in arg[1]]
            if all(branches):
                best = _better(best, set().union(*(branch for branch in branches if branch)))
        elif name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"} and arg[0] >= 1:
            best = _better(best, _required(arg[2]))
    return _better(best, {run} if run else None)


_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_LONG_REPEAT = 16  # a repeat allowing more than this many copies counts as unbounded


@lru_cache(maxsize=4096)
def backtracks_little(pattern: str) -> bool:
    """Whether a search for ``pattern`` costs at most about 17 n\u00b2 steps on n characters: no repetition or
    alternation inside a repetition, no backreference, at most two repeats, at most one of them long. Such patterns
    may run on short texts without a time limit (whose bookkeeping costs about as much as a search). Anything the
    stdlib parser cannot read counts as not proven."""
    try:
        parser: Any = importlib.import_module("re._parser")
        repeats = _repeats(parser.parse(pattern), inside_repeat=False)
    except Exception:  # regex-only syntax, a nested repeat or a backreference: keep the limit
        return False
    return len(repeats) <= 2 and sum(high > _LONG_REPEAT for high in repeats) <= 1


def _repeats(items: Iterable[tuple[Any, Any]], *, inside_repeat: bool) -> list[int]:
    """The upper bounds of the repeats that allow more than one copy; ValueError on what can backtrack badly."""
    found: list[int] = []
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            if inside_repeat:
                raise ValueError("repeat inside a repeat")
            _, high, body = arg
            if high > 1:
                found.append(high)
            found += _repeats(body, inside_repeat=high > 1)
        elif name == "BRANCH":
            if inside_repeat:
                raise ValueError("alternation inside a repeat")
            for branch in arg[1]:
                found += _repeats(branch, inside_repeat=False)
        elif name == "SUBPATTERN":
            found += _repeats(arg[-1], inside_repeat=inside_repeat)
        elif name in {"ASSERT", "ASSERT_NOT"}:
            found += _repeats(arg[1], inside_repeat=inside_repeat)
        elif name == "ATOMIC_GROUP":
            found += _repeats(arg, inside_repeat=inside_repeat)
        elif name in {"GROUPREF", "GROUPREF_EXISTS"}:
            raise ValueError("backreference")
    return found


def _better(current: set[str] | None, candidate: set[str] | None) -> set[str] | None:
    """Prefer the set whose shortest string is longest (more selective), then the smaller set."""
    if not candidate:
        return current
    if not current:
        return candidate

    def score(strings: set[str]) -> tuple[int, int]:
        return min(map(len, strings)), -len(strings)

    return candidate if score(candidate) > score(current) else current
