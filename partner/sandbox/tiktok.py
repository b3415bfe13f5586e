"""TikTok stand-in: the advertiser OAuth portal, the OAuth endpoints and Events API 2.0 ``/event/track/``.

Paths and envelopes match ``business-api.tiktok.com`` so production code only swaps the base URL. Like the
real API, every ``/open_api/`` answer is HTTP 200 with ``{"code", "message", "request_id", "data"}`` and a
non-zero ``code`` on error. TikTok's return-code table is not public (spec §1.6), so these are the
sandbox's choices; the observed ones (40001, 40002, 40100, 40105, 50000) keep their observed meaning:

=====  ======================================================================================
code   when
=====  ======================================================================================
40001  the token may not report to that event set, or belongs to another app
40002  invalid parameters or body (includes more than 1,000 events: the whole request fails)
40100  rate limited; only produced by fault injection
40101  unknown ``app_id`` or wrong ``secret``
40104  ``Access-Token`` header missing or empty
40105  token unknown or revoked; a ``Bearer `` prefix makes it unknown, as on the real API
40110  ``auth_code`` unknown, expired (1 h), already used, or issued to another app
50000  system error; only produced by fault injection
=====  ======================================================================================

Portal: ``GET /portal/auth?app_id&state&redirect_uri`` shows a consent page; authorising redirects to
``redirect_uri?auth_code=<code>&state=<state>``; denying redirects to
``redirect_uri?error=access_denied&error_description=...&state=<state>`` (the RFC 6749 shape, since TikTok
documents none). ``auto_approve=1`` on the GET, or ``SandboxConfig.auto_approve``, skips the page.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from yarl import URL

from partner.sandbox.events import TrackRules, TrackValidationError, parse_envelope, validate_track_body
from partner.sandbox.state import STATE_KEY, AccessToken, SandboxApp, SandboxState, new_tiktok_request_id

API_PREFIX = "/open_api/v1.3"

MESSAGES = {
    40001: "No permission to operate this event set. You must be an admin or operator of this advertiser.",
    40100: "Too many requests. Please retry in some time.",
    40101: "The app_id or secret is invalid.",
    40104: "Access token is null, please check.",
    40105: "Access token is incorrect or has been revoked.",
    40110: "The auth_code is invalid, expired or already used.",
    50000: "System error",
}


class ApiError(Exception):
    """Raised inside a handler; becomes a TikTok error envelope."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, "Sandbox error.")


def envelope(state: SandboxState, code: int, message: str, data: dict[str, Any] | None = None) -> web.Response:
    request_id = new_tiktok_request_id(state.now())
    body = {"code": code, "message": message, "request_id": request_id, "data": data or {}}
    return web.json_response(body, headers={"X-Tt-Logid": request_id})


ApiHandler = Callable[[web.Request, SandboxState], Awaitable[dict[str, Any]]]


