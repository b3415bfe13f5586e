"""The connection API: status, revocation at TikTok, and the manual Events Manager token."""

from __future__ import annotations

import aiohttp
import pytest
from oauth_support import PIXEL_ONE, Partner, connect, fingerprint

from partner.reporting.client import AuthRevoked, TikTokApiClient
from partner.sandbox.state import DEFAULT_APP_ID, DEFAULT_APP_SECRET, DEFAULT_EVENTS_TOKEN, DEFAULT_MES_ID

CONNECTION = "/api/v1/tiktok/connection"


def _params(workspace_id: int) -> dict[str, str]:
    return {"workspace": str(workspace_id)}


async def _oauth_token(partner: Partner, workspace_id: int) -> str:
    row = await partner.connection_row(workspace_id)
    return partner.decrypt(row.access_token_encrypted)


async def test_delete_revokes_at_tiktok_and_forgets_the_token(partner: Partner, browser: aiohttp.ClientSession) -> None:
    workspace_id = await partner.create_workspace()
    await connect(partner, browser, workspace_id)
    token = await _oauth_token(partner, workspace_id)

    status, body = await partner.api("DELETE", CONNECTION, params=_params(workspace_id))
    assert status == 200, body
    assert body["tiktok"] == "revoked"
    assert body["status"] == "revoked"
    assert token not in repr(body)

    [revoke] = partner.token_requests("/oauth2/revoke_token/")
    assert revoke["body"]["access_token"] == f"<redacted:{fingerprint(token)}>"  # the sandbox saw our token
    async with aiohttp.ClientSession() as session:
        client = TikTokApiClient(session, str(partner.sandbox.make_url("/open_api/v1.3/")))
        with pytest.raises(AuthRevoked) as revoked:
            await client.get_advertisers(DEFAULT_APP_ID, DEFAULT_APP_SECRET, token)
    assert revoked.value.code == 40105

    row = await partner.connection_row(workspace_id)
    assert row.status == "revoked"
    assert row.access_token_encrypted is None
    config = await partner.reporting_row(workspace_id)
    assert config.access_token_encrypted is None
    assert config.event_source_id == PIXEL_ONE  # the choice stays, ready for the next authorization
    _, shown = await partner.api("GET", CONNECTION, params=_params(workspace_id))
    assert shown["status"] == "revoked"
    assert shown["has_access_token"] is False

    again, error = await partner.api("DELETE", CONNECTION, params=_params(workspace_id))
    assert again == 404
    assert error["error"]["code"] == "not_found"


