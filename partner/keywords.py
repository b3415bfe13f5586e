"""The keyword set the service scans messages with: loaded at start-up, hot-reloaded when files change.

``KeywordRegistry.current`` is always a fully built, immutable ``Matcher``; a reload builds a new one and
swaps it in by rebinding one attribute, so a message in flight sees either the old set or the new one.
A bad file never takes effect: the last good version of that file stays in force and the problem is
logged (``keyword_file_rejected``: file, line, reason) and shown in ``status()``. Logs carry file names,
signal names and counts only, never message text.

Also the helpers behind ``partner keywords check`` and ``partner keywords scan``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog
from watchfiles import awatch

from analyzers import KeywordFile, KeywordFileError, LoadError, Matcher, ScanResult, load_directory, parse_file
from analyzers.loader import content_version, keyword_paths, parse_bytes

log = structlog.get_logger(__name__)

POLL_INTERVAL = 0.5  # seconds, for the polling fallback
_WATCH_TIMEOUT_MS = 1_000  # the watcher also re-checks this often, in case an event was missed


def keywords_directory() -> Path:
    """``PARTNER_KEYWORDS_DIR``, default ``keywords`` (relative to the working directory)."""
    return Path(os.environ.get("PARTNER_KEYWORDS_DIR") or "keywords")


@dataclass(frozen=True, slots=True)
class FileState:
    """What the registry knows about one keyword file."""

    name: str
    version: str  # sha256 of the file's current content ("" when unreadable)
    parsed: KeywordFile | None  # the last good version, which may be older than the current content
    errors: tuple[LoadError, ...] = ()  # problems with the current content

    def as_dict(self) -> dict[str, Any]:
        in_force = self.parsed
        return {
            "file": self.name,
            "version": self.version,
            "state": "rejected" if self.errors else "ok",
            "signal": in_force.signal if in_force else None,
            "version_in_force": in_force.version if in_force else None,
            "counts": dict(in_force.counts) if in_force else {},
            "errors": [error.as_dict() for error in self.errors],
        }


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Everything in force, swapped as a whole."""

    matcher: Matcher
    files: Mapping[str, FileState] = field(default_factory=dict)
    generation: int = 0
    loaded_at: datetime | None = None
    directory_error: str | None = None


