"""The advertiser authorization flow end to end: partner -> TikTok portal -> callback -> selection -> reporting."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import aiohttp
from oauth_support import (
    ADVERTISER_ONE,
    ADVERTISER_TWO,
    PIXEL_ONE,
    BrowserFactory,
    Partner,
    authorize_in_browser,
    callback_url,
    connect,
    form_token,
    submit_selection,
    with_query,
)
from structlog.testing import capture_logs

from partner.sandbox.state import DEFAULT_APP_ID, DEFAULT_MES_ID
from tests.conftest import admin_headers


async def test_whole_flow_connects_the_workspace_and_events_reach_tiktok(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace("Shop")
    await partner.add_whatsapp_channel(workspace_id)
    pages: list[str] = []
    with capture_logs() as logs:
        response = await authorize_in_browser(partner, browser, workspace_id)
        pages.append(await response.text())
        # the redirect chain really went through TikTok's portal and back to our callback
        hops = [str(hop.url) for hop in response.history]
        assert any("/portal/auth" in hop for hop in hops)
        assert response.url.path == "/oauth/tiktok/callback"
        assert response.status == 200
        page = pages[0]
        assert "Sandbox Advertiser One" in page
        assert "Sandbox Advertiser Two" in page
        assert ADVERTISER_ONE in page
        done = await submit_selection(partner, browser, form_token(page))
        pages.append(await done.text())
        assert done.status == 200
        assert "TikTok is connected" in pages[1]
        assert PIXEL_ONE in pages[1]
        status, body = await partner.api("GET", "/api/v1/tiktok/connection", params={"workspace": str(workspace_id)})

    [token] = partner.issued_tokens()[-1:]  # the OAuth token the sandbox issued (after the Events Manager one)
    config = await partner.reporting_row(workspace_id)
    assert config.event_source_id == PIXEL_ONE
    assert config.event_source == "web"
    assert config.needs_reauthorization is False
    assert partner.decrypt(config.access_token_encrypted) == token
    assert config.access_token_encrypted != token

    assert status == 200
    assert body["status"] == "connected"
    assert body["source"] == "oauth"
    assert body["advertiser_ids"] == [ADVERTISER_ONE, ADVERTISER_TWO]
    assert body["selected_advertiser_id"] == ADVERTISER_ONE
    assert body["selected_event_set_id"] == PIXEL_ONE
    assert body["scopes"] == [1, 4, 200]
    assert body["reporting"]["has_access_token"] is True

    for text in [*pages, repr(body), repr(logs)]:
        assert token not in text

    await partner.post_whatsapp_text("wamid.OAUTH1")
    assert await partner.deliver() == 1
    [event] = partner.delivered_events()
    assert event["event_source_id"] == PIXEL_ONE
    assert event["event"] == "Contact"
    [track] = partner.token_requests("/event/track/")
    assert token not in repr(track)  # the sandbox records a fingerprint, proving which token was used
    assert track["headers"]["Access-Token"].startswith("<redacted:")


async def test_authorize_url_names_the_app_the_state_and_the_callback(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace()
    response = await browser.get(
        partner.url("/oauth/tiktok/authorize"),
        params={"workspace": str(workspace_id)},
        headers=admin_headers(),
        allow_redirects=False,
    )
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert location.path == "/portal/auth"
    assert query["app_id"] == DEFAULT_APP_ID
    assert query["redirect_uri"] == partner.url("/oauth/tiktok/callback")
    assert query["state"].startswith("v1.")
    cookie = response.cookies[f"partner_oauth_w{workspace_id}"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/oauth/tiktok/"


async def test_json_format_returns_the_url_for_clients_that_open_it_themselves(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace()
    response = await browser.get(
        partner.url("/oauth/tiktok/authorize"),
        params={"workspace": str(workspace_id), "format": "json"},
        headers=admin_headers(),
    )
    assert response.status == 200
    body = await response.json()
    assert body["redirect_uri"] == partner.url("/oauth/tiktok/callback")
    assert body["expires_in"] == 600
    page = await browser.get(body["url"])  # same browser: it holds the binding cookie from the JSON answer
    assert page.status == 200
    assert "Choose where to report" in await page.text()


async def test_callback_accepts_code_as_well_as_auth_code(partner: Partner, browser: aiohttp.ClientSession) -> None:
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    code = parse_qs(urlsplit(url).query)["auth_code"][0]
    renamed = with_query(url.replace("auth_code=", "unused="), code=code)
    response = await browser.get(renamed)
    assert response.status == 200, await response.text()
    assert (await partner.connection_row(workspace_id)).status == "connected"


async def test_selection_form_shows_mistakes_and_keeps_its_token(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace()
    page = await authorize_in_browser(partner, browser, workspace_id)
    token = form_token(await page.text())

    wrong_account = await submit_selection(partner, browser, token, advertiser_id="123")
    assert wrong_account.status == 400
    assert "Choose one of the ad accounts" in await wrong_account.text()
    wrong_set = await submit_selection(partner, browser, token, event_source_id="<bad id>")
    assert wrong_set.status == 400
    assert "&lt;bad id&gt;" in await wrong_set.text()
    assert await partner.reporting_row(workspace_id) is None

    done = await submit_selection(partner, browser, token, advertiser_id=ADVERTISER_TWO, event_source_id=DEFAULT_MES_ID)
    assert done.status == 200
    config = await partner.reporting_row(workspace_id)
    assert config.event_source_id == DEFAULT_MES_ID
    assert (await partner.connection_row(workspace_id)).selected_advertiser_id == ADVERTISER_TWO


async def test_pages_escape_what_they_show(partner: Partner, browser: aiohttp.ClientSession) -> None:
    workspace_id = await partner.create_workspace('<script>alert("x")</script>')
    response = await authorize_in_browser(partner, browser, workspace_id)
    page = await response.text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert response.headers["Referrer-Policy"] == "no-referrer"  # the callback URL carries the auth_code
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_revoked_token_surfaces_as_needs_reauthorization_until_authorized_again(
    partner: Partner, new_browser: BrowserFactory
) -> None:
    workspace_id = await partner.create_workspace()
    await partner.add_whatsapp_channel(workspace_id)
    await connect(partner, new_browser(), workspace_id)
    partner.sandbox_state.revoke_all_tokens()  # the advertiser removed the app in TikTok's UI

    await partner.post_whatsapp_text("wamid.REAUTH1")
    await partner.deliver()  # TikTok answers 40105; the outbox flags the workspace and parks the event
    params = {"workspace": str(workspace_id)}
    _, body = await partner.api("GET", "/api/v1/tiktok/connection", params=params)
    assert body["status"] == "needs_reauthorization"
    assert body["reporting"]["needs_reauthorization"] is True
    assert (await partner.connection_row(workspace_id)).status == "needs_reauthorization"
    assert _gauge(await _metrics(partner)) == 1.0

    final = await connect(partner, new_browser(), workspace_id)
    assert "1 event(s) that were waiting" in final
    _, body = await partner.api("GET", "/api/v1/tiktok/connection", params=params)
    assert body["status"] == "connected"
    assert _gauge(await _metrics(partner)) == 0.0
    assert await partner.deliver() == 1
    assert [event["event_source_id"] for event in partner.delivered_events()] == [PIXEL_ONE]


async def test_reauthorization_prefills_the_previous_choice(partner: Partner, new_browser: BrowserFactory) -> None:
    workspace_id = await partner.create_workspace()
    await connect(partner, new_browser(), workspace_id, advertiser_id=ADVERTISER_TWO, event_source_id=DEFAULT_MES_ID)
    response = await authorize_in_browser(partner, new_browser(), workspace_id)
    page = await response.text()
    assert f'value="{DEFAULT_MES_ID}"' in page
    assert re.search(rf'value="{ADVERTISER_TWO}" checked', page)


async def _metrics(partner: Partner) -> str:
    async with aiohttp.ClientSession() as session, session.get(partner.url("/metrics")) as response:
        return await response.text()


def _gauge(metrics: str) -> float:
    found = re.search(r"^partner_workspaces_needing_reauthorization (\S+)$", metrics, re.MULTILINE)
    assert found is not None
    return float(found.group(1))
