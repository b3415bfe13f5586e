"""Routes for connecting a workspace to TikTok: the browser flow and the admin API.

Browser flow (the admin's browser; TikTok redirects it back, so the callback and the form carry no bearer token
and are authorised by the signed, single-use, browser-bound tokens of ``oauth.state`` instead):

* ``GET /oauth/tiktok/authorize?workspace=<id>`` (admin) -- 302 to TikTok's portal, or ``?format=json`` for a
  client that opens the URL itself;
* ``GET /oauth/tiktok/callback?auth_code=..&state=..`` -- exchange the code, store the token encrypted, show
  what was connected and a form to choose the advertiser and the event set;
* ``POST /oauth/tiktok/select`` -- write the choice into the workspace's reporting configuration and release
  the events that waited for a new token.

Admin API (``ENDPOINTS``, in the API document): ``GET|PUT|DELETE /api/v1/tiktok/connection?workspace=<id>`` --
status, a token pasted from Events Manager, and revocation; for the workspace's admins and the bootstrap token.

Tokens are decrypted only to call TikTok; they never reach a log line, a page, a JSON response or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import aiohttp
import sqlalchemy as sa
import structlog
from aiohttp import web
from authlib.common.urls import add_params_to_uri
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from oauth import pages
from oauth.models import CONNECTED, CONNECTIONS, NEEDS_REAUTHORIZATION, REVOKED, upsert
from oauth.state import (
    AUTHORIZE,
    BINDING_COOKIE_MAX_AGE,
    SELECT,
    SELECT_TTL,
    STATE_TTL,
    Clock,
    StateClaims,
    StateError,
    StateProblem,
    StateStore,
    binding_cookie_name,
    binding_hash,
    browser_token,
    check_binding,
)
from partner.accounts.auth import Principal, require_role
from partner.admin import WORKSPACES
from partner.appkeys import box_key, engine_key, settings_key
from partner.crypto import DecryptionError
from partner.metrics import Metrics
from partner.openapi import Endpoint, Id, Input, Output, Text, add_endpoints, json_response, parse_body, parse_query
from partner.reporting.client import (
    AuthRevoked,
    Throttled,
    TikTokApiClient,
    TikTokApiError,
    TokenGrant,
    TransientError,
)
from partner.reporting.outbox import CONFIGS, release_reauthorized
from partner.settings import Settings
from partner.store.models import utcnow
from partner.web import ApiError, metrics_key

log = structlog.get_logger(__name__)

CALLBACK_PATH = "/oauth/tiktok/callback"
SELECT_PATH = "/oauth/tiktok/select"
COOKIE_PATH = "/oauth/tiktok/"
BOOTSTRAP_INITIATOR = "bootstrap-admin"  # flows started with PARTNER_ADMIN_TOKEN rather than a user's token
EVENT_SET_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
REFRESH_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class OAuthOptions:
    state_ttl: timedelta
    select_ttl: timedelta
    clock: Clock


options_key = web.AppKey("oauth_options", OAuthOptions)


def add_routes(
    app: web.Application,
    *,
    state_ttl: timedelta = STATE_TTL,
    select_ttl: timedelta = SELECT_TTL,
    clock: Clock = utcnow,
) -> None:
    """Mount the flow and the API; the keyword arguments exist for tests (short lifetimes, a movable clock)."""
    app[options_key] = OAuthOptions(state_ttl=state_ttl, select_ttl=select_ttl, clock=clock)
    app.router.add_get("/oauth/tiktok/authorize", authorize)
    app.router.add_get(CALLBACK_PATH, callback)
    app.router.add_post(SELECT_PATH, select)
    add_endpoints(app, ENDPOINTS)


# --- shared helpers -------------------------------------------------------------------------------------


def _states(request: web.Request) -> StateStore:
    return StateStore(request.app[engine_key], request.app[box_key], clock=request.app[options_key].clock)


def _credentials(settings: Settings) -> tuple[str, str] | None:
    if settings.tiktok_app_id and settings.tiktok_app_secret:
        return settings.tiktok_app_id, settings.tiktok_app_secret
    return None


def _missing_credentials(settings: Settings) -> ApiError:
    missing = [
        name
        for name, value in (
            ("PARTNER_TIKTOK_APP_ID", settings.tiktok_app_id),
            ("PARTNER_TIKTOK_APP_SECRET", settings.tiktok_app_secret),
        )
        if not value
    ]
    return ApiError(
        503,
        "not_configured",
        f"TikTok authorization is not configured: set {' and '.join(missing)} (the TikTok for Business developer "
        "app's id and secret)",
        field=missing[0],
    )


def _redirect_uri(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def _client(request: web.Request) -> TikTokApiClient:
    from partner.appkeys import http_key  # here, not at the top: partner.app imports this module to mount the routes

    settings = request.app[settings_key]
    session: aiohttp.ClientSession = request.app[http_key]
    return TikTokApiClient(session, settings.tiktok_api_base, timeout_seconds=settings.http_timeout_seconds)


def _initiator(principal: Principal) -> str:
    return BOOTSTRAP_INITIATOR if principal.user_id is None else f"user:{principal.user_id}"


async def _workspace_admin(request: web.Request) -> tuple[int, Principal]:
    """An admin of the workspace named in ``?workspace=`` (or the bootstrap admin): 401, 403 or 404 otherwise."""
    workspace_id = _workspace_param(request)
    principal = await require_role(request, workspace_id, "admin")
    return workspace_id, principal


def _workspace_param(request: web.Request) -> int:
    raw = request.query.get("workspace", "")
    if not raw.isdigit() or int(raw) <= 0:
        raise ApiError(400, "invalid", "workspace must be a workspace id, e.g. ?workspace=1", field="workspace")
    return int(raw)


async def _workspace_name(connection: AsyncConnection, workspace_id: int) -> str | None:
    query = sa.select(WORKSPACES.c.name).where(WORKSPACES.c.id == workspace_id)
    name: str | None = (await connection.execute(query)).scalar_one_or_none()
    return name


async def _require_workspace(engine: AsyncEngine, workspace_id: int) -> str:
    async with engine.connect() as connection:
        name = await _workspace_name(connection, workspace_id)
    if name is None:
        raise ApiError(404, "not_found", "workspace not found", field="workspace")
    return name


async def _rows(connection: AsyncConnection, workspace_id: int) -> tuple[Any, Any]:
    """The workspace's connection and reporting configuration rows (either may be None)."""
    row = (await connection.execute(sa.select(CONNECTIONS).where(CONNECTIONS.c.workspace_id == workspace_id))).first()
    config = (await connection.execute(sa.select(CONFIGS).where(CONFIGS.c.workspace_id == workspace_id))).first()
    return row, config


