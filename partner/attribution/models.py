"""Tables for click attribution: tracking links (what the ad points at) and the clicks on them.

A click's IP address and user agent are personal data kept only for its match window: ``expires_at`` bounds
them, and a partial index over the clicks that still hold them keeps the purge cheap however many clicks pile up.
``clicks.channel_id`` repeats the link's channel so claiming a code is one statement on one table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from partner.store.models import UTCDateTime, table, utcnow

PERSONAL_DATA_HELD = sa.text("ip IS NOT NULL OR user_agent IS NOT NULL")


class TrackingLink(SQLModel, table=True):
    """``{public_url}/r/{slug}``: the landing URL of an ad, sending the customer to one channel's chat."""

    __tablename__ = "tracking_links"
    __table_args__ = (sa.UniqueConstraint("slug", name="uq_tracking_links_slug"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=16)
    workspace_id: int = Field(foreign_key="workspaces.id", index=True)
    channel_id: int = Field(foreign_key="channels.id", index=True)
    greeting: str | None = Field(default=None, max_length=500)
    campaign: str | None = Field(default=None, max_length=200)
    match_window_days: int = Field(default=7)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Click(SQLModel, table=True):
    """One visit of a tracking link, with the reference code the pre-filled message carries back."""

    __tablename__ = "clicks"
    __table_args__ = (
        sa.UniqueConstraint("code", name="uq_clicks_code"),
        sa.Index(
            "ix_clicks_personal_data_expiry",
            "expires_at",
            sqlite_where=PERSONAL_DATA_HELD,
            postgresql_where=PERSONAL_DATA_HELD,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    link_id: int = Field(foreign_key="tracking_links.id", index=True)
    channel_id: int = Field()
    code: str = Field(max_length=16)
    ttclid: str | None = Field(default=None, max_length=512)
    params: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON, nullable=True)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    clicked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


TRACKING_LINKS = table(TrackingLink)
CLICKS = table(Click)
