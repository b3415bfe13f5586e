"""Fixtures of the CRM webhook tests: the service, a workspace, and a receiver that checks signatures the way a
CRM would, written from the documented scheme rather than with the service's own code."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from partner.settings import Settings
from tests.crm.crm_support import Receiver
from tests.inbox.inbox_support import Client, Workspace, build_app, create_workspace


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings) -> Client:
    return await aiohttp_client(build_app(dataclasses.replace(settings, http_timeout_seconds=0.5)))


@pytest.fixture
async def shop(client: Client) -> Workspace:
    return await create_workspace(client)


@pytest.fixture
async def receiver(aiohttp_server: AiohttpServer) -> Receiver:
    receiver = Receiver()
    receiver.server = await aiohttp_server(receiver.app())
    return receiver


@pytest.fixture
def server(receiver: Receiver) -> TestServer:
    assert receiver.server is not None
    return receiver.server
