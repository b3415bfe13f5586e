"""The parsed form of keyword files: what the loader produces and the matcher consumes."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

SIGNAL_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class RuleKind(enum.StrEnum):
    KEYWORD = "keyword"  # literal text, matched by the script rules (whole word / substring / word start)
    PATTERN = "pattern"  # a `regex` expression run over the normalised text


@dataclass(frozen=True, slots=True)
class Rule:
    """One keyword or pattern line, with where it came from (for hits, errors and the CLI)."""

    signal: str
    text: str  # as written in the file (without prefixes)
    kind: RuleKind = RuleKind.KEYWORD
    negative: bool = False
    source: str = "<memory>"
    line: int | None = None
    lang: str | None = None
    fold_diacritics: bool = False


@dataclass(frozen=True, slots=True)
class LoadError:
    """Why a keyword file (or one line of it) was rejected. Never contains message text."""

    source: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, str | int | None]:
        return {"file": self.source, "line": self.line, "reason": self.reason}


class KeywordFileError(ValueError):
    """A keyword file is invalid; ``errors`` lists every problem found (file, line, reason)."""

    def __init__(self, errors: list[LoadError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True, slots=True)
class KeywordFile:
    """One successfully parsed keyword file. ``version`` is the sha256 of its bytes."""

    source: str
    signal: str
    version: str
    rules: tuple[Rule, ...]
    description: str = ""
    languages: tuple[str, ...] = ()
    fold_diacritics: bool = False
    counts: dict[str, int] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        counts = {"keywords": 0, "negative_keywords": 0, "patterns": 0}
        for rule in self.rules:
            if rule.kind is RuleKind.PATTERN:
                counts["patterns"] += 1
            elif rule.negative:
                counts["negative_keywords"] += 1
            else:
                counts["keywords"] += 1
        self.counts.update(counts)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The good files of a directory plus the errors of the rejected ones."""

    files: tuple[KeywordFile, ...]
    errors: tuple[LoadError, ...]
    rejected: frozenset[str] = frozenset()  # names of files that were rejected
