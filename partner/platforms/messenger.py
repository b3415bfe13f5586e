"""Facebook Messenger (and Instagram messaging, which uses the same shape): verify, parse and send.

Decisions:

* ``channel_key`` is ``entry.id`` (the page, or the Instagram account); the dashboard's ``{field, value}`` test
  shape has no entry, so the recipient id is used there.
* ``contact_key`` is the PSID: the sender for inbound events, the recipient for echoes (the page is the sender);
  ``sender.user_ref`` stands in when there is no id (checkbox plugin, ``{field, value}`` shape).
* Every ``entry`` × ``messaging[]`` and ``standby[]`` (handover protocol: another app owns the thread) is walked;
  ``entry.changes[]`` (feed and other page fields) are listed in ``ignored`` by field name.
* ``delivery`` gives one STATUS ``delivered`` per mid (dedup ``<mid>:delivered``). ``read`` usually only carries a
  watermark ("everything before this ms timestamp was read"): it becomes one STATUS ``read`` item with
  ``target_message_id=None``, ``metadata["watermark"]`` and dedup ``read:<psid>:<watermark>``; the store marks every
  outbound message to that contact up to the watermark. Instagram's ``read`` names the mid instead.
* Extra attachments of one message become extra items with dedup ``<mid>#<n>`` (n from 2), so none is lost; only
  the first item carries the mid as ``platform_message_id`` (the others name it in ``metadata["attachment_of"]``).
* Payment and checkout events are kept as UNSUPPORTED items (commerce data worth seeing); handover, policy, app
  roles and account linking go to ``ignored``. Unknown event keys become UNSUPPORTED with the key as type.
* Timestamps are milliseconds, except in some doc samples that use seconds; both are accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from pydantic import Field, ValidationError

from partner.platforms import _meta
from partner.platforms._shared import (
    DEFAULT_SEND_TIMEOUT,
    Flag,
    HttpReply,
    Lenient,
    Num,
    Obj,
    ObjList,
    RawDict,
    RawList,
    Str,
    StrList,
    as_str,
    compact,
    load_json,
    normalise_base_url,
    plain_number,
    post_json,
    require_object,
    stable_hash,
    utc_from_auto,
)
from partner.platforms.base import (
    DeliveryStatus,
    Direction,
    InboundItem,
    ItemKind,
    Location,
    MediaRef,
    OutboundMessage,
    ParseResult,
    PayloadError,
    Referral,
    SendError,
    SendResult,
)

NAME = "messenger"
DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0/"
SIGNATURE_HEADER = _meta.SIGNATURE_HEADER
ENVELOPE_OBJECTS = frozenset({"page", "instagram"})

verify = _meta.verify
sign = _meta.sign


# --- payload models ----------------------------------------------------------------------------------------------


class _Party(Lenient):
    id: Str = None
    user_ref: Str = None


class _Coordinates(Lenient):
    lat: Num = None
    long: Num = None


class _AttachmentPayload(Lenient):
    url: Str = None
    title: Str = None
    sticker_id: Str = None
    template_type: Str = None
    coordinates: Obj[_Coordinates] = None
    product: RawDict = Field(default_factory=dict)


class _Attachment(Lenient):
    type: Str = None
    title: Str = None
    url: Str = None
    payload: Obj[_AttachmentPayload] = None


class _QuickReply(Lenient):
    payload: Str = None


class _Story(Lenient):
    id: Str = None


class _ReplyTo(Lenient):
    mid: Str = None
    story: Obj[_Story] = None


class _Command(Lenient):
    name: Str = None


class _Message(Lenient):
    mid: Str = None
    text: Str = None
    is_echo: Flag = False
    is_deleted: Flag = False
    is_unsupported: Flag = False
    app_id: Str = None
    sticker_id: Str = None
    quick_reply: Obj[_QuickReply] = None
    reply_to: Obj[_ReplyTo] = None
    attachments: ObjList[_Attachment] = Field(default_factory=list)
    referral: RawDict = Field(default_factory=dict)
    commands: ObjList[_Command] = Field(default_factory=list)


class _Postback(Lenient):
    mid: Str = None
    title: Str = None
    payload: Str = None
    referral: RawDict = Field(default_factory=dict)


class _Reaction(Lenient):
    mid: Str = None
    action: Str = None
    emoji: Str = None
    reaction: Str = None


class _MessageEdit(Lenient):
    mid: Str = None
    text: Str = None
    num_edit: Str = None


class _Receipt(Lenient):
    """``read`` and ``delivery``: a watermark (ms), delivery ``mids``, or (Instagram) a single ``mid``."""

    mid: Str = None
    mids: StrList = Field(default_factory=list)
    watermark: Any = None


class _Optin(Lenient):
    ref: Str = None
    user_ref: Str = None
    type: Str = None


class _Event(Lenient):
    sender: Obj[_Party] = None
    recipient: Obj[_Party] = None
    timestamp: Any = None
    message: Obj[_Message] = None
    postback: Obj[_Postback] = None
    referral: RawDict = Field(default_factory=dict)
    reaction: Obj[_Reaction] = None
    message_edit: Obj[_MessageEdit] = None
    read: Obj[_Receipt] = None
    delivery: Obj[_Receipt] = None
    optin: Obj[_Optin] = None
    prior_message: RawDict = Field(default_factory=dict)


class _Change(Lenient):
    field: Str = None


class _Entry(Lenient):
    id: Str = None
    time: Any = None
    messaging: RawList = Field(default_factory=list)
    standby: RawList = Field(default_factory=list)
    changes: ObjList[_Change] = Field(default_factory=list)


# --- parsing -------------------------------------------------------------------------------------------------------

_M = TypeVar("_M", bound=Lenient)


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where an event sits: which page or Instagram account, and whether another app owns the thread."""

    channel_key: str
    entry_time: Any = None
    instagram: bool = False
    standby: bool = False


