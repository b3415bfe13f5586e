"""Helpers every platform module needs: lenient payload fields, header lookup, JSON, timestamps and HTTP.

Webhook payloads come from four vendors, old SDK samples and dashboard test buttons, so the payload models are
deliberately forgiving: a field of the wrong type becomes ``None`` (or an empty list) instead of failing the whole
body. Only a body that is not JSON, or not the platform's envelope, is a :class:`PayloadError`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

import aiohttp
from pydantic import BaseModel, BeforeValidator, ConfigDict

from partner.platforms.base import PayloadError, SendError, utc_from_millis, utc_from_seconds

T = TypeVar("T")

DEFAULT_SEND_TIMEOUT = aiohttp.ClientTimeout(total=15)

# Seconds since 1970 stay below 1e11 until the year 5138; milliseconds pass it in 1973.
_MILLIS_THRESHOLD = 100_000_000_000


# --- lenient payload fields ------------------------------------------------------------------------------------


def as_str(value: Any) -> str | None:
    """Ids arrive as strings or, in old Messenger samples, as numbers; anything else is treated as absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _dict_or_none(value: Any) -> Any:
    return value if isinstance(value, dict) else None


def _dict_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts_only(value: Any) -> list[Any]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _strings_only(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [text for text in (as_str(item) for item in value) if text is not None]


def _true_only(value: Any) -> bool:
    return value is True


Str = Annotated[str | None, BeforeValidator(as_str)]
Num = Annotated[float | None, BeforeValidator(as_float)]
Flag = Annotated[bool, BeforeValidator(_true_only)]
Obj = Annotated[T | None, BeforeValidator(_dict_or_none)]  # a nested model, or None when not an object
ObjList = Annotated[list[T], BeforeValidator(_dicts_only)]  # nested models; non-objects are dropped
StrList = Annotated[list[str], BeforeValidator(_strings_only)]
RawDict = Annotated[dict[str, Any], BeforeValidator(_dict_or_empty)]  # kept as it arrived (e.g. referral.raw)
RawList = Annotated[list[dict[str, Any]], BeforeValidator(_dicts_only)]


class Lenient(BaseModel):
    """Base for payload models: unknown keys are ignored, every field has a default."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- body, headers, time -----------------------------------------------------------------------------------------


def load_json(raw: bytes) -> Any:
    """Decode the body; anything that is not JSON is a PayloadError (never a UnicodeError or RecursionError)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise PayloadError("body is not JSON") from None


def require_object(data: Any, platform: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PayloadError(f"not a {platform} webhook envelope")
    return data


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for aiohttp's CIMultiDict and for plain dicts in tests."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted), None)
    return value if isinstance(value, str) else None


def usable_secrets(secrets: Sequence[bytes]) -> list[bytes]:
    """An empty secret is a configuration mistake, not a key anyone should be able to sign with."""
    return [secret for secret in secrets if secret]


def utc_from_auto(value: Any) -> datetime:
    """Messenger and TikTok mix second and millisecond timestamps (even within one provider); tell them apart."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return utc_from_seconds(value)
    if math.isfinite(number) and abs(number) >= _MILLIS_THRESHOLD:
        return utc_from_millis(number)
    return utc_from_seconds(number)


def stable_hash(value: Any) -> str:
    """A short, stable digest of a JSON value, used as a dedup key when the platform gives none."""
    try:
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        canonical = "unhashable"
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty entries so item metadata stays small."""
    return {key: value for key, value in values.items() if value not in (None, "", [], {})}


def plain_number(value: Any) -> int | str | None:
    """A watermark / timestamp kept in metadata as an int when it is one, else as its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return as_str(value)


# --- outbound HTTP -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: Any  # parsed JSON, or None when the body was empty or not JSON


def is_retryable_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def normalise_base_url(base_url: str) -> str:
    return base_url if base_url.endswith("/") else base_url + "/"


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    payload: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    client_timeout: aiohttp.ClientTimeout = DEFAULT_SEND_TIMEOUT,
) -> HttpReply:
    """POST JSON and read the reply. Network failures become retryable SendErrors.

    Exceptions are re-raised ``from None`` with only the exception class name: aiohttp's messages can contain the
    URL, and Messenger puts the page access token in the query string.
    """
    try:
        async with session.post(url, json=payload, headers=headers, params=params, timeout=client_timeout) as response:
            raw = await response.read()
            return HttpReply(status=response.status, body=_json_or_none(raw))
    except TimeoutError:
        raise SendError("request timed out", retryable=True) from None
    except aiohttp.ClientError as exc:
        raise SendError(f"connection failed ({type(exc).__name__})", retryable=True) from None


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None


def short(text: str | None, limit: int = 200) -> str:
    """Platform error descriptions are kept short; they never contain our message text."""
    return (text or "").strip()[:limit]
