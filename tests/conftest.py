"""Shared fixtures: a fresh database per test (SQLite file, or a new PostgreSQL database when
``PARTNER_TEST_DATABASE_URL`` is set), settings for it, and the app under a test client."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import make_url

from partner.app import create_app
from partner.settings import Settings, normalise_database_url

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "test-admin-token-0123456789"
SECRET_KEY = "test-secret-key-0123456789-0123456789-abcdef"
META_APP_SECRET = "meta-app-secret-for-tests"
META_VERIFY_TOKEN = "meta-verify-token-for-tests"
TIKTOK_APP_SECRET = "tiktok-app-secret-for-tests"


def postgres_base_url() -> str | None:
    return os.environ.get("PARTNER_TEST_DATABASE_URL") or None


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    base = postgres_base_url()
    if base is None:
        yield f"sqlite:///{tmp_path}/partner-test.db"
        return
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin_dsn = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    settings = Settings(
        database_url=normalise_database_url(database_url),
        secret_key=SECRET_KEY,
        keywords_dir=REPO_ROOT / "keywords",
        state_dir=tmp_path / "state",
        admin_token=ADMIN_TOKEN,
        meta_app_secret=META_APP_SECRET,
        meta_verify_token=META_VERIFY_TOKEN,
        tiktok_app_secret=TIKTOK_APP_SECRET,
        log_format="console",
        run_workers=False,
        shutdown_timeout_seconds=2.0,
    )
    return dataclasses.replace(settings, **overrides)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(create_app(settings))


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
