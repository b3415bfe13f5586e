"""Auto-reply rules of a channel: the API models, the checks a rule passes before it is stored, and its CRUD.

A rule is checked as a whole after every change, so an admin hears at once (a 422 naming the field) why it could
never fire or never be sent: a keyword rule needs exactly one trigger, a signal that the keyword files define or
its own keyword list (each keyword valid for the same analyzer the signals use); greetings and away messages take
no trigger; the text must fit the channel platform's limit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from analyzers import KeywordFileError, Matcher, Rule
from analyzers.keys import rule_key
from partner.accounts.auth import Principal, authenticate, not_found
from partner.channels import CHANNELS
from partner.inbox.http import engine, json_response, parse_body, path_id
from partner.inbox.models import AUTO_REPLY_FIRINGS, AUTO_REPLY_RULES
from partner.inbox.rules import check_content
from partner.inbox.schemas import SIGNAL_NAME, Flag, Input, Text
from partner.store.models import utcnow
from partner.web import ApiError

Kind = Literal["greeting", "away", "keyword"]
DEFAULT_COOLDOWN = 24 * 3600
MAX_COOLDOWN = 30 * 24 * 3600
MAX_RULES_PER_CHANNEL = 100
INLINE_SIGNAL = "auto_reply"  # the signal name an inline keyword list is matched under
R = AUTO_REPLY_RULES

Keyword = Annotated[Text, Field(min_length=1, max_length=100)]

_KIND = (
    "greeting: the contact's message opened a new conversation; away: the contact wrote outside the workspace's "
    "business hours; keyword: the message fired the signal, or contains one of the keywords"
)
_SIGNAL = "keyword rules: a signal of the keyword files (GET /api/v1/keywords), e.g. price_inquiry"
_KEYWORDS = (
    "keyword rules: fire when the message contains any of these, matched as the keyword files are "
    "(case, accents, whole words)"
)
_COOLDOWN = "once it fired for a contact the rule stays quiet for that contact this long, in this or a new conversation"
_ONCE = "fire at most once in a conversation"
_PRIORITY = "among enabled rules of the same kind, the lowest goes first"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("text must not be blank")
    return value


ReplyText = Annotated[
    Text,
    Field(min_length=1, max_length=6000, description="sent as written; at most the channel platform's text limit"),
    AfterValidator(_not_blank),
]


class AutoReplyCreate(Input):
    kind: Kind = Field(description=_KIND)
    text: ReplyText
    name: Text = Field(default="", max_length=100, description="for people; never sent")
    enabled: Flag = True
    signal: str | None = Field(default=None, pattern=SIGNAL_NAME, description=_SIGNAL)
    keywords: list[Keyword] | None = Field(default=None, min_length=1, max_length=50, description=_KEYWORDS)
    cooldown_seconds: int = Field(default=DEFAULT_COOLDOWN, ge=0, le=MAX_COOLDOWN, description=_COOLDOWN)
    once_per_conversation: Flag = Field(default=True, description=_ONCE)
    priority: int = Field(default=100, ge=0, le=10_000, description=_PRIORITY)


class AutoReplyUpdate(Input):
    """Fields left out stay; ``signal`` or ``keywords`` set to null is how a keyword rule switches trigger."""

    text: ReplyText | None = None
    name: Text | None = Field(default=None, max_length=100)
    enabled: Flag | None = None
    signal: str | None = Field(default=None, pattern=SIGNAL_NAME, description=_SIGNAL)
    keywords: list[Keyword] | None = Field(default=None, min_length=1, max_length=50, description=_KEYWORDS)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=MAX_COOLDOWN, description=_COOLDOWN)
    once_per_conversation: Flag | None = Field(default=None, description=_ONCE)
    priority: int | None = Field(default=None, ge=0, le=10_000, description=_PRIORITY)


class AutoReplyOut(BaseModel):
    id: int
    channel_id: int
    kind: Kind
    name: str
    text: str
    enabled: bool
    signal: str | None
    keywords: list[str] | None
    cooldown_seconds: int
    once_per_conversation: bool
    priority: int
    created_at: datetime
    updated_at: datetime


class AutoReplyList(BaseModel):
    auto_replies: list[AutoReplyOut] = Field(description="in the order they are tried: kind, then priority")


KIND_ORDER: dict[str, int] = {"away": 0, "keyword": 1, "greeting": 2}
_CLEARABLE = frozenset({"signal", "keywords"})


def precedence(rule: Any) -> tuple[int, int, int]:
    """The order rules are tried in: away, then keyword, then greeting; by priority, then age, within a kind."""
    return KIND_ORDER.get(rule.kind, len(KIND_ORDER)), rule.priority, rule.id


# --- checks ---------------------------------------------------------------------------------------------------------


def _keyword_rule(keyword: str) -> Rule:
    return Rule(INLINE_SIGNAL, keyword, source="auto_reply", fold_diacritics=True)


@functools.lru_cache(maxsize=1024)
def inline_matcher(keywords: tuple[str, ...]) -> Matcher:
    """A matcher for a rule's own keywords, built once per list: the same normalisation as the keyword files,
    with accents folded (chat users often leave them out)."""
    return Matcher(_keyword_rule(keyword) for keyword in keywords)


def check_keywords(keywords: Sequence[str]) -> None:
    for index, keyword in enumerate(keywords):
        try:
            rule_key(_keyword_rule(keyword))
        except KeywordFileError as error:
            reason = error.errors[0].reason if error.errors else "not a usable keyword"
            raise ApiError(422, "invalid", f"keyword {index + 1}: {reason}", field=f"keywords.{index}") from None


def check_trigger(kind: str, signal: str | None, keywords: Sequence[str] | None, known: frozenset[str] | None) -> None:
    """Exactly one trigger for a keyword rule, none for the others; ``known`` None skips the signal lookup."""
    if kind != "keyword":
        if signal is not None or keywords is not None:
            field = "signal" if signal is not None else "keywords"
            raise ApiError(422, "invalid", f"only keyword rules take a {field}; a {kind} rule has none", field=field)
        return
    if signal is None and keywords is None:
        raise ApiError(422, "invalid", "a keyword rule needs a signal or a list of keywords", field="signal")
    if signal is not None and keywords is not None:
        raise ApiError(422, "invalid", "give a signal or keywords, not both", field="keywords")
    if signal is not None and known is not None and signal not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise ApiError(422, "unknown_signal", f"no keyword file defines {signal!r} (defined: {listed})", field="signal")
    if keywords is not None:
        check_keywords(keywords)


def check_rule(platform: str, fields: dict[str, Any], known: frozenset[str] | None) -> None:
    check_trigger(fields["kind"], fields["signal"], fields["keywords"], known)
    check_content(platform, fields["text"], None)


def _known_signals(request: web.Request) -> frozenset[str] | None:
    """Signals of the keyword files in force; imported late because the application module imports this one."""
    from partner.app import keywords_key

    registry = request.app.get(keywords_key)
    return None if registry is None else registry.current.signals


# --- handlers -------------------------------------------------------------------------------------------------------


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    """Column values: an absent trigger is SQL NULL, not a JSON null."""
    return {name: sa.null() if value is None and name in _CLEARABLE else value for name, value in fields.items()}


def _out(row: Row[Any]) -> AutoReplyOut:
    return AutoReplyOut.model_validate(row, from_attributes=True)


async def _channel(connection: AsyncConnection, principal: Principal, channel_id: int) -> Any:
    statement = sa.select(CHANNELS.c.id, CHANNELS.c.workspace_id, CHANNELS.c.platform).where(
        CHANNELS.c.id == channel_id
    )
    row = (await connection.execute(statement)).first()
    if row is None or not principal.may_see(row.workspace_id, row.id):
        raise not_found("channel")
    return row


async def _rule(connection: AsyncConnection, request: web.Request, principal: Principal) -> tuple[Any, Any]:
    """The channel and rule of the path, if the caller may see the channel and the rule is on it; else 404."""
    channel = await _channel(connection, principal, path_id(request, "channel_id", "channel"))
    rule_id = path_id(request, "rule_id", "auto-reply rule")
    statement = sa.select(R).where(R.c.id == rule_id, R.c.channel_id == channel.id)
    row = (await connection.execute(statement)).first()
    if row is None:
        raise not_found("auto-reply rule")
    return channel, row


async def list_auto_replies(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id", "channel")
    async with engine(request).connect() as connection:
        await _channel(connection, principal, channel_id)
        rows = (await connection.execute(sa.select(R).where(R.c.channel_id == channel_id))).all()
    return json_response(AutoReplyList(auto_replies=[_out(row) for row in sorted(rows, key=precedence)]))


async def get_auto_reply(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    async with engine(request).connect() as connection:
        _, row = await _rule(connection, request, principal)
    return json_response(_out(row))


async def create_auto_reply(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    channel_id = path_id(request, "channel_id", "channel")
    body = await parse_body(request, AutoReplyCreate)
    fields = body.model_dump()
    async with engine(request).begin() as connection:
        channel = await _channel(connection, principal, channel_id)
        check_rule(channel.platform, fields, _known_signals(request))
        count = await connection.execute(sa.select(sa.func.count()).select_from(R).where(R.c.channel_id == channel_id))
        if count.scalar_one() >= MAX_RULES_PER_CHANNEL:
            raise ApiError(409, "limit", f"a channel has at most {MAX_RULES_PER_CHANNEL} auto-reply rules")
        now = utcnow()
        values = {**_stored(fields), "workspace_id": channel.workspace_id, "channel_id": channel_id}
        statement = sa.insert(R).values(**values, created_at=now, updated_at=now).returning(*R.c)
        row = (await connection.execute(statement)).one()
    return json_response(_out(row), status=201)


async def update_auto_reply(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    body = await parse_body(request, AutoReplyUpdate)
    changes = {
        name: value
        for name, value in body.model_dump(exclude_unset=True).items()
        if value is not None or name in _CLEARABLE
    }
    async with engine(request).begin() as connection:
        channel, row = await _rule(connection, request, principal)
        check_rule(channel.platform, {**row._asdict(), **changes}, _known_signals(request))
        if changes:
            statement = sa.update(R).where(R.c.id == row.id).values(**_stored(changes), updated_at=utcnow())
            row = (await connection.execute(statement.returning(*R.c))).one()
    return json_response(_out(row))


async def delete_auto_reply(request: web.Request) -> web.Response:
    """Delete a rule; what it already sent stays counted (cooldowns, hourly cap), no longer tied to it."""
    principal = await authenticate(request)
    async with engine(request).begin() as connection:
        _, row = await _rule(connection, request, principal)
        firings = AUTO_REPLY_FIRINGS
        await connection.execute(sa.update(firings).where(firings.c.rule_id == row.id).values(rule_id=None))
        await connection.execute(sa.delete(R).where(R.c.id == row.id))
    return web.Response(status=204)
