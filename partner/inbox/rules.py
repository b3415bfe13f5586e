"""What each platform lets a business send, and when: checked before a reply is stored, so an agent hears at once
why a reply cannot go out instead of finding a failed message later.

* WhatsApp: text up to 4096 characters; free-form messages only within 24 h of the contact's last message, after
  that only an approved template.
* Messenger: text up to 2000 characters, text and attachment in separate messages; 24 h, after that only the
  HUMAN_AGENT tag (7 days, needs Meta's App Review).
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


RULES: dict[str, PlatformRules] = {
    "whatsapp": PlatformRules(
        label="WhatsApp",
        text_limit=4096,
        window=24 * HOUR,
        outside_window="WhatsApp then accepts only an approved message template, which this inbox cannot send yet",
        media_types=frozenset({"image", "video", "audio", "document"}),
        captioned_media=frozenset({"image", "video", "document"}),
    ),
    "messenger": PlatformRules(
        label="Messenger",
        text_limit=2000,
        window=24 * HOUR,
        outside_window="Messenger then allows only messages tagged HUMAN_AGENT, for 7 days after the contact's last "
        "message; this inbox does not send HUMAN_AGENT messages yet (the tag needs Meta's App Review)",
        media_types=frozenset({"image", "video", "audio", "document"}),
        captioned_media=frozenset(),
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
    rules = rules_for(platform)
    if rules.window is None:
        return ReplyWindow(open=True, closes_at=None, rule=f"{rules.label} has no reply window")
    hours = int(rules.window / HOUR)
    rule = f"{rules.label}: free-form replies within {hours} h of the contact's last message"
    if last_inbound_at is None:
        return ReplyWindow(open=False, closes_at=None, rule=rule)
    closes_at = last_inbound_at + rules.window
    return ReplyWindow(open=now < closes_at, closes_at=closes_at, rule=rule)


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


def check_window(platform: str, last_inbound_at: datetime | None, now: datetime, replies_since: int) -> None:
    """409 outside the platform's window, saying why and what the platform would accept instead."""
    rules = rules_for(platform)
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
