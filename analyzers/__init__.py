"""Local keyword signal analysis: normalise chat text and flag signals (``payment``, ``order``...).

A pure library: it imports only the standard library, ``regex`` and ``yaml``, never the service.
"""

from analyzers.loader import load_directory, parse_bytes, parse_file
from analyzers.matcher import Hit, Matcher, ScanResult
from analyzers.model import KeywordFile, KeywordFileError, LoadError, LoadResult, Rule, RuleKind
from analyzers.normalize import fold_diacritics, normalize

__all__ = [
    "Hit",
    "KeywordFile",
    "KeywordFileError",
    "LoadError",
    "LoadResult",
    "Matcher",
    "Rule",
    "RuleKind",
    "ScanResult",
    "fold_diacritics",
    "load_directory",
    "normalize",
    "parse_bytes",
    "parse_file",
]
