"""Click attribution: tracking links that capture TikTok's ``ttclid`` and tie it to the conversation it starts.

The ad's landing URL is ``/r/{slug}``; the redirect stores the click with a fresh reference code and opens the
chat with that code in the pre-filled text (WhatsApp, LINE) or in ``ref`` (Messenger). Ingest calls
``extract_code`` on the first inbound text and ``claim_click`` in its transaction. Routes live in
``partner.attribution.routes`` (not imported here, so ingest can import this package without the web layer).
"""

from partner.attribution.codes import extract_code, marker, mint_code, normalise_code
from partner.attribution.matching import ClickMatch, LinkStats, claim_click, link_stats, purge_expired_clicks

__all__ = [
    "ClickMatch",
    "LinkStats",
    "claim_click",
    "extract_code",
    "link_stats",
    "marker",
    "mint_code",
    "normalise_code",
    "purge_expired_clicks",
]
