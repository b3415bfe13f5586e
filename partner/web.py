"""HTTP plumbing shared by every route: request ids, metrics, and one JSON error shape.

Errors leave the service as ``{"error": {"code", "message", "field"}}`` with the right status; an unexpected
exception becomes a 500 that names the request id and nothing else (no message text, no secrets).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from partner.metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger(__name__)
metrics_key = web.AppKey("metrics", Metrics)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class ApiError(web.HTTPException):
    """A client error with a machine-readable code; raised by handlers, rendered by the middleware."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        self.status_code = status
        super().__init__(text=_error_json(code, message, field), content_type="application/json")
        self.code = code


def _error_json(code: str, message: str, field: str | None) -> str:
    import json

    return json.dumps({"error": {"code": code, "message": message, "field": field}})


def error_response(status: int, code: str, message: str, *, field: str | None = None) -> web.Response:
    return web.Response(status=status, text=_error_json(code, message, field), content_type="application/json")


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await handler(request)
        response.headers["X-Request-ID"] = request_id
        return response


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[metrics_key]
    route = _route_name(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        metrics.http_requests.labels(request.method, route, str(status)).inc()
        metrics.http_latency.labels(route).observe(time.perf_counter() - started)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        code = _STATUS_CODES.get(error.status, "error")
        message = error.reason if error.text is None or error.text.startswith(f"{error.status}:") else error.text
        response = error_response(error.status, code, message)
        if "Allow" in error.headers:  # a 405 says which methods the route takes
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled_error", route=_route_name(request))
        return error_response(500, "internal", "internal error; the request id identifies it in the logs")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says why not."""
    try:
        value = await request.json()
    except ValueError:
        raise ApiError(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    return value
