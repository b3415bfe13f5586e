"""Inspection and control of the sandbox: request recording, fault injection and runtime registration.

Every request outside ``/_sandbox/`` is recorded in arrival order with secrets replaced by a short SHA-256
fingerprint (``<redacted:1a2b3c4d>``), so tests can prove which token was used without the log holding it.
Faults are drawn once per request to a targeted API (``tiktok``, ``meta``, ``line``; never the portal or
``/_sandbox/``) from a seeded RNG; a faulted request never reaches its handler, so a faulted
``/event/track/`` records no events. ``revoke_tokens: true`` revokes every TikTok token at once, as when an
advertiser removes the app in TikTok's UI; clearing faults does not un-revoke them.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Handler

from partner.sandbox.meta import graph_error_response
from partner.sandbox.state import (
    ALL_TARGETS,
    STATE_KEY,
    Advertiser,
    EventsToken,
    Fault,
    Faults,
    FaultTarget,
    RecordedRequest,
    SandboxApp,
    SandboxState,
    redact_mapping,
    redacted,
)
from partner.sandbox.tiktok import MESSAGES, envelope

SECRET_HEADERS = frozenset({"access-token", "cookie"})
SECRET_FIELDS = frozenset({"secret", "access_token", "client_secret", "refresh_token", "auth_code"})
_GRAPH_PATH = re.compile(r"/v\d+\.\d+/")


def fault_target(path: str) -> FaultTarget | None:
    if path.startswith("/open_api/"):
        return "tiktok"
    if path.startswith("/v2/bot/"):
        return "line"
    if _GRAPH_PATH.match(path):
        return "meta"
    return None


# --- recording and faults -----------------------------------------------------------------------------


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sandbox/"):
        return await handler(request)
    state = request.app[STATE_KEY]
    entry = await _record(request, state)
    target = fault_target(request.path)
    faults = state.faults
    fault = faults.draw(target) if faults is not None and target is not None else None
    try:
        if fault is not None and faults is not None and target is not None:
            entry.fault = fault.label
            response = await _fault_response(state, faults, fault, target)
        else:
            response = await handler(request)
    except web.HTTPException as error:
        entry.status = error.status
        raise
    entry.status = response.status
    return response


async def _record(request: web.Request, state: SandboxState) -> RecordedRequest:
    query = redact_mapping(dict(request.query), SECRET_FIELDS)
    return state.record_request(
        request.method, request.path, query, _redacted_headers(request), await _recorded_body(request)
    )


def _redacted_headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered == "authorization":
            scheme, _, credentials = value.partition(" ")
            headers[name] = f"{scheme} {redacted(credentials)}" if credentials else redacted(value)
        elif lowered in SECRET_HEADERS:
            headers[name] = redacted(value)
        else:
            headers[name] = value
    return headers


async def _recorded_body(request: web.Request) -> Any:
    """Parsed JSON or form (secrets redacted), else text; aiohttp caches the bytes for the handler."""
    raw = await request.read()
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if request.content_type == "application/x-www-form-urlencoded":
        return redact_mapping(dict(parse_qsl(text, keep_blank_values=True)), SECRET_FIELDS)
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return redact_mapping(parsed, SECRET_FIELDS) if isinstance(parsed, dict) else parsed


async def _fault_response(state: SandboxState, faults: Faults, fault: Fault, target: FaultTarget) -> web.StreamResponse:
    if fault.kind == "timeout":
        await asyncio.sleep(faults.timeout_seconds)
        return web.Response(status=504, text="upstream request timeout")
    if fault.kind == "http":
        title = f"{fault.value} {HTTPStatus(fault.value).phrase}"
        return web.Response(status=fault.value, text=f"<html><h1>{title}</h1></html>", content_type="text/html")
    if target == "tiktok":
        return envelope(state, fault.value, MESSAGES.get(fault.value, "Sandbox injected error."))
    if target == "meta":
        message = "An unexpected error has occurred. Please retry your request later."
        return graph_error_response(500, 2, message, transient=True)
    return web.json_response({"message": "An error occurred in the server"}, status=500)


# --- control endpoints ------------------------------------------------------------------------------------


class ConfigError(ValueError):
    """A control request is malformed; answered with 400 ``{"error": message}``."""


def _bad_request(error: ConfigError) -> web.Response:
    return web.json_response({"error": str(error)}, status=400)


async def _control_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise ConfigError("body must be JSON") from error
    if not isinstance(body, dict):
        raise ConfigError("body must be a JSON object")
    return body


async def get_requests(request: web.Request) -> web.Response:
    entries = request.app[STATE_KEY].requests
    return web.json_response({"requests": [entry.to_json() for entry in entries]})


async def clear_requests(request: web.Request) -> web.Response:
    entries = request.app[STATE_KEY].requests
    cleared = len(entries)
    entries.clear()
    return web.json_response({"cleared": cleared})


async def get_events(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].events_summary())


async def clear_events(request: web.Request) -> web.Response:
    request.app[STATE_KEY].clear_events()
    return web.json_response({"cleared": True})


async def get_messages(request: web.Request) -> web.Response:
    return web.json_response({"messages": request.app[STATE_KEY].sent_messages})


async def clear_messages(request: web.Request) -> web.Response:
    request.app[STATE_KEY].sent_messages.clear()
    return web.json_response({"cleared": True})


async def set_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        body = await _control_body(request)
        faults, revoke = parse_faults(body)
    except ConfigError as error:
        return _bad_request(error)
    state.faults = faults
    revoked = state.revoke_all_tokens() if revoke else 0
    return web.json_response({"faults": faults.to_json(), "revoked_tokens": revoked})


async def get_faults(request: web.Request) -> web.Response:
    faults = request.app[STATE_KEY].faults
    return web.json_response({"faults": faults.to_json() if faults else None})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].faults = None
    return web.json_response({"faults": None})


async def post_config(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        appliers = parse_config(await _control_body(request))
    except ConfigError as error:
        return _bad_request(error)
    for apply in appliers:
        apply(state)
    return web.json_response(state.config_view())


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].config_view())


# --- parsing ----------------------------------------------------------------------------------------------

_FAULT_KEYS = frozenset(
    {"error_rate", "error_codes", "http_5xx_rate", "timeout_rate", "timeout_seconds", "targets", "seed",
     "revoke_tokens"}
)  # fmt: skip


def parse_faults(body: dict[str, Any]) -> tuple[Faults, bool]:
    """Validate a fault spec; rates are probabilities of disjoint outcomes, so they must sum to ≤ 1."""
    _reject_unknown(body, _FAULT_KEYS)
    rates = {name: _rate(body, name) for name in ("error_rate", "http_5xx_rate", "timeout_rate")}
    if sum(rates.values()) > 1:
        raise ConfigError("error_rate + http_5xx_rate + timeout_rate must not exceed 1")
    codes = body.get("error_codes", [50000])
    if not isinstance(codes, list) or not codes or not all(_is_int(code) for code in codes):
        raise ConfigError("error_codes must be a non-empty list of integers")
    timeout = body.get("timeout_seconds", 5.0)
    if not _is_number(timeout) or timeout < 0:
        raise ConfigError("timeout_seconds must be a non-negative number")
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise ConfigError("seed must be an integer")
    revoke = body.get("revoke_tokens", False)
    if not isinstance(revoke, bool):
        raise ConfigError("revoke_tokens must be a boolean")
    faults = Faults(
        error_rate=rates["error_rate"],
        error_codes=tuple(codes),
        http_5xx_rate=rates["http_5xx_rate"],
        timeout_rate=rates["timeout_rate"],
        timeout_seconds=float(timeout),
        targets=_targets(body),
        seed=seed,
        rng=random.Random(seed),
    )
    return faults, revoke


def _rate(body: dict[str, Any], name: str) -> float:
    value = body.get(name, 0.0)
    if not _is_number(value) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a number between 0 and 1")
    return float(value)


def _targets(body: dict[str, Any]) -> frozenset[FaultTarget]:
    targets = body.get("targets", sorted(ALL_TARGETS))
    if not isinstance(targets, list) or not targets or not set(targets) <= ALL_TARGETS:
        raise ConfigError(f"targets must be a non-empty subset of {sorted(ALL_TARGETS)}")
    return frozenset(cast(list[FaultTarget], targets))


Applier = Callable[[SandboxState], None]


def parse_config(body: dict[str, Any]) -> list[Applier]:
    """Validate every key first and return the changes, so a bad request changes nothing."""
    _reject_unknown(body, frozenset(_CONFIG_PARSERS))
    return [_CONFIG_PARSERS[key](value) for key, value in body.items()]


def _apps(value: object) -> Applier:
    apps = [
        SandboxApp(
            _field(item, "app_id"),
            _field(item, "secret"),
            _field(item, "name", "Sandbox Messaging Partner"),
            tuple(_strings(item.get("redirect_uris", []), "redirect_uris")),
        )
        for item in _objects(value, "apps")
    ]
    return lambda state: state.apps.update({app.app_id: app for app in apps})


def _advertisers(value: object) -> Applier:
    found = [
        Advertiser(_field(item, "advertiser_id"), _field(item, "advertiser_name"))
        for item in _objects(value, "advertisers")
    ]
    return lambda state: state.advertisers.update({adv.advertiser_id: adv for adv in found})


def _event_sets(value: object) -> Applier:
    pairs = {_field(item, "event_set_id"): _field(item, "advertiser_id") for item in _objects(value, "event_sets")}
    return lambda state: state.event_sets.update(pairs)


def _events_tokens(value: object) -> Applier:
    tokens = [
        EventsToken(_field(item, "access_token"), _field(item, "event_source_id"))
        for item in _objects(value, "events_tokens")
    ]

    def apply(state: SandboxState) -> None:
        for token in tokens:
            state.add_events_token(token)

    return apply


def _string_set(key: str, attribute: str) -> Callable[[object], Applier]:
    def parse(value: object) -> Applier:
        values = _strings(value, key)
        return lambda state: cast(set[str], getattr(state, attribute)).update(values)

    return parse


def _whatsapp_templates(value: object) -> Applier:
    templates: dict[tuple[str, str], int] = {}
    for item in _objects(value, "whatsapp_templates"):
        count = item.get("body_parameters", 0)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 100:
            raise ConfigError("body_parameters must be an integer from 0 to 100")
        templates[(_field(item, "name"), _field(item, "language"))] = count
    return lambda state: state.whatsapp_templates.update(templates)


def _line_reply_tokens(value: object) -> Applier:
    tokens = _strings(value, "line_reply_tokens")
    return lambda state: state.add_line_reply_tokens(tokens)


def _flag(key: str) -> Callable[[object], Applier]:
    def parse(value: object) -> Applier:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be a boolean")
        return lambda state: setattr(state.config, key, value)

    return parse


_CONFIG_PARSERS: dict[str, Callable[[object], Applier]] = {
    "apps": _apps,
    "advertisers": _advertisers,
    "event_sets": _event_sets,
    "events_tokens": _events_tokens,
    "meta_tokens": _string_set("meta_tokens", "meta_tokens"),
    "whatsapp_phone_number_ids": _string_set("whatsapp_phone_number_ids", "whatsapp_phone_number_ids"),
    "messenger_page_ids": _string_set("messenger_page_ids", "messenger_page_ids"),
    "whatsapp_templates": _whatsapp_templates,
    "line_channel_tokens": _string_set("line_channel_tokens", "line_channel_tokens"),
    "line_reply_tokens": _line_reply_tokens,
    "auto_approve": _flag("auto_approve"),
    "require_source_objects": _flag("require_source_objects"),
}


def _reject_unknown(body: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise ConfigError(f"unknown keys: {', '.join(unknown)}")


def _objects(value: object, key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{key} must be a list of objects")
    return value


def _strings(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{key} must be a list of non-empty strings")
    return value


def _field(item: dict[str, Any], key: str, default: str | None = None) -> str:
    value = item.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/_sandbox/requests", get_requests)
    router.add_delete("/_sandbox/requests", clear_requests)
    router.add_get("/_sandbox/events", get_events)
    router.add_delete("/_sandbox/events", clear_events)
    router.add_get("/_sandbox/messages", get_messages)
    router.add_delete("/_sandbox/messages", clear_messages)
    router.add_get("/_sandbox/faults", get_faults)
    router.add_post("/_sandbox/faults", set_faults)
    router.add_delete("/_sandbox/faults", clear_faults)
    router.add_get("/_sandbox/config", get_config)
    router.add_post("/_sandbox/config", post_config)