async def _store_reporting(
    connection: AsyncConnection, workspace_id: int, *, event_source: str, event_source_id: str, token_encrypted: str
) -> int:
    """Point the workspace's Events API reporting at a (new) token and event set, and release waiting events.

    The connection's ciphertext is copied as is, so the two rows can be recognised as holding the same token.
    """
    values = {
        "workspace_id": workspace_id,
        "event_source": event_source,
        "event_source_id": event_source_id,
        "access_token_encrypted": token_encrypted,
        "needs_reauthorization": False,
        "updated_at": utcnow(),
    }
    statement = upsert(
        connection.dialect.name,
        CONFIGS,
        "workspace_id",
        values,
        insert_only={"allow_unidentified": True, "enabled": True},
    )
    await connection.execute(statement)
    return await release_reauthorized(connection, workspace_id)


# --- re-authorization status ----------------------------------------------------------------------------


def _config_token_is_connections(row: Any, config: Any) -> bool:
    return config is None or config.access_token_encrypted in (None, row.access_token_encrypted)


def effective_status(row: Any, config: Any) -> str:
    """connected / needs_reauthorization / revoked / not_connected, reading both the connection and the
    reporting configuration: the outbox flags ``reporting_configs.needs_reauthorization`` when TikTok answers 40105.
    """
    if row is None:
        if config is not None and config.access_token_encrypted:
            return NEEDS_REAUTHORIZATION if config.needs_reauthorization else CONNECTED
        return "not_connected"
    if row.status == REVOKED:
        return REVOKED
    if config is not None and config.needs_reauthorization:
        return NEEDS_REAUTHORIZATION
    if row.status == NEEDS_REAUTHORIZATION and _config_token_is_connections(row, config):
        return NEEDS_REAUTHORIZATION
    return CONNECTED


