"""Reference codes: minted per click, carried into the chat by the pre-filled text, read back from the first message.

A code is 8 characters from a 32-symbol alphabet without look-alikes (no ``0 O 1 I``), so 40 bits from
``secrets``: it cannot be guessed or enumerated, and a customer who retypes it cannot confuse two symbols. Every
minted code has at least one digit and one letter; the extractor requires the same, which keeps ordinary words
after "ref" ("ref the guy wants…") from ever reading as a code.

The marker is ``[ref:ABCD2345]`` at the end of the greeting. People and apps mangle pre-filled text, so the
extractor accepts any case, any bracket or none, ``:``/``#``/``=``/``-`` or just a space after ``ref``, spaces,
line breaks, hyphens or dots inside the code, and full-width forms (matched after NFKC).
"""

from __future__ import annotations

import re
import secrets
import string
import unicodedata

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
SLUG_ALPHABET = string.ascii_letters + string.digits
SLUG_LENGTH = 10  # 62**10 ≈ 2**59.5

_DIGITS = frozenset("23456789")
_CODE_CHAR = "[2-9A-HJ-NP-Za-hj-np-z]"
_SPACE = r"[\s\u200b-\u200d\u2060\ufeff]"  # includes the zero-width characters some keyboards insert
_GAP = r"[\s\u200b-\u200d\u2060\ufeff._\-\u2010-\u2015]{1,3}"  # spaces, line breaks, hyphens inside a code
_MARKER = re.compile(
    rf"(?P<open>[\[(\{{<【「『〔]{_SPACE}*)?"
    rf"(?<![0-9A-Za-z])[Rr][Ee][Ff](?![A-Za-z0-9])"
    rf"(?P<sep>{_SPACE}*[:#=\-]?{_SPACE}*)"
    rf"(?P<code>{_CODE_CHAR}(?:(?:{_GAP})?{_CODE_CHAR}){{{CODE_LENGTH - 1}}})"
    rf"(?![0-9A-Za-z])"
    rf"(?P<close>{_SPACE}*[\])\}}>】」』〕])?"
)
_GAPS = re.compile(_GAP)
_WEAK_CONTEXT_MAX_GAPS = 1  # "ref 3 red cats" is prose; "[ref: 3RED CATS]" or "ref:" is a marker
_NOT_CODE_CHAR = re.compile(f"[^{CODE_ALPHABET}]")
_REF_CODE = re.compile(rf"^{_CODE_CHAR}(?:[\-_.]?{_CODE_CHAR}){{{CODE_LENGTH - 1}}}$")
_TRAILING_BLANKS = re.compile(r"[ \t\u3000]+$")
_LEADING_BLANKS = re.compile(r"^[ \t\u3000]+")


def mint_code() -> str:
    """A fresh code: uniform over the alphabet, re-drawn unless it mixes digits and letters (≈10 % of draws)."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if _is_mixed(code):
            return code


def mint_slug() -> str:
    """A tracking link's public slug: unguessable, URL-safe, short enough for an ad's landing URL."""
    return "".join(secrets.choice(SLUG_ALPHABET) for _ in range(SLUG_LENGTH))


def marker(code: str) -> str:
    return f"[ref:{code}]"


def prefilled_text(greeting: str | None, code: str | None) -> str:
    """The greeting with the marker at the end, where users are least likely to edit it."""
    parts = [part for part in ((greeting or "").strip(), marker(code) if code else "") if part]
    return " ".join(parts)


def normalise_code(value: str) -> str | None:
    """A code as typed or as a Messenger ``ref`` (any case, with hyphens/dots/underscores), or None if it is not one."""
    value = unicodedata.normalize("NFKC", value).strip()
    if not _REF_CODE.match(value):
        return None
    code = _NOT_CODE_CHAR.sub("", value.upper())
    return code if len(code) == CODE_LENGTH and _is_mixed(code) else None


def extract_code(text: str) -> tuple[str | None, str]:
    """The first marker's normalised code, and the text with every marker removed (whitespace tidied at the cuts).

    Text without a marker comes back unchanged, so the inbox shows exactly what the customer sent.
    """
    if "ref" not in unicodedata.normalize("NFKC", text).lower():
        return None, text
    normalised, origin = _normalise_with_origin(text)
    code: str | None = None
    cuts: list[tuple[int, int]] = []
    for match in _MARKER.finditer(normalised):
        candidate = _marker_code(match)
        if candidate is None:
            continue
        code = code or candidate
        start = match.start()
        end = match.end() if match.group("open") and match.group("close") else match.end("code")
        cuts.append((origin[start], origin[end - 1] + 1))
    if not cuts:
        return None, text
    return code, _cut(text, cuts)


def _marker_code(match: re.Match[str]) -> str | None:
    """The code of a marker match, if the match is evidence enough for one.

    A bracket or a ``:``/``#``/``=`` after ``ref`` is a strong sign of our marker, so any spacing inside the code
    is accepted; a bare ``ref CODE`` may have at most one gap.
    """
    raw = match.group("code")
    strong = bool(match.group("open")) or any(char in match.group("sep") for char in ":#=")
    if not strong and len(_GAPS.findall(raw)) > _WEAK_CONTEXT_MAX_GAPS:
        return None
    candidate = _NOT_CODE_CHAR.sub("", raw.upper())
    return candidate if _is_mixed(candidate) else None


def _is_mixed(code: str) -> bool:
    digits = sum(char in _DIGITS for char in code)
    return 0 < digits < len(code)


def _normalise_with_origin(text: str) -> tuple[str, list[int]]:
    """NFKC per character, remembering which original character each normalised one came from.

    Matching happens on the normalised text (full-width brackets, colon and letters become ASCII), but the cut is
    made in the original, so the rest of the message (half-width kana, compatibility characters) stays untouched.
    """
    if text.isascii():
        return text, list(range(len(text)))
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        normalised = unicodedata.normalize("NFKC", char) if ord(char) > 127 else char
        pieces.append(normalised)
        origin.extend([index] * len(normalised))
    return "".join(pieces), origin


def _cut(text: str, cuts: list[tuple[int, int]]) -> str:
    """Remove the spans; where one was cut mid-line, the two sides are joined with one space."""
    result = text[: cuts[0][0]]
    for (_, end), (next_start, _) in zip(cuts, [*cuts[1:], (len(text), len(text))], strict=True):
        result = _join(result, text[end:next_start])
    return result.strip()


def _join(left: str, right: str) -> str:
    left = _TRAILING_BLANKS.sub("", left)
    right = _LEADING_BLANKS.sub("", right)
    if left.endswith("\n") and right.startswith(("\n", "\r\n")):
        right = right.removeprefix("\r").removeprefix("\n")  # a marker on a line of its own takes its line along
    if left and right and not left.endswith(("\n", "\r")) and not right.startswith(("\n", "\r")):
        return f"{left} {right}"
    return left + right
