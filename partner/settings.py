"""Configuration from ``PARTNER_*`` environment variables, validated once at start-up.

Every problem is reported as one line naming the variable and what is wrong, so a misconfigured deployment
fails before it accepts traffic instead of half-working.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from partner.client_ip import Network, parse_networks

DEFAULT_TIKTOK_API_BASE = "https://business-api.tiktok.com/open_api/v1.3/"
DEFAULT_TIKTOK_PORTAL_URL = "https://business-api.tiktok.com/portal/auth"
DEFAULT_GRAPH_API_BASE = "https://graph.facebook.com/v21.0/"
DEFAULT_LINE_API_BASE = "https://api.line.me/"
MIN_SECRET_KEY_LENGTH = 32

T = TypeVar("T")


class SettingsError(ValueError):
    """A configuration value is missing or wrong. ``str()`` is the one line shown to the operator."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    secret_key: str
    old_secret_keys: tuple[str, ...] = ()
    environment: Literal["development", "production"] = "development"
    keywords_dir: Path = Path("keywords")
    state_dir: Path = Path(".partner")
    tiktok_api_base: str = DEFAULT_TIKTOK_API_BASE
    tiktok_portal_url: str = DEFAULT_TIKTOK_PORTAL_URL
    tiktok_app_id: str | None = None
    tiktok_app_secret: str | None = None
    tiktok_partner_name: str = "OpenMessagingPartner"
    graph_api_base: str = DEFAULT_GRAPH_API_BASE
    line_api_base: str = DEFAULT_LINE_API_BASE
    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    log_format: Literal["json", "console"] = "json"
    log_level: str = "info"
    admin_token: str | None = None
    meta_app_secret: str | None = None
    meta_verify_token: str | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    conversation_idle_hours: float = 24.0
    event_max_age_days: float = 7.0
    outbox_poll_seconds: float = 0.5
    outbox_lease_seconds: float = 120.0
    http_timeout_seconds: float = 10.0
    shutdown_timeout_seconds: float = 10.0
    run_workers: bool = True
    crm_allow_http: bool = False  # CRM webhooks to plain-http URLs beyond loopback (a private network's CRM)
    trusted_proxies: tuple[Network, ...] = ()  # reverse proxies whose X-Forwarded-For is believed
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the environment; raises :class:`SettingsError` on the first problem."""
    env = os.environ if env is None else env
    reader = _Reader(env)
    environment = reader.choice("PARTNER_ENV", ("development", "production"), "development")
    state_dir = Path(reader.text("PARTNER_STATE_DIR", ".partner"))
    database_url = normalise_database_url(reader.text("PARTNER_DATABASE_URL", "sqlite:///./partner.db"))
    return Settings(
        database_url=database_url,
        secret_key=_secret_key(reader, environment, state_dir),
        old_secret_keys=tuple(k for k in reader.text("PARTNER_OLD_SECRET_KEYS", "").split(",") if k.strip()),
        environment=environment,  # type: ignore[arg-type]
        keywords_dir=_keywords_dir(reader),
        state_dir=state_dir,
        tiktok_api_base=reader.url("PARTNER_TIKTOK_API_BASE", DEFAULT_TIKTOK_API_BASE, trailing_slash=True),
        tiktok_portal_url=reader.url("PARTNER_TIKTOK_PORTAL_URL", DEFAULT_TIKTOK_PORTAL_URL),
        tiktok_app_id=reader.optional("PARTNER_TIKTOK_APP_ID"),
        tiktok_app_secret=reader.optional("PARTNER_TIKTOK_APP_SECRET"),
        tiktok_partner_name=reader.text("PARTNER_TIKTOK_PARTNER_NAME", "OpenMessagingPartner"),
        graph_api_base=reader.url("PARTNER_GRAPH_API_BASE", DEFAULT_GRAPH_API_BASE, trailing_slash=True),
        line_api_base=reader.url("PARTNER_LINE_API_BASE", DEFAULT_LINE_API_BASE, trailing_slash=True),
        public_url=reader.url("PARTNER_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/"),
        host=reader.text("PARTNER_HOST", "127.0.0.1"),
        port=reader.number("PARTNER_PORT", 8080, int, minimum=0, maximum=65535),
        log_format=reader.choice(  # type: ignore[arg-type]
            "PARTNER_LOG_FORMAT", ("json", "console"), "console" if sys.stderr.isatty() else "json"
        ),
        log_level=reader.choice("PARTNER_LOG_LEVEL", ("debug", "info", "warning", "error"), "info"),
        admin_token=_admin_token(reader),
        meta_app_secret=reader.optional("PARTNER_META_APP_SECRET"),
        meta_verify_token=reader.optional("PARTNER_META_VERIFY_TOKEN"),
        max_body_bytes=reader.number("PARTNER_MAX_BODY_BYTES", 4 * 1024 * 1024, int, minimum=1024),
        conversation_idle_hours=reader.number("PARTNER_CONVERSATION_IDLE_HOURS", 24.0, float, minimum=0.01),
        event_max_age_days=reader.number("PARTNER_EVENT_MAX_AGE_DAYS", 7.0, float, minimum=0.01),
        outbox_poll_seconds=reader.number("PARTNER_OUTBOX_POLL_SECONDS", 0.5, float, minimum=0.01),
        outbox_lease_seconds=reader.number("PARTNER_OUTBOX_LEASE_SECONDS", 120.0, float, minimum=1),
        http_timeout_seconds=reader.number("PARTNER_HTTP_TIMEOUT_SECONDS", 10.0, float, minimum=0.1),
        shutdown_timeout_seconds=reader.number("PARTNER_SHUTDOWN_TIMEOUT_SECONDS", 10.0, float, minimum=0),
        run_workers=reader.boolean("PARTNER_RUN_WORKERS", default=True),
        crm_allow_http=reader.boolean("PARTNER_CRM_ALLOW_HTTP", default=False),
        trusted_proxies=_trusted_proxies(reader),
    )


def normalise_database_url(raw: str) -> str:
    """Map the URLs people write (``sqlite:///x.db``, ``postgres://``) to the async drivers we run on."""
    try:
        url = make_url(raw)
    except ArgumentError as error:
        raise SettingsError("PARTNER_DATABASE_URL", f"not a database URL: {error}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, ""):
            raise SettingsError("PARTNER_DATABASE_URL", "SQLite URL needs a file path, e.g. sqlite:///./partner.db")
        return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        if not url.database:
            raise SettingsError("PARTNER_DATABASE_URL", "PostgreSQL URL needs a database name")
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise SettingsError(
        "PARTNER_DATABASE_URL", f"unsupported database '{backend}' (use sqlite:///path or postgresql://...)"
    )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise SettingsError(name, f"must be one of {', '.join(allowed)}, got '{value}'")
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.optional(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"must be true or false, got '{value}'")

    def number(
        self,
        name: str,
        default: T,
        kind: Callable[[str], T],
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(name, f"must be a number, got '{raw}'") from None
        if minimum is not None and value < minimum:  # type: ignore[operator]
            raise SettingsError(name, f"must be at least {minimum}, got {raw}")
        if maximum is not None and value > maximum:  # type: ignore[operator]
            raise SettingsError(name, f"must be at most {maximum}, got {raw}")
        return value

    def url(self, name: str, default: str, *, trailing_slash: bool = False) -> str:
        value = self.text(name, default)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(name, f"must be an http(s) URL, got '{value}'")
        if trailing_slash and not value.endswith("/"):
            value += "/"
        return value


def _secret_key(reader: _Reader, environment: str, state_dir: Path) -> str:
    value = reader.optional("PARTNER_SECRET_KEY")
    if value is not None:
        if len(value) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError("PARTNER_SECRET_KEY", f"must be at least {MIN_SECRET_KEY_LENGTH} characters")
        return value
    if environment == "production":
        raise SettingsError("PARTNER_SECRET_KEY", "required when PARTNER_ENV=production")
    return _development_secret_key(state_dir)


def _development_secret_key(state_dir: Path) -> str:
    """Generated once and kept beside the data, so a restart can still decrypt what it stored."""
    key_file = state_dir / "secret_key"
    try:
        if key_file.exists():
            return key_file.read_text().strip()
        state_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    except OSError as error:
        raise SettingsError("PARTNER_SECRET_KEY", f"not set and cannot keep one in {key_file}: {error}") from None
    return key


def _trusted_proxies(reader: _Reader) -> tuple[Network, ...]:
    try:
        return parse_networks(reader.text("PARTNER_TRUSTED_PROXIES", ""))
    except ValueError as error:
        raise SettingsError("PARTNER_TRUSTED_PROXIES", str(error)) from None


def _keywords_dir(reader: _Reader) -> Path:
    explicit = reader.optional("PARTNER_KEYWORDS_DIR")
    path = Path(explicit or "keywords")
    if explicit is not None and not path.is_dir():
        raise SettingsError("PARTNER_KEYWORDS_DIR", f"'{path}' is not a directory")
    return path


def _admin_token(reader: _Reader) -> str | None:
    value = reader.optional("PARTNER_ADMIN_TOKEN")
    if value is not None and len(value) < 16:
        raise SettingsError("PARTNER_ADMIN_TOKEN", "must be at least 16 characters")
    return value