async def refresh_reauthorization(engine: AsyncEngine, metrics: Metrics) -> int:
    """Record on each connection that the outbox found its token revoked, and set the
    ``partner_workspaces_needing_reauthorization`` gauge; returns the count.

    Cheap (two statements over small tables): the status API runs it on every read, and
    :func:`reauthorization_refresher` runs it periodically so the gauge moves without anyone looking.
    """
    same_token = sa.or_(
        CONFIGS.c.access_token_encrypted.is_(None),
        CONFIGS.c.access_token_encrypted == CONNECTIONS.c.access_token_encrypted,
    )
    flagged_by_outbox = (
        sa.select(CONFIGS.c.workspace_id)
        .where(
            CONFIGS.c.workspace_id == CONNECTIONS.c.workspace_id,
            CONFIGS.c.needs_reauthorization.is_(True),
            CONFIGS.c.access_token_encrypted == CONNECTIONS.c.access_token_encrypted,
        )
        .exists()
    )
    needing = sa.union(
        sa.select(CONFIGS.c.workspace_id).where(CONFIGS.c.needs_reauthorization.is_(True)),
        sa.select(CONNECTIONS.c.workspace_id)
        .select_from(CONNECTIONS.outerjoin(CONFIGS, CONFIGS.c.workspace_id == CONNECTIONS.c.workspace_id))
        .where(
            CONNECTIONS.c.status == NEEDS_REAUTHORIZATION,
            sa.or_(CONFIGS.c.workspace_id.is_(None), same_token),
        ),
    ).subquery()
    async with engine.begin() as connection:
        await connection.execute(
            sa.update(CONNECTIONS)
            .where(CONNECTIONS.c.status == CONNECTED, flagged_by_outbox)
            .values(status=NEEDS_REAUTHORIZATION, updated_at=utcnow())
        )
        count = int((await connection.execute(sa.select(sa.func.count()).select_from(needing))).scalar_one())
    metrics.reauthorization_needed.set(count)
    return count


async def reauthorization_refresher(app: web.Application) -> AsyncIterator[None]:
    """``app.cleanup_ctx`` entry that refreshes the gauge every minute while background workers run."""
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    if app[settings_key].run_workers:
        task = asyncio.create_task(_refresh_loop(app, stop), name="oauth-reauthorization-refresh")
    yield
    stop.set()
    if task is not None:
        await task


async def _refresh_loop(app: web.Application, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await refresh_reauthorization(app[engine_key], app[metrics_key])
        except Exception:
            log.exception("reauthorization_refresh_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)


# --- browser flow -----------------------------------------------------------------------------------------


async def authorize(request: web.Request) -> web.Response:
    """Start the flow: a signed state bound to the workspace, the initiator and this browser (cookie)."""
    workspace_id, principal = await _workspace_admin(request)
    settings = request.app[settings_key]
    credentials = _credentials(settings)
    if credentials is None:
        raise _missing_credentials(settings)
    await _require_workspace(request.app[engine_key], workspace_id)
    options = request.app[options_key]
    states = _states(request)
    await states.purge()
    browser = browser_token(request.cookies, workspace_id)
    state = await states.issue(
        purpose=AUTHORIZE,
        workspace_id=workspace_id,
        initiator=_initiator(principal),
        binding=binding_hash(browser),
        ttl=options.state_ttl,
    )
    redirect_uri = _redirect_uri(settings)
    url = add_params_to_uri(
        settings.tiktok_portal_url, [("app_id", credentials[0]), ("state", state), ("redirect_uri", redirect_uri)]
    )
    response: web.Response
    if request.query.get("format") == "json":
        body = {"url": url, "redirect_uri": redirect_uri, "expires_in": int(options.state_ttl.total_seconds())}
        response = web.json_response(body, headers={"Cache-Control": "no-store"})
    else:
        response = web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})
    response.set_cookie(
        binding_cookie_name(workspace_id),
        browser,
        max_age=BINDING_COOKIE_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",  # sent on TikTok's top-level redirect back to the callback, not on cross-site posts
        secure=settings.public_url.startswith("https://"),
    )
    log.info("tiktok_authorization_started", workspace_id=workspace_id)
    return response


