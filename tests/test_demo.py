"""``partner demo`` plays its customers and reports what TikTok received."""

from __future__ import annotations

import io
from pathlib import Path

from partner.demo import CUSTOMERS, run_demo
from partner.settings import Settings


async def test_demo_reports_every_conversation_with_and_without_ttclid(settings: Settings, tmp_path: Path) -> None:
    out = io.StringIO()
    assert await run_demo(settings, data_dir=tmp_path / "demo", out=out, keep_running=False) == 0
    report = out.getvalue()
    contact_lines = [line for line in report.splitlines() if line.strip().startswith("Contact")]
    assert len(contact_lines) == len(CUSTOMERS)
    with_click = sum(customer.clicked_ad for customer in CUSTOMERS)
    assert sum(" yes " in line for line in contact_lines) == with_click
    assert sum(" no " in line for line in contact_lines) == len(CUSTOMERS) - with_click
    for customer in CUSTOMERS:  # the report shows names and flags, never what customers wrote
        for text in customer.messages:
            assert text[:12] not in report