@dataclass(frozen=True, slots=True)
class _Ctx:
    """One event, parsed, with the values every handler needs."""

    scope: _Scope
    event: _Event
    raw: dict[str, Any]
    contact_key: str | None
    timestamp: Any

    def item(self, kind: ItemKind, dedup_key: str, **values: Any) -> InboundItem:
        metadata = compact(
            {
                "object": "instagram" if self.scope.instagram else None,
                "standby": self.scope.standby or None,
                **values.pop("metadata", {}),
            }
        )
        return InboundItem(
            kind=kind,
            dedup_key=dedup_key,
            channel_key=self.scope.channel_key,
            contact_key=self.contact_key,
            occurred_at=utc_from_auto(self.timestamp),
            metadata=metadata,
            **values,
        )

    def synthetic_key(self, prefix: str) -> str:
        """Events without a mid are keyed by contact and time, or by content when even the time is missing."""
        if self.timestamp is not None:
            return f"{prefix}:{self.contact_key}:{as_str(self.timestamp)}"
        return f"{prefix}:{stable_hash(self.raw)}"


def parse(raw: bytes, *, route_key: str | None = None) -> ParseResult:
    """Every entry × messaging[]/standby[] event; ``route_key`` is unused (routing is by page id)."""
    data = require_object(load_json(raw), "Messenger")
    result = ParseResult()
    if _is_field_value_shape(data):
        _parse_field_value(data, result)
        return result
    envelope_object = data.get("object")
    if not isinstance(envelope_object, str) or envelope_object not in ENVELOPE_OBJECTS:
        raise PayloadError("not a Messenger / Instagram webhook")
    if not isinstance(data.get("entry"), list):
        raise PayloadError("not a Messenger / Instagram webhook: no entry list")
    instagram = envelope_object == "instagram"
    for raw_entry in data["entry"]:
        if isinstance(raw_entry, dict):
            _parse_entry(_validate(_Entry, raw_entry), instagram, result)
    return result


