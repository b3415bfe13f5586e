"""The keyword matcher: turns a message into the set of signals whose keywords it contains.

Why this shape: one regex alternation of thousands of keywords runs at ~0.02 MB/s and misses nested matches;
Aho-Corasick needs a C extension plus a boundary filter. Here ``flags`` first asks the index to answer from
the prepared text alone (one Hyperscan scan, see ``analyzers.prefilter``); when it cannot, the message is
tokenised once with C-speed primitives and every lookup is a set operation (see ``analyzers.index``). Either
way the cost per message does not grow with the number of keywords.

A list may ask for diacritic folding; its keywords live in a second index that is matched against the
folded text (the same tokens when folding changes nothing, e.g. ASCII, Thai, CJK). Spans are always
reported in offsets of the normalised text, so a negative keyword of one file can suppress a positive hit
of another file of the same signal whatever their folding.

Negative rule: a positive hit of signal S is suppressed when a negative hit of S covers its whole span
("no payment yet" suppresses "payment" inside it; "payment" elsewhere in the message still fires).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate
from operator import attrgetter, itemgetter

from analyzers.form import Form, Terminal, collapse, locate
from analyzers.index import Index
from analyzers.keys import Key, rule_key
from analyzers.model import KeywordFile, Rule
from analyzers.normalize import OTHER, SIMPLE, collapse_offsets, fold_diacritics, fold_with_offsets, prepare
from analyzers.scripts import WORD_SPLIT_RE
from analyzers.substrings import find_all


@dataclass(frozen=True, slots=True)
class Hit:
    """One keyword occurrence. ``start``/``end`` are offsets in the normalised text."""

    signal: str
    keyword: str  # as written in the keyword file
    source: str
    line: int | None
    start: int
    end: int
    negative: bool = False


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Signals that fired, and the evidence. Callers that report use ``flags`` only."""

    flags: frozenset[str]
    hits: tuple[Hit, ...] = ()  # positive hits in force
    suppressed: tuple[Hit, ...] = ()  # positive hits cancelled by a negative keyword of the same signal
    negatives: tuple[Hit, ...] = ()  # negative keywords that matched


EMPTY_RESULT = ScanResult(frozenset())
_NO_FLAGS: frozenset[str] = frozenset()
_FIRST = itemgetter(0)
_SIGNALS = attrgetter("signals")
_NEGATIVE_SIGNALS = attrgetter("negative_signals")
_NEGATIVE = attrgetter("negative")