def api_endpoint(handler: ApiHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a handler that returns ``data`` or raises :class:`ApiError` into a TikTok-envelope handler."""

    async def wrapped(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        try:
            data = await handler(request, state)
        except ApiError as error:
            return envelope(state, error.code, error.message)
        return envelope(state, 0, "OK", data)

    return wrapped


# --- shared checks --------------------------------------------------------------------------------------


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise ApiError(40002, "Request body is not valid JSON.") from error
    if not isinstance(body, dict):
        raise ApiError(40002, "_schema: Invalid input type.")
    return body


def required_str(fields: dict[str, Any], key: str) -> str:
    value = fields.get(key)
    if value is None or value == "":
        raise ApiError(40002, f"{key}: Missing data for required field.")
    if not isinstance(value, str):
        raise ApiError(40002, f"{key}: Not a valid string.")
    return value


def checked_app(state: SandboxState, app_id: str, secret: str) -> SandboxApp:
    app = state.apps.get(app_id)
    if app is None or app.secret != secret:
        raise ApiError(40101)
    return app


def header_token(request: web.Request, state: SandboxState) -> AccessToken:
    raw = request.headers.get("Access-Token", "")
    if not raw:
        raise ApiError(40104)
    token = state.live_token(raw)
    if token is None:
        raise ApiError(40105)
    return token


# --- OAuth endpoints --------------------------------------------------------------------------------


@api_endpoint
async def access_token(request: web.Request, state: SandboxState) -> dict[str, Any]:
    body = await json_object(request)
    app = checked_app(state, required_str(body, "app_id"), required_str(body, "secret"))
    grant = state.redeem_auth_code(app.app_id, required_str(body, "auth_code"))
    if grant is None:
        raise ApiError(40110)
    token = state.issue_access_token(app.app_id, grant.advertiser_ids)
    data: dict[str, Any] = {"access_token": token, "scope": list(state.config.scope)}
    if body.get("return_advertiser_ids", True) is not False:
        data["advertiser_ids"] = list(grant.advertiser_ids)
    return data


@api_endpoint
async def advertiser_get(request: web.Request, state: SandboxState) -> dict[str, Any]:
    query = dict(request.query)
    app = checked_app(state, required_str(query, "app_id"), required_str(query, "secret"))
    token = header_token(request, state)
    if token.app_id != app.app_id:
        raise ApiError(40001, "The access token was not issued to this app.")
    advertisers = [state.advertisers[i] for i in token.advertiser_ids if i in state.advertisers]
    return {"list": [{"advertiser_id": a.advertiser_id, "advertiser_name": a.advertiser_name} for a in advertisers]}


@api_endpoint
async def revoke_token(request: web.Request, state: SandboxState) -> dict[str, Any]:
    body = await json_object(request)
    app = checked_app(state, required_str(body, "app_id"), required_str(body, "secret"))
    token = state.live_token(required_str(body, "access_token"))
    if token is None:
        raise ApiError(40105)
    if token.app_id != app.app_id:
        raise ApiError(40001, "The access token was not issued to this app.")
    token.revoked = True
    return {"app_id": app.app_id, "advertiser_ids": list(token.advertiser_ids)}


# --- Events API -----------------------------------------------------------------------------------------


@api_endpoint
async def event_track(request: web.Request, state: SandboxState) -> dict[str, Any]:
    """Authenticate, authorise for the event set, validate everything, then record (all or nothing)."""
    token = header_token(request, state)
    body = await json_object(request)
    try:
        _, _, event_source_id = parse_envelope(body)
        if not state.may_report_to(token, event_source_id):
            raise ApiError(40001, f"No permission to operate event set: {event_source_id}. " + MESSAGES[40001])
        rules = TrackRules(
            now=state.now(),
            require_source_objects=state.config.require_source_objects,
            max_event_age_seconds=state.config.max_event_age_seconds,
        )
        batch = validate_track_body(body, rules)
    except TrackValidationError as error:
        raise ApiError(40002, str(error)) from error
    state.accept_events(batch.event_source_id, batch.items, batch.test_event_code)
    return {}


# --- OAuth portal ---------------------------------------------------------------------------------------


def _portal_problem(state: SandboxState, app_id: str, redirect_uri: str) -> str | None:
    app = state.apps.get(app_id)
    if app is None:
        return "Unknown app_id. The app does not exist or is not approved."
    if not redirect_uri:
        return "Missing redirect_uri."
    url = URL(redirect_uri)
    if url.scheme not in ("http", "https") or not url.host:
        return "The redirect_uri must be an absolute http(s) URL."
    if app.redirect_uris and redirect_uri not in app.redirect_uris:
        return "The redirect_uri does not match the app's registered redirect URLs."
    return None


def _error_page(problem: str) -> web.Response:
    page = f"<!doctype html><title>Authorization error</title><h1>Authorization error</h1><p>{html.escape(problem)}</p>"
    return web.Response(status=400, text=page, content_type="text/html")


def _redirect(redirect_uri: str, params: dict[str, str], state_param: str | None) -> web.HTTPFound:
    """The callback keeps any query the redirect_uri already had, as OAuth servers do."""
    if state_param is not None:
        params = {**params, "state": state_param}
    return web.HTTPFound(str(URL(redirect_uri).update_query(params)))


def _consent_page(app: SandboxApp, state: SandboxState, query: dict[str, str]) -> web.Response:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
        for name in ("app_id", "redirect_uri", "state")
    )
    rows = "".join(
        f'<li><label><input type="checkbox" name="advertiser_id" value="{html.escape(a.advertiser_id)}" checked> '
        f"{html.escape(a.advertiser_name)} ({html.escape(a.advertiser_id)})</label></li>"
        for a in state.advertisers.values()
    )
    page = (
        "<!doctype html><title>TikTok For Business - Authorize</title>"
        f"<h1>{html.escape(app.name)} wants access to your ad accounts</h1>"
        f'<form method="post" action="/portal/auth">{hidden}<ul>{rows}</ul>'
        '<button type="submit" name="action" value="authorize">Authorize</button> '
        '<button type="submit" name="action" value="deny">Deny</button></form>'
    )
    return web.Response(text=page, content_type="text/html")


async def portal_get(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    query = dict(request.query)
    app_id, redirect_uri = query.get("app_id", ""), query.get("redirect_uri", "")
    problem = _portal_problem(state, app_id, redirect_uri)
    if problem:
        return _error_page(problem)
    if query.get("auto_approve") == "1" or state.config.auto_approve:
        code = state.issue_auth_code(app_id, state.advertisers)
        raise _redirect(redirect_uri, {"auth_code": code}, query.get("state"))
    return _consent_page(state.apps[app_id], state, query)


async def portal_post(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    form = await request.post()
    app_id, redirect_uri = str(form.get("app_id", "")), str(form.get("redirect_uri", ""))
    state_param = str(form["state"]) if form.get("state") else None
    problem = _portal_problem(state, app_id, redirect_uri)
    if problem:
        return _error_page(problem)
    if form.get("action") == "deny":
        denial = {"error": "access_denied", "error_description": "The user denied the authorization request."}
        raise _redirect(redirect_uri, denial, state_param)
    chosen = [str(value) for value in form.getall("advertiser_id", [])]
    if not chosen or any(advertiser_id not in state.advertisers for advertiser_id in chosen):
        return _error_page("Select at least one of the listed advertiser accounts.")
    raise _redirect(redirect_uri, {"auth_code": state.issue_auth_code(app_id, chosen)}, state_param)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/portal/auth", portal_get)
    app.router.add_post("/portal/auth", portal_post)
    app.router.add_post(f"{API_PREFIX}/oauth2/access_token/", access_token)
    app.router.add_get(f"{API_PREFIX}/oauth2/advertiser/get/", advertiser_get)
    app.router.add_post(f"{API_PREFIX}/oauth2/revoke_token/", revoke_token)
    app.router.add_post(f"{API_PREFIX}/event/track/", event_track)
