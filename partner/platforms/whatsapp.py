"""WhatsApp Cloud API: verify, parse and send.

Routing and identity rules (all decisions are here, so the store does not have to guess):

* ``channel_key`` is ``metadata.phone_number_id`` (the business number); the WABA id in ``entry.id`` is only a
  fallback for malformed bodies.
* ``contact_key`` is the customer's BSUID when the payload carries one (``from_user_id`` / ``contacts[].user_id``
  / ``recipient_user_id``), else the ``wa_id`` (``from`` / ``contacts[].wa_id`` / ``recipient_id``). Meta is moving
  to BSUIDs and will withhold phone numbers for username users, so the BSUID is the key that keeps working;
  ``contact_phone`` still carries the wa_id (digits only) whenever it is known, so the store can link the two.
* Echoes (``smb_message_echoes``) are OUTBOUND items whose contact is the recipient (``to_user_id`` / ``to``).
* STATUS items are marked OUTBOUND because they describe our outbound message; dedup ``<wamid>:<status>``.
* ``ignored`` holds the names of non-chat fields, ``unknown:<field>`` for fields never seen before,
  ``status:<value>`` for unknown status values and ``errors:<code>`` for value-level system errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
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
    as_str,
    compact,
    load_json,
    normalise_base_url,
    post_json,
    require_object,
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
    Template,
    utc_from_seconds,
)

NAME = "whatsapp"
DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0/"
SIGNATURE_HEADER = _meta.SIGNATURE_HEADER
ENVELOPE_OBJECT = "whatsapp_business_account"

verify = _meta.verify
sign = _meta.sign

_PHONE_DIGITS = re.compile(r"\d{5,20}")
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


# --- payload models ----------------------------------------------------------------------------------------------


class _Profile(Lenient):
    name: Str = None
    username: Str = None


class _Contact(Lenient):
    profile: Obj[_Profile] = None
    wa_id: Str = None
    user_id: Str = None
    parent_user_id: Str = None


class _Metadata(Lenient):
    display_phone_number: Str = None
    phone_number_id: Str = None


class _Error(Lenient):
    code: Str = None
    title: Str = None
    message: Str = None


class _Text(Lenient):
    body: Str = None


class _Media(Lenient):
    id: Str = None
    url: Str = None
    mime_type: Str = None
    sha256: Str = None
    caption: Str = None
    filename: Str = None
    animated: Flag = False
    voice: Flag = False


class _Location(Lenient):
    latitude: Num = None
    longitude: Num = None
    name: Str = None
    address: Str = None
    url: Str = None


class _ContactCardName(Lenient):
    formatted_name: Str = None


class _ContactCard(Lenient):
    name: Obj[_ContactCardName] = None


class _Reply(Lenient):
    id: Str = None
    title: Str = None
    description: Str = None


class _FlowReply(Lenient):
    body: Str = None
    name: Str = None


class _Interactive(Lenient):
    type: Str = None
    button_reply: Obj[_Reply] = None
    list_reply: Obj[_Reply] = None
    nfm_reply: Obj[_FlowReply] = None


class _Button(Lenient):
    text: Str = None
    payload: Str = None


class _Order(Lenient):
    catalog_id: Str = None
    text: Str = None
    product_items: RawList = Field(default_factory=list)


class _System(Lenient):
    type: Str = None
    body: Str = None
    wa_id: Str = None
    new_wa_id: Str = None
    user_id: Str = None


class _Reaction(Lenient):
    message_id: Str = None
    emoji: Str = None


class _Revoke(Lenient):
    original_message_id: Str = None


class _Unsupported(Lenient):
    type: Str = None


class _ReferredProduct(Lenient):
    catalog_id: Str = None
    product_retailer_id: Str = None


class _Context(Lenient):
    id: Str = None
    forwarded: Flag = False
    frequently_forwarded: Flag = False
    referred_product: Obj[_ReferredProduct] = None


class _Message(Lenient):
    """One entry of ``messages[]`` / ``message_echoes[]``; ``edit.message`` nests the same shape."""

    id: Str = None
    sender: Str = Field(default=None, alias="from")
    from_user_id: Str = None
    from_parent_user_id: Str = None
    to: Str = None
    to_user_id: Str = None
    group_id: Str = None
    timestamp: Any = None
    type: Str = None
    text: Obj[_Text] = None
    image: Obj[_Media] = None
    video: Obj[_Media] = None
    audio: Obj[_Media] = None
    document: Obj[_Media] = None
    sticker: Obj[_Media] = None
    location: Obj[_Location] = None
    contacts: ObjList[_ContactCard] = Field(default_factory=list)
    interactive: Obj[_Interactive] = None
    button: Obj[_Button] = None
    order: Obj[_Order] = None
    system: Obj[_System] = None
    reaction: Obj[_Reaction] = None
    edit: Obj[_Edit] = None
    revoke: Obj[_Revoke] = None
    unsupported: Obj[_Unsupported] = None
    context: Obj[_Context] = None
    referral: RawDict = Field(default_factory=dict)
    errors: ObjList[_Error] = Field(default_factory=list)


class _Edit(Lenient):
    original_message_id: Str = None
    message: Obj[_Message] = None


_Message.model_rebuild()


class _Status(Lenient):
    id: Str = None
    status: Str = None
    timestamp: Any = None
    recipient_id: Str = None
    recipient_user_id: Str = None
    recipient_type: Str = None
    recipient_participant_id: Str = None
    recipient_participant_user_id: Str = None
    biz_opaque_callback_data: Str = None
    conversation: RawDict = Field(default_factory=dict)
    pricing: RawDict = Field(default_factory=dict)
    errors: ObjList[_Error] = Field(default_factory=list)


class _Value(Lenient):
    metadata: Obj[_Metadata] = None
    contacts: ObjList[_Contact] = Field(default_factory=list)
    messages: ObjList[_Message] = Field(default_factory=list)
    message_echoes: ObjList[_Message] = Field(default_factory=list)
    statuses: ObjList[_Status] = Field(default_factory=list)
    errors: ObjList[_Error] = Field(default_factory=list)


class _Change(Lenient):
    field: Str = None
    value: Obj[_Value] = None


class _Entry(Lenient):
    id: Str = None
    changes: ObjList[_Change] = Field(default_factory=list)


class _Envelope(Lenient):
    object: Str = None
    entry: ObjList[_Entry] = Field(default_factory=list)


# --- parsing -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Party:
    """The customer side of a message or status."""

    key: str | None
    phone: str | None = None
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _ChangeContext:
    channel_key: str
    display_phone_number: str | None
    contacts: list[_Contact]

    def find_contact(self, *, user_id: str | None, wa_id: str | None) -> _Contact | None:
        for contact in self.contacts:
            if (user_id and contact.user_id == user_id) or (wa_id and contact.wa_id == wa_id):
                return contact
        # A message that names nobody (BSUID contact requests) belongs to the only contact in the change.
        if not user_id and not wa_id and len(self.contacts) == 1:
            return self.contacts[0]
        return None

    def party(self, *, user_id: str | None, wa_id: str | None) -> _Party:
        contact = self.find_contact(user_id=user_id, wa_id=wa_id)
        bsuid = user_id or (contact.user_id if contact else None)
        phone_id = wa_id or (contact.wa_id if contact else None)
        profile = contact.profile if contact else None
        return _Party(
            key=bsuid or phone_id,
            phone=phone_id if phone_id and _PHONE_DIGITS.fullmatch(phone_id) else None,
            name=profile.name if profile else None,
            metadata=compact(
                {
                    "parent_user_id": contact.parent_user_id if contact else None,
                    "username": profile.username if profile else None,
                }
            ),
        )


def parse(raw: bytes, *, route_key: str | None = None) -> ParseResult:
    """Every entry × change × message/status; ``route_key`` is unused (routing is by phone_number_id)."""
    data = require_object(load_json(raw), "WhatsApp")
    if data.get("object") != ENVELOPE_OBJECT or not isinstance(data.get("entry"), list):
        raise PayloadError("not a WhatsApp Business Account webhook")
    try:
        envelope = _Envelope.model_validate(data)
    except (ValidationError, RecursionError):
        raise PayloadError("malformed WhatsApp webhook") from None
    result = ParseResult()
    for entry in envelope.entry:
        for change in entry.changes:
            _parse_change(entry, change, result)
    return result


def _parse_change(entry: _Entry, change: _Change, result: ParseResult) -> None:
    name = change.field or "missing"
    handler = _FIELD_HANDLERS.get(name)
    if handler is None:
        result.ignored.append(name if name in _IGNORED_FIELDS else f"unknown:{name}")
        return
    value = change.value or _Value()
    metadata = value.metadata or _Metadata()
    context = _ChangeContext(
        channel_key=metadata.phone_number_id or entry.id or "",
        display_phone_number=metadata.display_phone_number,
        contacts=value.contacts,
    )
    handler(value, context, result)
    result.ignored.extend(f"errors:{error.code or '?'}" for error in value.errors)


def _messages_field(value: _Value, context: _ChangeContext, result: ParseResult) -> None:
    for message in value.messages:
        party = _inbound_party(message, context)
        result.items.append(_message_item(message, context, party, Direction.INBOUND))
    for status in value.statuses:
        _status_item(status, context, result)


def _echoes_field(value: _Value, context: _ChangeContext, result: ParseResult) -> None:
    for message in value.message_echoes:
        party = _echo_party(message, context)
        result.items.append(_message_item(message, context, party, Direction.OUTBOUND))


_FieldHandler = Callable[[_Value, _ChangeContext, ParseResult], None]

_FIELD_HANDLERS: Mapping[str, _FieldHandler] = {
    "messages": _messages_field,
    "smb_message_echoes": _echoes_field,
    "message_echoes": _echoes_field,
}
_IGNORED_FIELDS = frozenset(
    {
        "account_alerts",
        "account_review_update",
        "account_settings_update",
        "account_update",
        "automatic_events",
        "business_capability_update",
        "business_status_update",
        "business_username_update",
        "calls",
        "flows",
        "group_lifecycle_update",
        "group_participants_update",
        "group_settings_update",
        "group_status_update",
        "history",
        "message_template_components_update",
        "message_template_quality_update",
        "message_template_status_update",
        "partner_solutions",
        "payment_configuration_update",
        "phone_number_name_update",
        "phone_number_quality_update",
        "security",
        "smb_app_state_sync",
        "template_category_update",
        "tracking_events",
        "user_id_update",
        "user_preferences",
    }
)


def _inbound_party(message: _Message, context: _ChangeContext) -> _Party:
    user_id, wa_id = message.from_user_id, message.sender
    if not user_id and not wa_id and message.system and not context.contacts:
        # A BSUID change notice may name nobody but the new id; that is who the conversation is with now.
        user_id = message.system.user_id
    return context.party(user_id=user_id, wa_id=wa_id)


def _echo_party(message: _Message, context: _ChangeContext) -> _Party:
    # An echo goes from the business to ``to``; some samples swap the sides, so the business number decides.
    if message.to and message.to == context.display_phone_number:
        return context.party(user_id=message.from_user_id, wa_id=message.sender)
    return context.party(user_id=message.to_user_id, wa_id=message.to)


def _message_item(message: _Message, context: _ChangeContext, party: _Party, direction: Direction) -> InboundItem:
    kind_builder = _KIND_BUILDERS.get(message.type or "")
    content = kind_builder(message) if kind_builder else _content(message)
    dedup_key = message.id or f"{context.channel_key}:{party.key}:{message.timestamp}:{message.type}"
    msg_context = message.context or _Context()
    return InboundItem(
        kind=content.kind,
        dedup_key=dedup_key,
        channel_key=context.channel_key,
        contact_key=party.key,
        occurred_at=utc_from_seconds(message.timestamp),
        direction=direction,
        platform_message_id=message.id,
        message_type=content.message_type,
        unsupported_type=content.unsupported_type,
        text=content.text,
        media=content.media,
        location=content.location,
        reply_to=msg_context.id,
        target_message_id=content.target_message_id,
        emoji=content.emoji,
        referral=_referral(message.referral),
        contact_name=party.name,
        contact_phone=party.phone,
        metadata=compact(
            {
                **party.metadata,
                **content.metadata,
                "group_id": message.group_id,
                "forwarded": msg_context.forwarded or None,
                "frequently_forwarded": msg_context.frequently_forwarded or None,
                "referred_product_id": (
                    msg_context.referred_product.product_retailer_id if msg_context.referred_product else None
                ),
            }
        ),
    )


@dataclass(frozen=True, slots=True)
class _Content:
    """What a message type contributes to an item."""

    message_type: str | None
    kind: ItemKind = ItemKind.MESSAGE
    text: str | None = None
    media: MediaRef | None = None
    location: Location | None = None
    target_message_id: str | None = None
    emoji: str | None = None
    unsupported_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _content(message: _Message) -> _Content:
    builder = _CONTENT_BUILDERS.get(message.type or "")
    return builder(message) if builder else _unsupported(message)


def _text(message: _Message) -> _Content:
    return _Content("text", text=message.text.body if message.text else None)


def _media(message: _Message) -> _Content:
    media_type = message.type or "document"
    media = getattr(message, media_type, None)
    if not isinstance(media, _Media):
        return _unsupported(message)
    return _Content(
        media_type,
        text=media.caption,
        media=MediaRef(
            media_id=media.id,
            url=media.url,
            mime_type=media.mime_type,
            filename=media.filename,
            sha256=media.sha256,
        ),
        metadata=compact({"voice": media.voice or None, "animated": media.animated or None}),
    )


def _location(message: _Message) -> _Content:
    place = message.location or _Location()
    location = Location(
        latitude=place.latitude, longitude=place.longitude, name=place.name, address=place.address, url=place.url
    )
    return _Content("location", location=location)


def _contacts(message: _Message) -> _Content:
    names = [card.name.formatted_name for card in message.contacts if card.name and card.name.formatted_name]
    return _Content("contacts", text=", ".join(names) or None, metadata={"contact_count": len(message.contacts)})


def _interactive(message: _Message) -> _Content:
    interactive = message.interactive
    if interactive is None:
        return _unsupported(message)
    reply = interactive.button_reply or interactive.list_reply
    if interactive.type in ("button_reply", "list_reply") and reply is not None:
        return _Content(
            "interactive", text=reply.title, metadata={"interactive_type": interactive.type, "reply_id": reply.id}
        )
    if interactive.type == "nfm_reply" and interactive.nfm_reply is not None:
        flow = interactive.nfm_reply
        # The flow's response_json is form data the customer typed; it is not copied into metadata.
        return _Content("interactive", text=flow.body, metadata=compact({"interactive_type": "nfm_reply"}))
    return _Content("unsupported", unsupported_type=f"interactive:{interactive.type or 'unknown'}")


def _button(message: _Message) -> _Content:
    button = message.button or _Button()
    return _Content("button", text=button.text, metadata=compact({"payload": button.payload}))


def _order(message: _Message) -> _Content:
    order = message.order or _Order()
    return _Content(
        "order",
        text=order.text or None,
        metadata=compact({"catalog_id": order.catalog_id, "product_items": order.product_items}),
    )


def _system(message: _Message) -> _Content:
    system = message.system or _System()
    return _Content(
        "system",
        text=system.body,
        metadata=compact(
            {"system_type": system.type, "new_wa_id": system.new_wa_id or system.wa_id, "new_user_id": system.user_id}
        ),
    )


def _unsupported(message: _Message) -> _Content:
    """Unknown, unsupported or malformed types; the name is the platform's type, else the error title."""
    declared = message.unsupported.type if message.unsupported else None
    error_title = next((error.title for error in message.errors if error.title), None)
    if message.type in ("unsupported", "unknown"):
        name = declared or error_title or message.type
    else:
        name = message.type or declared or error_title or "unknown"
    return _Content("unsupported", unsupported_type=name)


