"""How a CRM knows a delivery came from us and is fresh: an HMAC over the timestamp and the exact body.

Every delivery is a ``POST`` of a JSON envelope with these headers:

* ``X-Partner-Timestamp``: Unix seconds when this attempt was signed.
* ``X-Partner-Signature``: ``sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<raw body>"`` keyed with the
  webhook's secret (the whole ``whsec_...`` string, UTF-8). While an old secret is kept after a rotation the
  header carries one signature per secret, comma-separated; accept the delivery if any of them matches.
* ``X-Partner-Event``: the event type (``message.created`` ...); ``X-Partner-Delivery``: the delivery id.

A receiver recomputes the HMAC over the raw bytes it received (before any JSON parsing), compares in constant
time, and refuses timestamps more than five minutes from its clock: a captured request cannot be replayed later,
and the signature covers the timestamp so it cannot be moved. Retries are signed afresh with a new timestamp;
the envelope's ``id`` stays the same, so a receiver drops duplicates by it. :func:`verify` is that check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

SIGNATURE_HEADER = "X-Partner-Signature"
TIMESTAMP_HEADER = "X-Partner-Timestamp"
EVENT_HEADER = "X-Partner-Event"
DELIVERY_HEADER = "X-Partner-Delivery"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the public prefix of every webhook secret, not a secret
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """256 random bits, with a prefix so a leaked one is recognisable in logs and secret scanners."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_header(keys: Sequence[str], timestamp: str, body: bytes) -> str:
    return ",".join(sign(key, timestamp, body) for key in keys)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature over the raw body."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    given = [part.strip() for part in headers.get(SIGNATURE_HEADER, "").split(",")]
    return any(hmac.compare_digest(expected.encode(), part.encode()) for part in given)
