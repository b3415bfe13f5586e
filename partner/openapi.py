"""The partner API under ``/api/v1``: endpoint tables, the role guard, request parsing, and the OpenAPI 3.1 document.

Every API route is an :class:`Endpoint` entry of some module's ``ENDPOINTS`` table and is registered with
:func:`add_endpoints`, which puts the entry's role check in front of the handler and records the entry on the
application. ``GET /api/v1/openapi.json`` is generated from exactly the entries an application registered, with
the same pydantic models the handlers parse and answer with, so a route cannot exist undocumented; a test also
compares the document with the application's router.

Handlers read the caller with ``partner.accounts.auth.authenticate`` (cached by the guard) and scope everything to
the caller's workspace: another workspace's ids are 404, a role that is too low is 403 whatever the object.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError
from pydantic.json_schema import models_json_schema

from partner import __version__
from partner.accounts.auth import Role, not_found, require_role
from partner.web import ApiError, Handler, read_json_object

MAX_ID = 2**31 - 1  # ids are database integers; a larger one names nothing
M = TypeVar("M", bound=BaseModel)
_PATH_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_ERROR_TEXT = {
    400: "The body is not a JSON object",
    401: "No valid API token",
    403: "The caller's role is too low",
    404: "Not found, or not in the caller's workspace or channels",
    409: "Conflicts with the current state",
    413: "The body is too large",
    422: "A field is invalid; error.field names it",
    502: "An upstream service (TikTok) could not be reached; nothing was changed",
}


# --- shared models ---------------------------------------------------------------------------------------------


def _storable(value: str) -> str:
    """Text both databases can store: no NUL characters, no lone surrogates (never a driver error)."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]  # in a query: text that reads as an id
BodyId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]  # in JSON an id is a number, never "5"
Flag = Annotated[bool, Strict()]  # in JSON a flag is true or false, never "yes"


class Input(BaseModel):
    """A request body or query: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """A response: exactly the documented fields."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail


# --- endpoints ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route: how it is served, who may call it, and what it takes and returns."""

    method: str
    path: str  # aiohttp pattern; ``{name:regex}`` parts become integer path parameters
    handler: Handler
    summary: str
    role: Role | None  # None: public
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    description: str = ""
    extra_responses: dict[int, str] = field(default_factory=dict)
    super_admin: bool = False  # only the bootstrap token (PARTNER_ADMIN_TOKEN); a user token is 403

    @property
    def openapi_path(self) -> str:
        return _PATH_PARAMETER.sub(r"{\1}", self.path)

    @property
    def path_parameters(self) -> list[str]:
        return [match.group(1) for match in _PATH_PARAMETER.finditer(self.path)]

    @property
    def operation_id(self) -> str:
        return f"{self.method.lower()}_{self.handler.__name__}"


