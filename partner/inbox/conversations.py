"""Conversations: the filtered, keyset-paginated list with its tab counts, one conversation, and changes to it.

The list is ordered by (sort key, id) descending and pages by "after this pair", so a page never repeats or skips
a row because others were inserted meanwhile, and a deep page costs what the first one does. Counts use the same
filters minus the assignee, so the mine / unassigned / all tabs of an inbox agree with the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from partner.accounts.auth import Principal, authenticate, not_found
from partner.accounts.models import USERS
from partner.attribution.models import CLICKS, TRACKING_LINKS
from partner.channels import CHANNELS
from partner.crm import emit as crm_events
from partner.inbox import assignment
from partner.inbox.http import (
    bad_cursor,
    decode_cursor,
    encode_cursor,
    engine,
    json_response,
    parse_body,
    parse_query,
    path_id,
    workspace_for,
)
from partner.inbox.models import (
    ASSIGNMENTS,
    ATTRIBUTED,
    CONVERSATION_LABELS,
    CONVERSATIONS,
    FLAGGED,
    LABELS,
    MESSAGES,
    SNOOZES,
)
from partner.inbox.rules import reply_window
from partner.inbox.schemas import (
    MAX_ID,
    Attribution,
    ChannelRef,
    ContactRef,
    ConversationList,
    ConversationOut,
    ConversationQuery,
    ConversationUpdate,
    Counts,
    LabelRef,
    MessagePreview,
    UserRef,
)
from partner.inbox.snoozing import set_snooze
from partner.ingest.apply import CONTACTS
from partner.store.models import UTCDateTime, utcnow
from partner.web import ApiError

C = CONVERSATIONS
PREVIEW_LENGTH = 200
REFERRAL_FIELDS = ("source", "ref", "ad_id", "click_id")
_HAS_REFERRAL = sa.and_(C.c.referral.is_not(None), sa.cast(C.c.referral, sa.Text) != "null")  # JSON null is none
SORT_COLUMNS: dict[str, sa.Column[Any]] = {"updated_at": C.c.updated_at, "last_message_at": C.c.last_message_at}

_COLUMNS = (
    *(C.c[name] for name in ("id", "public_id", "workspace_id", "channel_id", "status", "priority", "flags")),
    *(C.c[name] for name in ("referral", "attribution_source", "ttclid", "started_at", "last_message_at")),
    *(C.c[name] for name in ("last_inbound_at", "resolved_at", "created_at", "updated_at")),
    CHANNELS.c.platform,
    CHANNELS.c.name.label("channel_name"),
    CONTACTS.c.id.label("contact_id"),
    CONTACTS.c.external_id.label("contact_external_id"),
    CONTACTS.c.name.label("contact_name"),
    CONTACTS.c.phone.label("contact_phone"),
    ASSIGNMENTS.c.user_id.label("assignee_id"),
    USERS.c.name.label("assignee_name"),
    USERS.c.email.label("assignee_email"),
    SNOOZES.c.until.label("snoozed_until"),
    CLICKS.c.clicked_at.label("click_time"),
    TRACKING_LINKS.c.campaign.label("click_campaign"),
)
_FROM = (
    C.join(CHANNELS, CHANNELS.c.id == C.c.channel_id)
    .join(CONTACTS, CONTACTS.c.id == C.c.contact_id)
    .outerjoin(ASSIGNMENTS, ASSIGNMENTS.c.conversation_id == C.c.id)
    .outerjoin(USERS, USERS.c.id == ASSIGNMENTS.c.user_id)
    .outerjoin(SNOOZES, SNOOZES.c.conversation_id == C.c.id)
    .outerjoin(CLICKS, CLICKS.c.id == C.c.click_id)
    .outerjoin(TRACKING_LINKS, TRACKING_LINKS.c.id == CLICKS.c.link_id)
)
_SELECT = sa.select(*_COLUMNS).select_from(_FROM)


# --- filters ---------------------------------------------------------------------------------------------------------


def visible(principal: Principal, workspace_id: int) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [C.c.workspace_id == workspace_id]
    if principal.channel_ids is not None:
        conditions.append(C.c.channel_id.in_(sorted(principal.channel_ids)))
    return conditions


def like_pattern(text: str) -> str:
    """``%text%`` with the caller's own ``%``, ``_`` and ``\\`` matched literally (escape character ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filters(workspace_id: int, query: ConversationQuery) -> list[ColumnElement[bool]]:
    """Every filter of the query except the assignee (the tabs are counted across assignees)."""
    conditions: list[ColumnElement[bool]] = []
    if query.status != "all":
        conditions.append(C.c.status == query.status)
    if query.channel_id is not None:
        conditions.append(C.c.channel_id == query.channel_id)
    if query.platform is not None:
        channels = sa.select(CHANNELS.c.id).where(
            CHANNELS.c.workspace_id == workspace_id, CHANNELS.c.platform == query.platform
        )
        conditions.append(C.c.channel_id.in_(channels))
    if query.label is not None:
        labelled = (
            sa.select(CONVERSATION_LABELS.c.conversation_id)
            .join(LABELS, LABELS.c.id == CONVERSATION_LABELS.c.label_id)
            .where(LABELS.c.workspace_id == workspace_id, LABELS.c.name == query.label)
        )
        conditions.append(C.c.id.in_(labelled))
    if query.flag is not None:
        conditions += [FLAGGED, C.c.flags[query.flag].as_string().is_not(None)]  # FLAGGED: the partial index
    if query.attributed:
        conditions += [ATTRIBUTED, sa.or_(C.c.ttclid.is_not(None), _HAS_REFERRAL)]
    elif query.attributed is not None:
        conditions.append(sa.not_(sa.or_(C.c.ttclid.is_not(None), _HAS_REFERRAL)))
    if query.q is not None:
        matches = MESSAGES.c.text.ilike(like_pattern(query.q), escape="\\")
        conditions.append(sa.exists().where(MESSAGES.c.conversation_id == C.c.id, matches))
    if query.updated_since is not None:
        conditions.append(C.c.updated_at >= query.updated_since)
    return conditions