async def test_delete_after_tiktok_already_revoked_still_deletes_and_says_so(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace()
    await connect(partner, browser, workspace_id)
    partner.sandbox_state.revoke_all_tokens()
    status, body = await partner.api("DELETE", CONNECTION, params=_params(workspace_id))
    assert status == 200
    assert body["tiktok"] == "already_revoked"
    assert "already revoked" in body["detail"]
    assert (await partner.connection_row(workspace_id)).access_token_encrypted is None


async def test_delete_when_tiktok_refuses_still_deletes_and_says_so(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace()
    await connect(partner, browser, workspace_id)
    async with aiohttp.ClientSession() as control:  # the app secret was reset at TikTok: 40101 from now on
        apps = {"apps": [{"app_id": DEFAULT_APP_ID, "secret": "a-new-secret"}]}
        response = await control.post(partner.sandbox.make_url("/_sandbox/config"), json=apps)
        assert response.status == 200, await response.text()
    status, body = await partner.api("DELETE", CONNECTION, params=_params(workspace_id))
    assert status == 200
    assert body["tiktok"] == "refused"
    assert "40101" in body["detail"]
    assert "deleted here" in body["detail"]
    assert (await partner.reporting_row(workspace_id)).access_token_encrypted is None


async def test_delete_when_tiktok_is_unavailable_changes_nothing(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace()
    await connect(partner, browser, workspace_id)
    async with aiohttp.ClientSession() as control:
        faults = {"error_rate": 1.0, "error_codes": [50000], "targets": ["tiktok"]}
        assert (await control.post(partner.sandbox.make_url("/_sandbox/faults"), json=faults)).status == 200
    status, body = await partner.api("DELETE", CONNECTION, params=_params(workspace_id))
    assert status == 502
    assert body["error"]["code"] == "tiktok_unavailable"
    assert (await partner.connection_row(workspace_id)).status == "connected"
    assert (await partner.reporting_row(workspace_id)).access_token_encrypted is not None


async def test_manual_token_is_stored_encrypted_and_reports(partner: Partner) -> None:
    workspace_id = await partner.create_workspace()
    await partner.add_whatsapp_channel(workspace_id)
    manual = {"access_token": DEFAULT_EVENTS_TOKEN, "event_source_id": DEFAULT_MES_ID, "event_source": "web"}
    status, body = await partner.api("PUT", CONNECTION, params=_params(workspace_id), json=manual)
    assert status == 200, body
    assert DEFAULT_EVENTS_TOKEN not in repr(body)
    assert body["status"] == "connected"
    assert body["source"] == "manual"
    assert body["selected_event_set_id"] == DEFAULT_MES_ID
    assert body["reporting"] == {
        "event_source": "web",
        "event_source_id": DEFAULT_MES_ID,
        "has_access_token": True,
        "needs_reauthorization": False,
        "enabled": True,
    }
    row = await partner.connection_row(workspace_id)
    config = await partner.reporting_row(workspace_id)
    assert partner.decrypt(row.access_token_encrypted) == DEFAULT_EVENTS_TOKEN
    assert partner.decrypt(config.access_token_encrypted) == DEFAULT_EVENTS_TOKEN

    await partner.post_whatsapp_text("wamid.MANUAL1")
    assert await partner.deliver() == 1
    assert [event["event_source_id"] for event in partner.delivered_events()] == [DEFAULT_MES_ID]

    status, body = await partner.api("DELETE", CONNECTION, params=_params(workspace_id))
    assert status == 200
    assert body["tiktok"] == "not_attempted"  # Events Manager tokens are not the app's to revoke
    assert "Events Manager" in body["detail"]
    assert partner.token_requests("/oauth2/revoke_token/") == []


async def test_manual_token_releases_events_waiting_for_reauthorization(partner: Partner) -> None:
    workspace_id = await partner.create_workspace()
    await partner.add_whatsapp_channel(workspace_id)
    stale = {"access_token": "token-that-tiktok-revoked", "event_source_id": DEFAULT_MES_ID}
    assert (await partner.api("PUT", CONNECTION, params=_params(workspace_id), json=stale))[0] == 200
    await partner.post_whatsapp_text("wamid.MANUAL2")
    await partner.deliver()  # 40105
    _, body = await partner.api("GET", CONNECTION, params=_params(workspace_id))
    assert body["status"] == "needs_reauthorization"

    fresh = {"access_token": DEFAULT_EVENTS_TOKEN, "event_source_id": DEFAULT_MES_ID}
    _, body = await partner.api("PUT", CONNECTION, params=_params(workspace_id), json=fresh)
    assert body["status"] == "connected"
    assert await partner.deliver() == 1
    assert len(partner.delivered_events()) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_source_id": DEFAULT_MES_ID}, "access_token"),
        ({"access_token": "t", "event_source_id": "has spaces"}, "event_source_id"),
        ({"access_token": "t", "event_source_id": DEFAULT_MES_ID, "event_source": "sms"}, "event_source"),
        ({"access_token": "t", "event_source_id": DEFAULT_MES_ID, "extra": 1}, "extra"),
    ],
)
async def test_manual_token_is_validated(partner: Partner, body: dict[str, object], field: str) -> None:
    workspace_id = await partner.create_workspace()
    status, error = await partner.api("PUT", CONNECTION, params=_params(workspace_id), json=body)
    assert status == 422
    assert error["error"]["field"] == field
    assert await partner.connection_row(workspace_id) is None


async def test_status_of_a_workspace_without_connection(partner: Partner) -> None:
    workspace_id = await partner.create_workspace()
    status, body = await partner.api("GET", CONNECTION, params=_params(workspace_id))
    assert status == 200
    assert body["status"] == "not_connected"
    assert body["advertiser_ids"] == []
    assert body["reporting"] is None
    missing, _ = await partner.api("GET", CONNECTION, params={"workspace": "999"})
    assert missing == 404
    async with aiohttp.ClientSession() as session:
        unauthorised = await session.get(partner.url(CONNECTION), params=_params(workspace_id))
        assert unauthorised.status == 401
