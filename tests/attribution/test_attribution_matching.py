"""Claiming a click from the ingest transaction, purging personal data, per-link figures, and the migration."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from partner.appkeys import engine_key
from partner.attribution import ClickMatch, claim_click, extract_code, purge_expired_clicks
from partner.attribution.models import CLICKS, TRACKING_LINKS
from partner.settings import Settings, normalise_database_url
from partner.store import migrate
from partner.store.db import create_engine
from partner.store.models import Contact, Conversation, table, utcnow
from tests.attribution.attribution_support import (
    Client,
    ClientFactory,
    attribution_client,
    channel,
    click,
    clicks,
    link,
    whatsapp_link,
)
from tests.conftest import admin_headers


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await attribution_client(aiohttp_client, settings)


async def _claim(client: Client, *, channel_id: int, code: str, at: datetime) -> ClickMatch | None:
    async with client.app[engine_key].begin() as connection:
        return await connection.run_sync(lambda sync: claim_click(sync, channel_id=channel_id, code=code, at=at))


async def _one_click(
    client: Client, query: str = "?ttclid=E.C.P.claim", **link_fields: Any
) -> tuple[dict[str, Any], Any]:
    created = await whatsapp_link(client, campaign="spring", **link_fields)
    await click(client, created["slug"], query)
    (stored,) = await clicks(client)
    return created, stored


async def test_claim_returns_the_click_once(client: Client) -> None:
    created, stored = await _one_click(client)
    at = stored.clicked_at + timedelta(minutes=2)
    match = await _claim(client, channel_id=created["channel_id"], code=stored.code, at=at)
    assert match == ClickMatch(
        click_id=stored.id,
        link_id=created["id"],
        ttclid="E.C.P.claim",
        campaign="spring",
        clicked_at=stored.clicked_at,
    )
    assert await _claim(client, channel_id=created["channel_id"], code=stored.code, at=at) is None
    (used,) = await clicks(client)
    assert used.used_at == at


async def test_claim_accepts_the_code_as_extracted_or_as_a_messenger_ref(client: Client) -> None:
    created, stored = await _one_click(client)
    code, _ = extract_code(f"hi  [ref: {stored.code[:4].lower()} {stored.code[4:]}]")
    assert code == stored.code
    at = stored.clicked_at + timedelta(hours=1)
    assert await _claim(client, channel_id=created["channel_id"], code=f"{stored.code[:4]}-{stored.code[4:]}", at=at)


async def test_claim_without_ttclid_still_matches_unattributed(client: Client) -> None:
    created, stored = await _one_click(client, query="")
    match = await _claim(client, channel_id=created["channel_id"], code=stored.code, at=stored.clicked_at)
    assert match is not None
    assert match.ttclid is None


async def test_expired_code_is_refused(client: Client) -> None:
    created, stored = await _one_click(client, match_window_days=2)
    late = stored.clicked_at + timedelta(days=2, seconds=1)
    assert await _claim(client, channel_id=created["channel_id"], code=stored.code, at=late) is None
    just_in_time = stored.clicked_at + timedelta(days=2)
    assert await _claim(client, channel_id=created["channel_id"], code=stored.code, at=just_in_time) is not None


async def test_message_long_before_the_click_is_refused(client: Client) -> None:
    created, stored = await _one_click(client)
    early = stored.clicked_at - timedelta(hours=1)
    assert await _claim(client, channel_id=created["channel_id"], code=stored.code, at=early) is None
    skewed = stored.clicked_at - timedelta(seconds=30)  # whole-second platform timestamps, clocks that differ
    assert await _claim(client, channel_id=created["channel_id"], code=stored.code, at=skewed) is not None


async def test_unknown_code_and_garbage_are_refused(client: Client) -> None:
    created, stored = await _one_click(client)
    at = stored.clicked_at
    other = "ABCD2345" if stored.code != "ABCD2345" else "EFGH6789"
    for code in (other, "", "not a code", "ABCD234", "x" * 5000):
        assert await _claim(client, channel_id=created["channel_id"], code=code, at=at) is None
    assert await _claim(client, channel_id=created["channel_id"], code=stored.code, at=at) is not None


async def test_code_of_another_channel_is_refused(client: Client) -> None:
    created, stored = await _one_click(client)
    other_channel = await channel(client, created["workspace_id"], "messenger")
    assert await _claim(client, channel_id=other_channel, code=stored.code, at=stored.clicked_at) is None
    assert await _claim(client, channel_id=created["channel_id"], code=stored.code, at=stored.clicked_at) is not None


async def test_naive_time_is_taken_as_utc(client: Client) -> None:
    created, stored = await _one_click(client)
    naive = stored.clicked_at.replace(tzinfo=None) + timedelta(minutes=1)
    assert await _claim(client, channel_id=created["channel_id"], code=stored.code, at=naive) is not None


async def test_concurrent_claims_use_a_code_once(client: Client) -> None:
    """Each claim in its own transaction, all at once: exactly one wins. (SQLite may refuse a loser outright.)"""
    created, stored = await _one_click(client)
    at = stored.clicked_at + timedelta(minutes=1)
    results = await asyncio.gather(
        *(_claim(client, channel_id=created["channel_id"], code=stored.code, at=at) for _ in range(8)),
        return_exceptions=True,
    )
    matches = [result for result in results if isinstance(result, ClickMatch)]
    assert len(matches) == 1
    assert all(result is None or isinstance(result, OperationalError | ClickMatch) for result in results), results


async def test_purge_forgets_ip_and_user_agent_of_expired_clicks_only(client: Client) -> None:
    created = await whatsapp_link(client, match_window_days=1)
    longer = await link(client, created["channel_id"], match_window_days=10)
    await click(client, created["slug"], "?ttclid=E.C.P.a", **{"User-Agent": "UA one"})
    await click(client, longer["slug"], "?ttclid=E.C.P.b", **{"User-Agent": "UA two"})
    engine = client.app[engine_key]
    async with engine.begin() as connection:
        assert await connection.run_sync(purge_expired_clicks) == 0
        later = utcnow() + timedelta(days=2)
        assert await connection.run_sync(lambda sync: purge_expired_clicks(sync, now=later)) == 1
        assert await connection.run_sync(lambda sync: purge_expired_clicks(sync, now=later)) == 0
    short, long = await clicks(client)
    assert (short.ip, short.user_agent, short.ttclid, short.code) == (None, None, "E.C.P.a", short.code)
    assert (long.ip, long.user_agent) == ("127.0.0.1", "UA two")
    assert await _claim(client, channel_id=created["channel_id"], code=short.code, at=short.clicked_at) is not None


async def test_link_stats(client: Client) -> None:
    created = await whatsapp_link(client)
    other = await link(client, created["channel_id"])
    for query in ("?ttclid=E.C.P.1", "?ttclid=E.C.P.2", "", "?ttclid=bad value"):
        await click(client, created["slug"], query)
    await click(client, other["slug"], "?ttclid=E.C.P.other")
    rows = await clicks(client)
    first, second = rows[0], rows[2]
    flags = [{"payment": "2026-01-01T00:00:00Z", "address": "2026-01-01T00:00:00Z"}, {"payment": "2026-01-02"}]
    for index, (stored, conversation_flags) in enumerate(zip((first, second), flags, strict=True)):
        match = await _claim(client, channel_id=created["channel_id"], code=stored.code, at=stored.clicked_at)
        assert match is not None
        await _conversation(client, created, f"contact-{index}", click_id=match.click_id, flags=conversation_flags)
    await _conversation(client, created, "contact-unattributed", click_id=None, flags={"payment": "x"})

    response = await client.get(f"/api/v1/links/{created['id']}/stats", headers=admin_headers())
    assert response.status == 200
    assert await response.json() == {
        "link_id": created["id"],
        "clicks": 4,
        "clicks_with_ttclid": 2,
        "conversations": 2,
        "attributed_share": 0.5,
        "signals": {"address": 1, "payment": 2},
    }
    empty = await link(client, created["channel_id"])
    response = await client.get(f"/api/v1/links/{empty['id']}/stats", headers=admin_headers())
    assert (await response.json())["attributed_share"] is None


async def _conversation(
    client: Client, created: dict[str, Any], contact: str, *, click_id: int | None, flags: dict[str, Any]
) -> None:
    """What ingest will write for a conversation started from a click (the lead's part)."""
    now = utcnow()
    async with client.app[engine_key].begin() as connection:
        contact_id = (
            await connection.execute(
                sa.insert(table(Contact))
                .values(
                    workspace_id=created["workspace_id"],
                    channel_id=created["channel_id"],
                    external_id=contact,
                    created_at=now,
                    updated_at=now,
                )
                .returning(table(Contact).c.id)
            )
        ).scalar_one()
        await connection.execute(
            sa.insert(table(Conversation)).values(
                public_id=contact.ljust(32, "0")[:32],
                workspace_id=created["workspace_id"],
                channel_id=created["channel_id"],
                contact_id=contact_id,
                status="open",
                started_at=now,
                last_message_at=now,
                created_at=now,
                updated_at=now,
                flags=flags,
                click_id=click_id,
                attribution_source="tiktok" if click_id else None,
            )
        )


async def test_migration_upgrades_and_downgrades(database_url: str) -> None:
    url = normalise_database_url(database_url)
    engine = create_engine(url)

    async def tables() -> set[str]:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))

    try:
        await migrate.upgrade(engine, "0002_attribution")
        assert {"tracking_links", "clicks"} <= await tables()
        async with engine.connect() as connection:
            indexes = await connection.run_sync(lambda sync: sa.inspect(sync).get_indexes("clicks"))
            uniques = await connection.run_sync(lambda sync: sa.inspect(sync).get_unique_constraints("clicks"))
        assert {index["name"] for index in indexes} >= {"ix_clicks_link_id", "ix_clicks_personal_data_expiry"}
        assert [unique["column_names"] for unique in uniques] == [["code"]]
        await migrate.downgrade(engine, "0001")
        assert not {"tracking_links", "clicks"} & await tables()
        assert "conversations" in await tables()
        await migrate.upgrade(engine)
        assert {"tracking_links", "clicks"} <= await tables()
    finally:
        await engine.dispose()


async def test_tables_match_the_models(client: Client) -> None:
    """The hand-written migration and the SQLModel tables agree on columns."""
    async with client.app[engine_key].connect() as connection:
        for model_table in (CLICKS, TRACKING_LINKS):
            columns = await connection.run_sync(_columns, model_table.name)
            assert columns == set(model_table.c.keys())


def _columns(connection: Connection, name: str) -> set[str]:
    return {column["name"] for column in sa.inspect(connection).get_columns(name)}
