"""Keywords of spaced scripts: whole words, multi-word phrases, and Hangul word starts.

The work per message is a few C-level set operations over all tokens, never a Python loop per candidate
word (at 10,000 keywords nearly every chat word is the first word of some keyword):

* ``unigrams ∩ tokens`` and ``bigrams ∩ zip(tokens, tokens[1:])``: the tuples hash from the tokens' cached
  hashes, and zip reuses a tuple the set did not keep, so this costs about one probe per token.
* keywords of three or more words are keyed by their first two words; the rest is checked at those
  positions only, through a table keyed by the token that follows (a few probes whatever the list size).
* Hangul: a keyword whose last word ends in Hangul matches at the start of a word ("결제" in "결제는", not
  in "미결제"). Such keywords are searched as substrings of the tokens joined by single spaces (so every
  position is covered in C, see ``analyzers.substrings``) and kept where they start a token.
"""

from __future__ import annotations

from collections.abc import Iterator

from analyzers.form import Terminal, WordHit
from analyzers.substrings import Found, SubstringIndex, indexable

_StartValue = tuple[Terminal, tuple[str, ...]]


class _Tail:
    """The words of a long keyword after its two-word key."""

    __slots__ = ("rest", "terminal", "words")

    def __init__(self, words: tuple[str, ...], terminal: Terminal) -> None:
        self.words = words
        self.rest = list(words[2:])
        self.terminal = terminal


class WordIndex:
    """Whole-word and word-start keywords of one text form. Immutable once frozen."""

    __slots__ = ("_bigram_keys", "_bigrams", "_starts", "_tails", "_unigram_keys", "_unigrams")

    def __init__(self) -> None:
        self._unigrams: dict[str, Terminal] = {}
        self._bigrams: dict[tuple[str, str], Terminal] = {}
        self._tails: dict[tuple[str, str], dict[str, list[_Tail]]] = {}  # by key, then the next token
        self._starts: SubstringIndex[_StartValue] = SubstringIndex()  # Hangul-final keywords
        self._unigram_keys: frozenset[str] = frozenset()
        self._bigram_keys: frozenset[tuple[str, str]] = frozenset()

    @staticmethod
    def accepts(words: tuple[str, ...], word_start: bool) -> bool:
        """Word-start keywords are searched as substrings, which needs BMP leading characters."""
        return not word_start or indexable(" ".join(words))

    def add(self, words: tuple[str, ...], word_start: bool, terminal: Terminal) -> None:
        if word_start:
            self._starts.add(" ".join(words), (terminal, words))
        elif len(words) == 1:
            self._unigrams[words[0]] = terminal
        elif len(words) == 2:
            self._bigrams[words[0], words[1]] = terminal
        else:
            by_next = self._tails.setdefault((words[0], words[1]), {})
            by_next.setdefault(words[2], []).append(_Tail(words, terminal))

    def freeze(self) -> None:
        """Precompute the lookup sets once every keyword is added."""
        self._unigram_keys = frozenset(self._unigrams)
        self._bigram_keys = frozenset(self._bigrams.keys() | self._tails.keys())
        self._starts.freeze()

    def __bool__(self) -> bool:
        return bool(self._unigram_keys or self._bigram_keys or self._starts)

    @property
    def has_word_starts(self) -> bool:
        return bool(self._starts)

    def scan(self, tokens: list[str], out: list[WordHit]) -> None:
        if self._unigram_keys:
            unigrams = self._unigrams
            out.extend((unigrams[key], (key,), False) for key in self._unigram_keys.intersection(tokens))
        if self._bigram_keys and len(tokens) > 1:
            # zip, not itertools.pairwise: zip reuses the tuple a set probe did not keep (pairwise does not
            # before Python 3.12), which makes this ~30% faster.
            pairs = zip(tokens, tokens[1:], strict=False)  # noqa: RUF007
            for pair in self._bigram_keys.intersection(pairs):
                terminal = self._bigrams.get(pair)
                if terminal is not None:
                    out.append((terminal, pair, False))
                by_next = self._tails.get(pair)
                if by_next is not None:
                    _tail_hits(by_next, tokens, pair, out)

    def scan_word_starts(self, tokens: list[str], out: list[WordHit]) -> None:
        """Hangul-final keywords; worth calling only when the text has Hangul."""
        joined = " ".join(tokens)
        found: list[Found[_StartValue]] = []
        self._starts.find(joined, joined, found)
        for (terminal, words), start, _ in found:
            if start == 0 or joined[start - 1] == " ":
                out.append((terminal, words, True))


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
