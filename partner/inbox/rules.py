"""What each platform lets a business send, and when: checked before a reply is stored, so an agent hears at once
why a reply cannot go out instead of finding a failed message later.

* WhatsApp: text up to 4096 characters; free-form messages only within 24 h of the contact's last message, after
  that only an approved template (``template``: name, language, body parameters), which may go at any time.
* Messenger: text up to 2000 characters, text and attachment in separate messages; 24 h, after that only a
  human agent's reply sent with the HUMAN_AGENT tag, for 7 days (the page needs Meta's human_agent permission,
  so the agent asks for it per reply with ``message_tag``; auto-replies never use it).
* LINE: text up to 5000 characters, images only by URL; no window (a reply token for about a minute, then push).
* TikTok: text up to 6000 characters, no media by URL; 48 h after the contact's last message and at most 10
  messages in that time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from partner.inbox.schemas import ReplyWindow
from partner.web import ApiError

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PlatformRules:
    label: str
    text_limit: int
    window: timedelta | None  # None: the business may write at any time
    outside_window: str  # what the platform allows once the window closed
    media_types: frozenset[str]
    captioned_media: frozenset[str]  # media types that may carry the text as a caption
    replies_per_window: int | None = None
    tag: str | None = None  # the message tag that extends the window for human agents
    tagged_window: timedelta | None = None


RULES: dict[str, PlatformRules] = {
    "whatsapp": PlatformRules(
        label="WhatsApp",
        text_limit=4096,
        window=24 * HOUR,
        outside_window='WhatsApp then accepts only an approved message template: send one with "template": '
        '{"name": ..., "language": ..., "parameters": [...]}',
        media_types=frozenset({"image", "video", "audio", "document"}),
        captioned_media=frozenset({"image", "video", "document"}),
    ),
    "messenger": PlatformRules(
        label="Messenger",
        text_limit=2000,
        window=24 * HOUR,
        outside_window="Messenger then accepts only a human agent's reply tagged HUMAN_AGENT, for 7 days after the "
        'contact\'s last message: send it with "message_tag": "HUMAN_AGENT" (the page needs Meta\'s human_agent '
        "permission)",
        media_types=frozenset({"image", "video", "audio", "document"}),
        captioned_media=frozenset(),
        tag="HUMAN_AGENT",
        tagged_window=7 * 24 * HOUR,
    ),
    "line": PlatformRules(
        label="LINE",
        text_limit=5000,
        window=None,
        outside_window="",
        media_types=frozenset({"image"}),
        captioned_media=frozenset({"image"}),  # sent as two message objects in one request
    ),
    "tiktok": PlatformRules(
        label="TikTok",
        text_limit=6000,
        window=48 * HOUR,
        outside_window="TikTok then accepts nothing from the business until the contact writes again",
        media_types=frozenset(),
        captioned_media=frozenset(),
        replies_per_window=10,
    ),
}


def rules_for(platform: str) -> PlatformRules:
    return RULES.get(platform, RULES["line"])


def reply_window(platform: str, last_inbound_at: datetime | None, now: datetime) -> ReplyWindow:
    """The free-form window (what auto-replies follow), and for Messenger how long a tagged reply may still go."""
    rules = rules_for(platform)
    if rules.window is None:
        return ReplyWindow(open=True, closes_at=None, rule=f"{rules.label} has no reply window")
    hours = int(rules.window / HOUR)
    rule = f"{rules.label}: free-form replies within {hours} h of the contact's last message"
    if last_inbound_at is None:
        return ReplyWindow(open=False, closes_at=None, rule=rule)
    closes_at = last_inbound_at + rules.window
    tagged_until = last_inbound_at + rules.tagged_window if rules.tagged_window is not None else None
    return ReplyWindow(open=now < closes_at, closes_at=closes_at, rule=rule, human_agent_until=tagged_until)


def check_template(platform: str) -> None:
    """422 unless the platform has message templates (WhatsApp)."""
    if platform != "whatsapp":
        label = rules_for(platform).label
        raise ApiError(422, "invalid", f"{label} has no message templates; only WhatsApp has", field="template")


def check_content(platform: str, text: str | None, media_type: str | None) -> None:
    """422 for what the platform would refuse anyway: too long, media it cannot take, text it cannot attach."""
    rules = rules_for(platform)
    if text is not None and len(text) > rules.text_limit:
        raise ApiError(
            422,
            "text_too_long",
            f"{rules.label} messages are at most {rules.text_limit} characters; this one has {len(text)}",
            field="text",
        )
    if media_type is None:
        return
    if media_type not in rules.media_types:
        allowed = ", ".join(sorted(rules.media_types)) or "none"
        raise ApiError(
            422,
            "unsupported_media",
            f"{rules.label} cannot send {media_type} by URL here (allowed: {allowed})",
            field="media_type",
        )
    if text is not None and media_type not in rules.captioned_media:
        raise ApiError(
            422,
            "unsupported_media",
            f"{rules.label} cannot send text with {media_type}; send the text as its own reply",
            field="text",
        )


def check_window(
    platform: str, last_inbound_at: datetime | None, now: datetime, replies_since: int, tag: str | None = None
) -> None:
    """409 outside the platform's window, saying why and what the platform would accept instead."""
    rules = rules_for(platform)
    if tag is not None:
        _check_tagged(rules, tag, last_inbound_at, now)
        return
    window = reply_window(platform, last_inbound_at, now)
    if not window.open:
        closed = window.closes_at.isoformat(timespec="seconds") if window.closes_at else None
        since = f"it closed at {closed}" if closed else "the contact has not written yet"
        raise ApiError(
            409,
            "window_closed",
            f"{window.rule}, and {since}. {rules.outside_window}.",
        )
    if rules.replies_per_window is not None and replies_since >= rules.replies_per_window:
        raise ApiError(
            409,
            "reply_limit",
            f"{rules.label} accepts at most {rules.replies_per_window} messages until the contact writes again",
        )


def _check_tagged(rules: PlatformRules, tag: str, last_inbound_at: datetime | None, now: datetime) -> None:
    """A tagged reply: 422 where the platform has no such tag, 409 once its longer window closed too."""
    if rules.tag != tag or rules.tagged_window is None:
        raise ApiError(422, "invalid", f"{rules.label} replies cannot carry the {tag} tag", field="message_tag")
    if last_inbound_at is None:
        raise ApiError(409, "window_closed", f"{tag} replies answer a contact, and this one has not written yet.")
    closes_at = last_inbound_at + rules.tagged_window
    if now >= closes_at:
        days = rules.tagged_window.days
        raise ApiError(
            409,
            "window_closed",
            f"{rules.label} accepts {tag} replies within {days} days of the contact's last message, and that "
            f"closed at {closes_at.isoformat(timespec='seconds')}. Nothing can be sent until the contact writes again.",
        )
