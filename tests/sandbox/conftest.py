"""Fixtures for the sandbox tests: a manual clock, the sandbox under a test client, an OAuth token."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from partner.sandbox import ManualClock, SandboxConfig, create_sandbox_app
from partner.sandbox.state import DEFAULT_APP_ID, DEFAULT_APP_SECRET

Client = TestClient[Any, Any]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sandbox(aiohttp_client: AiohttpClient, clock: ManualClock) -> Client:
    return await aiohttp_client(create_sandbox_app(SandboxConfig(clock=clock)))


@pytest.fixture
async def oauth_token(sandbox: Client) -> str:
    """An advertiser token covering both default advertisers, obtained through the auto-approving portal."""
    query = {"app_id": DEFAULT_APP_ID, "redirect_uri": "https://partner.example/cb", "auto_approve": "1"}
    redirect = await sandbox.get("/portal/auth", params=query, allow_redirects=False)
    code = redirect.headers["Location"].split("auth_code=")[1].split("&")[0]
    body = {"app_id": DEFAULT_APP_ID, "secret": DEFAULT_APP_SECRET, "auth_code": code}
    response = await sandbox.post("/open_api/v1.3/oauth2/access_token/", json=body)
    token: str = (await response.json())["data"]["access_token"]
    return token
