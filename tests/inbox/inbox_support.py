"""Helpers shared by the inbox tests: the app with the inbox routes, workspaces with users of every role, and
conversations written straight into the store (the ingest path has its own tests).

Not a conftest: ``tests/sandbox`` and ``tests/oauth`` already have package-less ``conftest`` modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from typing import Any, Literal

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from partner.app import create_app
from partner.appkeys import engine_key
from partner.inbox import routes
from partner.inbox.models import CONVERSATIONS, MESSAGES
from partner.ingest.apply import CONTACTS
from partner.settings import Settings
from partner.store.models import utcnow
from tests.conftest import admin_headers

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]
ROLES = ("admin", "agent", "viewer")

SANDBOX_CHANNELS: dict[str, dict[str, Any]] = {
    "whatsapp": {"external_id": "100000000000001", "secrets": {"access_token": "sandbox-meta-token"}},
    "messenger": {"external_id": "200000000000001", "secrets": {"page_access_token": "sandbox-meta-token"}},
    "line": {
        "external_id": "1650000001",
        "secrets": {"channel_secret": "line-secret", "channel_access_token": "sandbox-line-token"},
    },
    "tiktok": {"external_id": "tt-business-1", "secrets": {"access_token": "tiktok-token"}},
}
_external_ids = count(1)


def build_app(settings: Settings) -> web.Application:
    """The service as ``create_app`` builds it, plus the inbox routes (added only if app.py does not yet)."""
    app = create_app(settings)
    if not any(resource.canonical == "/api/v1/openapi.json" for resource in app.router.resources()):
        routes.add_routes(app)
    return app


async def inbox_client(aiohttp_client: ClientFactory, settings: Settings) -> Client:
    return await aiohttp_client(build_app(settings))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Workspace:
    id: int
    channels: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return bearer(self.tokens[role])


async def create_workspace(
    client: Client,
    name: str = "Shop",
    *,
    platforms: tuple[str, ...] = ("whatsapp", "messenger", "line"),
    sandbox_ids: bool = True,
) -> Workspace:
    """A workspace with one channel per platform and an admin, an agent and a viewer, each with a token."""
    response = await client.post("/api/v1/workspaces", json={"name": name}, headers=admin_headers())
    assert response.status == 201, await response.text()
    workspace = Workspace(id=(await response.json())["id"])
    for platform in platforms:
        channel = dict(SANDBOX_CHANNELS[platform])
        if not sandbox_ids:
            channel["external_id"] = f"{platform}-{next(_external_ids)}"
        body = {"workspace_id": workspace.id, "platform": platform, "name": f"{name} {platform}", **channel}
        response = await client.post("/api/v1/channels", json=body, headers=admin_headers())
        assert response.status == 201, await response.text()
        workspace.channels[platform] = (await response.json())["id"]
    for role in ROLES:
        user_id, token = await create_user(client, workspace.id, f"{role}@{name.lower()}.test", role)
        workspace.users[role] = user_id
        workspace.tokens[role] = token
    return workspace


async def create_user(
    client: Client, workspace_id: int, email: str, role: str, *, channel_ids: list[int] | None = None
) -> tuple[int, str]:
    body: dict[str, Any] = {"workspace_id": workspace_id, "email": email, "role": role, "name": role.title()}
    if channel_ids is not None:
        body["channel_ids"] = channel_ids
    response = await client.post("/api/v1/users", json=body, headers=admin_headers())
    assert response.status == 201, await response.text()
    user_id = (await response.json())["id"]
    response = await client.post(f"/api/v1/users/{user_id}/tokens", json={"name": "test"}, headers=admin_headers())
    assert response.status == 201, await response.text()
    return user_id, (await response.json())["token"]


async def add_conversation(
    client: Client,
    workspace: Workspace,
    platform: str = "whatsapp",
    *,
    contact: str | None = None,
    status: str = "open",
    last_inbound_at: datetime | Literal["now"] | None = "now",
    texts: tuple[str, ...] = ("hello",),
    at: datetime | None = None,
    **columns: Any,
) -> int:
    """A conversation with inbound messages, written straight into the store; returns its id."""
    now = at or utcnow()
    channel_id = workspace.channels[platform]
    contact_key = contact or f"6281{next(_external_ids):07d}"
    async with client.app[engine_key].begin() as connection:
        contact_id = (
            await connection.execute(
                sa.insert(CONTACTS)
                .values(
                    workspace_id=workspace.id,
                    channel_id=channel_id,
                    external_id=contact_key,
                    name="Customer",
                    created_at=now,
                    updated_at=now,
                )
                .returning(CONTACTS.c.id)
            )
        ).scalar_one()
        conversation_id = (
            await connection.execute(
                sa.insert(CONVERSATIONS)
                .values(
                    public_id=f"c{next(_external_ids):031d}",
                    workspace_id=workspace.id,
                    channel_id=channel_id,
                    contact_id=contact_id,
                    status=status,
                    started_at=now,
                    last_message_at=now,
                    last_inbound_at=now if last_inbound_at == "now" else last_inbound_at,
                    created_at=now,
                    updated_at=now,
                    **columns,
                )
                .returning(CONVERSATIONS.c.id)
            )
        ).scalar_one()
        for offset, text in enumerate(texts):
            await connection.execute(
                sa.insert(MESSAGES).values(
                    workspace_id=workspace.id,
                    conversation_id=conversation_id,
                    channel_id=channel_id,
                    contact_id=contact_id,
                    direction="inbound",
                    platform_message_id=f"in-{next(_external_ids)}",
                    message_type="text",
                    text=text,
                    sent_at=now + timedelta(milliseconds=offset),
                    created_at=now,
                    private_note=False,
                )
            )
    return int(conversation_id)


async def json_of(response: Any, status: int) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body
