"""TikTok Business Messaging (direct messages): verify, parse and send.

Decisions:

* ``channel_key`` is ``user_openid`` (the business account the webhook is about).
* ``contact_key`` is the ``conversation_id``: it is present in every event shape seen (messages, echoes, both
  read-receipt shapes) and it is what the send API addresses (``recipient_type: CONVERSATION``). The TikTok user
  id (``from_user.id`` / ``unique_identifier`` inbound, ``to_user.id`` for echoes) is ``metadata["user_id"]`` and
  the handle (``from`` / ``to``) is ``contact_name``.
* ``content`` is a JSON *string* and is parsed a second time. Two content shapes exist: ``type: "text"`` with
  ``text.body``, and an SDK variant ``type: "TEXT"`` with the text in ``content``; both are read.
* ``im_mark_read_msg`` becomes a STATUS ``read`` with ``target_message_id=None`` (it means "read up to this
  time"), ``metadata["watermark"]`` and dedup ``read:<conversation_id>:<watermark>``.
* ``im_receive_msg_eu`` (senders in the EEA/CH/UK; no usable content) is kept as UNSUPPORTED so the inbox knows
  someone wrote. App lifecycle events (``authorization.removed``) and unknown events go to ``ignored``
  (``unknown:<event>`` for the latter): they are about the app, not about a conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from pydantic import Field, ValidationError

from partner.platforms._shared import (
    DEFAULT_SEND_TIMEOUT,
    Lenient,
    Obj,
    Str,
    as_str,
    compact,
    header_value,
    is_retryable_status,
    load_json,
    normalise_base_url,
    plain_number,
    post_json,
    require_object,
    short,
    stable_hash,
    usable_secrets,
    utc_from_auto,
)
from partner.platforms.base import (
    DeliveryStatus,
    Direction,
    InboundItem,
    ItemKind,
    MediaRef,
    OutboundMessage,
    ParseResult,
    PayloadError,
    SendError,
    SendResult,
)

NAME = "tiktok"
DEFAULT_BASE_URL = "https://business-api.tiktok.com/open_api/v1.3/"
SIGNATURE_HEADER = "TikTok-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


# --- signature -----------------------------------------------------------------------------------------------------


def verify(
    raw: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[bytes],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """``TikTok-Signature: t=<unix>,s=<hex>``: HMAC-SHA256 of ``"<t>." + body``, and ``t`` must be recent."""
    header = header_value(headers, SIGNATURE_HEADER)
    parsed = _parse_signature_header(header) if header is not None else None
    if parsed is None:
        return False
    timestamp, signatures = parsed
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_seconds:
        return False
    signed = timestamp.encode("ascii") + b"." + raw
    matched = False
    for secret in usable_secrets(secrets):
        expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode("ascii")
        for signature in signatures:
            matched |= hmac.compare_digest(expected, signature)
    return matched


def sign(raw: bytes, secret: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    t = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret, t.encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", SIGNATURE_HEADER: f"t={t},s={digest}"}


def _parse_signature_header(header: str) -> tuple[str, list[bytes]] | None:
    if not header.isascii():
        return None
    timestamp: str | None = None
    signatures: list[bytes] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value.strip()
        elif key == "s":
            signatures.append(value.strip().lower().encode("ascii"))
    if timestamp is None or not timestamp.isdigit() or len(timestamp) > 12 or not signatures:
        return None
    return timestamp, signatures


# --- payload models ------------------------------------------------------------------------------------------------


class _User(Lenient):
    id: Str = None
    role: Str = None


class _Text(Lenient):
    body: Str = None


class _Image(Lenient):
    media_id: Str = None


class _SharePost(Lenient):
    video_id: Str = None
    embed_url: Str = None


class _Read(Lenient):
    last_read_timestamp: Any = None


class _Content(Lenient):
    message_id: Str = None
    conversation_id: Str = None
    timestamp: Any = None
    type: Str = None
    text: Obj[_Text] = None
    content: Str = None  # the "TEXT" variant puts the text here
    image: Obj[_Image] = None
    share_post: Obj[_SharePost] = None
    read: Obj[_Read] = None
    sender: Str = Field(default=None, alias="from")
    to: Str = None
    from_user: Obj[_User] = None
    to_user: Obj[_User] = None
    unique_identifier: Str = None


class _Envelope(Lenient):
    client_key: Str = None
    event: Str = None
    create_time: Any = None
    user_openid: Str = None
    content: Any = None


# --- parsing -------------------------------------------------------------------------------------------------------


def parse(raw: bytes, *, route_key: str | None = None) -> ParseResult:
    """One event per body; ``route_key`` is unused (routing is by ``user_openid``)."""
    data = require_object(load_json(raw), "TikTok")
    if not isinstance(data.get("event"), str):
        raise PayloadError("not a TikTok webhook: no event name")
    try:
        envelope = _Envelope.model_validate(data)
    except (ValidationError, RecursionError):
        raise PayloadError("malformed TikTok webhook") from None
    result = ParseResult()
    event = envelope.event or ""
    handler = _EVENT_HANDLERS.get(event)
    if handler is None:
        result.ignored.append(event if event in _IGNORED_EVENTS else f"unknown:{event}")
        return result
    content = _content(envelope.content)
    if content is None:
        result.ignored.append(f"{event}:unreadable_content")
        return result
    result.items.append(handler(envelope, content))
    return result


def _content(value: Any) -> _Content | None:
    """``content`` is a JSON string (sometimes, in tests, already an object)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if not isinstance(value, dict):
        return None
    try:
        return _Content.model_validate(value)
    except (ValidationError, RecursionError):
        return None