def _is_field_value_shape(data: dict[str, Any]) -> bool:
    """The App Dashboard's "Send to server" test posts ``{field, value}`` with the event as the value."""
    return "entry" not in data and isinstance(data.get("field"), str) and isinstance(data.get("value"), dict)


def _parse_field_value(data: dict[str, Any], result: ParseResult) -> None:
    field_name: str = data["field"]
    value: dict[str, Any] = data["value"]
    if not (field_name.startswith("messag") or field_name == "standby"):  # feed, mention, ...: not a chat event
        result.ignored.append(field_name)
        return
    event = _validate(_Event, value)
    channel_key = (event.recipient.id if event.recipient else None) or ""
    _parse_event(value, _Scope(channel_key=channel_key), result)


def _parse_entry(entry: _Entry, instagram: bool, result: ParseResult) -> None:
    scope = _Scope(channel_key=entry.id or "", entry_time=entry.time, instagram=instagram)
    for raw_event in entry.messaging:
        _parse_event(raw_event, scope, result)
    standby = _Scope(channel_key=scope.channel_key, entry_time=entry.time, instagram=instagram, standby=True)
    for raw_event in entry.standby:
        _parse_event(raw_event, standby, result)
    result.ignored.extend(change.field or "unknown:changes" for change in entry.changes)


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except (ValidationError, RecursionError):
        raise PayloadError("malformed Messenger webhook") from None


_ENVELOPE_KEYS = frozenset({"sender", "recipient", "timestamp", "prior_message"})


def _parse_event(raw_event: dict[str, Any], scope: _Scope, result: ParseResult) -> None:
    event_key = next((key for key in _EVENT_HANDLERS if key in raw_event), None)
    if event_key is None:
        event_key = next((key for key in raw_event if key not in _ENVELOPE_KEYS), "unknown")
    if event_key in _IGNORED_EVENTS:
        result.ignored.append(event_key)
        return
    event = _validate(_Event, raw_event)
    echo = event.message is not None and event.message.is_echo
    ctx = _Ctx(
        scope=scope,
        event=event,
        raw=raw_event,
        contact_key=_contact_key(event, scope.channel_key, echo=echo),
        timestamp=event.timestamp if event.timestamp is not None else scope.entry_time,
    )
    handler = _EVENT_HANDLERS.get(event_key, _unsupported_event)
    result.items.extend(handler(ctx, event_key))


def _contact_key(event: _Event, channel_key: str, *, echo: bool) -> str | None:
    """The PSID: whichever side is not the page (echoes come from the page; old samples swap the sides)."""
    sides = [event.recipient, event.sender] if echo else [event.sender, event.recipient]
    ids = [side.id or side.user_ref for side in sides if side is not None]
    customer = next((value for value in ids if value and value != channel_key), None)
    if customer is None and event.optin is not None:
        customer = event.optin.user_ref
    return customer


def _message(ctx: _Ctx, _key: str) -> list[InboundItem]:
    message = ctx.event.message or _Message()
    mid = message.mid or ctx.synthetic_key("message")
    if message.is_deleted:
        return [ctx.item(ItemKind.DELETION, f"{mid}:deleted", target_message_id=message.mid)]
    contents = [_attachment_content(attachment, message) for attachment in message.attachments]
    shared_metadata = _message_metadata(ctx, message)
    return [
        _message_item(ctx, message, mid, index, content, shared_metadata)
        for index, content in enumerate(contents or [_bare_message_content(message)])
    ]


def _message_item(
    ctx: _Ctx, message: _Message, mid: str, index: int, content: _Content, shared_metadata: dict[str, Any]
) -> InboundItem:
    """The first item carries the mid, text and referral; further attachments get ``<mid>#<n>``."""
    first = index == 0
    return ctx.item(
        ItemKind.MESSAGE,
        mid if first else f"{mid}#{index + 1}",
        direction=Direction.OUTBOUND if message.is_echo else Direction.INBOUND,
        platform_message_id=message.mid if first else None,
        message_type=content.message_type,
        unsupported_type=content.unsupported_type,
        text=message.text if first else None,
        media=content.media,
        location=content.location,
        reply_to=message.reply_to.mid if message.reply_to else None,
        referral=_referral(message.referral) if first else None,
        metadata={**shared_metadata, **content.metadata, "attachment_of": None if first else message.mid},
    )


