"""Tokens at rest: the database never holds one in plaintext; the tables come and go with their migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from oauth_support import Partner, connect

from partner.appkeys import engine_key
from partner.sandbox.state import DEFAULT_APP_SECRET, DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID
from partner.settings import normalise_database_url
from partner.store import migrate
from partner.store.db import create_engine

OAUTH_TABLES = {"tiktok_connections", "oauth_states"}


def _sqlite_hits(path: Path, secrets: list[str]) -> list[str]:
    """Every text value of every column of every table, read with the sqlite3 module, plus the raw file bytes."""
    hits: list[str] = []
    with sqlite3.connect(path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                for (value,) in connection.execute(f'SELECT CAST("{column}" AS TEXT) FROM "{table}"'):  # noqa: S608
                    hits += [f"{table}.{column}" for secret in secrets if value and secret in value]
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the file, its WAL and journal
    hits += ["raw file" for secret in secrets if secret.encode() in raw]
    return hits


async def _postgres_hits(partner: Partner, secrets: list[str]) -> list[str]:
    """The same check over SQL: every column of every table in the schema, cast to text."""
    hits: list[str] = []
    columns_query = sa.text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    async with partner.app[engine_key].connect() as connection:
        columns = (await connection.execute(columns_query)).all()
        for table, column in columns:
            query = sa.text(f'SELECT count(*) FROM "{table}" WHERE strpos(CAST("{column}" AS TEXT), :secret) > 0')  # noqa: S608
            for secret in secrets:
                if (await connection.execute(query, {"secret": secret})).scalar_one():
                    hits.append(f"{table}.{column}")
    return hits


async def test_no_token_is_stored_in_plaintext(partner: Partner, browser: aiohttp.ClientSession) -> None:
    oauth_workspace = await partner.create_workspace("OAuth")
    manual_workspace = await partner.create_workspace("Manual")
    await connect(partner, browser, oauth_workspace)
    manual = {"access_token": DEFAULT_EVENTS_TOKEN, "event_source_id": DEFAULT_MES_ID, "event_source": "web"}
    status, _ = await partner.api(
        "PUT", "/api/v1/tiktok/connection", params={"workspace": str(manual_workspace)}, json=manual
    )
    assert status == 200

    secrets = [*partner.issued_tokens(), *partner.sandbox_state.auth_codes, DEFAULT_APP_SECRET]
    assert len(secrets) >= 4  # the Events Manager token, the OAuth token, its auth code, the app secret
    row = await partner.connection_row(oauth_workspace)
    assert row.access_token_encrypted  # something is stored, just never the token itself

    url = partner.app[engine_key].url
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        assert _sqlite_hits(Path(url.database), secrets) == []
        assert _sqlite_hits(Path(url.database), ["Manual"])  # the scan does see what is stored
    else:
        assert await _postgres_hits(partner, secrets) == []
        assert await _postgres_hits(partner, ["Manual"])


async def test_migration_adds_and_removes_the_oauth_tables(database_url: str) -> None:
    url = normalise_database_url(database_url)
    engine = create_engine(url)

    async def tables() -> set[str]:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))

    try:
        await migrate.upgrade(engine)
        assert await tables() >= OAUTH_TABLES
        assert "0002_oauth" in await migrate.current_revisions(engine)
        await migrate.downgrade(engine, "0002_oauth@-1")  # this branch only
        assert not (OAUTH_TABLES & await tables())
        assert "workspaces" in await tables()
        await migrate.upgrade(engine)
        assert await tables() >= OAUTH_TABLES
    finally:
        await engine.dispose()
