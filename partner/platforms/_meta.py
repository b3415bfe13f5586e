"""What WhatsApp and Messenger share because both are Meta webhooks and Graph API calls."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from partner.platforms._shared import HttpReply, as_str, header_value, is_retryable_status, short, usable_secrets
from partner.platforms.base import SendError

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_PREFIX = "sha256="

# Graph error codes that mean "try again later" even though the HTTP status is a 4xx:
# 1/2 temporary API error, 4/17/32/613/80007 rate limits, 130429 throughput, 131016 service unavailable,
# 131056 pair rate limit, 133004 server temporarily unavailable.
_RETRYABLE_GRAPH_CODES = frozenset({"1", "2", "4", "17", "32", "613", "80007", "130429", "131016", "131056", "133004"})


def verify(raw: bytes, headers: Mapping[str, str], secrets: Sequence[bytes]) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` over the raw bytes.

    Meta signs the body exactly as sent, with non-ASCII escaped as ``\\uXXXX``; hashing re-serialised JSON would
    not match, so only the received bytes are hashed.
    """
    header = header_value(headers, SIGNATURE_HEADER)
    if header is None or not header.isascii() or not header.startswith(_SIGNATURE_PREFIX):
        return False
    received = header[len(_SIGNATURE_PREFIX) :].strip().lower().encode("ascii")
    matched = False
    for secret in usable_secrets(secrets):
        expected = hmac.new(secret, raw, hashlib.sha256).hexdigest().encode("ascii")
        matched |= hmac.compare_digest(expected, received)  # no early exit: every candidate costs the same
    return matched


def sign(raw: bytes, secret: bytes) -> dict[str, str]:
    digest = hmac.new(secret, raw, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", SIGNATURE_HEADER: _SIGNATURE_PREFIX + digest}


def graph_error(reply: HttpReply) -> SendError:
    """Turn a Graph API error reply into a SendError; rate limits come back as HTTP 400 with a code."""
    error: dict[str, Any] = {}
    if isinstance(reply.body, dict) and isinstance(reply.body.get("error"), dict):
        error = reply.body["error"]
    code = as_str(error.get("code")) or "?"
    subcode = as_str(error.get("error_subcode"))
    label = f"{code}/{subcode}" if subcode else code
    description = short(as_str(error.get("message")))
    retryable = is_retryable_status(reply.status) or code in _RETRYABLE_GRAPH_CODES
    return SendError(f"graph error {label}: {description}", retryable=retryable, status=reply.status)
