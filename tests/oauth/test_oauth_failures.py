"""Every way the authorization can fail ends on a clear page (or JSON error) and stores nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from oauth_support import (
    MovableClock,
    Partner,
    StartPartner,
    authorize_in_browser,
    callback_url,
    form_token,
    portal_redirect,
    submit_selection,
    with_query,
)

from partner.sandbox.state import DEFAULT_APP_ID
from tests.conftest import admin_headers


async def _nothing_stored(partner: Partner, workspace_id: int) -> None:
    assert await partner.connection_row(workspace_id) is None
    assert await partner.reporting_row(workspace_id) is None


def _state(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


async def _page(response: aiohttp.ClientResponse) -> str:
    assert response.headers["Content-Type"].startswith("text/html")
    return await response.text()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"), id="signature"),
        pytest.param(lambda s: s.replace("v1.", "v1.e", 1), id="payload"),
        pytest.param(lambda s: "", id="missing"),
        pytest.param(lambda s: "not-a-state", id="garbage"),
    ],
)
async def test_tampered_or_missing_state_is_refused(
    partner: Partner, browser: aiohttp.ClientSession, tamper: Callable[[str], str]
) -> None:
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    response = await browser.get(with_query(url, state=tamper(_state(url))))
    assert response.status == 400
    assert "This link is not valid" in await _page(response)
    await _nothing_stored(partner, workspace_id)
    assert partner.token_requests("/oauth2/access_token/") == []  # the code was never even exchanged


async def test_callback_from_another_browser_is_a_state_mismatch(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    """A link started by someone else (their cookie, not ours) cannot connect anything in this browser."""
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    async with aiohttp.ClientSession() as other_browser:
        response = await other_browser.get(url)
        assert response.status == 400
        assert "started somewhere else" in await _page(response)
    await _nothing_stored(partner, workspace_id)


async def test_callback_with_a_different_binding_cookie_is_a_state_mismatch(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as attacker:
        cookie = {f"partner_oauth_w{workspace_id}": "A" * 43}
        jar.update_cookies(cookie, response_url=partner.server.make_url("/oauth/tiktok/"))
        response = await attacker.get(url)
        assert response.status == 400
        assert "started somewhere else" in await _page(response)
    await _nothing_stored(partner, workspace_id)


async def test_callback_whose_state_belongs_to_another_workspace_is_refused(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    """This browser is connecting workspace A; a callback carrying workspace B's state connects neither."""
    mine = await partner.create_workspace("Mine")
    theirs = await partner.create_workspace("Theirs")
    await portal_redirect(partner, browser, mine)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as someone_else:
        their_callback = await callback_url(partner, someone_else, theirs)
    response = await browser.get(their_callback)
    assert response.status == 400
    assert "belongs to another workspace" in await _page(response)
    await _nothing_stored(partner, mine)
    await _nothing_stored(partner, theirs)


async def test_replayed_callback_is_refused(partner: Partner, browser: aiohttp.ClientSession) -> None:
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    first = await browser.get(url)
    assert first.status == 200
    stored = await partner.connection_row(workspace_id)

    again = await browser.get(url)
    assert again.status == 400
    assert "already used" in await _page(again)
    assert len(partner.token_requests("/oauth2/access_token/")) == 1
    assert await partner.connection_row(workspace_id) == stored


async def test_replay_with_a_fresh_code_is_refused_too(partner: Partner, browser: aiohttp.ClientSession) -> None:
    """The state, not the code, is what is single use here: a new code cannot ride on a spent state."""
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    assert (await browser.get(url)).status == 200
    fresh = await callback_url(partner, browser, workspace_id)
    replay = with_query(url, auth_code=parse_qs(urlsplit(fresh).query)["auth_code"][0])
    response = await browser.get(replay)
    assert response.status == 400
    assert "already used" in await _page(response)


async def test_expired_state_is_refused(start_partner: StartPartner, browser: aiohttp.ClientSession) -> None:
    clock = MovableClock()
    partner = await start_partner(clock=clock)
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    clock.advance(timedelta(minutes=10, seconds=1))
    response = await browser.get(url)
    assert response.status == 400
    assert "expired" in await _page(response)
    await _nothing_stored(partner, workspace_id)
    assert partner.token_requests("/oauth2/access_token/") == []


async def test_expired_selection_form_is_refused(start_partner: StartPartner, browser: aiohttp.ClientSession) -> None:
    clock = MovableClock()
    partner = await start_partner(clock=clock)
    workspace_id = await partner.create_workspace()
    page = await authorize_in_browser(partner, browser, workspace_id)
    clock.advance(timedelta(minutes=31))
    response = await submit_selection(partner, browser, form_token(await page.text()))
    assert response.status == 400
    assert "expired" in await _page(response)
    assert await partner.reporting_row(workspace_id) is None


async def test_error_from_tiktok_is_explained_and_nothing_is_stored(
    partner: Partner, browser: aiohttp.ClientSession
) -> None:
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    response = await browser.get(with_query(url, auth_code="not-a-code-tiktok-issued"))  # TikTok answers 40110
    assert response.status == 400
    page = await _page(response)
    assert "TikTok did not accept the authorization" in page
    assert "invalid, expired or already used" in page
    await _nothing_stored(partner, workspace_id)


