"""Users, roles and tokens: tokens are shown once and stored hashed, revocation and deactivation take effect at
once, roles gate what a caller may do, and the bootstrap admin token works for every workspace."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from inbox_support import Client, ClientFactory, bearer, create_workspace, inbox_client, json_of

from partner.accounts.models import API_TOKENS
from partner.appkeys import engine_key
from partner.settings import Settings
from tests.conftest import admin_headers


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await inbox_client(aiohttp_client, settings)


async def test_requests_without_a_valid_token_are_401(client: Client) -> None:
    for headers in ({}, bearer("ptk_not-a-token"), bearer("nonsense"), {"Authorization": "Basic abc"}):
        body = await json_of(await client.get("/api/v1/me", headers=headers), 401)
        assert body["error"]["code"] == "unauthorized"


async def test_token_is_shown_once_and_stored_only_as_its_hash(client: Client) -> None:
    workspace = await create_workspace(client)
    token = workspace.tokens["agent"]
    assert token.startswith("ptk_")
    assert len(token) > 40
    listed = await json_of(
        await client.get(f"/api/v1/users/{workspace.users['agent']}/tokens", headers=admin_headers()), 200
    )
    assert all("token" not in item for item in listed["tokens"])
    assert listed["tokens"][0]["prefix"] == token[:12]
    async with client.app[engine_key].connect() as connection:
        stored = (await connection.execute(sa.select(API_TOKENS.c.token_hash))).scalars().all()
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored


async def test_me_describes_the_caller(client: Client) -> None:
    workspace = await create_workspace(client)
    me = await json_of(await client.get("/api/v1/me", headers=workspace.headers("viewer")), 200)
    assert me["role"] == "viewer"
    assert me["workspace_id"] == workspace.id
    assert not me["super_admin"]
    assert me["user"]["email"] == "viewer@shop.test"
    bootstrap = await json_of(await client.get("/api/v1/me", headers=admin_headers()), 200)
    assert bootstrap == {"super_admin": True, "role": "admin", "workspace_id": None, "user": None}


async def test_revoked_token_stops_working_at_once(client: Client) -> None:
    workspace = await create_workspace(client)
    user_id = workspace.users["agent"]
    token = workspace.tokens["agent"]
    tokens = await json_of(await client.get(f"/api/v1/users/{user_id}/tokens", headers=workspace.headers("admin")), 200)
    token_id = tokens["tokens"][0]["id"]
    response = await client.delete(f"/api/v1/users/{user_id}/tokens/{token_id}", headers=workspace.headers("admin"))
    assert response.status == 204
    assert (await client.get("/api/v1/me", headers=bearer(token))).status == 401
    again = await client.delete(f"/api/v1/users/{user_id}/tokens/{token_id}", headers=workspace.headers("admin"))
    assert again.status == 204  # revoking twice is not an error
    missing = await client.delete(f"/api/v1/users/{user_id}/tokens/99999", headers=workspace.headers("admin"))
    assert missing.status == 404


async def test_deactivated_user_is_locked_out_and_can_come_back(client: Client) -> None:
    workspace = await create_workspace(client)
    path = f"/api/v1/users/{workspace.users['agent']}"
    await json_of(await client.patch(path, json={"active": False}, headers=workspace.headers("admin")), 200)
    assert (await client.get("/api/v1/me", headers=workspace.headers("agent"))).status == 401
    await json_of(await client.patch(path, json={"active": True}, headers=workspace.headers("admin")), 200)
    assert (await client.get("/api/v1/me", headers=workspace.headers("agent"))).status == 200


@pytest.mark.parametrize("role", ["agent", "viewer"])
async def test_only_admins_manage_users(client: Client, role: str) -> None:
    workspace = await create_workspace(client)
    headers = workspace.headers(role)
    attempts = [
        client.get("/api/v1/users", headers=headers),
        client.post("/api/v1/users", json={"email": "x@y.z", "role": "agent"}, headers=headers),
        client.get(f"/api/v1/users/{workspace.users[role]}", headers=headers),
        client.patch(f"/api/v1/users/{workspace.users[role]}", json={"role": "admin"}, headers=headers),
        client.post(f"/api/v1/users/{workspace.users[role]}/tokens", json={}, headers=headers),
    ]
    for attempt in attempts:
        body = await json_of(await attempt, 403)
        assert body["error"]["code"] == "forbidden"


async def test_admin_creates_users_in_own_workspace_only(client: Client) -> None:
    workspace = await create_workspace(client)
    other = await create_workspace(client, "Other", sandbox_ids=False)
    headers = workspace.headers("admin")
    created = await json_of(
        await client.post("/api/v1/users", json={"email": " New@Shop.Test ", "role": "agent"}, headers=headers), 201
    )
    assert created["email"] == "new@shop.test"
    assert created["workspace_id"] == workspace.id
    assert created["channel_ids"] is None
    duplicate = await client.post("/api/v1/users", json={"email": "new@shop.test", "role": "viewer"}, headers=headers)
    assert (await json_of(duplicate, 409))["error"]["field"] == "email"
    elsewhere = {"email": "spy@shop.test", "role": "admin", "workspace_id": other.id}
    assert (await client.post("/api/v1/users", json=elsewhere, headers=headers)).status == 404
    listed = await json_of(await client.get("/api/v1/users", headers=headers), 200)
    assert {user["workspace_id"] for user in listed["users"]} == {workspace.id}


async def test_channel_limits_must_name_channels_of_the_workspace(client: Client) -> None:
    workspace = await create_workspace(client)
    other = await create_workspace(client, "Other", sandbox_ids=False)
    headers = workspace.headers("admin")
    limited = {"email": "line@shop.test", "role": "agent", "channel_ids": [workspace.channels["line"]]}
    created = await json_of(await client.post("/api/v1/users", json=limited, headers=headers), 201)
    assert created["channel_ids"] == [workspace.channels["line"]]
    foreign = {"email": "x@shop.test", "role": "agent", "channel_ids": [other.channels["line"]]}
    assert (await json_of(await client.post("/api/v1/users", json=foreign, headers=headers), 422))["error"][
        "field"
    ] == ("channel_ids")
    cleared = await client.patch(f"/api/v1/users/{created['id']}", json={"channel_ids": None}, headers=headers)
    assert (await json_of(cleared, 200))["channel_ids"] is None


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(client: Client) -> None:
    workspace = await create_workspace(client)
    admin = f"/api/v1/users/{workspace.users['admin']}"
    headers = workspace.headers("admin")
    for change in ({"role": "agent"}, {"active": False}):
        body = await json_of(await client.patch(admin, json=change, headers=headers), 409)
        assert "at least one active admin" in body["error"]["message"]
    await json_of(
        await client.patch(f"/api/v1/users/{workspace.users['agent']}", json={"role": "admin"}, headers=headers), 200
    )
    await json_of(await client.patch(admin, json={"role": "agent"}, headers=headers), 200)


async def test_bootstrap_token_must_name_a_workspace_for_collections(client: Client) -> None:
    workspace = await create_workspace(client)
    body = await json_of(await client.get("/api/v1/users", headers=admin_headers()), 422)
    assert body["error"]["field"] == "workspace_id"
    assert (await client.get("/api/v1/users?workspace_id=999", headers=admin_headers())).status == 404
    listed = await json_of(await client.get(f"/api/v1/users?workspace_id={workspace.id}", headers=admin_headers()), 200)
    assert len(listed["users"]) == 3


async def test_user_ids_too_large_for_the_database_are_404(client: Client) -> None:
    await create_workspace(client)
    for user_id in ("99999999999", "2147483648", "0"):
        assert (await client.get(f"/api/v1/users/{user_id}", headers=admin_headers())).status == 404


def test_cli_create_user_prints_a_working_token(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "PARTNER_DATABASE_URL": database_url, "PARTNER_STATE_DIR": str(tmp_path / "state")}

    def partner(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    missing = partner("admin", "create-user", "--workspace", "1", "--email", "a@b.c")
    assert missing.returncode == 1
    assert "workspace 1 does not exist" in missing.stderr
    import asyncio

    asyncio.run(_insert_workspace(database_url))
    created = partner("admin", "create-user", "--workspace", "1", "--email", "Boss@Shop.test", "--role", "admin")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("ptk_")
    assert "\n" not in token
    again = partner("admin", "create-user", "--workspace", "1", "--email", "boss@shop.test")
    assert again.returncode == 1
    assert "create-token" in again.stderr
    second = partner("admin", "create-token", "--workspace", "1", "--email", "boss@shop.test")
    assert second.returncode == 0
    assert second.stdout.strip() != token
    asyncio.run(_check_token(database_url, token))


# The lead wires partner.inbox.cli into partner/cli_extra.py; until then the test adds it to the parser itself.
_CLI = """
import sys
from partner import cli, cli_extra
from partner.inbox import cli as inbox_cli
original = cli_extra.register
def register(commands):
    original(commands)
    if "admin" not in commands.choices:
        inbox_cli.register(commands)
cli_extra.register = register
sys.exit(cli.main(sys.argv[1:]))
"""


async def _insert_workspace(database_url: str) -> None:
    from partner.admin import WORKSPACES
    from partner.settings import normalise_database_url
    from partner.store import migrate
    from partner.store.db import create_engine
    from partner.store.models import utcnow

    engine = create_engine(normalise_database_url(database_url))
    try:
        await migrate.upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(sa.insert(WORKSPACES).values(name="CLI", timezone="UTC", created_at=utcnow()))
    finally:
        await engine.dispose()


async def _check_token(database_url: str, token: str) -> None:
    from partner.settings import normalise_database_url
    from partner.store.db import create_engine

    engine = create_engine(normalise_database_url(database_url))
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                sa.select(API_TOKENS.c.id).where(API_TOKENS.c.token_hash == hashlib.sha256(token.encode()).hexdigest())
            )
            assert found.first() is not None
    finally:
        await engine.dispose()
