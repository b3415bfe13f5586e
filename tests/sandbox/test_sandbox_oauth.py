"""The advertiser OAuth stand-in: consent portal, code exchange, advertiser listing and revocation."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from partner.sandbox import ManualClock
from partner.sandbox.state import DEFAULT_ADVERTISER_IDS, DEFAULT_APP_ID, DEFAULT_APP_SECRET

Client = TestClient[Any, Any]
API = "/open_api/v1.3"
REDIRECT = "https://partner.example/oauth/callback"


def callback_params(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def approve(sandbox: Client, **extra: str) -> str:
    query = {"app_id": DEFAULT_APP_ID, "state": "s1", "redirect_uri": REDIRECT, "auto_approve": "1", **extra}
    response = await sandbox.get("/portal/auth", params=query, allow_redirects=False)
    return callback_params(response.headers["Location"])["auth_code"]


async def exchange(sandbox: Client, code: str, secret: str = DEFAULT_APP_SECRET) -> dict[str, Any]:
    body = {"app_id": DEFAULT_APP_ID, "secret": secret, "auth_code": code}
    response = await sandbox.post(f"{API}/oauth2/access_token/", json=body)
    assert response.status == 200  # TikTok answers errors with HTTP 200 too
    result: dict[str, Any] = await response.json()
    return result


class TestPortal:
    async def test_consent_page_lists_advertisers_and_escapes_state(self, sandbox: Client) -> None:
        """The page shows every advertiser and never reflects query values unescaped."""
        query = {"app_id": DEFAULT_APP_ID, "state": '"><script>x</script>', "redirect_uri": REDIRECT}
        response = await sandbox.get("/portal/auth", params=query)
        page = await response.text()
        assert response.status == 200
        assert "Sandbox Advertiser One" in page
        assert "Sandbox Advertiser Two" in page
        assert "<script>x" not in page
        assert 'value="authorize"' in page
        assert 'value="deny"' in page

    @pytest.mark.parametrize(
        "query",
        [
            {"app_id": "nope", "redirect_uri": REDIRECT},
            {"app_id": DEFAULT_APP_ID},
            {"app_id": DEFAULT_APP_ID, "redirect_uri": "javascript:alert(1)"},
        ],
    )
    async def test_bad_request_is_an_error_page(self, sandbox: Client, query: dict[str, str]) -> None:
        """Unknown app, missing or non-http redirect_uri: a 400 page, never a redirect."""
        response = await sandbox.get("/portal/auth", params=query, allow_redirects=False)
        assert response.status == 400
        assert "Authorization error" in await response.text()

    async def test_authorize_redirects_with_code_and_state(self, sandbox: Client) -> None:
        """The callback carries ``auth_code`` (not ``code``) and the caller's state."""
        form = {"app_id": DEFAULT_APP_ID, "redirect_uri": REDIRECT, "state": "xyz", "action": "authorize"}
        data = [*form.items(), ("advertiser_id", DEFAULT_ADVERTISER_IDS[1])]
        response = await sandbox.post("/portal/auth", data=data, allow_redirects=False)
        assert response.status == 302
        location = response.headers["Location"]
        assert location.startswith(REDIRECT + "?")
        params = callback_params(location)
        assert params["state"] == "xyz"
        assert len(params["auth_code"]) == 40
        grant = await exchange(sandbox, params["auth_code"])
        assert grant["data"]["advertiser_ids"] == [DEFAULT_ADVERTISER_IDS[1]]

    async def test_deny_redirects_with_access_denied(self, sandbox: Client) -> None:
        form = {"app_id": DEFAULT_APP_ID, "redirect_uri": REDIRECT, "state": "xyz", "action": "deny"}
        response = await sandbox.post("/portal/auth", data=form, allow_redirects=False)
        params = callback_params(response.headers["Location"])
        assert params["error"] == "access_denied"
        assert params["state"] == "xyz"
        assert "auth_code" not in params

    async def test_authorize_without_advertisers_is_rejected(self, sandbox: Client) -> None:
        form = {"app_id": DEFAULT_APP_ID, "redirect_uri": REDIRECT, "action": "authorize"}
        response = await sandbox.post("/portal/auth", data=form, allow_redirects=False)
        assert response.status == 400

    async def test_redirect_keeps_existing_query(self, sandbox: Client) -> None:
        query = {"app_id": DEFAULT_APP_ID, "redirect_uri": f"{REDIRECT}?tenant=7", "auto_approve": "1"}
        response = await sandbox.get("/portal/auth", params=query, allow_redirects=False)
        params = callback_params(response.headers["Location"])
        assert params["tenant"] == "7"
        assert "auth_code" in params
        assert "state" not in params

    async def test_registered_redirect_uris_are_enforced(self, sandbox: Client) -> None:
        app = {"app_id": "strict", "secret": "s", "redirect_uris": [REDIRECT]}
        await sandbox.post("/_sandbox/config", json={"apps": [app]})
        bad = await sandbox.get("/portal/auth", params={"app_id": "strict", "redirect_uri": "https://evil.example/"})
        good = await sandbox.get("/portal/auth", params={"app_id": "strict", "redirect_uri": REDIRECT})
        assert (bad.status, good.status) == (400, 200)

    async def test_config_auto_approve_skips_the_page(self, sandbox: Client) -> None:
        await sandbox.post("/_sandbox/config", json={"auto_approve": True})
        query = {"app_id": DEFAULT_APP_ID, "redirect_uri": REDIRECT}
        response = await sandbox.get("/portal/auth", params=query, allow_redirects=False)
        assert response.status == 302
        assert "auth_code=" in response.headers["Location"]


