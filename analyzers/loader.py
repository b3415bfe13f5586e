"""Parse keyword files (plain ``.txt``, or structured ``.yaml``/``.yml``/``.json``) into KeywordFile objects.

Every problem is reported with file, line (where there is one) and reason, and a file with any problem is
rejected as a whole: a half-applied file is harder to reason about than the last good version of it.
The syntax is documented in ``keywords/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analyzers.keys import rule_key
from analyzers.model import (
    SIGNAL_NAME_RE,
    KeywordFile,
    KeywordFileError,
    LoadError,
    LoadResult,
    Rule,
    RuleKind,
)

SUFFIXES = frozenset({".txt", ".yaml", ".yml", ".json"})
MAX_FILE_BYTES = 5 * 1024 * 1024
LANG_TAG_RE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
_LANG_PREFIX_RE = re.compile(r"([a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{2,8})*):\s+")
_RESERVED_PREFIXES = frozenset({"re", "not"})
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_STRUCTURED_KEYS = frozenset(
    {
        "signal",
        "description",
        "languages",
        "fold_diacritics",
        "keywords",
        "negative_keywords",
        "patterns",
        "negative_patterns",
    }
)


def is_keyword_file(path: Path) -> bool:
    """Keyword files by suffix; hidden files and editor backups (``~``) are ignored, as is README.md."""
    name = path.name
    return path.suffix.lower() in SUFFIXES and not name.startswith(".") and not name.endswith("~")


def keyword_paths(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.is_file() and is_keyword_file(path))


def content_version(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def load_directory(directory: Path) -> LoadResult:
    """Parse every keyword file of ``directory``: the good ones, plus the errors of the rejected ones."""
    try:
        paths = keyword_paths(directory)
    except OSError as exc:
        return LoadResult((), (LoadError(str(directory), None, f"cannot list directory: {exc.strerror}"),))
    files: list[KeywordFile] = []
    errors: list[LoadError] = []
    rejected: set[str] = set()
    for path in paths:
        try:
            files.append(parse_file(path))
        except KeywordFileError as exc:
            errors.extend(exc.errors)
            rejected.add(path.name)
    return LoadResult(tuple(files), tuple(errors), frozenset(rejected))


def parse_file(path: Path) -> KeywordFile:
    """Read and parse one keyword file; raises KeywordFileError."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise KeywordFileError([LoadError(path.name, None, f"unreadable: {exc.strerror}")]) from exc
    return parse_bytes(content, path.name)