class Matcher:
    """An immutable, fully built keyword set. To change keywords build a new one and swap the reference."""

    __slots__ = ("_folded", "_negatives", "_plain", "_prefiltered", "files", "rule_count", "signals")

    def __init__(self, rules: Iterable[Rule], files: Iterable[KeywordFile] = (), *, prefilter: bool = True) -> None:
        """``prefilter=False`` keeps ``flags`` on the token-based path (``analyzers.prefilter``), as without
        Hyperscan; both give the same answers."""
        plain: dict[Key, list[Rule]] = {}
        folded: dict[Key, list[Rule]] = {}
        seen: set[tuple[str, bool, bool, Key]] = set()
        signals: set[str] = set()
        count = 0
        for rule in rules:
            key = rule_key(rule)
            count += 1
            if not rule.negative:
                signals.add(rule.signal)
            marker = (rule.signal, rule.negative, rule.fold_diacritics, key)
            if marker not in seen:  # the same keyword twice in one signal: the first line is reported
                seen.add(marker)
                (folded if rule.fold_diacritics else plain).setdefault(key, []).append(rule)
        self._plain = Index(plain, prefilter=prefilter)
        folded_index = Index(folded, prefilter=prefilter)
        self._folded = folded_index if folded_index else None
        self._prefiltered = self._plain.prefiltered and (self._folded is None or self._folded.prefiltered)
        self.signals = frozenset(signals)
        self._negatives = any(rule.negative for rules in (plain, folded) for group in rules.values() for rule in group)
        self.files = tuple(files)
        self.rule_count = count

    @property
    def prefiltered(self) -> bool:
        """Whether ``flags`` answers through the Hyperscan prefilter (``analyzers.prefilter``)."""
        return self._prefiltered

    @property
    def native_bytes(self) -> int:
        """Bytes of the compiled Hyperscan databases (memory tracemalloc does not count)."""
        return self._plain.native_bytes + (self._folded.native_bytes if self._folded is not None else 0)

    @classmethod
    def build(cls, files: Iterable[KeywordFile]) -> Matcher:
        """Build from parsed keyword files; files naming the same signal are merged."""
        files = tuple(files)
        return cls((rule for keyword_file in files for rule in keyword_file.rules), files)

    @classmethod
    def empty(cls) -> Matcher:
        return cls(())

    def flags(self, text: str) -> frozenset[str]:
        """Names of the signals that fire for ``text``: the fast path for callers that only report.

        Only which keywords occur is needed, not where, unless a negative keyword of a signal occurs
        together with a positive one (rare): then the spans decide, as in ``scan``.
        """
        prepared, kind = prepare(text)
        found: list[Terminal] = []
        if not self._prefiltered:
            plain = Form(prepared, collapsed=False, kind=kind)
            self._plain.presence(plain, found)
            if self._folded is not None:
                self._folded.presence(_folded_form(plain), found)
        elif not self._direct_presence(prepared, kind, found):
            found.clear()
            plain = Form(prepared, collapsed=False, kind=kind, tokenize=False)
            self._plain.quick_presence(plain, found)
            if self._folded is not None:
                self._folded.quick_presence(_folded_form(plain, tokenize=False), found)
        if not found:
            return _NO_FLAGS
        positive = _NO_FLAGS.union(*map(_SIGNALS, found))
        if not any(map(_NEGATIVE, found)):
            return positive
        contested = positive & frozenset().union(*map(_NEGATIVE_SIGNALS, found))
        if not contested:
            return positive
        return (positive - contested) | _surviving(self._collect(text), contested)

    def _direct_presence(self, prepared: str, kind: int, found: list[Terminal]) -> bool:
        """The prefiltered ``flags`` lookups without building forms (see ``Index.direct_presence``)."""
        if not self._plain.direct_presence(prepared, kind, found):
            return False
        folded = self._folded
        if folded is None:
            return True
        if kind == SIMPLE:  # diacritic folding changes nothing (see ``_folded_form``)
            return folded.direct_presence(prepared, kind, found)
        normalized = collapse(prepared)
        text = fold_diacritics(normalized)
        if text == normalized:
            return folded.direct_presence(prepared, kind, found)
        return folded.direct_presence(text, OTHER, found)

    def scan(self, text: str) -> ScanResult:
        """Signals plus every hit (keyword, file, line, span), negative suppression applied."""
        forms = self._collect(text)
        return self._resolve(forms) if forms else EMPTY_RESULT

    def _collect(self, text: str) -> list[Form]:
        """Scan each form of the text; returns the forms that have hits."""
        prepared, kind = prepare(text)
        plain = Form(prepared, collapsed=False, kind=kind)
        self._plain.scan(plain)
        forms = [plain] if plain.has_hits() else []
        if self._folded is not None:
            folded = _folded_form(plain)
            self._folded.scan(folded)
            if folded.has_hits():
                forms.append(folded)
        return forms

    @staticmethod
    def _resolve(forms: list[Form]) -> ScanResult:
        """Turn raw hits into Hit records and apply negative suppression."""
        positives: list[Hit] = []
        negatives: list[Hit] = []
        for form in forms:
            for terminal, start, end in _spans(form):
                for rule in terminal.rules:
                    hit = Hit(rule.signal, rule.text, rule.source, rule.line, start, end, rule.negative)
                    (negatives if rule.negative else positives).append(hit)
        kept, suppressed = _suppress(positives, negatives)
        return ScanResult(
            flags=frozenset(hit.signal for hit in kept),
            hits=_ordered(kept),
            suppressed=_ordered(suppressed),
            negatives=_ordered(negatives),
        )