def assignee_filter(principal: Principal, assignee: str | None) -> ColumnElement[bool] | None:
    if assignee is None:
        return None
    if assignee == "unassigned":
        return ASSIGNMENTS.c.user_id.is_(None)
    if assignee == "anyone":
        return ASSIGNMENTS.c.user_id.is_not(None)
    if assignee == "me":
        if principal.user_id is None:
            raise ApiError(
                422, "invalid", "the bootstrap admin token has no assignments; give a user id", field="assignee"
            )
        return ASSIGNMENTS.c.user_id == principal.user_id
    return ASSIGNMENTS.c.user_id == int(assignee)


# --- keyset pagination ---------------------------------------------------------------------------------------------


def _order(sort: str) -> list[ColumnElement[Any]]:
    column = SORT_COLUMNS.get(sort)
    return [C.c.id.desc()] if column is None else [column.desc(), C.c.id.desc()]


def _after(sort: str, cursor: str) -> ColumnElement[bool]:
    values = decode_cursor(cursor)
    if len(values) != 3 or values[0] != sort or not _valid_id(values[2]):
        raise bad_cursor()
    last_id = int(values[2])
    if sort == "created":
        return C.c.id < last_id
    try:
        key = datetime.fromisoformat(values[1])
        key = key.astimezone(UTC) if key.tzinfo else key.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        raise bad_cursor() from None
    bound_key = sa.bindparam(None, key, type_=UTCDateTime())
    bound_id = sa.bindparam(None, last_id, type_=sa.Integer())
    return sa.tuple_(SORT_COLUMNS[sort], C.c.id) < sa.tuple_(bound_key, bound_id)


def _valid_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _cursor_for(sort: str, row: Row[Any]) -> str:
    column = SORT_COLUMNS.get(sort)
    key = None if column is None else getattr(row, column.name).isoformat()
    return encode_cursor([sort, key, row.id])


# --- describing rows ---------------------------------------------------------------------------------------------


