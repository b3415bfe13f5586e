"""The links API and ``GET /r/{slug}``: validation, exact redirect URLs per platform, what a click stores (and what
it must not), distinct codes under concurrency, and the cost of a redirect in statements."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_network
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy import Engine, event
from sqlalchemy.dialects import sqlite

from partner.appkeys import engine_key
from partner.attribution import matching, routes
from partner.attribution.codes import mint_code
from partner.attribution.models import CLICKS
from partner.attribution.routes import ClickWriter, click_writer_key
from partner.settings import Settings
from partner.store.models import utcnow
from tests.attribution.attribution_support import (
    LINE_BASIC_ID,
    PAGE_ID,
    WHATSAPP_PHONE,
    Client,
    ClientFactory,
    attribution_client,
    channel,
    click,
    clicks,
    link,
    whatsapp_link,
    workspace,
)
from tests.conftest import admin_headers

MARKER = re.compile(r"\[ref:([2-9A-HJ-NP-Z]{8})\]$")


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await attribution_client(aiohttp_client, settings)


# --- the admin API ----------------------------------------------------------------------------------------------


async def test_create_list_and_get_links(client: Client, settings: Settings) -> None:
    workspace_id = await workspace(client)
    channel_id = await channel(client, workspace_id, "whatsapp")
    created = await link(client, channel_id, greeting="Hi! I saw your ad", campaign="spring-sale", match_window_days=3)
    assert re.fullmatch(r"[A-Za-z0-9]{10}", created["slug"])
    assert created["url"] == f"{settings.public_url}/r/{created['slug']}"
    assert {key: created[key] for key in ("channel_id", "workspace_id", "platform", "greeting", "campaign")} == {
        "channel_id": channel_id,
        "workspace_id": workspace_id,
        "platform": "whatsapp",
        "greeting": "Hi! I saw your ad",
        "campaign": "spring-sale",
    }
    assert created["match_window_days"] == 3
    default = await link(client, channel_id)
    assert (default["greeting"], default["campaign"], default["match_window_days"]) == (None, None, 7)
    assert default["slug"] != created["slug"]

    listed = await client.get("/api/v1/links", headers=admin_headers())
    assert [item["id"] for item in (await listed.json())["links"]] == [created["id"], default["id"]]
    filtered = await client.get(f"/api/v1/links?channel_id={channel_id + 1}", headers=admin_headers())
    assert (await filtered.json())["links"] == []
    fetched = await client.get(f"/api/v1/links/{created['id']}", headers=admin_headers())
    assert await fetched.json() == created


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"greeting": "x" * 501}, "greeting"),
        ({"match_window_days": 0}, "match_window_days"),
        ({"match_window_days": 29}, "match_window_days"),
        ({"match_window_days": "soon"}, "match_window_days"),
        ({"campaign": "c" * 201}, "campaign"),
        ({"greeting": "bell\x07"}, "greeting"),
        ({"colour": "red"}, "colour"),
        ({"channel_id": None}, "channel_id"),
        ({"channel_id": 0}, "channel_id"),
    ],
)
async def test_invalid_link_is_422_with_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    channel_id = await channel(client, await workspace(client), "whatsapp")
    response = await client.post("/api/v1/links", json={"channel_id": channel_id, **body}, headers=admin_headers())
    assert response.status == 422
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid", field)


async def test_greeting_of_500_characters_is_accepted(client: Client) -> None:
    created = await whatsapp_link(client, greeting="g" * 500, match_window_days=28)
    assert len(created["greeting"]) == 500


async def test_unknown_channel_is_404(client: Client) -> None:
    response = await client.post("/api/v1/links", json={"channel_id": 999}, headers=admin_headers())
    assert response.status == 404
    assert (await response.json())["error"] == {
        "code": "not_found",
        "message": "channel not found",
        "field": "channel_id",
    }


@pytest.mark.parametrize(
    ("platform", "extra"),
    [("tiktok", {}), ("whatsapp", {"display_phone": None}), ("line", {"line_basic_id": None})],
)
async def test_channel_that_cannot_be_linked_to_is_422(client: Client, platform: str, extra: dict[str, Any]) -> None:
    channel_id = await channel(client, await workspace(client), platform, **extra)
    response = await client.post("/api/v1/links", json={"channel_id": channel_id}, headers=admin_headers())
    assert response.status == 422
    assert (await response.json())["error"]["field"] == "channel_id"


async def test_admin_routes_need_the_token(client: Client) -> None:
    created = await whatsapp_link(client)
    for method, path in [
        ("POST", "/api/v1/links"),
        ("GET", "/api/v1/links"),
        ("GET", f"/api/v1/links/{created['id']}"),
        ("GET", f"/api/v1/links/{created['id']}/stats"),
    ]:
        response = await client.request(method, path, json={}, headers={"Authorization": "Bearer wrong"})
        assert response.status == 401, path


async def test_unknown_link_id_is_404_json(client: Client) -> None:
    for path in ("/api/v1/links/12345", "/api/v1/links/12345/stats"):
        response = await client.get(path, headers=admin_headers())
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


async def test_malformed_json_and_bad_filter(client: Client) -> None:
    response = await client.post("/api/v1/links", data=b"{nope", headers=admin_headers())
    assert response.status == 400
    response = await client.get("/api/v1/links?channel_id=abc", headers=admin_headers())
    assert response.status == 422


# --- the redirect -----------------------------------------------------------------------------------------------


async def test_whatsapp_redirect_is_exact(client: Client) -> None:
    created = await whatsapp_link(client, greeting="Hola, ¿tienen la talla M? 50% & más")
    location = await click(client, created["slug"], "?ttclid=E.C.P.abc123")
    (stored,) = await clicks(client)
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "wa.me", f"/{WHATSAPP_PHONE}")
    assert parse_qs(parts.query, strict_parsing=True) == {
        "text": [f"Hola, ¿tienen la talla M? 50% & más [ref:{stored.code}]"]
    }
    assert location == (
        f"https://wa.me/{WHATSAPP_PHONE}?text=Hola%2C%20%C2%BFtienen%20la%20talla%20M%3F%2050%25%20%26%20m%C3%A1s"
        f"%20%5Bref%3A{stored.code}%5D"
    )


async def test_whatsapp_redirect_without_greeting_carries_only_the_marker(client: Client) -> None:
    created = await whatsapp_link(client)
    location = await click(client, created["slug"])
    (stored,) = await clicks(client)
    assert location == f"https://wa.me/{WHATSAPP_PHONE}?text=%5Bref%3A{stored.code}%5D"


async def test_line_redirect_is_exact(client: Client) -> None:
    channel_id = await channel(client, await workspace(client), "line")
    created = await link(client, channel_id, greeting="こんにちは")
    location = await click(client, created["slug"], "?ttclid=E.C.P.line")
    (stored,) = await clicks(client)
    prefix = "https://line.me/R/oaMessage/%40abc1234/?"
    assert location.startswith(prefix)
    assert unquote(location.removeprefix(prefix)) == f"こんにちは [ref:{stored.code}]"
    assert unquote(urlsplit(location).path) == f"/R/oaMessage/{LINE_BASIC_ID}/"


async def test_messenger_redirect_puts_the_code_in_ref(client: Client) -> None:
    channel_id = await channel(client, await workspace(client), "messenger")
    created = await link(client, channel_id, greeting="ignored: m.me cannot pre-fill")
    location = await click(client, created["slug"], "?ttclid=E.C.P.fb")
    (stored,) = await clicks(client)
    assert location == f"https://m.me/{PAGE_ID}?ref={stored.code}"
    assert re.fullmatch(r"[A-Za-z0-9_=-]+", parse_qs(urlsplit(location).query)["ref"][0])


async def test_click_stores_ttclid_time_ip_user_agent_and_window(client: Client) -> None:
    created = await whatsapp_link(client, match_window_days=5)
    await click(client, created["slug"], "?ttclid=E.C.P.CswBAbc-_~.123", **{"User-Agent": "TikTok 32.1 (iPhone)"})
    (stored,) = await clicks(client)
    assert stored.ttclid == "E.C.P.CswBAbc-_~.123"
    assert stored.link_id == created["id"]
    assert stored.channel_id == created["channel_id"]
    assert stored.ip == "127.0.0.1"
    assert stored.user_agent == "TikTok 32.1 (iPhone)"
    assert (stored.expires_at - stored.clicked_at).days == 5
    assert stored.used_at is None
    assert stored.params is None


async def test_click_behind_a_trusted_proxy_stores_the_forwarded_address(
    aiohttp_client: ClientFactory, settings: Settings
) -> None:
    proxied = await attribution_client(aiohttp_client, replace(settings, trusted_proxies=(ip_network("127.0.0.0/8"),)))
    created = await whatsapp_link(proxied)
    await click(proxied, created["slug"], "", **{"X-Forwarded-For": "6.6.6.6, 198.51.100.20"})
    (stored,) = await clicks(proxied)
    assert stored.ip == "198.51.100.20"


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(client: Client) -> None:
    created = await whatsapp_link(client)
    await click(client, created["slug"], "", **{"X-Forwarded-For": "198.51.100.20"})
    (stored,) = await clicks(client)
    assert stored.ip == "127.0.0.1"


async def test_click_without_ttclid_still_redirects_unattributed(client: Client) -> None:
    created = await whatsapp_link(client)
    location = await click(client, created["slug"], "?utm_source=tiktok")
    (stored,) = await clicks(client)
    assert stored.ttclid is None
    assert _code(location) == stored.code


@pytest.mark.parametrize(
    ("ttclid", "reason"),
    [
        ("x" * 513, "too_long"),
        ("E.C.P. with spaces", "invalid_characters"),
        ("E.C.P.\x01ctrl", "invalid_characters"),
        ("E.C.P.\tx", "invalid_characters"),
        ("E.C.P.clé", "invalid_characters"),
        ("E.C.P.\u200bzero", "invalid_characters"),
    ],
)
async def test_malformed_ttclid_is_not_stored_or_logged_but_the_customer_is_redirected(
    client: Client, ttclid: str, reason: str
) -> None:
    created = await whatsapp_link(client)
    with structlog.testing.capture_logs() as logs:
        response = await client.get(f"/r/{created['slug']}", params={"ttclid": ttclid, "a": "1"}, allow_redirects=False)
    assert response.status == 302
    (stored,) = await clicks(client)
    assert stored.ttclid is None
    assert stored.params == {"a": "1"}
    rejected = [entry for entry in logs if entry["event"] == "ttclid_rejected"]
    assert [entry["reason"] for entry in rejected] == [reason]
    assert all(ttclid not in repr(entry) for entry in logs)


async def test_ttclid_of_512_characters_is_kept(client: Client) -> None:
    created = await whatsapp_link(client)
    await click(client, created["slug"], "?ttclid=" + "E" * 512)
    (stored,) = await clicks(client)
    assert stored.ttclid == "E" * 512


async def test_extra_query_parameters_are_kept_within_a_budget(client: Client) -> None:
    created = await whatsapp_link(client)
    query = "?ttclid=E.C.P.x&utm_source=tiktok&utm_campaign=spring%20sale&campaign_id=1789&tag=a&tag=b"
    await click(client, created["slug"], query)
    oversized = "&".join([f"p{index}=v" for index in range(40)] + ["big=" + "z" * 600, "k" * 65 + "=v"])
    await click(client, created["slug"], "?" + oversized)
    first, second = await clicks(client)
    assert first.params == {
        "utm_source": "tiktok",
        "utm_campaign": "spring sale",
        "campaign_id": "1789",
        "tag": ["a", "b"],
    }
    assert second.params == {f"p{index}": "v" for index in range(32)}


async def test_unknown_slug_is_a_404_page_and_stores_nothing(client: Client) -> None:
    await whatsapp_link(client)
    for slug in ("AAAAAAAAAA", "short", "x" * 300, "bad%20slug!"):
        response = await client.get(f"/r/{slug}?ttclid=E.C.P.zzz", allow_redirects=False)
        assert response.status == 404
        assert response.content_type == "text/html"
        assert "Link not found" in await response.text()
    assert await clicks(client) == []


async def test_head_request_redirects_without_recording(client: Client) -> None:
    created = await whatsapp_link(client, greeting="hi")
    response = await client.head(f"/r/{created['slug']}?ttclid=E.C.P.h", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == f"https://wa.me/{WHATSAPP_PHONE}?text=hi"
    assert await clicks(client) == []


async def test_concurrent_clicks_get_distinct_codes(client: Client) -> None:
    created = await whatsapp_link(client)
    locations = await asyncio.gather(
        *(click(client, created["slug"], f"?ttclid=E.C.P.{index}") for index in range(200))
    )
    codes = [_code(location) for location in locations]
    stored = await clicks(client)
    assert len(set(codes)) == 200
    assert {row.code for row in stored} == set(codes)
    assert {row.ttclid for row in stored} == {f"E.C.P.{index}" for index in range(200)}


def _code(location: str) -> str:
    found = MARKER.search(parse_qs(urlsplit(location).query)["text"][0])
    assert found is not None, location
    return found.group(1)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends, while the test runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split())[:80])

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


async def test_a_redirect_costs_one_read_then_only_one_insert(client: Client, statements: list[str]) -> None:
    created = await whatsapp_link(client)
    statements.clear()
    await click(client, created["slug"], "?ttclid=E.C.P.1")
    assert [statement.split()[0] for statement in statements] == ["SELECT", "INSERT"], statements
    statements.clear()
    await click(client, created["slug"], "?ttclid=E.C.P.2")
    assert [statement.split()[0] for statement in statements] == ["INSERT"], statements


async def test_concurrent_first_clicks_share_one_link_read(client: Client, statements: list[str]) -> None:
    created = await whatsapp_link(client)
    statements.clear()
    await asyncio.gather(*(click(client, created["slug"]) for _ in range(30)))
    assert sum(statement.startswith("SELECT") for statement in statements) == 1, statements
    assert sum(statement.startswith("INSERT") for statement in statements) == 30


async def test_redirect_claim_stats_and_purge_queries_use_indexes_on_sqlite(client: Client) -> None:
    """The statements as the code builds them: each finds its rows through an index, none scans a table."""
    if client.app[engine_key].dialect.name != "sqlite":
        pytest.skip("query plans are checked on SQLite")
    named = sqlite.dialect(paramstyle="named")
    stats = sa.select(sa.func.count(), sa.func.count(CLICKS.c.ttclid)).where(CLICKS.c.link_id == 1)
    queries: dict[str, tuple[sa.ClauseElement, dict[str, Any]]] = {
        "link": (routes._LINK_BY_SLUG, {"b_slug": "AAAAAAAAAA"}),
        "claim": (matching._FIND, {"b_code": "ABCD2345", "b_channel": 1}),
        "mark used": (matching._MARK_USED, {"b_id": 1, "b_at": "2030-01-01"}),
        "stats": (stats, {"link_id_1": 1}),
        "purge": (matching._PURGE, {"b_now": "2030-01-01"}),
    }
    async with client.app[engine_key].connect() as connection:
        for name, (statement, params) in queries.items():
            sql = str(statement.compile(dialect=named))
            rows = (await connection.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"), params)).all()
            plan = " | ".join(str(row[-1]) for row in rows)
            assert "SCAN" not in plan, (name, plan)
            assert "INDEX" in plan or "PRIMARY KEY" in plan, (name, plan)
            if name == "purge":
                assert "ix_clicks_personal_data_expiry" in plan


async def test_click_writer_commits_everything_submitted_before_it_stops(client: Client) -> None:
    """Shutdown drains the writer before the engine closes: a click that got in is a click that is stored."""
    created = await whatsapp_link(client)
    writer = ClickWriter(client.app[engine_key])
    writer.start()
    now = utcnow()
    rows = [
        {
            "link_id": created["id"],
            "channel_id": created["channel_id"],
            "code": mint_code(),
            "clicked_at": now,
            "expires_at": now + timedelta(days=7),
        }
        for _ in range(50)
    ]
    pending = [asyncio.ensure_future(writer.record(row)) for row in rows]
    await asyncio.sleep(0)
    await writer.stop()
    assert sorted(await asyncio.gather(*pending)) == sorted(row["code"] for row in rows)
    assert len(await clicks(client)) == 50
    with pytest.raises(RuntimeError, match="not running"):
        await writer.record(rows[0])


async def test_taken_code_is_replaced_not_lost(client: Client) -> None:
    created = await whatsapp_link(client)
    await click(client, created["slug"])
    (existing,) = await clicks(client)
    now = utcnow()
    row = {
        "link_id": created["id"],
        "channel_id": created["channel_id"],
        "code": existing.code,
        "clicked_at": now,
        "expires_at": now + timedelta(days=7),
    }
    code = await client.app[click_writer_key].record(row)
    assert code != existing.code
    assert {stored.code for stored in await clicks(client)} == {existing.code, code}
