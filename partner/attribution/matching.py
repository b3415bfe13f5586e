"""The SQL of clicks, synchronous on the caller's ``Connection``: recording, claiming, purging, per-link figures.

``claim_click`` runs inside the ingest transaction, so a message and the click it claims commit together. It is
a read by the unique code, then ``UPDATE ... WHERE used_at IS NULL`` with a rowcount check: when two messages
carry the same code at once, the database lets exactly one update win (PostgreSQL re-checks the condition after
the row lock; SQLite has one writer), and the other gets None. Async callers use ``connection.run_sync``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from partner.attribution.codes import mint_code, normalise_code
from partner.attribution.models import CLICKS, TRACKING_LINKS
from partner.store.models import Conversation, UTCDateTime, table, utcnow

log = structlog.get_logger(__name__)

CONVERSATIONS = table(Conversation)
CLOCK_SKEW = timedelta(minutes=5)  # platform timestamps are whole seconds and clocks differ
_MAX_CODE_ATTEMPTS = 8

_FIND = (
    sa.select(
        CLICKS.c.id,
        CLICKS.c.link_id,
        CLICKS.c.ttclid,
        CLICKS.c.clicked_at,
        CLICKS.c.expires_at,
        CLICKS.c.used_at,
        TRACKING_LINKS.c.campaign,
    )
    .join(TRACKING_LINKS, TRACKING_LINKS.c.id == CLICKS.c.link_id)
    .where(CLICKS.c.code == sa.bindparam("b_code"), CLICKS.c.channel_id == sa.bindparam("b_channel"))
)
_MARK_USED = (
    sa.update(CLICKS)
    .where(CLICKS.c.id == sa.bindparam("b_id"), CLICKS.c.used_at.is_(None))
    .values(used_at=sa.bindparam("b_at", type_=UTCDateTime()))
)
_PURGE = (
    sa.update(CLICKS)
    .where(
        CLICKS.c.expires_at < sa.bindparam("b_now", type_=UTCDateTime()),
        sa.or_(CLICKS.c.ip.is_not(None), CLICKS.c.user_agent.is_not(None)),  # the partial index's condition
    )
    .values(ip=sa.null(), user_agent=sa.null())
)


@dataclass(frozen=True, slots=True)
class ClickMatch:
    click_id: int
    link_id: int
    ttclid: str | None
    campaign: str | None
    clicked_at: datetime


@dataclass(frozen=True, slots=True)
class LinkStats:
    link_id: int
    clicks: int
    clicks_with_ttclid: int
    conversations: int
    signals: dict[str, int]

    @property
    def attributed_share(self) -> float | None:
        """Conversations per click; None before the first click rather than a made-up 0."""
        return self.conversations / self.clicks if self.clicks else None


def claim_click(connection: Connection, *, channel_id: int, code: str, at: datetime) -> ClickMatch | None:
    """Use the click behind ``code`` for a conversation on ``channel_id`` that started at ``at``, once.

    ``code`` may be as extracted from text or a Messenger ``ref`` as received; anything that is not a code, a code
    of another channel, one already used, or one outside its match window gives None.
    """
    normalised = normalise_code(code)
    if normalised is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    row = connection.execute(_FIND, {"b_code": normalised, "b_channel": channel_id}).first()
    if row is None:
        log.info("click_claim_refused", reason="unknown", channel_id=channel_id)
        return None
    reason = None
    if row.used_at is not None:
        reason = "used"
    elif at > row.expires_at:
        reason = "expired"
    elif at < row.clicked_at - CLOCK_SKEW:
        reason = "before_click"
    elif connection.execute(_MARK_USED, {"b_id": row.id, "b_at": at}).rowcount != 1:
        reason = "used"
    if reason is not None:
        log.info("click_claim_refused", reason=reason, channel_id=channel_id, click_id=row.id)
        return None
    return ClickMatch(
        click_id=int(row.id),
        link_id=int(row.link_id),
        ttclid=row.ttclid,
        campaign=row.campaign,
        clicked_at=row.clicked_at,
    )


def record_clicks(connection: Connection, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert clicks; a row whose code is already taken gets a fresh one. Returns the codes as stored, in order."""
    statement = insert_unless_taken(connection.dialect.name, CLICKS, "code")
    codes = []
    for row in rows:
        values = dict(row)
        for _ in range(_MAX_CODE_ATTEMPTS):
            if connection.execute(statement, values).first() is not None:
                break
            log.warning("click_code_collision")
            values["code"] = mint_code()
        else:
            raise RuntimeError("could not mint a unique click code")
        codes.append(str(values["code"]))
    return codes


@functools.cache
def insert_unless_taken(dialect: str, target: sa.Table, key: str) -> Any:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id``, built once: a taken random key is a row to retry
    with a new one, not an error that aborts the transaction (and with it a whole batch on PostgreSQL)."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(target).on_conflict_do_nothing(index_elements=[key]).returning(target.c.id)


def purge_expired_clicks(connection: Connection, *, now: datetime | None = None) -> int:
    """Forget the IP address and user agent of clicks past their match window; returns how many were cleared.

    Only the clicks still holding either are read (partial index), so running it often costs little.
    """
    result = connection.execute(_PURGE, {"b_now": now or utcnow()})
    return int(result.rowcount)


def link_stats(connection: Connection, link_id: int) -> LinkStats | None:
    """Clicks, conversations started from them, and the signals those conversations raised; None for no link."""
    if connection.execute(sa.select(TRACKING_LINKS.c.id).where(TRACKING_LINKS.c.id == link_id)).first() is None:
        return None
    clicks, with_ttclid = connection.execute(
        sa.select(sa.func.count(), sa.func.count(CLICKS.c.ttclid)).where(CLICKS.c.link_id == link_id)
    ).one()
    flags = connection.execute(
        sa.select(CONVERSATIONS.c.flags)
        .join(CLICKS, CLICKS.c.id == CONVERSATIONS.c.click_id)
        .where(CLICKS.c.link_id == link_id)
    )
    conversations = 0
    signals: Counter[str] = Counter()
    for (conversation_flags,) in flags:
        conversations += 1
        if isinstance(conversation_flags, dict):
            signals.update(str(signal) for signal, value in conversation_flags.items() if value)
    return LinkStats(
        link_id=link_id,
        clicks=int(clicks),
        clicks_with_ttclid=int(with_ttclid),
        conversations=conversations,
        signals=dict(sorted(signals.items())),
    )