_STATE_PAGES: dict[StateProblem, tuple[str, str]] = {
    StateProblem.MALFORMED: (
        "This link is not valid",
        "The authorization could not be verified: the link is incomplete or was changed. Nothing was connected.",
    ),
    StateProblem.WRONG_PURPOSE: (
        "This link is not valid",
        "The authorization could not be verified: the link is incomplete or was changed. Nothing was connected.",
    ),
    StateProblem.EXPIRED: (
        "This authorization has expired",
        "Authorization links work for 10 minutes and the account choice for 30; this one is older. "
        "Nothing was connected.",
    ),
    StateProblem.REPLAYED: (
        "This authorization was already used",
        "Each authorization link works once, and this one has been used (perhaps the page was reloaded or "
        "opened twice). Nothing more was changed.",
    ),
    StateProblem.BROWSER_MISMATCH: (
        "This authorization was started somewhere else",
        "It was started in a different browser or session than this one, so it was not accepted. This protects "
        "your ad accounts from links prepared by someone else. Nothing was connected.",
    ),
    StateProblem.OTHER_WORKSPACE: (
        "This authorization belongs to another workspace",
        "The link you followed was started for a different workspace than the one this browser is connecting, "
        "so it was not accepted. Nothing was connected.",
    ),
}
_START_AGAIN = "Start the connection again from the admin page, in this browser."


def _state_error_page(problem: StateProblem) -> web.Response:
    title, message = _STATE_PAGES[problem]
    log.warning("tiktok_authorization_refused", reason=problem.value)
    hint = None if problem is StateProblem.REPLAYED else _START_AGAIN
    return pages.error_page(title, message, hint=hint)


def _tiktok_error_page(error: TikTokApiError) -> web.Response:
    if isinstance(error, (TransientError, Throttled)):
        return pages.error_page(
            "TikTok could not be reached",
            "TikTok did not answer in time or reported a temporary problem, so nothing was connected.",
            hint="Authorization codes work only once: start the connection again in a few minutes.",
            status=502,
        )
    if error.code == 40110:
        message = "TikTok did not accept the authorization: the code was invalid, expired or already used."
    elif error.code == 40101:
        message = "TikTok refused this service's app credentials, so the authorization could not be completed."
    else:
        message = f"TikTok refused the authorization: {error.message} (code {error.code})."
    return pages.error_page("TikTok was not connected", message + " Nothing was connected.", hint=_START_AGAIN)


async def _advertisers(
    client: TikTokApiClient, app_id: str, secret: str, grant: TokenGrant
) -> tuple[list[str], dict[str, str]]:
    """The granted advertiser ids and their names; names are a courtesy, so a failed listing keeps the ids."""
    try:
        listed = await client.get_advertisers(app_id, secret, grant.access_token)
    except TikTokApiError as error:
        log.warning("tiktok_advertiser_list_failed", code=error.code, request_id=error.request_id)
        listed = []
    ids = list(grant.advertiser_ids) or [item.advertiser_id for item in listed]
    names = {item.advertiser_id: item.advertiser_name for item in listed if item.advertiser_id in ids}
    return ids, names