class KeywordRegistry:
    """The service's keyword set and its hot reload. Scan with ``registry.flags(text)``."""

    def __init__(self, directory: Path, *, poll_interval: float = POLL_INTERVAL, force_polling: bool = False):
        self.directory = directory
        self._poll_interval = poll_interval
        self._force_polling = force_polling
        self._snapshot = _Snapshot(Matcher.empty())
        self._lock = asyncio.Lock()

    @property
    def current(self) -> Matcher:
        """The matcher in force (immutable; keep the reference for the whole of one message)."""
        return self._snapshot.matcher

    def flags(self, text: str) -> frozenset[str]:
        """Signals that fire for ``text`` (the ``Scanner`` the message analyser calls)."""
        return self._snapshot.matcher.flags(text)

    def scan(self, text: str) -> ScanResult:
        return self._snapshot.matcher.scan(text)

    # -- loading ----------------------------------------------------------------------------------------

    def load(self) -> bool:
        """Re-read the directory; build and swap in a new matcher if what is in force changed.

        Blocking (reads files, builds the matcher): call from a thread when the event loop is running, as
        ``reload`` does. Returns whether a new matcher was swapped in.
        """
        before = self._snapshot
        try:
            paths = keyword_paths(self.directory)
        except OSError as exc:
            return self._directory_unavailable(before, exc)
        files = {path.name: self._file_state(path, before.files.get(path.name)) for path in paths}
        for name in before.files.keys() - files.keys():
            log.info("keyword_file_removed", file=name)
        in_force = [state.parsed for _, state in sorted(files.items()) if state.parsed is not None]
        previous = [state.parsed for _, state in sorted(before.files.items()) if state.parsed is not None]
        unchanged = len(in_force) == len(previous) and all(a is b for a, b in zip(in_force, previous, strict=True))
        if before.generation and unchanged:  # unchanged files keep their parsed object: identity suffices
            self._snapshot = _Snapshot(before.matcher, files, before.generation, before.loaded_at)
            return False
        return self._swap(before, files, in_force)

    async def reload(self) -> bool:
        """``load`` in a worker thread; reloads never overlap."""
        async with self._lock:
            return await asyncio.to_thread(self.load)

    def _file_state(self, path: Path, old: FileState | None) -> FileState:
        """Parse a file whose content changed; a bad version keeps the last good parse in force."""
        try:
            content = path.read_bytes()
        except OSError as exc:
            error = LoadError(path.name, None, f"unreadable: {exc.strerror}")
            return self._rejected(old, path.name, old.version if old else "", (error,))
        version = content_version(content)
        if old is not None and old.version == version:
            return old
        try:
            parsed = parse_bytes(content, path.name)
        except KeywordFileError as exc:
            return self._rejected(old, path.name, version, exc.errors)
        log.info("keyword_file_loaded", file=path.name, signal=parsed.signal, version=version, **parsed.counts)
        return FileState(path.name, version, parsed)

    @staticmethod
    def _rejected(old: FileState | None, name: str, version: str, errors: tuple[LoadError, ...]) -> FileState:
        kept = old.parsed if old else None
        for error in errors:
            log.warning(
                "keyword_file_rejected",
                file=error.source,
                line=error.line,
                reason=error.reason,
                kept_version=kept.version if kept else None,
            )
        return FileState(name, version, kept, errors)

    def _swap(self, before: _Snapshot, files: dict[str, FileState], in_force: list[KeywordFile]) -> bool:
        try:
            matcher = Matcher.build(in_force)
        except KeywordFileError as exc:  # defensive: files are validated when parsed
            for error in exc.errors:
                log.error("keyword_set_rejected", file=error.source, line=error.line, reason=error.reason)
            self._snapshot = _Snapshot(before.matcher, files, before.generation, before.loaded_at)
            return False
        self._snapshot = _Snapshot(matcher, files, before.generation + 1, datetime.now(UTC))
        log.info(
            "keyword_set_swapped",
            generation=before.generation + 1,
            signals=len(matcher.signals),
            files=len(in_force),
            rules=matcher.rule_count,
        )
        return True

    def _directory_unavailable(self, before: _Snapshot, exc: OSError) -> bool:
        """Keep everything in force: a directory that vanishes mid-deploy must not drop all keywords."""
        reason = f"cannot list directory: {exc.strerror}"
        if before.directory_error != reason:
            log.warning("keyword_directory_unavailable", directory=str(self.directory), reason=reason)
        self._snapshot = _Snapshot(before.matcher, before.files, before.generation, before.loaded_at, reason)
        return False

    # -- watching ---------------------------------------------------------------------------------------

    async def watch(self, stop_event: asyncio.Event) -> None:
        """Reload on every change until ``stop_event`` is set; falls back to polling if watching fails."""
        await self.reload()
        if not self._force_polling:
            try:
                await self._watch_events(stop_event)
            except Exception as exc:  # any failure to watch (inotify limits, missing directory...) -> poll
                log.warning("keyword_watch_fallback", directory=str(self.directory), reason=type(exc).__name__)
        await self._poll(stop_event)

    async def _watch_events(self, stop_event: asyncio.Event) -> None:
        changes = awatch(
            self.directory,
            stop_event=stop_event,
            debounce=200,
            step=50,
            rust_timeout=_WATCH_TIMEOUT_MS,
            yield_on_timeout=True,
            recursive=False,
        )
        async for _ in changes:
            await self.reload()

    async def _poll(self, stop_event: asyncio.Event) -> None:
        while not stop_event.is_set():
            try:
                await asyncio.wait_for(stop_event.wait(), timeout=self._poll_interval)
            except TimeoutError:
                await self.reload()

    # -- reporting --------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """JSON-able state for ``GET /api/v1/keywords``: signals in force, files, versions, errors."""
        snapshot = self._snapshot
        files = [state.as_dict() for _, state in sorted(snapshot.files.items())]
        errors = [error.as_dict() for _, state in sorted(snapshot.files.items()) for error in state.errors]
        if snapshot.directory_error:
            errors.append({"file": str(self.directory), "line": None, "reason": snapshot.directory_error})
        return {
            "directory": str(self.directory),
            "generation": snapshot.generation,
            "loaded_at": snapshot.loaded_at.isoformat() if snapshot.loaded_at else None,
            "signals": signal_summary(state.parsed for state in snapshot.files.values() if state.parsed),
            "files": files,
            "errors": errors,
        }