def _surviving(forms: list[Form], contested: frozenset[str] | set[str]) -> set[str]:
    """Which contested signals keep a positive hit outside every negative span of that signal."""
    positives: dict[str, list[tuple[int, int]]] = {}
    negatives: dict[str, list[tuple[int, int]]] = {}

    def involved(terminal: Terminal) -> bool:
        return not contested.isdisjoint(terminal.signals) or not contested.isdisjoint(terminal.negative_signals)

    for form in forms:
        for terminal, start, end in _spans(form, involved):
            for signal in terminal.signals & contested:
                positives.setdefault(signal, []).append((start, end))
            for signal in terminal.negative_signals & contested:
                negatives.setdefault(signal, []).append((start, end))
    return {
        signal
        for signal, spans in positives.items()
        if any(not _covered(start, end, negatives.get(signal, [])) for start, end in spans)
    }


def _covered(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(low <= start and end <= high for low, high in spans)


def _folded_form(plain: Form, *, tokenize: bool = True) -> Form:
    if plain.simple:
        return plain.sibling()
    normalized = plain.normalized
    text = fold_diacritics(normalized)
    if text == normalized:
        return plain.sibling()
    if len(text) != len(normalized):
        text, offsets = fold_with_offsets(normalized)
        return Form(text, collapsed=True, kind=OTHER, offsets=offsets, tokenize=tokenize)
    return Form(text, collapsed=True, kind=OTHER, tokenize=tokenize)


def _spans(form: Form, keep: Callable[[Terminal], bool] | None = None) -> list[tuple[Terminal, int, int]]:
    """Hits of a form (those whose terminal ``keep`` accepts) as (terminal, start, end), normalised offsets."""
    found = [hit for hit in form.chars if keep is None or keep(hit[0])]
    substrings: list[tuple[Terminal, int, int]] = []
    for terminal, needle in form.present:
        if keep is None or keep(terminal):
            substrings.extend((terminal, start, start + len(needle)) for start in find_all(form.text, needle))
    if substrings and not form.collapsed:
        mapped_offset = collapse_offsets(form.text)
        substrings = [(terminal, mapped_offset(start), mapped_offset(end)) for terminal, start, end in substrings]
    found.extend(substrings)
    bounds: list[int] = []
    for terminal, words, word_start in dict.fromkeys(form.words):
        if keep is not None and not keep(terminal):
            continue
        if not bounds:
            bounds = [0, *accumulate(map(len, WORD_SPLIT_RE.split(form.masked)))]
        for first, last, cut in locate(form.tokens, words, word_start):
            end = bounds[2 * last + 2] if cut < 0 else bounds[2 * last + 1] + cut
            found.append((terminal, bounds[2 * first + 1], end))
    if form.offsets is None:
        return found
    mapped = form.offsets
    return [(terminal, mapped[start], mapped[end]) for terminal, start, end in found]


def _suppress(positives: list[Hit], negatives: list[Hit]) -> tuple[list[Hit], list[Hit]]:
    """A positive hit is suppressed when a negative hit of the same signal covers its whole span."""
    if not negatives:
        return positives, []
    spans: dict[str, list[tuple[int, int]]] = {}
    for hit in negatives:
        spans.setdefault(hit.signal, []).append((hit.start, hit.end))
    kept: list[Hit] = []
    suppressed: list[Hit] = []
    for hit in positives:
        covered = any(start <= hit.start and hit.end <= end for start, end in spans.get(hit.signal, ()))
        (suppressed if covered else kept).append(hit)
    return kept, suppressed


def _ordered(hits: list[Hit]) -> tuple[Hit, ...]:
    return tuple(sorted(set(hits), key=lambda hit: (hit.start, hit.end, hit.signal, hit.source, hit.line or 0)))