async def test_tiktok_unavailable_is_a_502_page(partner: Partner, browser: aiohttp.ClientSession) -> None:
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    async with aiohttp.ClientSession() as control:
        faults = {"error_rate": 1.0, "error_codes": [50000], "targets": ["tiktok"]}
        assert (await control.post(partner.sandbox.make_url("/_sandbox/faults"), json=faults)).status == 200
    response = await browser.get(url)
    assert response.status == 502
    assert "TikTok could not be reached" in await _page(response)
    await _nothing_stored(partner, workspace_id)


async def test_declining_at_tiktok_says_so(partner: Partner, browser: aiohttp.ClientSession) -> None:
    workspace_id = await partner.create_workspace()
    portal = await portal_redirect(partner, browser, workspace_id)
    query = {key: values[0] for key, values in parse_qs(urlsplit(portal).query).items()}
    form = {"app_id": DEFAULT_APP_ID, "redirect_uri": query["redirect_uri"], "state": query["state"], "action": "deny"}
    response = await browser.post(partner.sandbox.make_url("/portal/auth"), data=form)  # follows back to us
    assert response.url.path == "/oauth/tiktok/callback"
    assert response.status == 400
    assert "You declined" in await _page(response)
    await _nothing_stored(partner, workspace_id)

    # the declined state is spent: a code cannot be attached to it afterwards
    late = with_query(partner.url("/oauth/tiktok/callback"), auth_code="anything", state=query["state"])
    retry = await browser.get(late)
    assert retry.status == 400
    assert "already used" in await _page(retry)


async def test_authorize_without_app_configuration_is_a_503_naming_the_variable(start_partner: StartPartner) -> None:
    partner = await start_partner(tiktok_app_id=None)
    workspace_id = await partner.create_workspace()
    status, body = await partner.api("GET", "/oauth/tiktok/authorize", params={"workspace": str(workspace_id)})
    assert status == 503
    assert body["error"]["code"] == "not_configured"
    assert "PARTNER_TIKTOK_APP_ID" in body["error"]["message"]
    assert body["error"]["field"] == "PARTNER_TIKTOK_APP_ID"


async def test_callback_without_app_configuration_is_a_503_page(
    start_partner: StartPartner, partner: Partner, browser: aiohttp.ClientSession
) -> None:
    """A state issued while the app was configured, arriving after the operator removed the configuration."""
    unconfigured = await start_partner(tiktok_app_secret=None)
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    # same database and secret key; only the TikTok app settings differ
    response = await browser.get(url.replace(partner.url("/"), unconfigured.url("/")))
    assert response.status == 503
    page = await _page(response)
    assert "PARTNER_TIKTOK_APP_ID" in page
    await _nothing_stored(partner, workspace_id)


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({"workspace": "1"}, {}, 401),
        ({"workspace": "1"}, {"Authorization": "Bearer wrong-token-0123456789"}, 401),
        ({}, None, 400),
        ({"workspace": "abc"}, None, 400),
        ({"workspace": "999"}, None, 404),
    ],
)
async def test_authorize_checks_the_admin_and_the_workspace(
    partner: Partner, params: dict[str, str], headers: dict[str, str] | None, status: int
) -> None:
    await partner.create_workspace()
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            partner.url("/oauth/tiktok/authorize"),
            params=params,
            headers=admin_headers() if headers is None else headers,
            allow_redirects=False,
        ) as response,
    ):
        assert response.status == status
        assert (await response.json())["error"]["code"]


async def test_selection_token_is_single_use(partner: Partner, browser: aiohttp.ClientSession) -> None:
    workspace_id = await partner.create_workspace()
    page = await authorize_in_browser(partner, browser, workspace_id)
    token = form_token(await page.text())
    assert (await submit_selection(partner, browser, token)).status == 200
    replay = await submit_selection(partner, browser, token, event_source_id="OTHER_SET")
    assert replay.status == 400
    assert "already used" in await _page(replay)
    assert (await partner.reporting_row(workspace_id)).event_source_id == "SANDBOX_PIXEL_1"


@pytest.mark.parametrize("kind", ["tampered", "state_token", "other_browser"])
async def test_selection_refuses_forged_or_misplaced_tokens(
    partner: Partner, browser: aiohttp.ClientSession, kind: str
) -> None:
    workspace_id = await partner.create_workspace()
    url = await callback_url(partner, browser, workspace_id)
    page = await browser.get(url)
    token = form_token(await page.text())
    if kind == "tampered":
        response = await submit_selection(partner, browser, token[:-2] + "00")
        expected = "not valid"
    elif kind == "state_token":  # the OAuth state is signed too, but it is not a selection token
        response = await submit_selection(partner, browser, _state(url))
        expected = "not valid"
    else:
        async with aiohttp.ClientSession() as other:
            response = await submit_selection(partner, other, token)
        expected = "started somewhere else"
    assert response.status == 400
    assert expected in await _page(response)
    assert await partner.reporting_row(workspace_id) is None
