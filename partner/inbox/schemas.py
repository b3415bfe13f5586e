"""Request and response models of the inbox API; the OpenAPI document is generated from these same classes.

Requests forbid unknown fields, bound every number to what the database can hold, and refuse text the databases
cannot store (NUL characters, lone surrogates), so bad input is a 422 and never a driver error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
)

from partner.inbox.business_hours import BusinessHours, TimeZoneName
from partner.openapi import MAX_ID as MAX_ID  # re-exported: inbox modules import it from here

MAX_SNOOZE = timedelta(days=366)
SIGNAL_NAME = r"^[a-z][a-z0-9_]{0,63}$"  # analyzers.model.SIGNAL_NAME_RE; also keeps JSON paths well-formed

Status = Literal["open", "pending", "resolved", "snoozed"]
Priority = Literal["low", "medium", "high", "urgent"]
Platform = Literal["whatsapp", "messenger", "line", "tiktok"]
MediaType = Literal["image", "video", "audio", "document"]
MessageTag = Literal["HUMAN_AGENT"]
RoleName = Literal["admin", "agent", "viewer"]
Availability = Literal["online", "busy", "offline"]


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def _utc(value: datetime) -> datetime:
    """Naive times are UTC; aware ones are converted, refusing those that fall outside the representable range."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range") from None


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]  # in JSON an id is a number, never "5"
Flag = Annotated[bool, Strict()]  # in JSON a flag is true or false, never "yes"
Text = Annotated[str, AfterValidator(_storable)]


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 date-times, as documented; pydantic alone would also read numbers as Unix times."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or "-" not in value or ":" not in value:
        raise ValueError("give an ISO 8601 date and time, e.g. 2026-01-31T12:00:00Z")
    return value


Instant = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_utc)]


