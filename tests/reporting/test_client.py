"""The TikTok API client against the sandbox (and a few hand-made bad servers): flows and classification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from partner.reporting.client import (
    DEFAULT_BASE_URL,
    AuthRevoked,
    OutcomeKind,
    Rejected,
    Throttled,
    TikTokApiClient,
    TikTokApiError,
    TransientError,
    classify,
)
from partner.sandbox import SandboxConfig, create_sandbox_app, fingerprint
from partner.sandbox.state import DEFAULT_ADVERTISER_IDS, DEFAULT_APP_ID, DEFAULT_APP_SECRET, DEFAULT_MES_ID

EVENT = {"event": "Contact", "event_time": 1_700_000_000, "lead": {"lead_id": "L1"}}


def track_body(*events: dict[str, Any]) -> dict[str, Any]:
    data = list(events) or [{**EVENT, "event_id": "conv-1"}]
    return {"event_source": "crm", "event_source_id": DEFAULT_MES_ID, "data": data}


@pytest.fixture
async def server(aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_sandbox_app(SandboxConfig(auto_approve=True)))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(server: TestServer, session: aiohttp.ClientSession) -> TikTokApiClient:
    return TikTokApiClient(session, str(server.make_url("/open_api/v1.3")), timeout_seconds=2)


async def auth_code(server: TestServer, session: aiohttp.ClientSession) -> str:
    query = {"app_id": DEFAULT_APP_ID, "state": "s", "redirect_uri": "https://partner.example/cb"}
    async with session.get(server.make_url("/portal/auth"), params=query, allow_redirects=False) as response:
        location = response.headers["Location"]
    return location.split("auth_code=")[1].split("&")[0]


async def token(client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession) -> str:
    grant = await client.exchange_auth_code(DEFAULT_APP_ID, DEFAULT_APP_SECRET, await auth_code(server, session))
    return grant.access_token


async def sandbox_json(session: aiohttp.ClientSession, server: TestServer, method: str, path: str, **kw: Any) -> Any:
    async with session.request(method, server.make_url(path), **kw) as response:
        return await response.json()


class TestOAuthFlow:
    async def test_code_token_advertisers_revoke(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
    ) -> None:
        """Portal → code → token → advertisers → revoke → every later use is 40105."""
        grant = await client.exchange_auth_code(DEFAULT_APP_ID, DEFAULT_APP_SECRET, await auth_code(server, session))
        assert grant.advertiser_ids == DEFAULT_ADVERTISER_IDS
        assert grant.scope
        assert grant.request_id
        assert grant.access_token not in repr(grant)

        advertisers = await client.get_advertisers(DEFAULT_APP_ID, DEFAULT_APP_SECRET, grant.access_token)
        assert [a.advertiser_id for a in advertisers] == list(DEFAULT_ADVERTISER_IDS)
        assert advertisers[0].advertiser_name == "Sandbox Advertiser One"
        assert (await client.track(grant.access_token, track_body())).kind is OutcomeKind.DELIVERED

        revoked = await client.revoke_token(DEFAULT_APP_ID, DEFAULT_APP_SECRET, grant.access_token)
        assert revoked.advertiser_ids == DEFAULT_ADVERTISER_IDS
        with pytest.raises(AuthRevoked) as caught:
            await client.get_advertisers(DEFAULT_APP_ID, DEFAULT_APP_SECRET, grant.access_token)
        assert caught.value.code == 40105
        outcome = await client.track(grant.access_token, track_body())
        assert outcome.kind is OutcomeKind.REAUTH
        assert outcome.message == "Access token is incorrect or has been revoked."

    async def test_reused_code_is_rejected(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
    ) -> None:
        code = await auth_code(server, session)
        await client.exchange_auth_code(DEFAULT_APP_ID, DEFAULT_APP_SECRET, code)
        with pytest.raises(Rejected) as caught:
            await client.exchange_auth_code(DEFAULT_APP_ID, DEFAULT_APP_SECRET, code)
        assert caught.value.code == 40110
        assert caught.value.request_id

    async def test_wrong_secret_never_appears_in_the_error(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(Rejected) as caught:
            await client.exchange_auth_code(DEFAULT_APP_ID, "wrong-secret-value", await auth_code(server, session))
        assert caught.value.code == 40101
        assert "wrong-secret-value" not in str(caught.value)
        assert "wrong-secret-value" not in repr(caught.value.args)


class TestTrack:
    async def test_header_is_access_token_without_bearer(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
    ) -> None:
        access = await token(client, server, session)
        outcome = await client.track(access, track_body())
        assert outcome.delivered
        assert outcome.code == 0
        assert outcome.http_status == 200
        assert outcome.request_id
        requests = (await sandbox_json(session, server, "GET", "/_sandbox/requests"))["requests"]
        headers = requests[-1]["headers"]
        assert headers["Access-Token"] == f"<redacted:{fingerprint(access)}>"
        assert "Authorization" not in headers
        assert requests[-1]["path"] == "/open_api/v1.3/event/track/"

    @pytest.mark.parametrize(
        ("event", "message"),
        [
            ({**EVENT, "event_time": "1700000000"}, "Batch.0.event_time: Not a valid integer."),
            ({**EVENT, "event_id": 123}, "Invalid value for event_id: not a valid string."),
            (
                {**EVENT, "properties": {"contents": [{"content_id": 7}]}},
                "Batch.0.properties.contents.0.content_id: Not a valid string",
            ),
        ],
    )
    async def test_invalid_events_are_dead_with_tiktoks_message(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession, event: Any, message: str
    ) -> None:
        outcome = await client.track(await token(client, server, session), track_body(event))
        assert outcome.kind is OutcomeKind.DEAD
        assert outcome.code == 40002
        assert outcome.message == message

    async def test_too_many_events_are_dead(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
    ) -> None:
        many = [{**EVENT, "event_id": f"e{i}"} for i in range(1001)]
        outcome = await client.track(await token(client, server, session), track_body(*many))
        assert outcome.kind is OutcomeKind.DEAD

    async def test_bad_event_source_is_dead(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
    ) -> None:
        body = {**track_body(), "event_source": "messaging"}
        outcome = await client.track(await token(client, server, session), body)
        assert outcome.kind is OutcomeKind.DEAD

    async def test_bearer_prefix_and_empty_token_need_reauth(self, client: TikTokApiClient) -> None:
        assert (await client.track("Bearer sandbox-events-token", track_body())).kind is OutcomeKind.REAUTH
        assert (await client.track("", track_body())).code == 40104

    async def test_redelivery_is_deduplicated(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
    ) -> None:
        """A retried batch with the same event_ids is accepted and counted once by TikTok."""
        for _ in range(3):
            assert (await client.track("sandbox-events-token", track_body())).delivered
        totals = (await sandbox_json(session, server, "GET", "/_sandbox/events"))["totals"]
        assert totals == {"received": 3, "unique": 1, "deduplicated": 2}

    async def test_seeded_faults_are_all_retryable(
        self, client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
    ) -> None:
        """30 % injected failures (50000 / 40100 / 5xx): every one is RETRY, and none records events."""
        spec = {"error_rate": 0.2, "error_codes": [50000, 40100], "http_5xx_rate": 0.1, "seed": 1}
        await sandbox_json(session, server, "POST", "/_sandbox/faults", json=spec)
        outcomes = [
            await client.track("sandbox-events-token", track_body({**EVENT, "event_id": f"e{i}"})) for i in range(40)
        ]
        kinds = {outcome.kind for outcome in outcomes}
        failed = [outcome for outcome in outcomes if not outcome.delivered]
        assert kinds == {OutcomeKind.DELIVERED, OutcomeKind.RETRY}
        assert 4 <= len(failed) <= 24
        assert {outcome.code for outcome in failed} <= {50000, 40100, None}
        assert any(outcome.code is None and (outcome.http_status or 0) >= 500 for outcome in failed)
        totals = (await sandbox_json(session, server, "GET", "/_sandbox/events"))["totals"]
        assert totals["unique"] == len(outcomes) - len(failed)

    async def test_timeout_is_retry(self, server: TestServer, session: aiohttp.ClientSession) -> None:
        await sandbox_json(
            session, server, "POST", "/_sandbox/faults", json={"timeout_rate": 1, "timeout_seconds": 0.5}
        )
        fast = TikTokApiClient(session, str(server.make_url("/open_api/v1.3/")), timeout_seconds=0.1)
        outcome = await fast.track("sandbox-events-token", track_body())
        assert outcome.kind is OutcomeKind.RETRY
        assert outcome.http_status is None
        assert "timed out" in outcome.message

    async def test_connection_error_is_retry(self, session: aiohttp.ClientSession, unused_tcp_port: int) -> None:
        dead = TikTokApiClient(session, f"http://127.0.0.1:{unused_tcp_port}/open_api/v1.3/")
        outcome = await dead.track("tok", track_body())
        assert outcome.kind is OutcomeKind.RETRY
        assert outcome.message.startswith("Connection to TikTok failed")


class TestOAuthErrors:
    @pytest.mark.parametrize(
        ("spec", "error"),
        [
            ({"error_rate": 1, "error_codes": [40100]}, Throttled),
            ({"error_rate": 1, "error_codes": [50000]}, TransientError),
            ({"http_5xx_rate": 1}, TransientError),
        ],
    )
    async def test_faults_raise_retryable_errors(
        self,
        client: TikTokApiClient,
        server: TestServer,
        session: aiohttp.ClientSession,
        spec: dict[str, Any],
        error: type[TikTokApiError],
    ) -> None:
        await sandbox_json(session, server, "POST", "/_sandbox/faults", json=spec)
        with pytest.raises(error):
            await client.get_advertisers(DEFAULT_APP_ID, DEFAULT_APP_SECRET, "any-token")


def canned(status: int, body: str, content_type: str = "application/json", **headers: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


class TestBadServers:
    @pytest.mark.parametrize(
        ("app", "kind", "code"),
        [
            (canned(429, "slow down", "text/plain", **{"Retry-After": "7"}), OutcomeKind.RETRY, None),
            (canned(200, "<html>maintenance</html>", "text/html"), OutcomeKind.RETRY, None),
            (canned(200, '{"unexpected": true}'), OutcomeKind.RETRY, None),
            (canned(404, "404 page not found", "text/plain"), OutcomeKind.DEAD, None),
            (canned(200, '{"code": 20001, "message": "partial", "request_id": "r"}'), OutcomeKind.DELIVERED, 20001),
            (canned(200, '{"code": 51000, "message": "busy"}'), OutcomeKind.RETRY, 51000),
            (canned(500, '{"code": 40002, "message": "odd"}'), OutcomeKind.RETRY, 40002),
        ],
    )
    async def test_classification(
        self,
        aiohttp_server: AiohttpServer,
        session: aiohttp.ClientSession,
        app: web.Application,
        kind: OutcomeKind,
        code: int | None,
    ) -> None:
        server = await aiohttp_server(app)
        outcome = await TikTokApiClient(session, str(server.make_url("/"))).track("tok", track_body())
        assert outcome.kind is kind
        assert outcome.code == code

    async def test_retry_after_and_throttled(
        self, aiohttp_server: AiohttpServer, session: aiohttp.ClientSession
    ) -> None:
        server = await aiohttp_server(canned(429, "slow down", "text/plain", **{"Retry-After": "7"}))
        client = TikTokApiClient(session, str(server.make_url("/")))
        assert (await client.track("tok", track_body())).retry_after == 7.0
        with pytest.raises(Throttled):
            await client.revoke_token("app", "secret", "tok")

    async def test_success_without_token_is_transient(
        self, aiohttp_server: AiohttpServer, session: aiohttp.ClientSession
    ) -> None:
        server = await aiohttp_server(canned(200, '{"code": 0, "message": "OK", "data": {}}'))
        with pytest.raises(TransientError):
            await TikTokApiClient(session, str(server.make_url("/"))).exchange_auth_code("a", "s", "c")


@pytest.mark.parametrize(
    ("http_status", "code", "kind"),
    [
        (200, 0, OutcomeKind.DELIVERED),
        (200, 20001, OutcomeKind.DELIVERED),
        (200, 40100, OutcomeKind.RETRY),
        (200, 50000, OutcomeKind.RETRY),
        (200, 40105, OutcomeKind.REAUTH),
        (200, 40104, OutcomeKind.REAUTH),
        (200, 40001, OutcomeKind.DEAD),
        (200, 40002, OutcomeKind.DEAD),
        (200, 40101, OutcomeKind.DEAD),
        (200, 40110, OutcomeKind.DEAD),
        (429, None, OutcomeKind.RETRY),
        (503, None, OutcomeKind.RETRY),
        (408, None, OutcomeKind.RETRY),
        (401, None, OutcomeKind.DEAD),
        (None, None, OutcomeKind.RETRY),
    ],
)
def test_classify(http_status: int | None, code: int | None, kind: OutcomeKind) -> None:
    assert classify(http_status, code) is kind


async def test_logs_hold_no_token_secret_or_body(
    client: TikTokApiClient, server: TestServer, session: aiohttp.ClientSession
) -> None:
    with structlog.testing.capture_logs() as logs:
        access = await token(client, server, session)
        await client.get_advertisers(DEFAULT_APP_ID, DEFAULT_APP_SECRET, access)
        await client.track(access, track_body({**EVENT, "event_id": "secret-order-42"}))
    dump = repr(logs)
    assert logs
    assert all(entry["event"] == "tiktok_api_call" for entry in logs)
    for forbidden in (access, DEFAULT_APP_SECRET, "secret-order-42", "L1"):
        assert forbidden not in dump
    assert logs[-1]["request_id"]
    assert logs[-1]["code"] == 0


async def test_base_urls_get_a_trailing_slash(session: aiohttp.ClientSession) -> None:
    assert DEFAULT_BASE_URL == "https://business-api.tiktok.com/open_api/v1.3/"
    assert (
        TikTokApiClient(session, "http://sandbox:8765/open_api/v1.3").base_url == "http://sandbox:8765/open_api/v1.3/"
    )