def guarded(endpoint: Endpoint) -> Handler:
    """The handler behind the entry's checks: 401 without a token, 403 below the role (or not the bootstrap token)."""
    role = endpoint.role
    if role is None:
        return endpoint.handler
    super_admin = endpoint.super_admin

    @functools.wraps(endpoint.handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        principal = await require_role(request, None, role)
        if super_admin and not principal.is_super_admin:
            raise ApiError(403, "forbidden", "only the bootstrap admin token (PARTNER_ADMIN_TOKEN) may do this")
        return await endpoint.handler(request)

    return guarded


class ApiTable:
    """The endpoints an application registered, and the document generated from them (once)."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []
        self._document: dict[str, Any] | None = None

    def add(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints.extend(endpoints)
        self._document = None

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = build_document(self.endpoints)
        return self._document


api_key = web.AppKey("api_table", ApiTable)


def add_endpoints(app: web.Application, endpoints: Sequence[Endpoint]) -> None:
    """Register each entry's route behind its role guard; the application's document lists them."""
    if api_key not in app:
        app[api_key] = ApiTable()
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, endpoint.path, guarded(endpoint))
    app[api_key].add(endpoints)


def api_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of everything ``app`` registered through :func:`add_endpoints`."""
    return app[api_key].document() if api_key in app else build_document(())


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(api_document(request.app))


# --- request parsing ---------------------------------------------------------------------------------------------


def validation_error(error: ValidationError) -> ApiError:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or None
    return ApiError(422, "invalid", first["msg"], field=name)


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``: 400 if it is not a JSON object, 422 naming the first bad field."""
    try:
        return model.model_validate(await read_json_object(request))
    except ValidationError as error:
        raise validation_error(error) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``; a parameter given twice is a 422 rather than a silent choice."""
    values: dict[str, str] = {}
    for key in request.query:
        given = request.query.getall(key)
        if len(given) > 1:
            raise ApiError(422, "invalid", "give this parameter once", field=key)
        values[key] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise validation_error(error) from None


def path_id(request: web.Request, name: str, what: str) -> int:
    """An id from the path; anything a database integer cannot hold names nothing, so it is a 404."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
        raise not_found(what)
    return int(raw)


def json_response(model: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json", headers=headers)


# --- the document ------------------------------------------------------------------------------------------------


def build_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    _check_unique(endpoints)
    models = _models(endpoints)
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    ref = {model: refs[(model, "validation")] for model in models}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = _operation(endpoint, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TikTok Messaging Partner API",
            "version": __version__,
            "description": "Workspaces and their channels, tracking links, reporting to TikTok's Events API, keyword "
            "signals, the TikTok connection, and the unified inbox for WhatsApp, Messenger, LINE and TikTok "
            "conversations. Authenticate with an API token (Authorization: Bearer); the bootstrap "
            "PARTNER_ADMIN_TOKEN is a super-admin for every workspace. Users are admins, agents or viewers of one "
            "workspace; every object belongs to one workspace, and ids of another workspace answer 404.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _check_unique(endpoints: Sequence[Endpoint]) -> None:
    routes: set[tuple[str, str]] = set()
    operation_ids: set[str] = set()
    for endpoint in endpoints:
        route = (endpoint.method.upper(), endpoint.openapi_path)
        if route in routes or endpoint.operation_id in operation_ids:
            raise ValueError(f"two endpoints share {route} or the operation id {endpoint.operation_id!r}")
        routes.add(route)
        operation_ids.add(endpoint.operation_id)


def _models(endpoints: Sequence[Endpoint]) -> list[type[BaseModel]]:
    models: list[type[BaseModel]] = [ErrorBody]
    for endpoint in endpoints:
        for model in (endpoint.body, endpoint.response):
            if model is not None and model not in models:
                models.append(model)
    return models


def _operation(endpoint: Endpoint, ref: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    if endpoint.super_admin:
        role_note = "Needs the bootstrap admin token (PARTNER_ADMIN_TOKEN); a user's token gets 403."
    else:
        role_note = f"Needs the {endpoint.role} role or higher." if endpoint.role else "Public."
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "description": f"{endpoint.description} {role_note}".strip(),
        "tags": [endpoint.tag],
        "parameters": _path_parameters(endpoint) + _query_parameters(endpoint),
        "responses": _responses(endpoint, ref),
    }
    if endpoint.role is None:
        operation["security"] = []
    else:
        operation["x-minimum-role"] = endpoint.role
    if endpoint.super_admin:
        operation["x-super-admin-only"] = True
    if endpoint.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref[endpoint.body]}}}
    return operation


def _path_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
        for name in endpoint.path_parameters
    ]


def _query_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    if endpoint.query is None:
        return []
    schema = endpoint.query.model_json_schema()
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(dict(prop))
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: ``anyOf [X, null]`` (pydantic's optional) is just ``X`` there."""
    options = prop.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **kept[0]}
    if prop.get("default", 0) is None:
        del prop["default"]
    return prop


def _responses(endpoint: Endpoint, ref: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Success"}
    if endpoint.response is not None:
        success["content"] = {"application/json": {"schema": ref[endpoint.response]}}
    responses: dict[str, Any] = {str(endpoint.status): success}
    for status, text in endpoint.extra_responses.items():
        responses[str(status)] = {"description": text}
    statuses = set(endpoint.errors)
    if endpoint.role is not None:
        statuses |= {401, 403}
    if endpoint.query is not None or endpoint.body is not None:
        statuses.add(422)
    if endpoint.body is not None:
        statuses |= {400, 413}
    if endpoint.path_parameters:
        statuses.add(404)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": _ERROR_TEXT[status],
            "content": {"application/json": {"schema": ref[ErrorBody]}},
        }
    return responses


__all__ = [
    "MAX_ID",
    "ApiTable",
    "BodyId",
    "Endpoint",
    "ErrorBody",
    "ErrorDetail",
    "Flag",
    "Handler",
    "Id",
    "Input",
    "Output",
    "Text",
    "add_endpoints",
    "api_document",
    "api_key",
    "build_document",
    "guarded",
    "json_response",
    "openapi_json",
    "parse_body",
    "parse_query",
    "path_id",
    "validation_error",
]