def _item(envelope: _Envelope, content: _Content, kind: ItemKind, dedup_key: str, **values: Any) -> InboundItem:
    when = content.timestamp if content.timestamp is not None else envelope.create_time
    return InboundItem(
        kind=kind,
        dedup_key=dedup_key,
        channel_key=envelope.user_openid or "",
        occurred_at=utc_from_auto(when),
        **values,
    )


def _message_key(content: _Content) -> str:
    return content.message_id or f"message:{stable_hash(content.model_dump(by_alias=True))}"


def _received(envelope: _Envelope, content: _Content) -> InboundItem:
    user_id = (content.from_user.id if content.from_user else None) or content.unique_identifier
    return _message_item(envelope, content, Direction.INBOUND, user_id=user_id, handle=content.sender)


def _echo(envelope: _Envelope, content: _Content) -> InboundItem:
    """``im_send_msg`` echoes every business send, including ours and those made in the TikTok app."""
    user_id = content.to_user.id if content.to_user else None
    return _message_item(envelope, content, Direction.OUTBOUND, user_id=user_id, handle=content.to)


def _message_item(
    envelope: _Envelope, content: _Content, direction: Direction, *, user_id: str | None, handle: str | None
) -> InboundItem:
    body = _body(content)
    extra_metadata = body.pop("metadata", {})
    return _item(
        envelope,
        content,
        ItemKind.MESSAGE,
        _message_key(content),
        contact_key=content.conversation_id or user_id,
        direction=direction,
        platform_message_id=content.message_id,
        contact_name=handle,
        metadata=compact({"user_id": user_id, **extra_metadata}),
        **body,
    )


def _body(content: _Content) -> dict[str, Any]:
    message_type = (content.type or "").lower()
    if message_type == "text":
        text = content.text.body if content.text else content.content
        return {"message_type": "text", "text": text}
    if message_type == "image":
        media_id = content.image.media_id if content.image else None
        return {"message_type": "image", "media": MediaRef(media_id=media_id)}
    if message_type == "share_post":
        post = content.share_post or _SharePost()
        return {
            "message_type": "share_post",
            "media": MediaRef(url=post.embed_url) if post.embed_url else None,
            "metadata": compact({"video_id": post.video_id}),
        }
    return {"message_type": "unsupported", "unsupported_type": content.type or "unknown"}


def _mark_read(envelope: _Envelope, content: _Content) -> InboundItem:
    """A read receipt covers everything up to its time; there is no message id to point at."""
    raw_watermark = content.read.last_read_timestamp if content.read else None
    if raw_watermark is None:
        raw_watermark = content.timestamp if content.timestamp is not None else envelope.create_time
    watermark = plain_number(raw_watermark)
    user_id = (content.from_user.id if content.from_user else None) or content.unique_identifier
    contact_key = content.conversation_id or user_id
    return InboundItem(
        kind=ItemKind.STATUS,
        dedup_key=f"read:{contact_key}:{watermark}",
        channel_key=envelope.user_openid or "",
        contact_key=contact_key,
        occurred_at=utc_from_auto(raw_watermark),
        direction=Direction.OUTBOUND,
        status=DeliveryStatus.READ,
        metadata=compact({"watermark": watermark, "user_id": user_id}),
    )