async def callback(request: web.Request) -> web.Response:
    """TikTok sends the browser back here. Nothing is stored unless the state checks out and TikTok grants a token."""
    query = request.query
    settings = request.app[settings_key]
    states = _states(request)
    raw_state = query.get("state", "")
    if "error" in query:
        with contextlib.suppress(StateError):  # spend the state, so the link cannot be completed later
            claims = states.decode(raw_state, purpose=AUTHORIZE)
            check_binding(claims, request.cookies)
            async with request.app[engine_key].begin() as connection:
                await states.consume(connection, claims)
        log.info("tiktok_authorization_declined", error=query["error"][:64])
        if query["error"] == "access_denied":
            return pages.declined_page()
        return pages.error_page(
            "TikTok was not connected",
            "TikTok did not complete the authorization, so nothing was connected.",
            hint=_START_AGAIN,
        )
    try:
        claims = states.decode(raw_state, purpose=AUTHORIZE)
        check_binding(claims, request.cookies)
    except StateError as error:
        return _state_error_page(error.problem)
    credentials = _credentials(settings)
    if credentials is None:
        log.error("tiktok_authorization_not_configured")
        return pages.error_page(
            "TikTok is not set up on this service",
            "This service has no TikTok for Business app configured, so the authorization cannot be completed.",
            hint="The operator must set PARTNER_TIKTOK_APP_ID and PARTNER_TIKTOK_APP_SECRET.",
            status=503,
        )
    engine = request.app[engine_key]
    try:
        async with engine.begin() as connection:
            await states.consume(connection, claims)
    except StateError as error:
        return _state_error_page(error.problem)
    async with engine.connect() as connection:
        workspace_name = await _workspace_name(connection, claims.workspace_id)
    if workspace_name is None:
        return pages.error_page(
            "The workspace no longer exists",
            "The workspace this authorization was started for has been removed, so nothing was connected.",
        )
    code = query.get("auth_code") or query.get("code")
    if not code:
        return pages.error_page(
            "TikTok was not connected",
            "TikTok sent no authorization code back, so nothing was connected.",
            hint=_START_AGAIN,
        )
    app_id, secret = credentials
    client = _client(request)
    try:
        grant = await client.exchange_auth_code(app_id, secret, code)
    except TikTokApiError as error:
        log.warning(
            "tiktok_code_exchange_failed",
            workspace_id=claims.workspace_id,
            code=error.code,
            request_id=error.request_id,
            kind=type(error).__name__,
        )
        return _tiktok_error_page(error)
    advertiser_ids, names = await _advertisers(client, app_id, secret, grant)
    if not advertiser_ids:
        with contextlib.suppress(TikTokApiError):  # a token for nothing: do not leave it alive
            await client.revoke_token(app_id, secret, grant.access_token)
        return pages.error_page(
            "No ad account was shared",
            "TikTok granted access to no ad account. You need the Admin or Operator role on the ad account, and "
            "at least one account must be selected on TikTok's page. Nothing was connected.",
            hint=_START_AGAIN,
        )
    return await _connected(request, claims, workspace_name, grant, advertiser_ids, names)


async def _connected(
    request: web.Request,
    claims: StateClaims,
    workspace_name: str,
    grant: TokenGrant,
    advertiser_ids: list[str],
    names: dict[str, str],
) -> web.Response:
    """Store the grant, then show the selection form with a fresh single-use token bound to this browser."""
    box, engine = request.app[box_key], request.app[engine_key]
    now = utcnow()
    values = {
        "workspace_id": claims.workspace_id,
        "status": CONNECTED,
        "source": "oauth",
        "access_token_encrypted": box.encrypt(grant.access_token),
        "advertiser_ids": advertiser_ids,
        "advertiser_names": names,
        "scopes": list(grant.scope),
        "connected_by": claims.initiator,
        "updated_at": now,
    }
    async with engine.begin() as connection:
        await connection.execute(
            upsert(connection.dialect.name, CONNECTIONS, "workspace_id", values, insert_only={"created_at": now})
        )
        row, config = await _rows(connection, claims.workspace_id)
    log.info(
        "tiktok_connected",
        workspace_id=claims.workspace_id,
        advertisers=len(advertiser_ids),
        scopes=len(grant.scope),
        request_id=grant.request_id,
    )
    token = await _states(request).issue(
        purpose=SELECT,
        workspace_id=claims.workspace_id,
        initiator=claims.initiator,
        binding=claims.binding,
        ttl=request.app[options_key].select_ttl,
    )
    return pages.select_page(
        workspace_name=workspace_name,
        advertisers=_choices(row),
        token=token,
        selected_advertiser_id=row.selected_advertiser_id,
        event_set_id=row.selected_event_set_id or (config.event_source_id if config is not None else ""),
        event_source=config.event_source if config is not None else "web",
    )


def _choices(row: Any) -> list[pages.AdvertiserChoice]:
    names: dict[str, str] = row.advertiser_names or {}
    return [
        pages.AdvertiserChoice(advertiser_id, names.get(advertiser_id, ""))
        for advertiser_id in row.advertiser_ids or []
    ]


class _ConnectionChanged(Exception):  # noqa: N818 - control flow inside one handler, never escapes it
    """The connection was revoked or replaced between showing the form and submitting it."""


def _connection_gone_page() -> web.Response:
    return pages.error_page(
        "The TikTok connection changed",
        "This workspace's TikTok connection was removed or authorized again while the form was open, so nothing "
        "was changed.",
        hint=_START_AGAIN,
    )