class Input(BaseModel):
    """A request body or query: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class WorkspaceQuery(Input):
    workspace_id: Id | None = Field(
        default=None, description="Only for the bootstrap admin token, which is not tied to a workspace."
    )


# --- users and tokens -------------------------------------------------------------------------------------------


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"),
    AfterValidator(_storable),
]


class UserCreate(Input):
    email: Email
    name: Text = Field(default="", max_length=200)
    role: RoleName
    channel_ids: list[BodyId] | None = Field(
        default=None, max_length=1000, description="Limit the user to these channels; omitted or null: every channel."
    )
    workspace_id: Id | None = Field(default=None, description="Only for the bootstrap admin token.")


class UserUpdate(Input):
    name: Text | None = Field(default=None, max_length=200)
    role: RoleName | None = None
    active: Flag | None = Field(default=None, description="false also stops every token of the user")
    channel_ids: list[BodyId] | None = Field(default=None, max_length=1000, description="null: every channel")
    availability: Availability | None = Field(default=None, description="only online agents are auto-assigned")
    capacity: int | None = Field(
        default=None, ge=1, le=10_000, description="most open conversations auto-assignment gives them; null: no limit"
    )


class MeUpdate(Input):
    availability: Availability = Field(description="only online agents are auto-assigned")


class UserOut(BaseModel):
    id: int
    workspace_id: int
    email: str
    name: str
    role: RoleName
    active: bool
    availability: Availability
    capacity: int | None = Field(description="most open conversations auto-assignment gives them; null: no limit")
    channel_ids: list[int] | None = Field(description="null: every channel of the workspace")
    created_at: datetime


class UserList(BaseModel):
    users: list[UserOut]


class Me(BaseModel):
    super_admin: bool
    role: RoleName
    workspace_id: int | None
    user: UserOut | None


class TokenCreate(Input):
    name: Text = Field(default="", max_length=100)


class TokenOut(BaseModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored.")


class TokenList(BaseModel):
    tokens: list[TokenOut]


# --- conversations ------------------------------------------------------------------------------------------------


class ConversationQuery(WorkspaceQuery):
    status: Literal["open", "pending", "resolved", "snoozed", "all"] = "open"
    channel_id: Id | None = None
    platform: Platform | None = None
    assignee: str | None = Field(
        default=None,
        pattern=r"^(me|unassigned|anyone|[1-9][0-9]{0,9})$",
        description="me, unassigned, anyone (assigned to someone) or a user id; omitted: assigned or not",
    )
    label: Text | None = Field(default=None, min_length=1, max_length=64)
    flag: str | None = Field(default=None, pattern=SIGNAL_NAME, description="a keyword signal, e.g. payment")
    attributed: bool | None = Field(default=None, description="the conversation carries a ttclid or an ad referral")
    q: Text | None = Field(default=None, min_length=1, max_length=200, description="text in any of its messages")
    updated_since: Instant | None = None
    sort: Literal["updated_at", "last_message_at", "created"] = "updated_at"
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=25, ge=1, le=100)
    counts: bool = Field(default=True, description="include the mine / unassigned / all counts")

    @field_validator("assignee")
    @classmethod
    def _user_id_in_range(cls, value: str | None) -> str | None:
        if value is not None and value.isdigit() and int(value) > MAX_ID:
            raise ValueError(f"a user id is at most {MAX_ID}")
        return value


class ChannelRef(BaseModel):
    id: int
    platform: str
    name: str


class ContactRef(BaseModel):
    id: int
    external_id: str
    name: str | None
    phone: str | None


class UserRef(BaseModel):
    id: int
    name: str
    email: str


class LabelRef(BaseModel):
    id: int
    name: str
    colour: str


class Attribution(BaseModel):
    attributed: bool
    source: str | None
    ttclid: str | None
    campaign: str | None = Field(default=None, description="campaign label of the tracking link that was clicked")
    clicked_at: datetime | None = Field(default=None, description="when the tracked ad click happened")
    referral: dict[str, Any] | None = Field(description="source, ref, ad_id and click_id of the first referral")


class MessagePreview(BaseModel):
    id: int
    direction: str
    message_type: str
    text: str | None = Field(description="the first 200 characters")
    private: bool
    delivery_status: str | None
    sent_at: datetime


class ReplyWindow(BaseModel):
    open: bool
    closes_at: datetime | None = Field(description="null when the platform has no window or it never opened")
    rule: str
    human_agent_until: datetime | None = Field(
        default=None,
        description="Messenger: until then an agent may still reply with message_tag HUMAN_AGENT (7 days after "
        "the contact's last message); null on other platforms",
    )


class ConversationOut(BaseModel):
    id: int
    public_id: str
    workspace_id: int
    status: str
    priority: str | None
    snoozed_until: datetime | None
    channel: ChannelRef
    contact: ContactRef
    assignee: UserRef | None
    labels: list[LabelRef]
    flags: dict[str, Any]
    attribution: Attribution
    last_message: MessagePreview | None
    reply_window: ReplyWindow
    started_at: datetime
    last_message_at: datetime
    last_inbound_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Counts(BaseModel):
    mine: int
    unassigned: int
    all: int


class ConversationList(BaseModel):
    conversations: list[ConversationOut]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last page")
    counts: Counts | None


class ConversationUpdate(Input):
    status: Status | None = None
    snoozed_until: Instant | None = Field(default=None, description="with status snoozed (implies it when alone)")
    priority: Priority | None = Field(default=None, description="null clears it")
    assignee_id: BodyId | None = Field(default=None, description="null unassigns")
    labels: list[Annotated[Text, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=50, description="label names; replaces the conversation's labels"
    )

    @field_validator("snoozed_until")
    @classmethod
    def _reasonable_snooze(cls, value: datetime | None) -> datetime | None:
        if value is not None and value - datetime.now(tz=UTC) > MAX_SNOOZE:
            raise ValueError("snooze for at most a year")
        return value


# --- messages -------------------------------------------------------------------------------------------------------


class MessageQuery(Input):
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    direction: str
    message_type: str
    text: str | None = Field(description="null for media without caption and for messages the contact deleted")
    media: dict[str, Any] | None
    private: bool
    delivery_status: str | None
    error: str | None
    platform_message_id: str | None
    reply_to: str | None
    flags: dict[str, Any] | None
    author_user_id: int | None = Field(description="the agent who wrote an outbound message or note")
    message_tag: MessageTag | None = Field(default=None, description="the Messenger tag the reply was sent with")
    template: TemplateMessage | None = Field(default=None, description="the WhatsApp template the reply was sent as")
    deleted: bool
    sent_at: datetime
    created_at: datetime
    status_at: datetime | None
    edited_at: datetime | None


class MessageList(BaseModel):
    messages: list[MessageOut]
    next_cursor: str | None


class TemplateMessage(Input):
    """A WhatsApp message template approved in the business's WhatsApp Manager."""

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(
        min_length=2, max_length=15, pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8})?$", description="e.g. en_US, id"
    )
    parameters: list[Annotated[Text, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=100, description="values for the body's {{1}}, {{2}}... in order"
    )


class ReplyCreate(Input):
    text: Text | None = Field(default=None, min_length=1, max_length=20000, description="checked per platform")
    media_url: Text | None = Field(default=None, max_length=2048, pattern=r"^https?://[^\s]+$")
    media_type: MediaType | None = None
    private: Flag = Field(default=False, description="an internal note: stored, never sent")
    template: TemplateMessage | None = Field(
        default=None,
        description="WhatsApp only: send an approved template instead of text or media; allowed outside the 24 h "
        "window, which is what WhatsApp accepts once it closed",
    )
    message_tag: MessageTag | None = Field(
        default=None,
        description="Messenger only: HUMAN_AGENT sends the reply as a human agent's answer, allowed for 7 days "
        "after the contact's last message (the 24 h window then no longer applies). The page needs Meta's "
        "human_agent permission (App Review); never for promotional content.",
    )


# --- labels, canned responses, settings -------------------------------------------------------------------------


Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
LabelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s,][^,]*$"), AfterValidator(_storable)]