def _eu_message(envelope: _Envelope, content: _Content) -> InboundItem:
    """EEA/CH/UK senders: TikTok strips the message; keep that someone wrote, nothing else is usable."""
    return _item(
        envelope,
        content,
        ItemKind.UNSUPPORTED,
        _message_key(content),
        contact_key=content.conversation_id,
        unsupported_type="im_receive_msg_eu",
    )


_EventHandler = Callable[[_Envelope, _Content], InboundItem]

_EVENT_HANDLERS: Mapping[str, _EventHandler] = {
    "im_receive_msg": _received,
    "im_send_msg": _echo,
    "im_mark_read_msg": _mark_read,
    "im_receive_msg_eu": _eu_message,
}
_IGNORED_EVENTS = frozenset({"authorization.removed"})


# --- sending -------------------------------------------------------------------------------------------------------

# TikTok answers HTTP 200 with a non-zero ``code`` on errors. 40100 is its rate limit; 5xxxx are server errors.
_RETRYABLE_CODES = frozenset({40100})


class Sender:
    """Replies through ``POST {base}business/message/send/`` with the ``Access-Token`` header.

    ``channel_key`` is the business id (``user_openid``) and ``OutboundMessage.recipient`` the conversation id.
    Images must be uploaded first to get a ``media_id``; sending by URL is refused (non-retryable).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_BASE_URL,
        *,
        channel_key: str,
        access_token: str,
        timeout: aiohttp.ClientTimeout = DEFAULT_SEND_TIMEOUT,
    ) -> None:
        self._session = session
        self._url = f"{normalise_base_url(base_url)}business/message/send/"
        self._business_id = channel_key
        self._headers = {"Access-Token": access_token}
        self._timeout = timeout

    async def send(self, msg: OutboundMessage) -> SendResult:
        payload = build_payload(msg, business_id=self._business_id)
        reply = await post_json(
            self._session, self._url, payload=payload, headers=self._headers, client_timeout=self._timeout
        )
        if not 200 <= reply.status < 300:
            raise SendError(
                f"TikTok HTTP {reply.status}", retryable=is_retryable_status(reply.status), status=reply.status
            )
        body = reply.body if isinstance(reply.body, dict) else {}
        if body.get("code") != 0:
            raise _api_error(body, reply.status)
        return SendResult(platform_message_id=_sent_message_id(body))


def build_payload(msg: OutboundMessage, *, business_id: str) -> dict[str, Any]:
    if msg.media_url is not None:
        raise SendError("TikTok sends images by uploaded media_id, not by URL", retryable=False)
    if not msg.text:
        raise SendError("nothing to send: no text", retryable=False)
    payload: dict[str, Any] = {
        "business_id": business_id,
        "recipient_type": "CONVERSATION",
        "recipient": msg.recipient,
        "message_type": "TEXT",
        "text": {"body": msg.text},
    }
    if msg.reply_to:
        payload["referenced_message_info"] = {"referenced_message_id": msg.reply_to}
    return payload


def _api_error(body: dict[str, Any], status: int) -> SendError:
    code = body.get("code")
    numeric = code if isinstance(code, int) and not isinstance(code, bool) else None
    retryable = numeric is not None and (numeric in _RETRYABLE_CODES or numeric >= 50000)
    description = short(as_str(body.get("message")))
    return SendError(f"TikTok error {as_str(code) or '?'}: {description}", retryable=retryable, status=status)


def _sent_message_id(body: dict[str, Any]) -> str | None:
    data = body.get("data")
    if not isinstance(data, dict):
        return None
    message = data.get("message")
    sent = message.get("message_id") if isinstance(message, dict) else data.get("message_id")
    return as_str(sent)


__all__ = ["DEFAULT_BASE_URL", "NAME", "SIGNATURE_HEADER", "Sender", "build_payload", "parse", "sign", "verify"]