def _reaction(message: _Message) -> _Content:
    reaction = message.reaction or _Reaction()
    # An empty or missing emoji means the customer removed the reaction.
    return _Content(
        "reaction", kind=ItemKind.REACTION, target_message_id=reaction.message_id, emoji=reaction.emoji or None
    )


def _edit(message: _Message) -> _Content:
    edit = message.edit or _Edit()
    new_version = _content(edit.message) if edit.message else _Content(None)
    return _Content(
        new_version.message_type,
        kind=ItemKind.EDIT,
        text=new_version.text,
        media=new_version.media,
        location=new_version.location,
        target_message_id=edit.original_message_id,
        metadata=new_version.metadata,
    )


def _revoke(message: _Message) -> _Content:
    revoke = message.revoke or _Revoke()
    return _Content(None, kind=ItemKind.DELETION, target_message_id=revoke.original_message_id)


_ContentBuilder = Callable[[_Message], _Content]

# Message types that become MESSAGE items, next to the types that are other kinds of item.
_CONTENT_BUILDERS: Mapping[str, _ContentBuilder] = {
    "text": _text,
    "image": _media,
    "video": _media,
    "audio": _media,
    "document": _media,
    "sticker": _media,
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "order": _order,
    "system": _system,
    "unsupported": _unsupported,
    "unknown": _unsupported,
}
_KIND_BUILDERS: Mapping[str, _ContentBuilder] = {
    "reaction": _reaction,
    "edit": _edit,
    "revoke": _revoke,
}