def _message_metadata(ctx: _Ctx, message: _Message) -> dict[str, Any]:
    story = message.reply_to.story if message.reply_to else None
    return compact(
        {
            "quick_reply_payload": message.quick_reply.payload if message.quick_reply else None,
            "story_id": story.id if story else None,
            "app_id": message.app_id,  # on echoes: which app sent it (ours, or the Page inbox)
            "commands": [command.name for command in message.commands if command.name],
            "prior_message_source": as_str(ctx.event.prior_message.get("source")),
        }
    )


@dataclass(frozen=True, slots=True)
class _Content:
    message_type: str
    media: MediaRef | None = None
    location: Location | None = None
    unsupported_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _bare_message_content(message: _Message) -> _Content:
    if message.is_unsupported:
        return _Content("unsupported", unsupported_type="is_unsupported")
    if message.text is None:
        return _Content("unsupported", unsupported_type="empty_message")
    return _Content("text")


def _attachment_content(attachment: _Attachment, message: _Message) -> _Content:
    payload = attachment.payload or _AttachmentPayload()
    kind = attachment.type or "unknown"
    url = payload.url or attachment.url
    sticker_id = payload.sticker_id or message.sticker_id
    if sticker_id:  # stickers (the thumbs-up too) arrive as image attachments carrying a sticker_id
        return _Content("sticker", media=MediaRef(url=url), metadata={"sticker_id": sticker_id})
    if kind in _MEDIA_TYPES:
        return _Content(_MEDIA_TYPES[kind], media=MediaRef(url=url))
    if kind in _SHARED_CONTENT_TYPES:
        return _Content(kind, media=MediaRef(url=url) if url else None)
    if kind == "location":
        coordinates = payload.coordinates or _Coordinates()
        place = Location(latitude=coordinates.lat, longitude=coordinates.long, name=payload.title, url=url)
        return _Content("location", location=place)
    if kind == "template":
        return _Content("template", metadata=compact(_template_metadata(payload)))
    if kind == "fallback":  # legacy link share: a title and a URL
        media = MediaRef(url=url) if url else None
        return _Content("fallback", media=media, metadata=compact({"title": attachment.title}))
    return _Content("unsupported", unsupported_type=kind)


def _template_metadata(payload: _AttachmentPayload) -> dict[str, Any]:
    """Templates are mostly echoes of our own; a shared product template names the products (commerce)."""
    elements = payload.product.get("elements")
    products = [element for element in elements if isinstance(element, dict)] if isinstance(elements, list) else []
    product_ids = [as_str(product.get("id")) for product in products]
    return {"template_type": payload.template_type, "product_ids": [pid for pid in product_ids if pid]}


_MEDIA_TYPES: Mapping[str, str] = {"image": "image", "video": "video", "audio": "audio", "file": "document"}
# Instagram / Messenger shares: the URL points at the shared post, reel or story.
_SHARED_CONTENT_TYPES = frozenset({"share", "story_mention", "reel", "ig_reel", "post", "ig_post", "animated_image"})


def _postback(ctx: _Ctx, _key: str) -> list[InboundItem]:
    postback = ctx.event.postback or _Postback()
    return [
        ctx.item(
            ItemKind.MESSAGE,
            postback.mid or ctx.synthetic_key("postback"),
            platform_message_id=postback.mid,
            message_type="postback",
            text=postback.title or postback.payload,
            referral=_referral(postback.referral),
            metadata=compact({"payload": postback.payload}),
        )
    ]


