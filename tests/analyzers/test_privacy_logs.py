"""No message text in any log event from scanning or reloading: only file names, signals and counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from structlog.testing import capture_logs

from analyzers import Matcher, load_directory
from partner.keywords import KeywordRegistry

SECRET_MESSAGES = [
    "Secret-Customer-7731 paid via bank transfer, card 4111111111111111",
    "Secret-Customer-7731 sudah bayar, belum bayar ongkir",
    "Secret-Customer-7731 โอนเงินแล้ว 付款 결제했어요",
    "Secret-Customer-7731 no payment yet, call me at +60 12-345 6789",
]
MARKERS = ("Secret-Customer-7731", "secret-customer-7731", "4111111111111111", "345 6789")


def assert_no_message_text(events: Sequence[Mapping[str, object]]) -> None:
    dumped = repr(events)
    for marker in MARKERS:
        assert marker not in dumped


def test_scanning_and_reloading_never_log_message_text(tmp_path: Path) -> None:
    (tmp_path / "payment.txt").write_text("paid\nbayar\nnot: belum bayar\n付款\n결제\n", encoding="utf-8")
    with capture_logs() as events:
        registry = KeywordRegistry(tmp_path)
        registry.load()
        for message in SECRET_MESSAGES:
            registry.flags(message)
            registry.scan(message)
        (tmp_path / "payment.txt").write_text("paid\nre: (broken\n", encoding="utf-8")
        (tmp_path / "order.txt").write_text("order\n", encoding="utf-8")
        registry.load()
        (tmp_path / "order.txt").unlink()
        registry.load()
        for message in SECRET_MESSAGES:
            registry.flags(message)
    names = [event["event"] for event in events]
    assert "keyword_file_loaded" in names
    assert "keyword_file_rejected" in names
    assert "keyword_file_removed" in names
    assert "keyword_set_swapped" in names
    rejected = next(event for event in events if event["event"] == "keyword_file_rejected")
    assert (rejected["file"], rejected["line"]) == ("payment.txt", 2)
    assert_no_message_text(events)


def test_the_library_itself_never_logs(tmp_path: Path) -> None:
    (tmp_path / "payment.txt").write_text("paid\n", encoding="utf-8")
    with capture_logs() as events:
        matcher = Matcher.build(load_directory(tmp_path).files)
        for message in SECRET_MESSAGES:
            matcher.scan(message)
    assert events == []