async def select(request: web.Request) -> web.Response:
    """The admin's choice of advertiser and event set becomes the workspace's reporting configuration."""
    form = await request.post()
    token = str(form.get("token", ""))
    states = _states(request)
    try:
        claims = states.decode(token, purpose=SELECT)
        check_binding(claims, request.cookies)
    except StateError as error:
        return _state_error_page(error.problem)
    engine = request.app[engine_key]
    async with engine.connect() as connection:
        try:
            await states.ensure_unused(connection, claims)
        except StateError as error:
            return _state_error_page(error.problem)
        workspace_name = await _workspace_name(connection, claims.workspace_id)
        row, _config = await _rows(connection, claims.workspace_id)
    if workspace_name is None or row is None or row.status == REVOKED or not row.access_token_encrypted:
        return _connection_gone_page()
    advertiser_id = str(form.get("advertiser_id", "")).strip()
    event_set_id = str(form.get("event_source_id", "")).strip()
    event_source = str(form.get("event_source", "web")).strip()
    problem = None
    if advertiser_id not in (row.advertiser_ids or []):
        problem = "Choose one of the ad accounts listed below."
    elif not EVENT_SET_ID.match(event_set_id):
        problem = "Enter the event set ID or pixel code: letters, digits, '.', '_' or '-', up to 128 characters."
    elif event_source not in pages.EVENT_SOURCES:
        problem = "Choose one of the listed event sources."
    if problem is not None:  # the token is not spent: the admin corrects the form and submits it again
        return pages.select_page(
            workspace_name=workspace_name,
            advertisers=_choices(row),
            token=token,
            selected_advertiser_id=advertiser_id or row.selected_advertiser_id,
            event_set_id=event_set_id,
            event_source=event_source if event_source in pages.EVENT_SOURCES else "web",
            error=problem,
            status=400,
        )
    try:
        async with engine.begin() as connection:
            await states.consume(connection, claims)
            row, _config = await _rows(connection, claims.workspace_id)  # as of this transaction
            if row is None or not row.access_token_encrypted or advertiser_id not in (row.advertiser_ids or []):
                raise _ConnectionChanged  # revoked or re-authorized meanwhile: roll back, spend nothing
            await connection.execute(
                sa.update(CONNECTIONS)
                .where(CONNECTIONS.c.workspace_id == claims.workspace_id)
                .values(
                    status=CONNECTED,
                    selected_advertiser_id=advertiser_id,
                    selected_event_set_id=event_set_id,
                    updated_at=utcnow(),
                )
            )
            released = await _store_reporting(
                connection,
                claims.workspace_id,
                event_source=event_source,
                event_source_id=event_set_id,
                token_encrypted=row.access_token_encrypted,
            )
    except StateError as error:
        return _state_error_page(error.problem)
    except _ConnectionChanged:
        return _connection_gone_page()
    await refresh_reauthorization(engine, request.app[metrics_key])
    log.info(
        "tiktok_reporting_selected",
        workspace_id=claims.workspace_id,
        advertiser_id=advertiser_id,
        event_source_id=event_set_id,
        released=released,
    )
    names: dict[str, str] = row.advertiser_names or {}
    return pages.connected_page(
        workspace_name=workspace_name,
        advertiser=pages.AdvertiserChoice(advertiser_id, names.get(advertiser_id, "")),
        event_set_id=event_set_id,
        released=released,
    )


# --- admin API --------------------------------------------------------------------------------------------


class ConnectionQuery(Input):
    workspace: Id = Field(description="The workspace whose connection this is (a user's own)")


class Advertiser(Output):
    advertiser_id: str
    advertiser_name: str | None


class ConnectionReporting(Output):
    event_source: str
    event_source_id: str
    has_access_token: bool
    needs_reauthorization: bool
    enabled: bool


class ConnectionStatus(Output):
    """Everything about the connection except the token, which is only ever reported as present or not."""

    workspace_id: int
    status: str = Field(description="not_connected, connected, needs_reauthorization or revoked")
    source: str | None = Field(description="oauth, manual, reporting_api, or null")
    has_access_token: bool
    advertiser_ids: list[str]
    advertisers: list[Advertiser]
    scopes: list[int]
    selected_advertiser_id: str | None
    selected_event_set_id: str | None
    connected_by: str | None
    created_at: datetime | None
    updated_at: datetime | None
    reporting: ConnectionReporting | None