def _referral_event(ctx: _Ctx, _key: str) -> list[InboundItem]:
    """``messaging_referrals``: an m.me link or ad opened an existing thread (no message yet)."""
    return [ctx.item(ItemKind.REFERRAL, ctx.synthetic_key("referral"), referral=_referral(ctx.event.referral))]


def _reaction(ctx: _Ctx, _key: str) -> list[InboundItem]:
    reaction = ctx.event.reaction or _Reaction()
    action = reaction.action or "react"
    emoji = None if action == "unreact" else (reaction.emoji or reaction.reaction)
    return [
        ctx.item(
            ItemKind.REACTION,
            f"{reaction.mid}:{action}:{as_str(ctx.timestamp)}",
            target_message_id=reaction.mid,
            emoji=emoji,
            metadata=compact({"reaction": reaction.reaction}),
        )
    ]


def _message_edit(ctx: _Ctx, _key: str) -> list[InboundItem]:
    edit = ctx.event.message_edit or _MessageEdit()
    version = edit.num_edit or as_str(ctx.timestamp)
    return [
        ctx.item(
            ItemKind.EDIT,
            f"{edit.mid}:edit:{version}",
            target_message_id=edit.mid,
            message_type="text",
            text=edit.text,
            metadata=compact({"num_edit": edit.num_edit}),
        )
    ]


def _read(ctx: _Ctx, _key: str) -> list[InboundItem]:
    receipt = ctx.event.read or _Receipt()
    if receipt.mid:
        return [_status(ctx, DeliveryStatus.READ, receipt.mid)]
    watermark = plain_number(receipt.watermark)
    return [
        ctx.item(
            ItemKind.STATUS,
            f"read:{ctx.contact_key}:{watermark}",
            direction=Direction.OUTBOUND,
            status=DeliveryStatus.READ,
            metadata=compact({"watermark": watermark}),
        )
    ]


def _delivery(ctx: _Ctx, _key: str) -> list[InboundItem]:
    receipt = ctx.event.delivery or _Receipt()
    mids = receipt.mids or ([receipt.mid] if receipt.mid else [])
    if mids:
        return [_status(ctx, DeliveryStatus.DELIVERED, mid) for mid in mids]
    watermark = plain_number(receipt.watermark)
    return [
        ctx.item(
            ItemKind.STATUS,
            f"delivered:{ctx.contact_key}:{watermark}",
            direction=Direction.OUTBOUND,
            status=DeliveryStatus.DELIVERED,
            metadata=compact({"watermark": watermark}),
        )
    ]


def _status(ctx: _Ctx, status: DeliveryStatus, mid: str) -> InboundItem:
    return ctx.item(
        ItemKind.STATUS, f"{mid}:{status.value}", direction=Direction.OUTBOUND, target_message_id=mid, status=status
    )


def _optin(ctx: _Ctx, _key: str) -> list[InboundItem]:
    optin = ctx.event.optin or _Optin()
    return [
        ctx.item(
            ItemKind.FOLLOW,
            ctx.synthetic_key("optin"),
            metadata=compact({"ref": optin.ref, "user_ref": optin.user_ref, "optin_type": optin.type}),
        )
    ]


def _unsupported_event(ctx: _Ctx, key: str) -> list[InboundItem]:
    payload = ctx.raw.get(key)
    developer_payload = as_str(payload.get("payload")) if isinstance(payload, dict) else None
    return [
        ctx.item(
            ItemKind.UNSUPPORTED,
            ctx.synthetic_key(key),
            unsupported_type=key,
            metadata=compact({"payload": developer_payload}),
        )
    ]


_EventHandler = Callable[[_Ctx, str], list[InboundItem]]