def _referral(raw: dict[str, Any]) -> Referral | None:
    """Click-to-WhatsApp ads put the referral on the first inbound message; ``ctwa_clid`` is the click id."""
    if not raw:
        return None
    return Referral(
        source="meta_ctwa", click_id=as_str(raw.get("ctwa_clid")), ad_id=as_str(raw.get("source_id")), raw=raw
    )


_STATUSES: Mapping[str, DeliveryStatus] = {status.value: status for status in DeliveryStatus}


def _status_item(status: _Status, context: _ChangeContext, result: ParseResult) -> None:
    delivery_status = _STATUSES.get(status.status or "")
    if delivery_status is None or not status.id:
        result.ignored.append(f"status:{status.status or 'missing'}")
        return
    group = status.recipient_type == "group"
    party = context.party(
        user_id=status.recipient_participant_user_id if group else status.recipient_user_id,
        wa_id=status.recipient_participant_id if group else status.recipient_id,
    )
    errors = [f"{error.code or '?'}: {error.title or error.message or ''}".strip() for error in status.errors]
    origin = status.conversation.get("origin")
    result.items.append(
        InboundItem(
            kind=ItemKind.STATUS,
            dedup_key=f"{status.id}:{delivery_status.value}",
            channel_key=context.channel_key,
            contact_key=party.key,
            occurred_at=utc_from_seconds(status.timestamp),
            direction=Direction.OUTBOUND,
            target_message_id=status.id,
            status=delivery_status,
            error="; ".join(errors) or None,
            contact_phone=party.phone,
            metadata=compact(
                {
                    "group_id": status.recipient_id if group else None,
                    "biz_opaque_callback_data": status.biz_opaque_callback_data,
                    "conversation_id": as_str(status.conversation.get("id")),
                    "conversation_origin": as_str(origin.get("type")) if isinstance(origin, dict) else None,
                    "pricing_category": as_str(status.pricing.get("category")),
                }
            ),
        )
    )