class ConnectionRemoved(Output):
    workspace_id: int
    status: str
    deleted: bool
    tiktok: Literal["revoked", "already_revoked", "refused", "not_attempted"]
    detail: str


def _status(workspace_id: int, row: Any, config: Any) -> ConnectionStatus:
    ids: list[str] = list(row.advertiser_ids or []) if row is not None else []
    names: dict[str, str] = (row.advertiser_names or {}) if row is not None else {}
    source = row.source if row is not None else None
    if row is None and config is not None and config.access_token_encrypted:
        source = "reporting_api"
    return ConnectionStatus(
        workspace_id=workspace_id,
        status=effective_status(row, config),
        source=source,
        has_access_token=bool(row is not None and row.access_token_encrypted),
        advertiser_ids=ids,
        advertisers=[Advertiser(advertiser_id=i, advertiser_name=names.get(i)) for i in ids],
        scopes=list(row.scopes or []) if row is not None else [],
        selected_advertiser_id=row.selected_advertiser_id if row is not None else None,
        selected_event_set_id=row.selected_event_set_id if row is not None else None,
        connected_by=row.connected_by if row is not None else None,
        created_at=row.created_at if row is not None else None,
        updated_at=row.updated_at if row is not None else None,
        reporting=None
        if config is None
        else ConnectionReporting(
            event_source=config.event_source,
            event_source_id=config.event_source_id,
            has_access_token=bool(config.access_token_encrypted),
            needs_reauthorization=config.needs_reauthorization,
            enabled=config.enabled,
        ),
    )


async def _status_response(request: web.Request, workspace_id: int) -> web.Response:
    engine = request.app[engine_key]
    await refresh_reauthorization(engine, request.app[metrics_key])
    async with engine.connect() as connection:
        row, config = await _rows(connection, workspace_id)
    return json_response(_status(workspace_id, row, config), headers={"Cache-Control": "no-store"})


async def _connection_workspace(request: web.Request) -> tuple[int, Principal]:
    """The workspace of ``?workspace=``: the caller's own (the guard checked the admin role) and one that exists."""
    workspace_id = parse_query(request, ConnectionQuery).workspace
    principal = await require_role(request, workspace_id, "admin")  # another workspace: 404
    await _require_workspace(request.app[engine_key], workspace_id)
    return workspace_id, principal


async def get_connection(request: web.Request) -> web.Response:
    workspace_id, _principal = await _connection_workspace(request)
    return await _status_response(request, workspace_id)


