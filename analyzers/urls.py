"""Blank URLs and e-mail addresses before keyword matching: "https://pay.example.com" must not fire "pay".

Blanking keeps the length, so hit offsets still point into the normalised text. Done with ``str.find``
around the anchors ("://", "www.", "@") rather than one regex, because a regex that may start a URL at any
letter costs microseconds per message even when there is no URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")
_EMAIL_LOCAL_CHARS = frozenset("._+-")
_EMAIL_DOMAIN_CHARS = frozenset(".-")
_NON_SPACE_RE = re.compile(r"\S*")


def mask_urls(text: str) -> str:
    """Replace URLs and e-mail addresses in lower-cased text with spaces of the same length."""
    if "://" not in text and "www." not in text and "@" not in text:
        return text
    spans = sorted(_spans(text))
    if not spans:
        return text
    pieces: list[str] = []
    done = 0
    for start, end in spans:
        start = max(start, done)
        if end > start:
            pieces.append(text[done:start])
            pieces.append(" " * (end - start))
            done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _spans(text: str) -> Iterator[tuple[int, int]]:
    for position in _find_all(text, "://"):
        start = position
        while start > 0 and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        if start < position:
            yield start, _word_end(text, position)
    for position in _find_all(text, "www."):
        if position == 0 or not text[position - 1].isalnum():
            yield position, _word_end(text, position)
    for position in _find_all(text, "@"):
        span = _email(text, position)
        if span is not None:
            yield span


def _email(text: str, at: int) -> tuple[int, int] | None:
    start = at
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in _EMAIL_LOCAL_CHARS):
        start -= 1
    end = at + 1
    while end < len(text) and (text[end].isalnum() or text[end] in _EMAIL_DOMAIN_CHARS):
        end += 1
    while end > at + 1 and text[end - 1] in _EMAIL_DOMAIN_CHARS:  # a sentence's final full stop
        end -= 1
    if start == at or "." not in text[at + 1 : end]:
        return None
    return start, end


def _word_end(text: str, position: int) -> int:
    match = _NON_SPACE_RE.match(text, position)
    return match.end() if match is not None else position


def _find_all(text: str, needle: str) -> Iterator[int]:
    position = text.find(needle)
    while position >= 0:
        yield position
        position = text.find(needle, position + 1)
