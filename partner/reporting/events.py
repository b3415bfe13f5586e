"""Building Events API 2.0 ``data[]`` items from stored facts.

TikTok has not published a messaging-specific wire format, so the event source type and every event name are
configuration with documented defaults. The default source is ``web``: ``user.ttclid`` is a web field, and the
``page.url`` is where the chat started (our tracking link, or the chat app's own link). Default names: a
conversation start is ``Contact``; a keyword signal that becomes true is
a custom event named after the signal with the flag as a boolean property (``{"payment": true}``); orders are
``PlaceAnOrder`` / ``CompletePayment``. No message text is ever part of an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from partner.reporting.hashing import hash_external_id, hash_phone

CONVERSATION_STARTED = "conversation_started"
SIGNAL_PREFIX = "signal:"
DEFAULT_EVENT_MAPPING: dict[str, str] = {
    CONVERSATION_STARTED: "Contact",
    "order_placed": "PlaceAnOrder",
    "order_paid": "CompletePayment",
}


def signal_outcome(signal: str) -> str:
    return f"{SIGNAL_PREFIX}{signal}"


def event_name_for(outcome: str, mapping: dict[str, Any] | None) -> str:
    """Configured name for an outcome; signals default to a custom event named after the signal."""
    configured = (mapping or {}).get(outcome)
    if isinstance(configured, str) and configured:
        return configured
    if outcome.startswith(SIGNAL_PREFIX):
        signal = outcome.removeprefix(SIGNAL_PREFIX)
        return str((mapping or {}).get("signals", {}).get(signal) or signal)
    return DEFAULT_EVENT_MAPPING.get(outcome, outcome)


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the builder may use: identifiers and flags, never content."""

    event_id: str
    outcome: str
    event_time: int
    platform: str
    contact_external_id: str
    contact_phone: str | None
    ttclid: str | None
    properties: dict[str, Any]
    page_url: str | None = None  # web: where the chat started (tracking link or the chat app link)
    lead_id: str | None = None  # crm: the conversation's public id


def build_event(
    facts: EventFacts, mapping: dict[str, Any] | None, *, event_source: str = "web", partner_name: str = ""
) -> tuple[dict[str, Any], bool]:
    """The ``data[]`` item, and whether TikTok can match it (a ttclid or a hashed phone number).

    ``external_id`` (the platform user id, hashed) is always sent but only helps web and CRM event sources.
    """
    user: dict[str, Any] = {}
    if facts.ttclid:
        user["ttclid"] = facts.ttclid
    phone = hash_phone(facts.contact_phone) if facts.contact_phone else None
    if phone:
        user["phone"] = [phone]
    external_id = hash_external_id(facts.contact_external_id)
    if external_id:
        user["external_id"] = [external_id]
    properties = dict(facts.properties)
    if facts.outcome.startswith(SIGNAL_PREFIX):
        properties.setdefault(facts.outcome.removeprefix(SIGNAL_PREFIX), True)
    item: dict[str, Any] = {
        "event": event_name_for(facts.outcome, mapping),
        "event_time": facts.event_time,
        "event_id": facts.event_id,
        "user": user,
    }
    if properties:
        item["properties"] = properties
    if event_source == "web":
        item["page"] = {"url": facts.page_url or "https://www.tiktok.com/"}
    elif event_source == "crm":
        item["lead"] = {"lead_id": facts.lead_id or facts.event_id, "lead_event_source": partner_name or "partner"}
    identified = bool(facts.ttclid or phone)
    return item, identified