# --- sending -------------------------------------------------------------------------------------------------------

_CAPTIONED_MEDIA = frozenset({"image", "video", "document"})
_SENDABLE_MEDIA = frozenset({"image", "video", "audio", "document", "sticker"})


class Sender:
    """Replies through ``POST {base}{phone_number_id}/messages``.

    ``channel_key`` is the phone_number_id and ``access_token`` the system-user / business token.
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
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._timeout = timeout

    async def send(self, msg: OutboundMessage) -> SendResult:
        reply = await post_json(
            self._session, self._url, payload=build_payload(msg), headers=self._headers, client_timeout=self._timeout
        )
        if not 200 <= reply.status < 300:
            raise _meta.graph_error(reply)
        return SendResult(platform_message_id=_sent_message_id(reply))


def build_payload(msg: OutboundMessage) -> dict[str, Any]:
    """The Cloud API body; a BSUID recipient goes in ``recipient``, a phone number in ``to``."""
    address_field = "recipient" if _BSUID.fullmatch(msg.recipient) else "to"
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        address_field: msg.recipient,
        **_body(msg),
    }
    if msg.reply_to:
        payload["context"] = {"message_id": msg.reply_to}
    return payload


def _body(msg: OutboundMessage) -> dict[str, Any]:
    if msg.template is not None:
        return {"type": "template", "template": _template(msg.template)}
    if msg.media_url is None:
        if not msg.text:
            raise SendError("nothing to send: no text and no media", retryable=False)
        return {"type": "text", "text": {"body": msg.text}}
    media_type = msg.media_type or "document"
    if media_type not in _SENDABLE_MEDIA:
        raise SendError(f"WhatsApp cannot send media of type {media_type!r}", retryable=False)
    media: dict[str, Any] = {"link": msg.media_url}
    if msg.text:
        if media_type not in _CAPTIONED_MEDIA:
            raise SendError(f"WhatsApp {media_type} messages take no caption; send the text apart", retryable=False)
        media["caption"] = msg.text
    return {"type": media_type, media_type: media}


def _template(template: Template) -> dict[str, Any]:
    """Name, language and the body's parameters; a template without placeholders sends no components."""
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        parameters = [{"type": "text", "text": value} for value in template.parameters]
        body["components"] = [{"type": "body", "parameters": parameters}]
    return body


def _sent_message_id(reply: HttpReply) -> str | None:
    body = reply.body if isinstance(reply.body, dict) else {}
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return as_str(messages[0].get("id"))
    return None


__all__ = ["DEFAULT_BASE_URL", "NAME", "SIGNATURE_HEADER", "Sender", "build_payload", "parse", "sign", "verify"]