class LabelCreate(WorkspaceQuery, Input):
    name: LabelName
    colour: Colour = "#1f93ff"
    description: Text = Field(default="", max_length=200)


class LabelUpdate(Input):
    name: LabelName | None = None
    colour: Colour | None = None
    description: Text | None = Field(default=None, max_length=200)


class LabelOut(BaseModel):
    id: int
    name: str
    colour: str
    description: str
    created_at: datetime


class LabelList(BaseModel):
    labels: list[LabelOut]


Shortcut = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class CannedQuery(WorkspaceQuery):
    prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="shortcuts starting so")


class CannedCreate(WorkspaceQuery, Input):
    shortcut: Shortcut
    text: Text = Field(min_length=1, max_length=6000)


class CannedUpdate(Input):
    shortcut: Shortcut | None = None
    text: Text | None = Field(default=None, min_length=1, max_length=6000)


class CannedOut(BaseModel):
    id: int
    shortcut: str
    text: str
    created_at: datetime
    updated_at: datetime


class CannedList(BaseModel):
    canned_responses: list[CannedOut]


_BUSINESS_HOURS = (
    'open intervals per weekday in the workspace time zone, e.g. {"mon": [["09:00", "18:00"]]}; a day left out is '
    "closed, 24:00 ends a day; null: always open (away auto-replies never fire)"
)


class InboxSettingsUpdate(Input):
    round_robin: Flag | None = Field(
        default=None, description="assign new unassigned conversations to the channel's agents in turn"
    )
    timezone: TimeZoneName | None = Field(default=None, description="the workspace's IANA time zone, e.g. Asia/Jakarta")
    business_hours: BusinessHours | None = Field(default=None, description=_BUSINESS_HOURS + "; give null to clear")


class InboxSettingsOut(BaseModel):
    workspace_id: int
    round_robin: bool
    timezone: str = Field(description="the workspace's IANA time zone; business hours are read on its wall clock")
    business_hours: BusinessHours | None = Field(description=_BUSINESS_HOURS)
    open_now: bool = Field(description="whether the business hours have the workspace open at this moment")


# --- orders and reservations -------------------------------------------------------------------------------------

OrderStatus = Literal["placed", "paid", "cancelled"]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. IDR")]


class OrderCreate(Input):
    kind: Literal["order", "reservation"] = "order"
    status: Literal["placed", "paid"] = "placed"
    reference: Text | None = Field(default=None, max_length=64, description="the shop's own order number")
    value: Money | None = None
    currency: Currency | None = None
    description: Text = Field(default="", max_length=500)
    reserved_for: Instant | None = Field(default=None, description="reservations: the booked time")


class OrderUpdate(Input):
    status: OrderStatus | None = Field(default=None, description="placed -> paid; either -> cancelled")
    reference: Text | None = Field(default=None, max_length=64)
    value: Money | None = None
    currency: Currency | None = None
    description: Text | None = Field(default=None, max_length=500)
    reserved_for: Instant | None = None


class OrderOut(BaseModel):
    id: int
    conversation_id: int
    kind: str
    status: str
    reference: str | None
    value: str | None
    currency: str | None
    description: str
    reserved_for: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    reported: list[str] = Field(description="outcomes queued for TikTok by this change: order_placed, order_paid")


class OrderList(BaseModel):
    orders: list[OrderOut]
