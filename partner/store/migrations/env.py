"""Alembic environment: runs on a connection handed in by ``partner.store.migrate`` (sync or async engine)."""

from __future__ import annotations

import asyncio
from typing import Literal

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from partner.store import models  # noqa: F401  (registers the tables on the metadata)
from partner.store.db import create_engine

config = context.config
target_metadata = SQLModel.metadata


def _render_item(kind: str, obj: object, _context: object) -> str | Literal[False]:
    """Write SQLModel's string type as plain ``sa.String`` so migrations do not import sqlmodel."""
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    handed_in = config.attributes.get("connection")
    if handed_in is not None:
        _run(handed_in)
    else:
        asyncio.run(_run_with_own_engine(str(config.get_main_option("sqlalchemy.url"))))
