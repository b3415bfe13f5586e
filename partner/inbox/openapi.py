"""The OpenAPI 3.1 document, generated from the same endpoint table and pydantic models the routes use.

Because routes are registered from :class:`Endpoint` entries and the document is built from them, a route cannot
exist undocumented; a test also compares the document with the application's router.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from partner import __version__
from partner.accounts.auth import Role
from partner.inbox.schemas import MAX_ID, ErrorBody

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PATH_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_ERROR_TEXT = {
    400: "The body is not a JSON object",
    401: "No valid API token",
    403: "The caller's role is too low",
    404: "Not found, or not in the caller's workspace or channels",
    409: "Conflicts with the current state",
    413: "The body is too large",
    422: "A field is invalid; error.field names it",
}


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

    @property
    def openapi_path(self) -> str:
        return _PATH_PARAMETER.sub(r"{\1}", self.path)

    @property
    def path_parameters(self) -> list[str]:
        return [match.group(1) for match in _PATH_PARAMETER.finditer(self.path)]


def build_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    models = _models(endpoints)
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TikTok Messaging Partner: inbox API",
            "version": __version__,
            "description": "Unified inbox for WhatsApp, Messenger, LINE and TikTok conversations. Every object "
            "belongs to one workspace; ids of another workspace answer 404.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _models(endpoints: Sequence[Endpoint]) -> list[type[BaseModel]]:
    models: list[type[BaseModel]] = [ErrorBody]
    for endpoint in endpoints:
        for model in (endpoint.body, endpoint.response):
            if model is not None and model not in models:
                models.append(model)
    return models


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    role_note = f"Needs the {endpoint.role} role or higher." if endpoint.role else "Public."
    operation: dict[str, Any] = {
        "operationId": f"{endpoint.method.lower()}_{endpoint.handler.__name__}",
        "summary": endpoint.summary,
        "description": f"{endpoint.description} {role_note}".strip(),
        "tags": [endpoint.tag],
        "parameters": _path_parameters(endpoint) + _query_parameters(endpoint),
        "responses": _responses(endpoint),
    }
    if endpoint.role is None:
        operation["security"] = []
    else:
        operation["x-minimum-role"] = endpoint.role
    if endpoint.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(endpoint.body)}}}
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


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Success"}
    if endpoint.response is not None:
        success["content"] = {"application/json": {"schema": _ref(endpoint.response)}}
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
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    return responses
