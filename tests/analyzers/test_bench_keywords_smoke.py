"""The benchmark runs and prints its table (figures are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_keywords.py"


def test_benchmark_quick_run_prints_its_table() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    assert "project msg/s" in output
    assert "baseline msg/s" in output
    for size in ("100", "1,000", "10,000"):
        assert any(line.strip().startswith(size + " |") for line in output.splitlines()), size
    assert "rebuild 10,000 keywords" in output
    assert "matcher memory" in output