async def describe(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> list[ConversationOut]:
    """Rows of ``_SELECT`` as API objects, with their labels and last message in two queries for the whole page."""
    ids = [row.id for row in rows]
    if not ids:
        return []
    labels: dict[int, list[LabelRef]] = {}
    label_rows = await connection.execute(
        sa.select(CONVERSATION_LABELS.c.conversation_id, LABELS.c.id, LABELS.c.name, LABELS.c.colour)
        .join(LABELS, LABELS.c.id == CONVERSATION_LABELS.c.label_id)
        .where(CONVERSATION_LABELS.c.conversation_id.in_(ids))
        .order_by(LABELS.c.name)
    )
    for conversation_id, label_id, name, colour in label_rows.all():
        labels.setdefault(conversation_id, []).append(LabelRef(id=label_id, name=name, colour=colour))
    latest = (
        sa.select(sa.func.max(MESSAGES.c.id))
        .where(MESSAGES.c.conversation_id.in_(ids))
        .group_by(MESSAGES.c.conversation_id)
    )
    last_rows = await connection.execute(sa.select(*_PREVIEW_COLUMNS).where(MESSAGES.c.id.in_(latest)))
    last = {row.conversation_id: _preview(row) for row in last_rows.all()}
    now = utcnow()
    return [conversation_out(row, labels.get(row.id, []), last.get(row.id), now) for row in rows]


_PREVIEW_COLUMNS = (
    *(MESSAGES.c[name] for name in ("id", "conversation_id", "direction", "message_type", "text", "private_note")),
    *(MESSAGES.c[name] for name in ("delivery_status", "sent_at", "deleted_at")),
)


def _preview(row: Row[Any]) -> MessagePreview:
    text = None if row.deleted_at is not None or row.text is None else row.text[:PREVIEW_LENGTH]
    return MessagePreview(
        id=row.id,
        direction=row.direction,
        message_type=row.message_type,
        text=text,
        private=row.private_note,
        delivery_status=row.delivery_status,
        sent_at=row.sent_at,
    )


def _attribution(row: Row[Any]) -> Attribution:
    referral = row.referral if isinstance(row.referral, dict) and row.referral else None
    summary = {key: referral[key] for key in REFERRAL_FIELDS if referral.get(key) is not None} if referral else None
    return Attribution(
        attributed=bool(row.ttclid or referral),
        source=row.attribution_source,
        ttclid=row.ttclid,
        campaign=row.click_campaign,
        clicked_at=row.click_time,
        referral=summary,
    )


def conversation_out(
    row: Row[Any], labels: list[LabelRef], last: MessagePreview | None, now: datetime
) -> ConversationOut:
    assignee = None
    if row.assignee_id is not None:
        assignee = UserRef(id=row.assignee_id, name=row.assignee_name or "", email=row.assignee_email or "")
    return ConversationOut(
        id=row.id,
        public_id=row.public_id,
        workspace_id=row.workspace_id,
        status=row.status,
        priority=row.priority,
        snoozed_until=row.snoozed_until,
        channel=ChannelRef(id=row.channel_id, platform=row.platform, name=row.channel_name),
        contact=ContactRef(
            id=row.contact_id, external_id=row.contact_external_id, name=row.contact_name, phone=row.contact_phone
        ),
        assignee=assignee,
        labels=labels,
        flags=row.flags if isinstance(row.flags, dict) else {},
        attribution=_attribution(row),
        last_message=last,
        reply_window=reply_window(row.platform, row.last_inbound_at, now),
        started_at=row.started_at,
        last_message_at=row.last_message_at,
        last_inbound_at=row.last_inbound_at,
        resolved_at=row.resolved_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def load_row(connection: AsyncConnection, principal: Principal, conversation_id: int) -> Row[Any]:
    """The conversation if the caller may see it (workspace and channel); else 404, the same as absent."""
    row = (await connection.execute(_SELECT.where(C.c.id == conversation_id))).first()
    if row is None or not principal.may_see(row.workspace_id, row.channel_id):
        raise not_found("conversation")
    return row


# --- handlers ------------------------------------------------------------------------------------------------------


async def list_conversations(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    query = parse_query(request, ConversationQuery)
    workspace_id = await workspace_for(request, principal, query.workspace_id)
    base = visible(principal, workspace_id) + filters(workspace_id, query)
    page = list(base)
    assignee = assignee_filter(principal, query.assignee)
    if assignee is not None:
        page.append(assignee)
    if query.cursor is not None:
        page.append(_after(query.sort, query.cursor))
    statement = _SELECT.where(*page).order_by(*_order(query.sort)).limit(query.limit + 1)
    async with engine(request).connect() as connection:
        rows = (await connection.execute(statement)).all()
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        items = await describe(connection, rows)
        counts = await _counts(connection, principal, base) if query.counts else None
    next_cursor = _cursor_for(query.sort, rows[-1]) if more else None
    return json_response(ConversationList(conversations=items, next_cursor=next_cursor, counts=counts))


async def _counts(connection: AsyncConnection, principal: Principal, conditions: list[ColumnElement[bool]]) -> Counts:
    """The three tabs in one pass over ``ix_conversations_inbox_counts`` (the assignee is on the row)."""
    mine = sa.case((C.c.assignee_id == (principal.user_id or 0), 1), else_=0)
    unassigned = sa.case((C.c.assignee_id.is_(None), 1), else_=0)
    statement = sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(mine), 0), sa.func.coalesce(sa.func.sum(unassigned), 0)
    ).where(*conditions)
    total, mine_count, unassigned_count = (await connection.execute(statement)).one()
    return Counts(mine=int(mine_count), unassigned=int(unassigned_count), all=int(total))


async def get_conversation(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    async with engine(request).connect() as connection:
        row = await load_row(connection, principal, conversation_id)
        [item] = await describe(connection, [row])
    return json_response(item)


async def update_conversation(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    conversation_id = path_id(request, "conversation_id", "conversation")
    body = await parse_body(request, ConversationUpdate)
    status = _target_status(body)
    async with engine(request).begin() as connection:
        await _lock(connection, conversation_id)
        row = await load_row(connection, principal, conversation_id)
        now = utcnow()
        changes: dict[str, Any] = {}
        if status is not None:
            changes.update(status=status, resolved_at=now if status == "resolved" else None)
            await connection.run_sync(set_snooze, conversation_id, body.snoozed_until if status == "snoozed" else None)
        if "priority" in body.model_fields_set:
            changes["priority"] = body.priority
        if "assignee_id" in body.model_fields_set:
            await connection.run_sync(
                assignment.assign, row.workspace_id, row.channel_id, conversation_id, body.assignee_id
            )
        if "labels" in body.model_fields_set:
            await _set_labels(connection, row.workspace_id, conversation_id, body.labels or [])
        await connection.execute(sa.update(C).where(C.c.id == conversation_id).values(updated_at=now, **changes))
        if status in ("resolved", "snoozed") and row.status in assignment.OPEN_STATUSES:
            await connection.run_sync(assignment.drain_queue, row.workspace_id)  # capacity freed
        await connection.run_sync(crm_events.conversation_updated, conversation_id, sorted(body.model_fields_set))
        [item] = await describe(connection, [await load_row(connection, principal, conversation_id)])
    return json_response(item)


def _target_status(body: ConversationUpdate) -> str | None:
    if body.snoozed_until is None:
        if body.status == "snoozed":
            raise ApiError(422, "invalid", "snoozing needs snoozed_until", field="snoozed_until")
        return body.status
    if body.status not in (None, "snoozed"):
        raise ApiError(422, "invalid", "snoozed_until goes with status snoozed", field="snoozed_until")
    if body.snoozed_until <= utcnow():
        raise ApiError(422, "invalid", "snoozed_until must be in the future", field="snoozed_until")
    return "snoozed"


async def _lock(connection: AsyncConnection, conversation_id: int) -> None:
    """Serialise changes to one conversation (PostgreSQL row lock; SQLite has one writer anyway)."""
    await connection.execute(sa.select(C.c.id).where(C.c.id == conversation_id).with_for_update())


async def _set_labels(connection: AsyncConnection, workspace_id: int, conversation_id: int, names: list[str]) -> None:
    wanted = sorted(set(names))
    rows = await connection.execute(
        sa.select(LABELS.c.name, LABELS.c.id).where(LABELS.c.workspace_id == workspace_id, LABELS.c.name.in_(wanted))
    )
    found: dict[str, int] = dict(rows.all())
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ApiError(422, "invalid", f"no such label: {missing[0]!r} (create it first)", field="labels")
    await connection.execute(
        sa.delete(CONVERSATION_LABELS).where(CONVERSATION_LABELS.c.conversation_id == conversation_id)
    )
    if wanted:
        await connection.execute(
            sa.insert(CONVERSATION_LABELS),
            [{"conversation_id": conversation_id, "label_id": found[name]} for name in wanted],
        )
