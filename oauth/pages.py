"""The few HTML pages of the authorization flow: plain, self-contained, and escaped everywhere.

Every value that reaches a page (workspace and advertiser names, TikTok's messages, ids) goes through
``html.escape``; no page ever receives a token. Responses forbid caching, framing, scripts and referrers -- the
callback URL carries the one-time ``auth_code``, and ``no-referrer`` keeps it from leaking to any link target.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
EVENT_SOURCES = ("web", "app", "offline", "crm")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    ".error{color:#a40000}label{display:block;margin:.4rem 0}input[type=text]{width:100%;padding:.3rem}"
    "fieldset{margin:1rem 0}button{padding:.4rem 1rem}"
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, *, status: int = 200) -> web.Response:
    """A whole document; ``body`` must already be escaped HTML."""
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><h1>{_e(title)}</h1>{body}</body></html>"
    )
    return web.Response(status=status, text=document, content_type="text/html", headers=SECURITY_HEADERS)


def error_page(title: str, message: str, *, hint: str | None = None, status: int = 400) -> web.Response:
    body = f'<p class="error">{_e(message)}</p>'
    if hint:
        body += f"<p>{_e(hint)}</p>"
    return page(title, body, status=status)


def declined_page() -> web.Response:
    """Deliberately fixed text: ``error_description`` arrives in the URL, so anyone can craft it."""
    body = (
        "<p>You declined to give this service access to your TikTok ad accounts, so nothing was connected.</p>"
        "<p>If that was a mistake, start the connection again from the admin page and choose "
        "<strong>Authorize</strong> on TikTok.</p>"
    )
    return page("TikTok was not connected", body, status=400)


@dataclass(frozen=True, slots=True)
class AdvertiserChoice:
    advertiser_id: str
    name: str


def select_page(
    *,
    workspace_name: str,
    advertisers: Sequence[AdvertiserChoice],
    token: str,
    selected_advertiser_id: str | None,
    event_set_id: str,
    event_source: str,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    """What was connected, and a form to choose the advertiser and the event set the workspace reports to.

    ``token`` is the signed single-use selection token, not a TikTok credential.
    """
    chosen = selected_advertiser_id if selected_advertiser_id in {a.advertiser_id for a in advertisers} else None
    chosen = chosen or (advertisers[0].advertiser_id if advertisers else None)
    names = ", ".join(f"{_e(a.name or 'Unnamed account')} ({_e(a.advertiser_id)})" for a in advertisers)
    options = "".join(
        f'<label><input type="radio" name="advertiser_id" value="{_e(a.advertiser_id)}"'
        f"{' checked' if a.advertiser_id == chosen else ''} required> "
        f"{_e(a.name or 'Unnamed account')} <small>({_e(a.advertiser_id)})</small></label>"
        for a in advertisers
    )
    sources = "".join(
        f'<option value="{_e(source)}"{" selected" if source == event_source else ""}>{_e(source)}</option>'
        for source in EVENT_SOURCES
    )
    body = (
        f"<p>TikTok is connected for workspace <strong>{_e(workspace_name)}</strong>. "
        f"Access was granted to {len(advertisers)} ad account(s): {names}.</p>"
        + (f'<p class="error">{_e(error)}</p>' if error else "")
        + '<form method="post" action="/oauth/tiktok/select">'
        f'<input type="hidden" name="token" value="{_e(token)}">'
        f"<fieldset><legend>Which ad account should this workspace report to?</legend>{options}</fieldset>"
        '<fieldset><legend>Which event set receives the events?</legend><label for="event_source_id">'
        "Message Event Set ID or pixel code (TikTok Events Manager shows it next to the event set's name)</label>"
        '<input type="text" id="event_source_id" name="event_source_id" required maxlength="128" '
        f'pattern="[A-Za-z0-9._\\-]+" value="{_e(event_set_id)}">'
        f'<label for="event_source">Event source</label><select id="event_source" name="event_source">{sources}'
        "</select></fieldset>"
        '<button type="submit">Start reporting</button></form>'
    )
    return page("Choose where to report", body, status=status)


def connected_page(
    *, workspace_name: str, advertiser: AdvertiserChoice, event_set_id: str, released: int
) -> web.Response:
    body = (
        f"<p>Workspace <strong>{_e(workspace_name)}</strong> now reports conversations to TikTok for ad account "
        f"<strong>{_e(advertiser.name or 'Unnamed account')}</strong> ({_e(advertiser.advertiser_id)}), "
        f"event set <strong>{_e(event_set_id)}</strong>.</p>"
    )
    if released:
        body += f"<p>{released} event(s) that were waiting for this authorization will be sent now.</p>"
    body += "<p>You can close this page.</p>"
    return page("TikTok is connected", body)
