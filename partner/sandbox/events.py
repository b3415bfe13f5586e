"""Validation of ``POST /open_api/v1.3/event/track/`` bodies, as strict as TikTok's Events API 2.0.

The rules follow the spec (``tiktok-api.md`` §1.2–1.5, 1.9). Messages copy the shape of TikTok's real ones
(marshmallow-style ``<path>: <problem>``, item paths as ``Batch.<i>.…``, and the verbatim
``Invalid value for event_id: not a valid string.``). The first problem found is reported, because TikTok
reports one message per request. Everything here is pure: no aiohttp, no state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EVENT_SOURCES = ("web", "app", "offline", "crm")
MAX_EVENTS_PER_REQUEST = 1000

# Web, offline and CRM share one standard list; offline accepts nothing else.
STANDARD_WEB_EVENTS = frozenset(
    {
        "AddPaymentInfo", "AddToCart", "AddToWishlist", "ApplicationApproval", "CompleteRegistration",
        "Contact", "CustomizeProduct", "Download", "FindLocation", "InitiateCheckout", "Lead", "Purchase",
        "Schedule", "Search", "StartTrial", "SubmitApplication", "Subscribe", "ViewContent",
        # older web names partners still send
        "ClickButton", "CompletePayment", "PlaceAnOrder", "SubmitForm", "Pageview",
    }
)  # fmt: skip
STANDARD_APP_EVENTS = frozenset(
    {
        "AchieveLevel", "AddPaymentInfo", "Checkout", "CompleteTutorial", "CreateGroup", "CreateRole",
        "GenerateLead", "InAppADClick", "InAppADImpr", "InstallApp", "JoinGroup", "LaunchAPP",
        "LoanApplication", "LoanApproval", "LoanDisbursal", "Login", "Rate", "Registration",
        "SpendCredits", "UnlockAchievement",
    }
)  # fmt: skip
CUSTOM_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
CURRENCY = re.compile(r"[A-Z]{3}")
# Anything above this is milliseconds (year 5138 in seconds), the most common event_time mistake.
MAX_SECONDS_TIMESTAMP = 10**11

_HASHED_USER_FIELDS = ("email", "phone", "external_id")
_STRING_USER_FIELDS = ("ttclid", "ttp", "ip", "user_agent", "locale", "idfa", "idfv", "gaid", "att_status")
_STRING_PROPERTIES = (
    "currency", "content_type", "order_id", "shop_id", "search_string", "query", "description",
    "customer_type",
)  # fmt: skip
_STRING_CONTENT_FIELDS = ("content_id", "content_category", "content_name", "brand")
_SOURCE_OBJECTS = {"web": ("page", "url"), "app": ("app", "app_id"), "crm": ("lead", "lead_id")}


class TrackValidationError(ValueError):
    """The body breaks a rule; ``str(error)`` is the message TikTok-style clients see with code 40002."""


@dataclass(frozen=True, slots=True)
class TrackRules:
    now: float
    require_source_objects: bool = True
    max_event_age_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class TrackBatch:
    """A validated request, ready to be recorded."""

    event_source: str
    event_source_id: str
    test_event_code: str | None
    items: list[dict[str, Any]]


def parse_envelope(body: object) -> tuple[dict[str, Any], str, str]:
    """Check the top-level fields needed before the permission check: (body, event_source, id)."""
    if not isinstance(body, dict):
        raise TrackValidationError("_schema: Invalid input type.")
    source = _string(_required(body, "event_source", "event_source"), "event_source")
    if source not in EVENT_SOURCES:
        raise TrackValidationError(f"event_source: Must be one of: {', '.join(EVENT_SOURCES)}.")
    source_id = _string(_required(body, "event_source_id", "event_source_id"), "event_source_id")
    if not source_id:
        raise TrackValidationError("event_source_id: Shorter than minimum length 1.")
    return body, source, source_id


def validate_track_body(body: object, rules: TrackRules) -> TrackBatch:
    """Validate a whole request; raises :class:`TrackValidationError` with the first problem found."""
    fields, source, source_id = parse_envelope(body)
    test_code = _optional_string(fields, "test_event_code", "test_event_code")
    _optional_string(fields, "partner_name", "partner_name")
    data = _required(fields, "data", "data")
    if not isinstance(data, list):
        raise TrackValidationError("data: Not a valid list.")
    if not 1 <= len(data) <= MAX_EVENTS_PER_REQUEST:
        raise TrackValidationError(f"data: Length must be between 1 and {MAX_EVENTS_PER_REQUEST}.")
    items = [_validate_item(item, f"Batch.{index}", source, rules) for index, item in enumerate(data)]
    return TrackBatch(source, source_id, test_code, items)


def _validate_item(item: object, path: str, source: str, rules: TrackRules) -> dict[str, Any]:
    event = _mapping(item, path)
    _validate_event_name(_required(event, "event", f"{path}.event"), f"{path}.event", source)
    _validate_event_time(_required(event, "event_time", f"{path}.event_time"), f"{path}.event_time", rules)
    if "event_id" in event and not isinstance(event["event_id"], str):
        raise TrackValidationError("Invalid value for event_id: not a valid string.")
    if "user" in event:
        _validate_user(_mapping(event["user"], f"{path}.user"), f"{path}.user")
    if "properties" in event:
        _validate_properties(_mapping(event["properties"], f"{path}.properties"), f"{path}.properties")
    if "limited_data_use" in event and not isinstance(event["limited_data_use"], bool):
        raise TrackValidationError(f"{path}.limited_data_use: Not a valid boolean.")
    if rules.require_source_objects and source in _SOURCE_OBJECTS:
        _validate_source_object(event, path, *_SOURCE_OBJECTS[source])
    return event


def _validate_event_name(value: object, path: str, source: str) -> None:
    name = _string(value, path)
    if source == "offline":
        if name not in STANDARD_WEB_EVENTS:
            raise TrackValidationError(f"{path}: Offline events must use a standard event name.")
    elif not CUSTOM_EVENT_NAME.fullmatch(name):
        raise TrackValidationError(f"{path}: Invalid event name.")


def _validate_event_time(value: object, path: str, rules: TrackRules) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TrackValidationError(f"{path}: Not a valid integer.")
    if value <= 0 or value >= MAX_SECONDS_TIMESTAMP:
        raise TrackValidationError(f"{path}: Must be a Unix timestamp in seconds.")
    if rules.max_event_age_seconds is not None and rules.now - value > rules.max_event_age_seconds:
        raise TrackValidationError(f"{path}: Event is older than the accepted window.")


def _validate_user(user: dict[str, Any], path: str) -> None:
    for name in _HASHED_USER_FIELDS:
        if name in user:
            _validate_hashed(user[name], f"{path}.{name}")
    for name in _STRING_USER_FIELDS:
        _optional_string(user, name, f"{path}.{name}")


def _validate_hashed(value: object, path: str) -> None:
    """SHA-256 hex (lower case) or a list of them; empty values are allowed, as partners send them."""
    values = value if isinstance(value, list) else [value]
    for index, single in enumerate(values):
        where = f"{path}.{index}" if isinstance(value, list) else path
        text = _string(single, where)
        if text and not SHA256_HEX.fullmatch(text):
            raise TrackValidationError(f"{where}: Must be a SHA-256 hex digest.")


def _validate_properties(props: dict[str, Any], path: str) -> None:
    for name in _STRING_PROPERTIES:
        _optional_string(props, name, f"{path}.{name}")
    currency = props.get("currency")
    if currency is not None and not CURRENCY.fullmatch(currency):
        raise TrackValidationError(f"{path}.currency: Not a valid ISO 4217 currency code.")
    if "value" in props and not _is_number(props["value"]):
        raise TrackValidationError(f"{path}.value: Not a valid number.")
    if "num_items" in props and not _is_int(props["num_items"]):
        raise TrackValidationError(f"{path}.num_items: Not a valid integer.")
    if "content_ids" in props:
        for index, content_id in enumerate(_list(props["content_ids"], f"{path}.content_ids")):
            _string(content_id, f"{path}.content_ids.{index}")
    if "contents" in props:
        for index, content in enumerate(_list(props["contents"], f"{path}.contents")):
            _validate_content(_mapping(content, f"{path}.contents.{index}"), f"{path}.contents.{index}")


def _validate_content(content: dict[str, Any], path: str) -> None:
    for name in _STRING_CONTENT_FIELDS:
        if name in content and not isinstance(content[name], str):
            # TikTok's own message has no trailing full stop here.
            raise TrackValidationError(f"{path}.{name}: Not a valid string")
    if "price" in content and not _is_number(content["price"]):
        raise TrackValidationError(f"{path}.price: Not a valid number.")
    if "quantity" in content and not _is_int(content["quantity"]):
        raise TrackValidationError(f"{path}.quantity: Not a valid integer.")


def _validate_source_object(event: dict[str, Any], path: str, key: str, inner: str) -> None:
    obj = _mapping(_required(event, key, f"{path}.{key}"), f"{path}.{key}")
    if not _string(_required(obj, inner, f"{path}.{key}.{inner}"), f"{path}.{key}.{inner}"):
        raise TrackValidationError(f"{path}.{key}.{inner}: Shorter than minimum length 1.")


def _required(fields: Mapping[str, Any], key: str, path: str) -> object:
    if key not in fields or fields[key] is None:
        raise TrackValidationError(f"{path}: Missing data for required field.")
    return fields[key]


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise TrackValidationError(f"{path}: Not a valid string.")
    return value


def _optional_string(fields: Mapping[str, Any], key: str, path: str) -> str | None:
    if key not in fields or fields[key] is None:
        return None
    return _string(fields[key], path)


def _mapping(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TrackValidationError(f"{path}: Invalid input type.")
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise TrackValidationError(f"{path}: Not a valid list.")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
