"""A conversation's messages, and replies and private notes written by agents.

A reply is checked against the platform's rules (length, media, reply window) before anything is stored, then
stored as ``pending`` together with its ``message.send`` job in one transaction: the API answers at once, and a
crash between the answer and the send loses nothing. A private note is stored and never sent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from partner.accounts.auth import Principal, authenticate, not_found
from partner.channels import CHANNELS
from partner.crm import emit as crm_events
from partner.inbox.canned import expand_shortcut
from partner.inbox.http import (
    bad_cursor,
    decode_cursor,
    encode_cursor,
    engine,
    json_response,
    parse_body,
    parse_query,
    path_id,
)
from partner.inbox.models import CONVERSATIONS, MESSAGES
from partner.inbox.rules import check_content, check_template, check_window, rules_for
from partner.inbox.schemas import (
    MAX_ID,
    MessageList,
    MessageOut,
    MessageQuery,
    MessageTag,
    ReplyCreate,
    TemplateMessage,
)
from partner.platforms.base import DeliveryStatus, Direction
from partner.store.models import utcnow
from partner.store.queue import JOBS, job_row
from partner.web import ApiError

SEND_JOB = "message.send"
C = CONVERSATIONS


def message_out(row: Row[Any]) -> MessageOut:
    extra = row.extra if isinstance(row.extra, dict) else {}
    author = extra.get("author_user_id")
    deleted = row.deleted_at is not None
    return MessageOut(
        id=row.id,
        conversation_id=row.conversation_id,
        direction=row.direction,
        message_type=row.message_type,
        text=None if deleted else row.text,
        media=None if deleted else row.media,
        private=row.private_note,
        delivery_status=row.delivery_status,
        error=row.error,
        platform_message_id=row.platform_message_id,
        reply_to=row.reply_to,
        flags=row.flags if isinstance(row.flags, dict) else None,
        author_user_id=author if isinstance(author, int) else None,
        message_tag=_tag(extra.get("message_tag")),
        template=_template(extra.get("template")),
        deleted=deleted,
        sent_at=row.sent_at,
        created_at=row.created_at,
        status_at=row.status_at,
        edited_at=row.edited_at,
    )


def _tag(value: object) -> MessageTag | None:
    return "HUMAN_AGENT" if value == "HUMAN_AGENT" else None


def _template(value: object) -> TemplateMessage | None:
    if not isinstance(value, dict):
        return None
    try:
        return TemplateMessage.model_validate(value)
    except ValidationError:  # not written by this version: shown without it rather than failing the page
        return None


_CONVERSATION = sa.select(
    *(C.c[name] for name in ("id", "workspace_id", "channel_id", "contact_id", "last_inbound_at", "last_message_at")),
    CHANNELS.c.platform,
).join(CHANNELS, CHANNELS.c.id == C.c.channel_id)


async def _conversation(connection: AsyncConnection, principal: Principal, conversation_id: int) -> Any:
    """What a reply needs to know about its conversation, if the caller may see it; else 404."""
    row = (await connection.execute(_CONVERSATION.where(C.c.id == conversation_id))).first()
    if row is None or not principal.may_see(row.workspace_id, row.channel_id):
        raise not_found("conversation")
    return row


async def list_messages(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    query = parse_query(request, MessageQuery)
    after = _after(query.cursor)
    statement = (
        sa.select(MESSAGES)
        .where(MESSAGES.c.conversation_id == conversation_id, MESSAGES.c.id > after)
        .order_by(MESSAGES.c.id)
        .limit(query.limit + 1)
    )
    async with engine(request).connect() as connection:
        await _conversation(connection, principal, conversation_id)
        rows = (await connection.execute(statement)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(["messages", rows[-1].id]) if more else None
    return json_response(MessageList(messages=[message_out(row) for row in rows], next_cursor=next_cursor))


def _after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    values = decode_cursor(cursor)
    if len(values) != 2 or values[0] != "messages" or not isinstance(values[1], int) or not 0 < values[1] <= MAX_ID:
        raise bad_cursor()
    return values[1]


def _check_shape(body: ReplyCreate) -> None:
    if body.private:
        if body.text is None or body.media_url is not None or body.media_type is not None:
            raise ApiError(422, "invalid", "a private note is text only", field="text")
        if body.message_tag is not None or body.template is not None:
            field = "message_tag" if body.message_tag is not None else "template"
            raise ApiError(422, "invalid", f"a private note is never sent, so it takes no {field}", field=field)
        return
    if body.template is not None:
        if body.text is not None or body.media_url is not None or body.media_type is not None:
            raise ApiError(422, "invalid", "a template is sent on its own, without text or media", field="template")
        if body.message_tag is not None:
            raise ApiError(422, "invalid", "a template takes no message tag", field="message_tag")
        return
    if (body.media_url is None) != (body.media_type is None):
        field = "media_type" if body.media_type is None else "media_url"
        raise ApiError(422, "invalid", "media_url and media_type go together", field=field)
    if body.text is None and body.media_url is None:
        raise ApiError(422, "invalid", "a reply needs text or media", field="text")


async def create_message(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    body = await parse_body(request, ReplyCreate)
    _check_shape(body)
    async with engine(request).begin() as connection:
        await connection.execute(sa.select(C.c.id).where(C.c.id == conversation_id).with_for_update())
        conversation = await _conversation(connection, principal, conversation_id)
        text = await expand_shortcut(connection, conversation.workspace_id, body.text)
        now = utcnow()
        if body.template is not None:
            check_template(conversation.platform)  # templates are what the platform takes outside its window
        elif not body.private:
            check_content(conversation.platform, text, body.media_type)
            replies = await _replies_since(connection, conversation)
            check_window(conversation.platform, conversation.last_inbound_at, now, replies, body.message_tag)
        values = _message_values(conversation, principal, body, text, now)
        row = (await connection.execute(sa.insert(MESSAGES).values(**values).returning(*MESSAGES.c))).one()
        touched: dict[str, datetime] = {"updated_at": now}
        if not body.private:
            await connection.execute(sa.insert(JOBS).values(**job_row(SEND_JOB, {"message_id": row.id})))
            touched["last_message_at"] = max(now, conversation.last_message_at)
        await connection.execute(sa.update(C).where(C.c.id == conversation_id).values(**touched))
        await connection.run_sync(crm_events.message_created, conversation.workspace_id, row.id)
    return json_response(message_out(row), status=201)


async def _replies_since(connection: AsyncConnection, conversation: Row[Any]) -> int:
    """Replies sent (or on their way) since the contact last wrote, for platforms that cap them."""
    if rules_for(conversation.platform).replies_per_window is None or conversation.last_inbound_at is None:
        return 0
    count = await connection.execute(
        sa.select(sa.func.count())
        .select_from(MESSAGES)
        .where(
            MESSAGES.c.conversation_id == conversation.id,
            MESSAGES.c.direction == Direction.OUTBOUND.value,
            MESSAGES.c.private_note.is_(False),
            MESSAGES.c.sent_at >= conversation.last_inbound_at,
            sa.or_(MESSAGES.c.delivery_status.is_(None), MESSAGES.c.delivery_status != DeliveryStatus.FAILED.value),
        )
    )
    return int(count.scalar_one())


def _message_values(
    conversation: Row[Any], principal: Principal, body: ReplyCreate, text: str | None, now: datetime
) -> dict[str, Any]:
    extra: dict[str, Any] = {"author_user_id": principal.user_id}
    if conversation.platform == "line" and not body.private:
        extra["line_retry_key"] = str(uuid.uuid4())  # the same key on every retry: LINE sends the push once
    if body.message_tag is not None:
        extra["message_tag"] = body.message_tag
    if body.template is not None:
        extra["template"] = body.template.model_dump()
    media = {"url": body.media_url, "type": body.media_type} if body.media_url else None
    return {
        "workspace_id": conversation.workspace_id,
        "conversation_id": conversation.id,
        "channel_id": conversation.channel_id,
        "contact_id": conversation.contact_id,
        "direction": Direction.OUTBOUND.value,
        "message_type": "template" if body.template is not None else body.media_type or "text",
        "text": text,
        "media": media,
        "delivery_status": None if body.private else DeliveryStatus.PENDING.value,
        "private_note": body.private,
        "extra": extra,
        "sent_at": now,
        "created_at": now,
    }
