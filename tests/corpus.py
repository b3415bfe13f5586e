"""Where the shared webhook fixture corpus lives; tests read it in place and never copy it into the project.

``PARTNER_FIXTURES_DIR`` wins; otherwise the corpus sits next to the repository at ``../shared/fixtures``.
A missing corpus is an error, never a skip: a silently skipped corpus test is a test that stopped testing.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PLATFORM_FOLDERS = ("whatsapp", "messenger", "line", "tiktok")


class CorpusMissingError(RuntimeError):
    """The fixture corpus (or one platform's folder in it) is not where the tests expect it."""


def corpus_dir() -> Path:
    configured = os.environ.get("PARTNER_FIXTURES_DIR")
    directory = Path(configured) if configured else REPO_ROOT.parent / "shared" / "fixtures"
    missing = [name for name in PLATFORM_FOLDERS if not (directory / name).is_dir()]
    if missing:
        raise CorpusMissingError(
            f"webhook fixture corpus not found: {directory} lacks {', '.join(missing)} "
            "(set PARTNER_FIXTURES_DIR to the shared fixtures directory)"
        )
    return directory


def corpus_files() -> list[str]:
    """Every fixture as ``<platform>/<file>.json``, sorted, across all four platform folders."""
    root = corpus_dir()
    return sorted(
        path.relative_to(root).as_posix() for name in PLATFORM_FOLDERS for path in (root / name).glob("*.json")
    )


def read_fixture(relative_path: str) -> bytes:
    """The fixture's bytes exactly as stored (signature tests must hash what would arrive)."""
    return (corpus_dir() / relative_path).read_bytes()