def parse_bytes(content: bytes, name: str) -> KeywordFile:
    """Parse keyword file content; ``name`` (a file name) picks the format and names errors."""
    if len(content) > MAX_FILE_BYTES:
        raise KeywordFileError([LoadError(name, None, f"file larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise KeywordFileError([LoadError(name, line, "not valid UTF-8")]) from exc
    suffix = Path(name).suffix.lower()
    version = content_version(content)
    if suffix == ".txt":
        return _parse_plain(text, name, version)
    if suffix in {".yaml", ".yml", ".json"}:
        return _parse_structured(text, name, version, is_json=suffix == ".json")
    raise KeywordFileError([LoadError(name, None, f"unsupported file type {suffix!r}")])


# -- shared ------------------------------------------------------------------------------------------


@dataclass
class _Draft:
    """What a file declares, before validation turns it into a KeywordFile."""

    name: str
    version: str
    signal: str
    signal_line: int | None = None
    description: str = ""
    languages: tuple[str, ...] = ()
    fold: bool = False
    entries: list[tuple[str, RuleKind, bool, str | None, int | None]] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)

    def error(self, line: int | None, reason: str) -> None:
        self.errors.append(LoadError(self.name, line, reason))

    def add(self, text: str, kind: RuleKind, negative: bool, lang: str | None, line: int | None) -> None:
        self.entries.append((text, kind, negative, lang, line))

    def finish(self) -> KeywordFile:
        if not SIGNAL_NAME_RE.fullmatch(self.signal):
            self.error(self.signal_line, f"invalid signal name {self.signal!r} (want [a-z][a-z0-9_]{{0,63}})")
        rules = [self._rule(*entry) for entry in self.entries]
        valid = [rule for rule in rules if rule is not None]
        if not self.errors and not any(not rule.negative for rule in valid):
            self.error(None, "no keywords or patterns")
        if self.errors:
            raise KeywordFileError(self.errors)
        return KeywordFile(
            source=self.name,
            signal=self.signal,
            version=self.version,
            rules=tuple(valid),
            description=self.description,
            languages=self.languages,
            fold_diacritics=self.fold,
        )

    def _rule(self, text: str, kind: RuleKind, negative: bool, lang: str | None, line: int | None) -> Rule | None:
        rule = Rule(self.signal, text, kind, negative, self.name, line, lang, self.fold)
        try:
            rule_key(rule)
        except KeywordFileError as exc:
            self.errors.extend(exc.errors)
            return None
        return rule


def _parse_bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def _parse_languages(draft: _Draft, values: list[str], line: int | None) -> None:
    tags = tuple(value.strip().lower() for value in values if value.strip())
    bad = [tag for tag in tags if not LANG_TAG_RE.fullmatch(tag)]
    if bad:
        draft.error(line, f"invalid language tag {bad[0]!r}")
    draft.languages = tags


# -- plain .txt ----------------------------------------------------------------------------------------


def _parse_plain(text: str, name: str, version: str) -> KeywordFile:
    draft = _Draft(name, version, signal=Path(name).stem)
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            _directive(draft, line[1:], number)
            continue
        _plain_entry(draft, line, number)
    return draft.finish()


def _directive(draft: _Draft, body: str, line: int) -> None:
    key, _, value = body.partition(":")
    key = key.strip().lower()
    if key == "fold_diacritics":
        flag = _parse_bool(value) if value.strip() else True
        if flag is None:
            draft.error(line, f"@fold_diacritics wants true or false, got {value.strip()!r}")
        draft.fold = bool(flag)
    elif key == "description":
        draft.description = value.strip()
    elif key == "languages":
        _parse_languages(draft, re.split(r"[\s,]+", value), line)
    else:
        draft.error(line, f"unknown directive @{key} (known: @fold_diacritics, @description, @languages)")


def _plain_entry(draft: _Draft, line: str, number: int) -> None:
    """``[not:] [<lang>:] [re:] text``. After ``re:`` the rest is the pattern, verbatim; otherwise a leading
    backslash ends the prefixes, so ``\\re: x`` is the keyword "re: x" and ``\\#tag`` the keyword "#tag"."""
    negative = line.lower().startswith("not:")
    rest = line[4:].lstrip() if negative else line
    lang: str | None = None
    match = _LANG_PREFIX_RE.match(rest)
    if match is not None and match.group(1).lower() not in _RESERVED_PREFIXES:
        lang, rest = match.group(1).lower(), rest[match.end() :]
    kind = RuleKind.KEYWORD
    if rest.lower().startswith("re:"):
        kind, rest = RuleKind.PATTERN, rest[3:]
    elif rest.startswith("\\"):
        rest = rest[1:]
    if not rest.strip():
        draft.error(number, "empty pattern" if kind is RuleKind.PATTERN else "empty keyword")
        return
    draft.add(rest.strip(), kind, negative, lang, number)


# -- structured .yaml / .yml / .json -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """A YAML/JSON value with the line it starts on; scalars stay strings (no YAML 1.1 'no' -> False)."""

    value: str | list[_Item] | dict[str, _Item]
    line: int | None


def _parse_structured(text: str, name: str, version: str, *, is_json: bool) -> KeywordFile:
    draft = _Draft(name, version, signal=Path(name).stem)
    root = _read_tree(text, draft, is_json=is_json)
    if root is not None:
        _structured_fields(draft, root)
    return draft.finish()


def _read_tree(text: str, draft: _Draft, *, is_json: bool) -> _Item | None:
    data: object = None
    if is_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            draft.error(exc.lineno, f"invalid JSON: {exc.msg}")
            return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        if is_json:  # valid JSON that PyYAML cannot read: keep the data, lose line numbers
            return _from_json(data)
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "syntax error"
        draft.error(mark.line + 1 if mark is not None else None, f"invalid YAML: {problem}")
        return None
    if node is None:
        draft.error(None, "empty file")
        return None
    return _from_node(node)


def _from_node(node: yaml.Node) -> _Item:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        return _Item({str(key.value): _from_node(value) for key, value in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return _Item([_from_node(item) for item in node.value], line)
    return _Item(str(node.value), line)


def _from_json(data: object) -> _Item:
    if isinstance(data, dict):
        return _Item({str(key): _from_json(value) for key, value in data.items()}, None)
    if isinstance(data, list):
        return _Item([_from_json(value) for value in data], None)
    if isinstance(data, bool):
        return _Item("true" if data else "false", None)
    return _Item("" if data is None else str(data), None)


def _structured_fields(draft: _Draft, root: _Item) -> None:
    if not isinstance(root.value, dict):
        draft.error(root.line, "top level must be a mapping with 'signal' and 'keywords'")
        return
    fields = root.value
    for key, item in fields.items():
        if key not in _STRUCTURED_KEYS:
            draft.error(item.line, f"unknown key {key!r} (known: {', '.join(sorted(_STRUCTURED_KEYS))})")
    if "signal" in fields:
        draft.signal = _scalar(draft, fields["signal"], "signal") or ""
        draft.signal_line = fields["signal"].line
    if "description" in fields:
        draft.description = _scalar(draft, fields["description"], "description") or ""
    if "fold_diacritics" in fields:
        _fold_field(draft, fields["fold_diacritics"])
    if "languages" in fields:
        _languages_field(draft, fields["languages"])
    _entries(draft, fields.get("keywords"), "text", RuleKind.KEYWORD, negative=False)
    _entries(draft, fields.get("negative_keywords"), "text", RuleKind.KEYWORD, negative=True)
    _entries(draft, fields.get("patterns"), "pattern", RuleKind.PATTERN, negative=False)
    _entries(draft, fields.get("negative_patterns"), "pattern", RuleKind.PATTERN, negative=True)


def _scalar(draft: _Draft, item: _Item, what: str) -> str | None:
    if isinstance(item.value, str):
        return item.value
    draft.error(item.line, f"{what} must be a string")
    return None


def _fold_field(draft: _Draft, item: _Item) -> None:
    value = _scalar(draft, item, "fold_diacritics")
    flag = _parse_bool(value) if value is not None else None
    if value is not None and flag is None:
        draft.error(item.line, f"fold_diacritics must be true or false, got {value!r}")
    draft.fold = bool(flag)


def _languages_field(draft: _Draft, item: _Item) -> None:
    if isinstance(item.value, str):
        _parse_languages(draft, re.split(r"[\s,]+", item.value), item.line)
    elif isinstance(item.value, list):
        values = [_scalar(draft, entry, "a language") or "" for entry in item.value]
        _parse_languages(draft, values, item.line)
    else:
        draft.error(item.line, "languages must be a list of language tags")


def _entries(draft: _Draft, item: _Item | None, text_key: str, kind: RuleKind, *, negative: bool) -> None:
    """A list whose entries are strings or ``{<text_key>: ..., lang: ...}`` mappings."""
    if item is None:
        return
    if not isinstance(item.value, list):
        draft.error(item.line, f"expected a list of {text_key} entries")
        return
    for entry in item.value:
        text, lang = _entry(draft, entry, text_key)
        if text is not None:
            draft.add(text, kind, negative, lang, entry.line)


def _entry(draft: _Draft, entry: _Item, text_key: str) -> tuple[str | None, str | None]:
    if isinstance(entry.value, str):
        return _nonempty(draft, entry.value, entry.line), None
    if not isinstance(entry.value, dict):
        draft.error(entry.line, f"an entry must be a string or a mapping with {text_key!r}")
        return None, None
    unknown = set(entry.value) - {text_key, "lang"}
    if unknown or text_key not in entry.value:
        draft.error(entry.line, f"an entry mapping takes {text_key!r} and optional 'lang'")
        return None, None
    text = _scalar(draft, entry.value[text_key], text_key)
    lang = _lang(draft, entry.value.get("lang"))
    return (_nonempty(draft, text, entry.line) if text is not None else None), lang


def _lang(draft: _Draft, item: _Item | None) -> str | None:
    if item is None:
        return None
    value = (_scalar(draft, item, "lang") or "").strip().lower()
    if not LANG_TAG_RE.fullmatch(value):
        draft.error(item.line, f"invalid language tag {value!r}")
        return None
    return value


def _nonempty(draft: _Draft, text: str, line: int | None) -> str | None:
    if text.strip():
        return text.strip()
    draft.error(line, "empty keyword")
    return None
