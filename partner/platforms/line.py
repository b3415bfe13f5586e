"""LINE Messaging API: verify, parse and send.

Decisions:

* ``channel_key`` is the LINE channel id from the webhook URL (``/webhooks/line/{channel_id}``, passed as
  ``route_key``); without one, the ``destination`` (the bot's user id) is used. ``destination`` is always kept in
  metadata.
* ``contact_key`` is the conversation: ``source.groupId``, else ``roomId``, else ``userId``; the speaker in a
  group or room is ``metadata["user_id"]``.
* ``dedup_key`` is ``webhookEventId``. Old samples have none: a stable hash of the event JSON stands in. If one
  body repeats an id for different events (SDK test data does), each gets ``<id>#<hash>`` so none is collapsed.
* Group/room lifecycle and device events (join, leave, memberJoined, memberLeft, beacon, accountLink,
  videoPlayComplete, ...) go to ``ignored`` by type name; event types never seen become UNSUPPORTED items.
* ``metadata`` carries ``mode`` (``standby`` means another channel answers: do not reply) and ``is_redelivery``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
from pydantic import ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from partner.platforms._shared import (
    DEFAULT_SEND_TIMEOUT,
    HttpReply,
    Lenient,
    Num,
    Obj,
    RawDict,
    RawList,
    Str,
    as_str,
    compact,
    header_value,
    is_retryable_status,
    load_json,
    normalise_base_url,
    post_json,
    require_object,
    short,
    stable_hash,
    usable_secrets,
)
from partner.platforms.base import (
    InboundItem,
    ItemKind,
    Location,
    MediaRef,
    OutboundMessage,
    ParseResult,
    PayloadError,
    SendError,
    SendResult,
    utc_from_millis,
)

NAME = "line"
DEFAULT_BASE_URL = "https://api.line.me/"
SIGNATURE_HEADER = "x-line-signature"


# --- signature -----------------------------------------------------------------------------------------------------


def verify(raw: bytes, headers: Mapping[str, str], secrets: Sequence[bytes]) -> bool:
    """``x-line-signature``: base64 HMAC-SHA256 of the raw body, keyed with the channel secret."""
    header = header_value(headers, SIGNATURE_HEADER)
    if header is None or not header.isascii():
        return False
    received = header.strip().encode("ascii")
    matched = False
    for secret in usable_secrets(secrets):
        matched |= hmac.compare_digest(_signature(raw, secret).encode("ascii"), received)
    return matched


def sign(raw: bytes, secret: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: _signature(raw, secret)}


def _signature(raw: bytes, secret: bytes) -> str:
    return base64.b64encode(hmac.new(secret, raw, hashlib.sha256).digest()).decode("ascii")


# --- payload models ------------------------------------------------------------------------------------------------


class _Camel(Lenient):
    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True)


class _Source(_Camel):
    type: Str = None
    user_id: Str = None
    group_id: Str = None
    room_id: Str = None


class _ContentProvider(_Camel):
    type: Str = None
    original_content_url: Str = None


class _Message(_Camel):
    id: Str = None
    type: Str = None
    text: Str = None
    quoted_message_id: Str = None
    content_provider: Obj[_ContentProvider] = None
    file_name: Str = None
    title: Str = None
    address: Str = None
    latitude: Num = None
    longitude: Num = None
    package_id: Str = None
    sticker_id: Str = None
    sticker_resource_type: Str = None
    image_set: RawDict = Field(default_factory=dict)


class _DeliveryContext(_Camel):
    is_redelivery: Any = None


class _Unsend(_Camel):
    message_id: Str = None


class _Postback(_Camel):
    data: Str = None
    params: RawDict = Field(default_factory=dict)


class _Follow(_Camel):
    is_unblocked: Any = None


class _Event(_Camel):
    type: Str = None
    mode: Str = None
    timestamp: Any = None
    source: Obj[_Source] = None
    webhook_event_id: Str = None
    delivery_context: Obj[_DeliveryContext] = None
    reply_token: Str = None
    message: Obj[_Message] = None
    unsend: Obj[_Unsend] = None
    postback: Obj[_Postback] = None
    follow: Obj[_Follow] = None


class _Body(_Camel):
    destination: Str = None
    events: RawList = Field(default_factory=list)


# --- parsing -------------------------------------------------------------------------------------------------------

_M = TypeVar("_M", bound=_Camel)


def parse(raw: bytes, *, route_key: str | None = None) -> ParseResult:
    """Every event of the body; ``route_key`` is the channel id from the webhook URL."""
    data = require_object(load_json(raw), "LINE")
    if not isinstance(data.get("events"), list):
        raise PayloadError("not a LINE webhook: no events list")
    body = _validate(_Body, data)
    channel_key = route_key or body.destination or ""
    dedup_keys = _dedup_keys(body.events)
    result = ParseResult()
    for raw_event, dedup_key in zip(body.events, dedup_keys, strict=True):
        _parse_event(_validate(_Event, raw_event), dedup_key, channel_key, body.destination, result)
    return result


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except (ValidationError, RecursionError):
        raise PayloadError("malformed LINE webhook") from None


def _dedup_keys(raw_events: list[dict[str, Any]]) -> list[str]:
    ids = [as_str(event.get("webhookEventId")) for event in raw_events]
    repeated = {event_id for event_id, count in Counter(ids).items() if event_id and count > 1}
    keys = []
    for event_id, event in zip(ids, raw_events, strict=True):
        if event_id and event_id not in repeated:
            keys.append(event_id)
        elif event_id:
            keys.append(f"{event_id}#{stable_hash(event)[:16]}")
        else:
            keys.append(f"event:{stable_hash(event)}")
    return keys


def _parse_event(event: _Event, dedup_key: str, channel_key: str, destination: str | None, result: ParseResult) -> None:
    event_type = event.type or "unknown"
    if event_type in _IGNORED_EVENTS:
        result.ignored.append(event_type)
        return
    source = event.source or _Source()
    delivery = event.delivery_context or _DeliveryContext()
    common: dict[str, Any] = {
        "dedup_key": dedup_key,
        "channel_key": channel_key,
        "contact_key": source.group_id or source.room_id or source.user_id,
        "occurred_at": utc_from_millis(event.timestamp),
        "reply_token": event.reply_token,
    }
    metadata = compact(
        {
            "destination": destination,
            "mode": event.mode,
            "is_redelivery": delivery.is_redelivery if isinstance(delivery.is_redelivery, bool) else None,
            "source_type": source.type,
            "user_id": source.user_id if (source.group_id or source.room_id) else None,
        }
    )
    handler = _EVENT_HANDLERS.get(event_type, _unsupported_event)
    result.items.append(handler(event, common, metadata))


_Handler = Callable[[_Event, dict[str, Any], dict[str, Any]], InboundItem]


def _message_event(event: _Event, common: dict[str, Any], metadata: dict[str, Any]) -> InboundItem:
    message = event.message or _Message()
    content = _message_content(message)
    content_metadata = content.pop("metadata", {})
    return InboundItem(
        kind=ItemKind.MESSAGE,
        platform_message_id=message.id,
        reply_to=message.quoted_message_id,
        metadata={**metadata, **content_metadata},
        **content,
        **common,
    )


def _message_content(message: _Message) -> dict[str, Any]:
    builder = _MESSAGE_TYPES.get(message.type or "")
    if builder is None:
        return {"message_type": "unsupported", "unsupported_type": message.type or "unknown"}
    return builder(message)


def _text(message: _Message) -> dict[str, Any]:
    return {"message_type": "text", "text": message.text}


def _media(message: _Message) -> dict[str, Any]:
    """``line`` content is fetched later by message id; ``external`` content already has a URL."""
    provider = message.content_provider or _ContentProvider()
    url = provider.original_content_url if provider.type == "external" else None
    message_type = "document" if message.type == "file" else message.type
    return {
        "message_type": message_type,
        "media": MediaRef(media_id=message.id, url=url, filename=message.file_name),
        # Several images sent at once share an imageSet id: the inbox can group them.
        "metadata": compact({"image_set_id": as_str(message.image_set.get("id"))}),
    }


def _location(message: _Message) -> dict[str, Any]:
    place = Location(
        latitude=message.latitude, longitude=message.longitude, name=message.title, address=message.address
    )
    return {"message_type": "location", "location": place}


def _sticker(message: _Message) -> dict[str, Any]:
    # A sticker's keywords and "text" describe the sticker, they are not something the customer wrote.
    return {
        "message_type": "sticker",
        "metadata": compact(
            {
                "package_id": message.package_id,
                "sticker_id": message.sticker_id,
                "sticker_resource_type": message.sticker_resource_type,
            }
        ),
    }


_MESSAGE_TYPES: Mapping[str, Callable[[_Message], dict[str, Any]]] = {
    "text": _text,
    "image": _media,
    "video": _media,
    "audio": _media,
    "file": _media,
    "location": _location,
    "sticker": _sticker,
}


def _edited_event(event: _Event, common: dict[str, Any], metadata: dict[str, Any]) -> InboundItem:
    message = event.message or _Message()
    return InboundItem(
        kind=ItemKind.EDIT,
        target_message_id=message.id,
        message_type=message.type,
        text=message.text,
        metadata=metadata,
        **common,
    )


def _unsend_event(event: _Event, common: dict[str, Any], metadata: dict[str, Any]) -> InboundItem:
    target = event.unsend.message_id if event.unsend else None
    return InboundItem(kind=ItemKind.DELETION, target_message_id=target, metadata=metadata, **common)


def _follow_event(event: _Event, common: dict[str, Any], metadata: dict[str, Any]) -> InboundItem:
    unblocked = event.follow.is_unblocked if event.follow else None
    extra = {"is_unblocked": unblocked} if isinstance(unblocked, bool) else {}
    return InboundItem(kind=ItemKind.FOLLOW, metadata={**metadata, **extra}, **common)


def _unfollow_event(event: _Event, common: dict[str, Any], metadata: dict[str, Any]) -> InboundItem:
    return InboundItem(kind=ItemKind.UNFOLLOW, metadata=metadata, **common)


def _postback_event(event: _Event, common: dict[str, Any], metadata: dict[str, Any]) -> InboundItem:
    postback = event.postback or _Postback()
    params = {key: value for key, value in postback.params.items() if isinstance(value, str)}
    return InboundItem(
        kind=ItemKind.MESSAGE,
        message_type="postback",
        text=postback.data,
        metadata=compact({**metadata, "postback_params": params}),
        **common,
    )


def _unsupported_event(event: _Event, common: dict[str, Any], metadata: dict[str, Any]) -> InboundItem:
    return InboundItem(kind=ItemKind.UNSUPPORTED, unsupported_type=event.type or "unknown", metadata=metadata, **common)


_EVENT_HANDLERS: Mapping[str, _Handler] = {
    "message": _message_event,
    "messageEdited": _edited_event,
    "unsend": _unsend_event,
    "follow": _follow_event,
    "unfollow": _unfollow_event,
    "postback": _postback_event,
}
_IGNORED_EVENTS = frozenset(
    {
        "join",
        "leave",
        "memberJoined",
        "memberLeft",
        "beacon",
        "accountLink",
        "videoPlayComplete",
        "things",
        "module",
        "activated",
        "deactivated",
        "botSuspended",
        "botResumed",
        "membership",
    }
)


# --- sending -------------------------------------------------------------------------------------------------------


class ReplyTokenError(SendError):
    """The reply token was rejected (expired after about a minute, already used, or from a redelivery).

    Nothing was sent. It is ``retryable``: the caller should send the same message again **without**
    ``reply_token``, which makes the Sender push instead (push counts against the plan's message quota).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, retryable=True, status=status)


class Sender:
    """Reply with the reply token while it is valid, else push with ``X-Line-Retry-Key``.

    ``channel_key`` is not needed by the API and ``access_token`` is the channel access token. Only images can be
    sent by URL (LINE needs a preview image for videos and a duration for audio). ``reply_to`` is not sent: LINE
    quotes by quote token, not by message id. A 409 on push means LINE already accepted that retry key: success.
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
        self._base_url = normalise_base_url(base_url)
        self._authorization = f"Bearer {access_token}"
        self._timeout = timeout

    async def send(self, msg: OutboundMessage) -> SendResult:
        messages = build_messages(msg)
        headers = {"Authorization": self._authorization}
        if msg.reply_token:
            payload: dict[str, Any] = {"replyToken": msg.reply_token, "messages": messages}
            url = f"{self._base_url}v2/bot/message/reply"
        else:
            payload = {"to": msg.recipient, "messages": messages}
            url = f"{self._base_url}v2/bot/message/push"
            if msg.idempotency_key:
                headers["X-Line-Retry-Key"] = msg.idempotency_key
        reply = await post_json(self._session, url, payload=payload, headers=headers, client_timeout=self._timeout)
        if reply.status == 409 and not msg.reply_token and msg.idempotency_key:
            return SendResult(platform_message_id=None)  # an earlier attempt with this retry key went through
        if not 200 <= reply.status < 300:
            raise _line_error(reply, replying=bool(msg.reply_token))
        return SendResult(platform_message_id=_sent_message_id(reply))


def build_messages(msg: OutboundMessage) -> list[dict[str, Any]]:
    """LINE sends up to five message objects at once, so text and an image go out in one request."""
    messages: list[dict[str, Any]] = []
    if msg.text:
        messages.append({"type": "text", "text": msg.text})
    if msg.media_url is not None:
        if (msg.media_type or "image") != "image":
            raise SendError(f"LINE cannot send {msg.media_type!r} media by URL", retryable=False)
        messages.append({"type": "image", "originalContentUrl": msg.media_url, "previewImageUrl": msg.media_url})
    if not messages:
        raise SendError("nothing to send: no text and no media", retryable=False)
    return messages


def _line_error(reply: HttpReply, *, replying: bool) -> SendError:
    description = short(as_str(reply.body.get("message"))) if isinstance(reply.body, dict) else ""
    if replying and reply.status == 400 and "reply token" in description.lower():
        return ReplyTokenError(f"LINE rejected the reply token: {description}", status=reply.status)
    retryable = is_retryable_status(reply.status)
    return SendError(f"LINE error {reply.status}: {description}", retryable=retryable, status=reply.status)


def _sent_message_id(reply: HttpReply) -> str | None:
    sent = reply.body.get("sentMessages") if isinstance(reply.body, dict) else None
    if isinstance(sent, list) and sent and isinstance(sent[0], dict):
        return as_str(sent[0].get("id"))
    return None


__all__ = [
    "DEFAULT_BASE_URL",
    "NAME",
    "SIGNATURE_HEADER",
    "ReplyTokenError",
    "Sender",
    "build_messages",
    "parse",
    "sign",
    "verify",
]
