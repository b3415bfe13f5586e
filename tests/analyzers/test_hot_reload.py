"""The registry: atomic swaps, hot reload within 2 s, bad files keep the last good version, status()."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from partner.keywords import KeywordRegistry, check_path, run_check, run_scan

RELOAD_DEADLINE = 2.0


def write(directory: Path, name: str, content: str) -> None:
    """Write atomically, as editors and deploy tools do, so a watcher never reads half a file."""
    temporary = directory / f".{name}.tmp"
    temporary.write_text(content, encoding="utf-8")
    temporary.replace(directory / name)


async def eventually(condition: Callable[[], bool], deadline: float = RELOAD_DEADLINE) -> float:
    """Seconds until ``condition`` held; fails after ``deadline``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < deadline, "not applied in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    write(tmp_path, "payment.txt", "pay\nbayar\nnot: belum bayar\n")
    return tmp_path


@pytest.fixture(params=[False, True], ids=["watchfiles", "polling"])
async def watching(request: pytest.FixtureRequest, directory: Path) -> AsyncIterator[KeywordRegistry]:
    registry = KeywordRegistry(directory, poll_interval=0.1, force_polling=request.param)
    registry.load()
    stop = asyncio.Event()
    task = asyncio.create_task(registry.watch(stop))
    await asyncio.sleep(0.3)  # let the watcher start
    yield registry
    stop.set()
    await asyncio.wait_for(task, timeout=5)


def test_load_builds_the_set(directory: Path) -> None:
    registry = KeywordRegistry(directory)
    assert registry.flags("pay") == frozenset()  # nothing before load
    assert registry.load() is True
    assert registry.flags("sudah bayar") == {"payment"}
    assert registry.flags("belum bayar") == frozenset()
    assert registry.load() is False  # nothing changed: no rebuild


def test_swap_is_atomic_and_old_matchers_stay_usable(directory: Path) -> None:
    registry = KeywordRegistry(directory)
    registry.load()
    before = registry.current
    write(directory, "order.txt", "order\n")
    assert registry.load() is True
    assert registry.current is not before
    assert before.flags("order pay") == {"payment"}  # a message in flight finishes on the old set
    assert registry.current.flags("order pay") == {"payment", "order"}


async def test_new_file_applies_within_two_seconds(watching: KeywordRegistry, directory: Path) -> None:
    write(directory, "order.txt", "order\nmy order\n")
    await eventually(lambda: watching.flags("my order") == {"order"})


async def test_changed_and_removed_files_apply(watching: KeywordRegistry, directory: Path) -> None:
    write(directory, "payment.txt", "paid\n")
    await eventually(lambda: watching.flags("paid") == {"payment"} and not watching.flags("pay"))
    (directory / "payment.txt").unlink()
    await eventually(lambda: watching.current.signals == frozenset())


async def test_broken_file_keeps_the_last_good_version(watching: KeywordRegistry, directory: Path) -> None:
    good_version = watching.status()["files"][0]["version"]
    write(directory, "payment.txt", "paid\nre: (unclosed\n")
    await eventually(lambda: bool(watching.status()["errors"]))
    status = watching.status()
    assert status["errors"][0]["file"] == "payment.txt"
    assert status["errors"][0]["line"] == 2
    assert status["errors"][0]["reason"].startswith("invalid pattern")
    file_state = status["files"][0]
    assert file_state["state"] == "rejected"
    assert file_state["version_in_force"] == good_version != file_state["version"]
    assert watching.flags("pay") == {"payment"}  # the previous version is still in force
    assert watching.flags("paid") == frozenset()
    write(directory, "payment.txt", "paid\n")  # fixed: the new version takes over
    await eventually(lambda: watching.flags("paid") == {"payment"} and not watching.status()["errors"])


async def test_broken_new_file_is_reported_and_ignored(watching: KeywordRegistry, directory: Path) -> None:
    write(directory, "Bad Name.txt", "x\n")
    await eventually(lambda: bool(watching.status()["errors"]))
    assert watching.status()["errors"][0]["reason"].startswith("invalid signal name")
    assert watching.flags("pay") == {"payment"}


async def test_watch_falls_back_to_polling_when_the_directory_is_missing(tmp_path: Path) -> None:
    directory = tmp_path / "later"
    registry = KeywordRegistry(directory, poll_interval=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(registry.watch(stop))
    await asyncio.sleep(0.2)
    directory.mkdir()
    write(directory, "payment.txt", "pay\n")
    await eventually(lambda: registry.flags("pay") == {"payment"})
    stop.set()
    await asyncio.wait_for(task, timeout=5)


def test_vanished_directory_keeps_the_set_in_force(directory: Path) -> None:
    registry = KeywordRegistry(directory)
    registry.load()
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    assert registry.load() is False
    assert registry.flags("pay") == {"payment"}
    assert "cannot list directory" in registry.status()["errors"][0]["reason"]


def test_status_is_json_and_complete(directory: Path) -> None:
    write(directory, "prices.yaml", "signal: price_inquiry\nkeywords: [how much]\npatterns: ['\\bhm\\b']\n")
    registry = KeywordRegistry(directory)
    registry.load()
    status = json.loads(json.dumps(registry.status()))
    assert status["generation"] == 1
    assert status["signals"] == {
        "payment": {"keywords": 2, "negative_keywords": 1, "patterns": 0, "files": ["payment.txt"]},
        "price_inquiry": {"keywords": 1, "negative_keywords": 0, "patterns": 1, "files": ["prices.yaml"]},
    }
    assert [(item["file"], item["state"], len(item["version"])) for item in status["files"]] == [
        ("payment.txt", "ok", 64),
        ("prices.yaml", "ok", 64),
    ]
    assert status["errors"] == []


# -- CLI helpers --------------------------------------------------------------------------------------


def test_run_check_reports_signals_and_counts(directory: Path) -> None:
    out = io.StringIO()
    assert run_check(directory, out) == 0
    assert "payment.txt: signal payment, 2 keywords, 1 negative, 0 patterns" in out.getvalue()
    assert "1 signals: payment (2)" in out.getvalue()


def test_run_check_fails_on_errors_and_missing_paths(directory: Path) -> None:
    write(directory, "order.txt", "order\nre: [\n")
    out = io.StringIO()
    assert run_check(directory, out) == 1
    assert "error  order.txt:2: invalid pattern" in out.getvalue()
    assert run_check(directory / "order.txt", io.StringIO()) == 1
    assert run_check(directory / "payment.txt", io.StringIO()) == 0
    assert run_check(directory / "absent", io.StringIO()) == 2
    assert not check_path(directory).ok


def test_run_scan_prints_flags_and_where_they_came_from(directory: Path) -> None:
    out = io.StringIO()
    assert run_scan(directory, "Sudah bayar, pay 🙏 but belum bayar ongkir", out) == 0
    printed = out.getvalue()
    assert printed.startswith("flags: payment\n")
    assert "payment: 'bayar' (payment.txt:2)\n" in printed
    assert "payment: 'pay' (payment.txt:1)\n" in printed
    assert "suppressed by a negative" in printed
    assert "negative 'belum bayar' (payment.txt:3)" in printed
    assert "ongkir" not in printed  # the text itself is never echoed
    assert run_scan(directory / "absent", "pay", io.StringIO()) == 2
