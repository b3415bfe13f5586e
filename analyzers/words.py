"""Keywords of spaced scripts: whole words, multi-word phrases, and Hangul word starts.

The work per message is a few C-level set operations over all tokens, never a Python loop per candidate
word (at 10,000 keywords nearly every chat word is the first word of some keyword):

* ``unigrams ∩ tokens`` and ``bigrams ∩ zip(tokens, tokens[1:])``: the tuples hash from the tokens' cached
  hashes, and zip reuses a tuple the set did not keep, so this costs about one probe per token.
* keywords of three or more words are keyed by their first two words; the rest is checked at those
  positions only, through a table keyed by the token that follows (a few probes whatever the list size).
* Hangul: a keyword whose last word ends in Hangul matches at the start of a word ("결제" in "결제는", not
  in "미결제"). With the tokens joined as `` t1 t2 t3`` (one space before each), such a keyword occurs
  exactly when `` w1 w2`` is a substring: each word starts a token, every word but the last is a whole
  token. These are found with one substring search (``analyzers.substrings``).
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter

from analyzers.form import Terminal, WordHit
from analyzers.substrings import Present, SubstringIndex

_FIRST = itemgetter(0)


class _Tail:
    """The words of a long keyword after its two-word key."""

    __slots__ = ("rest", "terminal", "words")

    def __init__(self, words: tuple[str, ...], terminal: Terminal) -> None:
        self.words = words
        self.rest = list(words[2:])
        self.terminal = terminal


class _Starts:
    """Word-start (Hangul-final) keywords, found as `` w1 w2...`` in the space-prefixed joined tokens."""

    __slots__ = ("_index",)

    def __init__(self) -> None:
        self._index: SubstringIndex[WordHit] = SubstringIndex()

    def add(self, words: tuple[str, ...], terminal: Terminal) -> None:
        self._index.add(" " + " ".join(words), (terminal, words, True))

    def freeze(self) -> None:
        self._index.freeze()

    def __bool__(self) -> bool:
        return bool(self._index)

    def scan(self, tokens: list[str], out: list[WordHit]) -> None:
        found: list[Present[WordHit]] = []
        self._index.find(" " + " ".join(tokens), found)
        out.extend(map(_FIRST, found))


class WordIndex:
    """Whole-word and word-start keywords of one text form. Immutable once frozen."""

    __slots__ = (
        "_bigram_keys",
        "_bigram_terminals",
        "_bigrams",
        "_starts",
        "_tails",
        "_unigram_keys",
        "_unigram_terminals",
        "_unigrams",
    )

    def __init__(self) -> None:
        self._unigrams: dict[str, WordHit] = {}  # the hit each keyword reports, built once
        self._bigrams: dict[tuple[str, str], WordHit] = {}
        self._tails: dict[tuple[str, str], dict[str, list[_Tail]]] = {}  # by key, then the next token
        self._starts = _Starts()  # Hangul-final keywords
        self._unigram_keys: frozenset[str] = frozenset()
        self._bigram_keys: frozenset[tuple[str, str]] = frozenset()
        self._unigram_terminals: dict[str, Terminal] = {}
        self._bigram_terminals: dict[tuple[str, str], Terminal] = {}

    def add(self, words: tuple[str, ...], word_start: bool, terminal: Terminal) -> None:
        if word_start:
            self._starts.add(words, terminal)
        elif len(words) == 1:
            self._unigrams[words[0]] = (terminal, words, False)
        elif len(words) == 2:
            self._bigrams[words[0], words[1]] = (terminal, words, False)
        else:
            by_next = self._tails.setdefault((words[0], words[1]), {})
            by_next.setdefault(words[2], []).append(_Tail(words, terminal))

    def freeze(self) -> None:
        """Precompute the lookup sets once every keyword is added."""
        self._unigram_keys = frozenset(self._unigrams)
        self._bigram_keys = frozenset(self._bigrams.keys() | self._tails.keys())
        self._unigram_terminals = {key: hit[0] for key, hit in self._unigrams.items()}
        self._bigram_terminals = {key: hit[0] for key, hit in self._bigrams.items()}
        self._starts.freeze()

    def __bool__(self) -> bool:
        return bool(self._unigram_keys or self._bigram_keys or self._starts)

    @property
    def has_word_starts(self) -> bool:
        return bool(self._starts)

    def scan(self, tokens: list[str], out: list[WordHit]) -> None:
        if self._unigram_keys:
            found = self._unigram_keys.intersection(tokens)
            if found:
                out.extend(map(self._unigrams.__getitem__, found))
        if self._bigram_keys and len(tokens) > 1:
            # zip, not itertools.pairwise: zip reuses the tuple a set probe did not keep (pairwise does not
            # before Python 3.12), which makes this ~30% faster.
            pairs = zip(tokens, tokens[1:], strict=False)  # noqa: RUF007
            for pair in self._bigram_keys.intersection(pairs):
                hit = self._bigrams.get(pair)
                if hit is not None:
                    out.append(hit)
                by_next = self._tails.get(pair)
                if by_next is not None:
                    _tail_hits(by_next, tokens, pair, out)

    def presence(self, tokens: list[str], out: list[Terminal]) -> None:
        """Append the terminals of the whole-word keywords among ``tokens`` (``scan`` without the words)."""
        if self._unigram_keys:
            found = self._unigram_keys.intersection(tokens)
            if found:
                out.extend(map(self._unigram_terminals.__getitem__, found))
        if self._bigram_keys and len(tokens) > 1:
            pairs = zip(tokens, tokens[1:], strict=False)  # noqa: RUF007
            found_pairs = self._bigram_keys.intersection(pairs)
            if found_pairs:
                hits: list[WordHit] = []
                for pair in found_pairs:
                    terminal = self._bigram_terminals.get(pair)
                    if terminal is not None:
                        out.append(terminal)
                    by_next = self._tails.get(pair)
                    if by_next is not None:
                        _tail_hits(by_next, tokens, pair, hits)
                out.extend(map(_FIRST, hits))

    def starts_presence(self, tokens: list[str], out: list[Terminal]) -> None:
        hits: list[WordHit] = []
        self._starts.scan(tokens, hits)
        out.extend(map(_FIRST, hits))

    def scan_word_starts(self, tokens: list[str], out: list[WordHit]) -> None:
        """Hangul-final keywords; worth calling only when the text has Hangul."""
        self._starts.scan(tokens, out)


def _tail_hits(by_next: dict[str, list[_Tail]], tokens: list[str], pair: tuple[str, str], out: list[WordHit]) -> None:
    for start in _pair_positions(tokens, pair):
        after = start + 2
        for tail in by_next.get(tokens[after], ()) if after < len(tokens) else ():
            if tokens[after : after + len(tail.rest)] == tail.rest:
                out.append((tail.terminal, tail.words, False))


def _pair_positions(tokens: list[str], pair: tuple[str, str]) -> Iterator[int]:
    first, second = pair
    position = -1
    for _ in range(tokens.count(first)):
        position = tokens.index(first, position + 1)
        if position + 1 < len(tokens) and tokens[position + 1] == second:
            yield position