def signal_summary(files: Any) -> dict[str, dict[str, Any]]:
    """Per signal: keyword, negative keyword and pattern counts, and the files defining it."""
    summary: dict[str, dict[str, Any]] = {}
    for keyword_file in sorted(files, key=lambda item: item.source):
        entry = summary.setdefault(
            keyword_file.signal, {"keywords": 0, "negative_keywords": 0, "patterns": 0, "files": []}
        )
        for key, count in keyword_file.counts.items():
            entry[key] += count
        entry["files"].append(keyword_file.source)
    return dict(sorted(summary.items()))


# -- CLI helpers (``partner keywords check`` / ``partner keywords scan``) --------------------------------


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The result of validating a keyword directory or file."""

    path: Path
    files: tuple[KeywordFile, ...]
    errors: tuple[LoadError, ...]
    missing: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and not self.missing


def check_path(path: Path) -> CheckReport:
    """Validate a keyword directory or a single keyword file (parse, then build the matcher)."""
    if path.is_dir():
        result = load_directory(path)
        files, errors = result.files, result.errors
    elif path.is_file():
        try:
            files, errors = (parse_file(path),), ()
        except KeywordFileError as exc:
            files, errors = (), exc.errors
    else:
        return CheckReport(path, (), (LoadError(str(path), None, "no such file or directory"),), missing=True)
    try:
        Matcher.build(files)
    except KeywordFileError as exc:
        errors = (*errors, *exc.errors)
    return CheckReport(path, tuple(files), tuple(errors))


def scan_text(matcher: Matcher, text: str) -> ScanResult:
    """Scan one text with every hit reported (the CLI's view; the service only uses flags)."""
    return matcher.scan(text)


def run_check(path: Path, out: TextIO) -> int:
    """Print what a keyword directory or file defines; exit 0 if valid, 1 on errors, 2 if missing."""
    report = check_path(path)
    for keyword_file in report.files:
        counts = keyword_file.counts
        out.write(
            f"ok     {keyword_file.source}: signal {keyword_file.signal}, {counts['keywords']} keywords, "
            f"{counts['negative_keywords']} negative, {counts['patterns']} patterns "
            f"(sha256 {keyword_file.version[:12]})\n"
        )
    for error in report.errors:
        out.write(f"error  {error}\n")
    summary = signal_summary(report.files)
    listed = ", ".join(f"{signal} ({entry['keywords']})" for signal, entry in summary.items())
    out.write(f"{len(summary)} signals: {listed or '-'}\n")
    if report.missing:
        return 2
    return 0 if report.ok else 1


def run_scan(directory: Path, text: str, out: TextIO) -> int:
    """Print the flags a text raises and which keyword of which file matched.

    Exit 0, or 1 when some keyword files were rejected (the scan still runs with the others), 2 when the
    directory is missing. The text itself is not echoed.
    """
    report = check_path(directory)
    if report.missing:
        out.write(f"error  {report.errors[0]}\n")
        return 2
    for error in report.errors:
        out.write(f"warning  {error} (file not used)\n")
    result = scan_text(Matcher.build(report.files), text)
    out.write(f"flags: {', '.join(sorted(result.flags)) or '(none)'}\n")
    for hit in result.hits:
        out.write(f"  {hit.signal}: {hit.keyword!r} ({_where(hit.source, hit.line)})\n")
    for hit in result.suppressed:
        out.write(f"  {hit.signal}: {hit.keyword!r} ({_where(hit.source, hit.line)}) suppressed by a negative\n")
    for hit in result.negatives:
        out.write(f"  {hit.signal}: negative {hit.keyword!r} ({_where(hit.source, hit.line)})\n")
    return 1 if report.errors else 0


def _where(source: str, line: int | None) -> str:
    return source if line is None else f"{source}:{line}"
