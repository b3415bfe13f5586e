"""Settings are validated once at start-up; every problem is one line naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from partner.settings import DEFAULT_TIKTOK_API_BASE, SettingsError, load_settings


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"PARTNER_STATE_DIR": str(tmp_path / "state"), **values}


class TestDefaults:
    def test_defaults_use_sqlite_and_the_real_tiktok_api(self, tmp_path: Path) -> None:
        """With nothing set, the service runs on a SQLite file and talks to TikTok's real host."""
        settings = load_settings(_env(tmp_path))
        assert settings.database_url == "sqlite+aiosqlite:///./partner.db"
        assert settings.tiktok_api_base == DEFAULT_TIKTOK_API_BASE
        assert settings.keywords_dir == Path("keywords")
        assert settings.environment == "development"

    def test_development_secret_key_is_generated_once_and_kept(self, tmp_path: Path) -> None:
        """A generated key is stored so that a restart can still decrypt what was stored."""
        first = load_settings(_env(tmp_path)).secret_key
        second = load_settings(_env(tmp_path)).secret_key
        assert first == second
        assert len(first) >= 32
        assert (tmp_path / "state" / "secret_key").stat().st_mode & 0o777 == 0o600

    def test_postgres_urls_map_to_asyncpg(self, tmp_path: Path) -> None:
        settings = load_settings(_env(tmp_path, PARTNER_DATABASE_URL="postgres://u:p@db:5432/partner"))
        assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/partner"

    def test_trusted_proxies_are_networks(self, tmp_path: Path) -> None:
        settings = load_settings(_env(tmp_path, PARTNER_TRUSTED_PROXIES="10.0.0.0/8,127.0.0.1"))
        assert [str(network) for network in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
        assert load_settings(_env(tmp_path)).trusted_proxies == ()

    def test_api_base_gets_a_trailing_slash(self, tmp_path: Path) -> None:
        settings = load_settings(_env(tmp_path, PARTNER_TIKTOK_API_BASE="http://127.0.0.1:9000/open_api/v1.3"))
        assert settings.tiktok_api_base == "http://127.0.0.1:9000/open_api/v1.3/"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PARTNER_DATABASE_URL", "mysql://x/y", "unsupported database 'mysql'"),
        ("PARTNER_DATABASE_URL", "not a url", "not a database URL"),
        ("PARTNER_DATABASE_URL", "postgresql://host", "needs a database name"),
        ("PARTNER_SECRET_KEY", "short", "at least 32 characters"),
        ("PARTNER_PORT", "eighty", "must be a number"),
        ("PARTNER_PORT", "70000", "at most 65535"),
        ("PARTNER_LOG_FORMAT", "xml", "must be one of json, console"),
        ("PARTNER_TIKTOK_API_BASE", "ftp://x", "must be an http(s) URL"),
        ("PARTNER_PUBLIC_URL", "example.com", "must be an http(s) URL"),
        ("PARTNER_KEYWORDS_DIR", "/nonexistent/keywords", "is not a directory"),
        ("PARTNER_ADMIN_TOKEN", "short", "at least 16 characters"),
        ("PARTNER_RUN_WORKERS", "maybe", "must be true or false"),
        ("PARTNER_MAX_BODY_BYTES", "10", "at least 1024"),
        ("PARTNER_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal", "'proxy.internal' is not an IP address"),
    ],
)
def test_wrong_values_name_the_variable(tmp_path: Path, variable: str, value: str, message: str) -> None:
    """Each wrong value is reported with the variable's name and what is wrong."""
    with pytest.raises(SettingsError) as raised:
        load_settings(_env(tmp_path, **{variable: value}))
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")
    assert message in str(raised.value)


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    """In production the key cannot be generated: losing it would make stored tokens unreadable."""
    with pytest.raises(SettingsError, match="PARTNER_SECRET_KEY: required when PARTNER_ENV=production"):
        load_settings(_env(tmp_path, PARTNER_ENV="production"))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PARTNER_DATABASE_URL": "mysql://x/y"}, "PARTNER_DATABASE_URL: unsupported database 'mysql'"),
        (
            {"PARTNER_DATABASE_URL": "sqlite:////nonexistent/dir/x.db"},
            "PARTNER_DATABASE_URL: cannot open the database",
        ),
    ],
)
def test_serve_fails_with_one_clear_line(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    """A wrong database URL stops start-up with one line on stderr, not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "partner", "serve", "--port", "0"],
        env={"PATH": "/usr/bin:/bin", "PARTNER_STATE_DIR": str(tmp_path / "s"), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