class TestAccessToken:
    async def test_exchange_returns_token_advertisers_and_scope(self, sandbox: Client) -> None:
        grant = await exchange(sandbox, await approve(sandbox))
        assert grant["code"] == 0
        assert grant["message"] == "OK"
        assert grant["request_id"]
        assert grant["data"]["advertiser_ids"] == list(DEFAULT_ADVERTISER_IDS)
        assert all(isinstance(item, int) for item in grant["data"]["scope"])
        assert len(grant["data"]["access_token"]) == 40

    async def test_code_is_single_use(self, sandbox: Client) -> None:
        code = await approve(sandbox)
        assert (await exchange(sandbox, code))["code"] == 0
        assert (await exchange(sandbox, code))["code"] == 40110

    async def test_code_expires_after_an_hour(self, sandbox: Client, clock: ManualClock) -> None:
        code = await approve(sandbox)
        clock.advance(3600)
        assert (await exchange(sandbox, code))["code"] == 40110

    async def test_unknown_code(self, sandbox: Client) -> None:
        assert (await exchange(sandbox, "0" * 40))["code"] == 40110

    async def test_wrong_secret(self, sandbox: Client) -> None:
        result = await exchange(sandbox, await approve(sandbox), secret="wrong")
        assert result["code"] == 40101
        assert result["data"] == {}

    async def test_code_of_another_app(self, sandbox: Client) -> None:
        await sandbox.post("/_sandbox/config", json={"apps": [{"app_id": "other", "secret": "other-secret"}]})
        code = await approve(sandbox)
        body = {"app_id": "other", "secret": "other-secret", "auth_code": code}
        response = await sandbox.post(f"{API}/oauth2/access_token/", json=body)
        assert (await response.json())["code"] == 40110

    async def test_missing_field(self, sandbox: Client) -> None:
        response = await sandbox.post(f"{API}/oauth2/access_token/", json={"app_id": DEFAULT_APP_ID})
        result = await response.json()
        assert result["code"] == 40002
        assert "secret" in result["message"]

    async def test_return_advertiser_ids_false(self, sandbox: Client) -> None:
        body = {
            "app_id": DEFAULT_APP_ID,
            "secret": DEFAULT_APP_SECRET,
            "auth_code": await approve(sandbox),
            "return_advertiser_ids": False,
        }
        response = await sandbox.post(f"{API}/oauth2/access_token/", json=body)
        assert "advertiser_ids" not in (await response.json())["data"]


class TestAdvertisersAndRevoke:
    async def get_advertisers(self, sandbox: Client, token: str | None) -> dict[str, Any]:
        headers = {"Access-Token": token} if token is not None else {}
        query = {"app_id": DEFAULT_APP_ID, "secret": DEFAULT_APP_SECRET}
        response = await sandbox.get(f"{API}/oauth2/advertiser/get/", params=query, headers=headers)
        result: dict[str, Any] = await response.json()
        return result

    async def revoke(self, sandbox: Client, token: str) -> dict[str, Any]:
        body = {"app_id": DEFAULT_APP_ID, "secret": DEFAULT_APP_SECRET, "access_token": token}
        response = await sandbox.post(f"{API}/oauth2/revoke_token/", json=body)
        result: dict[str, Any] = await response.json()
        return result

    async def test_lists_authorized_advertisers(self, sandbox: Client, oauth_token: str) -> None:
        result = await self.get_advertisers(sandbox, oauth_token)
        assert result["code"] == 0
        assert result["data"]["list"] == [
            {"advertiser_id": DEFAULT_ADVERTISER_IDS[0], "advertiser_name": "Sandbox Advertiser One"},
            {"advertiser_id": DEFAULT_ADVERTISER_IDS[1], "advertiser_name": "Sandbox Advertiser Two"},
        ]

    async def test_missing_and_bearer_tokens(self, sandbox: Client, oauth_token: str) -> None:
        assert (await self.get_advertisers(sandbox, None))["code"] == 40104
        assert (await self.get_advertisers(sandbox, f"Bearer {oauth_token}"))["code"] == 40105

    async def test_events_token_is_not_an_app_token(self, sandbox: Client) -> None:
        assert (await self.get_advertisers(sandbox, "sandbox-events-token"))["code"] == 40001

    async def test_revoke_then_token_is_dead(self, sandbox: Client, oauth_token: str) -> None:
        revoked = await self.revoke(sandbox, oauth_token)
        assert revoked["code"] == 0
        assert revoked["data"] == {"app_id": DEFAULT_APP_ID, "advertiser_ids": list(DEFAULT_ADVERTISER_IDS)}
        after = await self.get_advertisers(sandbox, oauth_token)
        assert after["code"] == 40105
        assert after["message"] == "Access token is incorrect or has been revoked."
        assert (await self.revoke(sandbox, oauth_token))["code"] == 40105
