"""Migrations apply on both databases, are idempotent, and downgrade cleanly."""

from __future__ import annotations

import sqlalchemy as sa

from partner.accounts.models import USERS
from partner.admin import WORKSPACES
from partner.channels import CHANNELS
from partner.inbox.models import ASSIGNMENTS, CONVERSATIONS
from partner.ingest.apply import CONTACTS
from partner.settings import normalise_database_url
from partner.store import migrate
from partner.store.db import create_engine
from partner.store.models import utcnow

EXPECTED_TABLES = {
    "workspaces",
    "channels",
    "contacts",
    "conversations",
    "messages",
    "inbound_events",
    "jobs",
    "reporting_configs",
    "outbox_events",
}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_creates_the_schema_and_is_idempotent(database_url: str) -> None:
    url = normalise_database_url(database_url)
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        await migrate.upgrade(engine)  # a second start-up changes nothing
        assert await migrate.current_revisions(engine) == migrate.head_revisions()
    finally:
        await engine.dispose()
    assert await _tables(url) >= EXPECTED_TABLES


async def test_downgrade_to_base_removes_the_schema(database_url: str) -> None:
    url = normalise_database_url(database_url)
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "base")
        assert await migrate.current_revisions(engine) == set()
    finally:
        await engine.dispose()
    assert not (EXPECTED_TABLES & await _tables(url))


def test_cli_db_upgrade(database_url: str, tmp_path: object) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "partner", "db", "upgrade"],
        env={**os.environ, "PARTNER_DATABASE_URL": database_url, "PARTNER_STATE_DIR": f"{tmp_path}/state"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"database at revision {', '.join(sorted(migrate.head_revisions()))}" in result.stdout


async def test_migrations_match_the_models(database_url: str) -> None:
    """Autogenerate finds nothing to do: every table, column and index in the models has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import partner.app  # noqa: F401  (imports every part of the service, so all tables are registered)

    engine = create_engine(normalise_database_url(database_url))
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []


async def test_the_assignee_copy_is_filled_from_existing_assignments(database_url: str) -> None:
    """0005 puts each conversation's assignee on its row, where the tab counts read it."""
    engine = create_engine(normalise_database_url(database_url))
    try:
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "0004_availability")
        async with engine.begin() as connection:
            await connection.run_sync(_two_conversations_one_assigned)
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(sa.text("SELECT id, assignee_id FROM conversations ORDER BY id"))
            assert [tuple(row) for row in rows] == [(1, 7), (2, None)]
    finally:
        await engine.dispose()


def _two_conversations_one_assigned(connection: sa.Connection) -> None:
    now = utcnow()
    statements = [
        (WORKSPACES, {"id": 1, "name": "Shop", "timezone": "UTC", "created_at": now}),
        (CHANNELS, {"id": 1, "workspace_id": 1, "platform": "whatsapp", "external_id": "1", "name": "",
                    "secrets_encrypted": "", "active": True, "created_at": now}),
        (CONTACTS, {"id": 1, "workspace_id": 1, "channel_id": 1, "external_id": "6281", "created_at": now,
                    "updated_at": now}),
        (USERS, {"id": 7, "workspace_id": 1, "email": "a@example.com", "name": "", "role": "agent", "active": True,
                 "created_at": now, "updated_at": now}),
    ]  # fmt: skip
    for table, values in statements:
        connection.execute(sa.insert(table).values(**values))
    for conversation_id in (1, 2):
        connection.execute(
            sa.insert(CONVERSATIONS).values(
                id=conversation_id, public_id=f"c{conversation_id}", workspace_id=1, channel_id=1, contact_id=1,
                status="open", started_at=now, last_message_at=now, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    connection.execute(sa.insert(ASSIGNMENTS).values(conversation_id=1, user_id=7, assigned_at=now))