# Checked in this order: the first key present in the event decides its handler.
_EVENT_HANDLERS: Mapping[str, _EventHandler] = {
    "message": _message,
    "message_edit": _message_edit,
    "reaction": _reaction,
    "postback": _postback,
    "referral": _referral_event,
    "read": _read,
    "delivery": _delivery,
    "optin": _optin,
    "payment": _unsupported_event,
    "checkout_update": _unsupported_event,
    "pre_checkout": _unsupported_event,
}
_IGNORED_EVENTS = frozenset(
    {
        "pass_thread_control",
        "take_thread_control",
        "request_thread_control",
        "app_roles",
        "policy-enforcement",
        "policy_enforcement",
        "account_linking",
        "messaging_feedback",
        "response_feedback",
    }
)

# Referral sources that are links the business shared (m.me, QR codes, Discover); ADS are ads, anything else
# (customer chat plugin, Shops) is "other".
_LINK_SOURCES = frozenset({"SHORTLINK", "SHORT-URL", "MESSENGER_CODE", "DISCOVER_TAB"})


def _referral(raw: dict[str, Any]) -> Referral | None:
    if not raw:
        return None
    source = as_str(raw.get("source"))
    ad_id = as_str(raw.get("ad_id"))
    ref = as_str(raw.get("ref"))
    if source == "ADS" or ad_id:
        kind = "messenger_ad"
    elif source in _LINK_SOURCES or (ref and source is None):
        kind = "messenger_link"
    else:
        kind = "other"
    return Referral(source=kind, ref=ref, ad_id=ad_id, raw=raw)


# --- sending -------------------------------------------------------------------------------------------------------

_ATTACHMENT_TYPES: Mapping[str, str] = {"image": "image", "video": "video", "audio": "audio", "document": "file"}


class Sender:
    """Replies through ``POST {base}{page_id}/messages?access_token=...`` with ``messaging_type: RESPONSE``, or
    ``MESSAGE_TAG`` with the message's tag (HUMAN_AGENT) when it has one.

    ``channel_key`` is the page id and ``access_token`` the page access token. A text and an attachment cannot
    share one Messenger message, and sending two would duplicate the first on a retry, so that combination is
    refused (non-retryable) and the caller sends them separately. ``reply_to`` is not sent (not supported here).
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
        self._url = f"{normalise_base_url(base_url)}{quote(channel_key, safe='')}/messages"
        self._params = {"access_token": access_token}
        self._timeout = timeout

    async def send(self, msg: OutboundMessage) -> SendResult:
        reply = await post_json(
            self._session, self._url, payload=build_payload(msg), params=self._params, client_timeout=self._timeout
        )
        if not 200 <= reply.status < 300:
            raise _meta.graph_error(reply)
        return SendResult(platform_message_id=_sent_message_id(reply))


def build_payload(msg: OutboundMessage) -> dict[str, Any]:
    payload: dict[str, Any] = {"recipient": {"id": msg.recipient}, "messaging_type": "RESPONSE"}
    if msg.tag is not None:  # outside the 24 h window: a human agent's answer (HUMAN_AGENT, 7 days)
        payload.update(messaging_type="MESSAGE_TAG", tag=msg.tag)
    payload["message"] = _message_body(msg)
    return payload


def _message_body(msg: OutboundMessage) -> dict[str, Any]:
    if msg.media_url is None:
        if not msg.text:
            raise SendError("nothing to send: no text and no media", retryable=False)
        return {"text": msg.text}
    if msg.text:
        raise SendError("Messenger cannot send text and an attachment in one message", retryable=False)
    attachment_type = _ATTACHMENT_TYPES.get(msg.media_type or "document")
    if attachment_type is None:
        raise SendError(f"Messenger cannot send media of type {msg.media_type!r}", retryable=False)
    return {"attachment": {"type": attachment_type, "payload": {"url": msg.media_url, "is_reusable": False}}}


def _sent_message_id(reply: HttpReply) -> str | None:
    return as_str(reply.body.get("message_id")) if isinstance(reply.body, dict) else None


__all__ = ["DEFAULT_BASE_URL", "NAME", "SIGNATURE_HEADER", "Sender", "build_payload", "parse", "sign", "verify"]