class ManualConnection(BaseModel):
    """A token generated in TikTok Events Manager for one event set, instead of the OAuth flow."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    access_token: Text = Field(min_length=1, max_length=4096, description="Stored encrypted, never returned")
    event_source_id: str = Field(min_length=1, max_length=128, pattern=EVENT_SET_ID.pattern)
    event_source: Literal["web", "app", "offline", "crm"] = "web"
    advertiser_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[0-9]+$")


async def put_connection(request: web.Request) -> web.Response:
    workspace_id, principal = await _connection_workspace(request)
    body = await parse_body(request, ManualConnection)
    engine = request.app[engine_key]
    encrypted = request.app[box_key].encrypt(body.access_token)
    now = utcnow()
    values = {
        "workspace_id": workspace_id,
        "status": CONNECTED,
        "source": "manual",
        "access_token_encrypted": encrypted,
        "advertiser_ids": [body.advertiser_id] if body.advertiser_id else [],
        "advertiser_names": {},
        "scopes": [],
        "selected_advertiser_id": body.advertiser_id,
        "selected_event_set_id": body.event_source_id,
        "connected_by": _initiator(principal),
        "updated_at": now,
    }
    async with engine.begin() as connection:
        await connection.execute(
            upsert(connection.dialect.name, CONNECTIONS, "workspace_id", values, insert_only={"created_at": now})
        )
        released = await _store_reporting(
            connection,
            workspace_id,
            event_source=body.event_source,
            event_source_id=body.event_source_id,
            token_encrypted=encrypted,
        )
    log.info("tiktok_manual_token_stored", workspace_id=workspace_id, released=released)
    return await _status_response(request, workspace_id)


async def _revoke_remotely(request: web.Request, row: Any) -> tuple[str, str]:
    """Ask TikTok to revoke the token: ``(outcome, detail)``. Transient failures raise, so nothing is deleted."""
    settings = request.app[settings_key]
    if row.source != "oauth":
        return "not_attempted", (
            "Tokens generated in TikTok Events Manager cannot be revoked through the API; it was deleted here. "
            "Delete it in Events Manager if it should stop working everywhere."
        )
    credentials = _credentials(settings)
    if credentials is None:
        return "not_attempted", (
            "PARTNER_TIKTOK_APP_ID and PARTNER_TIKTOK_APP_SECRET are not set, so TikTok was not asked to revoke "
            "the token; it was deleted here. Remove the app's access in TikTok Ads Manager to be sure."
        )
    try:
        token = request.app[box_key].decrypt(row.access_token_encrypted)
    except DecryptionError:
        return "not_attempted", (
            "The stored token cannot be decrypted with the configured secret keys, so TikTok was not asked to "
            "revoke it; it was deleted here. Remove the app's access in TikTok Ads Manager to be sure."
        )
    try:
        await _client(request).revoke_token(credentials[0], credentials[1], token)
    except (TransientError, Throttled) as error:
        log.warning("tiktok_revoke_unavailable", code=error.code, request_id=error.request_id)
        raise ApiError(
            502,
            "tiktok_unavailable",
            "TikTok could not be reached to revoke the token; nothing was changed. Try again in a few minutes.",
        ) from None
    except AuthRevoked:
        return "already_revoked", "TikTok reports the token was already revoked; it was deleted here."
    except TikTokApiError as error:  # Rejected, or anything else TikTok refuses for good
        log.warning("tiktok_revoke_refused", code=error.code, request_id=error.request_id)
        return "refused", (
            f"TikTok refused to revoke the token ({error.code}: {error.message}); it was deleted here. "
            "Remove the app's access in TikTok Ads Manager to be sure."
        )
    return "revoked", "TikTok revoked the token and it was deleted here."


async def delete_connection(request: web.Request) -> web.Response:
    """Revoke at TikTok, then forget the token here (connection and reporting configuration)."""
    workspace_id, _principal = await _connection_workspace(request)
    engine = request.app[engine_key]
    async with engine.connect() as connection:
        row, config = await _rows(connection, workspace_id)
    has_connection = row is not None and row.status != REVOKED and bool(row.access_token_encrypted)
    if has_connection:
        outcome, detail = await _revoke_remotely(request, row)
    elif config is not None and config.access_token_encrypted:
        outcome, detail = (
            "not_attempted",
            ("There was no TikTok connection, only a token set through the reporting API; it was deleted here."),
        )
    else:
        raise ApiError(404, "not_found", "this workspace has no TikTok connection to remove")
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(
            sa.update(CONNECTIONS)
            .where(CONNECTIONS.c.workspace_id == workspace_id)
            .values(status=REVOKED, access_token_encrypted=None, updated_at=now)
        )
        await connection.execute(
            sa.update(CONFIGS)
            .where(CONFIGS.c.workspace_id == workspace_id)
            .values(access_token_encrypted=None, needs_reauthorization=False, updated_at=now)
        )
    await refresh_reauthorization(engine, request.app[metrics_key])
    log.info("tiktok_connection_removed", workspace_id=workspace_id, tiktok=outcome)
    return json_response(
        ConnectionRemoved(workspace_id=workspace_id, status=REVOKED, deleted=True, tiktok=outcome, detail=detail)
    )


CONNECTION = "/api/v1/tiktok/connection"
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", CONNECTION, get_connection, "The workspace's TikTok connection (never the token)", "admin", "tiktok",
        query=ConnectionQuery, response=ConnectionStatus, errors=(404,),
    ),
    Endpoint(
        "PUT", CONNECTION, put_connection, "Store a token generated in TikTok Events Manager", "admin", "tiktok",
        query=ConnectionQuery, body=ManualConnection, response=ConnectionStatus, errors=(404,),
        description="Instead of the OAuth flow (GET /oauth/tiktok/authorize); also points reporting at the event "
        "set and releases events that waited for a new token.",
    ),
    Endpoint(
        "DELETE", CONNECTION, delete_connection, "Revoke the token at TikTok and forget it here", "admin", "tiktok",
        query=ConnectionQuery, response=ConnectionRemoved, errors=(404, 502),
        description="502 when TikTok cannot be reached: nothing is changed, try again.",
    ),
)  # fmt: skip
