"""Where a tracking link sends the customer: the chat app's own deep link, with the reference code in it.

WhatsApp and LINE carry nothing from the ad into the chat, so the code rides in the pre-filled message text
(``wa.me/<number>?text=`` and LINE's ``oaMessage``). Messenger has a real channel for it: ``m.me/<page>?ref=``
comes back in the referral object, and the greeting cannot be pre-filled there.
"""

from __future__ import annotations

from urllib.parse import quote

from partner.attribution.codes import prefilled_text

LINKABLE_PLATFORMS = ("whatsapp", "line", "messenger")


def destination_for(
    platform: str, *, external_id: str, display_phone: str | None, line_basic_id: str | None
) -> str | None:
    """The address a link needs for this channel, or None when the channel has none (or cannot take links)."""
    if platform == "whatsapp":
        digits = (display_phone or "").lstrip("+")
        return digits if digits.isdigit() else None
    if platform == "line":
        basic_id = (line_basic_id or "").strip()
        return None if basic_id in ("", "@") else ("@" + basic_id.lstrip("@"))
    if platform == "messenger":
        return external_id or None
    return None


def redirect_url(platform: str, destination: str, *, greeting: str | None, code: str | None) -> str:
    """The chat deep link; without a code (the click could not be stored) the customer still reaches the chat."""
    if platform == "whatsapp":
        return whatsapp_url(destination, prefilled_text(greeting, code))
    if platform == "line":
        return line_url(destination, prefilled_text(greeting, code))
    if platform == "messenger":
        return messenger_url(destination, code)
    raise ValueError(f"no redirect for platform {platform!r}")


def whatsapp_url(phone_digits: str, text: str) -> str:
    base = f"https://wa.me/{phone_digits}"
    return f"{base}?text={quote(text, safe='')}" if text else base


def line_url(basic_id: str, text: str) -> str:
    """``https://line.me/R/oaMessage/%40id/?<text>``: the ``@`` of the id and the whole text percent-encoded."""
    base = f"https://line.me/R/oaMessage/{quote(basic_id, safe='')}/"
    return f"{base}?{quote(text, safe='')}" if text else base


def messenger_url(page_id: str, ref: str | None) -> str:
    """``ref`` allows only ``[A-Za-z0-9_=-]``; our codes are upper-case letters and digits."""
    base = f"https://m.me/{quote(page_id, safe='')}"
    return f"{base}?ref={ref}" if ref else base
