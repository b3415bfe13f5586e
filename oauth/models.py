"""Tables for advertiser authorization: one TikTok connection per workspace, and single-use flow tokens.

``tiktok_connections`` keeps what the authorization granted (the token, encrypted; advertiser ids and names; scopes)
and what the admin chose (advertiser, event set), apart from ``reporting_configs`` so a revoked or replaced grant is
still explainable. ``oauth_states`` makes every signed flow token (the OAuth ``state``, the selection form token)
usable exactly once: its nonce is a unique row, consumed by one conditional UPDATE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from partner.store.models import UTCDateTime, table, utcnow

CONNECTED = "connected"
NEEDS_REAUTHORIZATION = "needs_reauthorization"
REVOKED = "revoked"
CONNECTION_STATUSES = (CONNECTED, NEEDS_REAUTHORIZATION, REVOKED)


class TikTokConnection(SQLModel, table=True):
    """A workspace's grant from TikTok (OAuth, or a token pasted from Events Manager) and the admin's choice."""

    __tablename__ = "tiktok_connections"
    __table_args__ = (sa.UniqueConstraint("workspace_id", name="uq_tiktok_connections_workspace"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    status: str = Field(default=CONNECTED, max_length=32)  # connected / needs_reauthorization / revoked
    source: str = Field(default="oauth", max_length=16)  # oauth / manual
    access_token_encrypted: str | None = Field(default=None)  # Fernet; None once revoked
    advertiser_ids: list[str] | None = Field(default=None, sa_type=sa.JSON)
    advertiser_names: dict[str, str] | None = Field(default=None, sa_type=sa.JSON)  # id -> name, for the pages
    scopes: list[int] | None = Field(default=None, sa_type=sa.JSON)
    selected_advertiser_id: str | None = Field(default=None, max_length=64)
    selected_event_set_id: str | None = Field(default=None, max_length=128)
    connected_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class OAuthState(SQLModel, table=True):
    """One issued flow token; ``used_at`` is set by the request that consumes it, so a replay finds it taken."""

    __tablename__ = "oauth_states"
    __table_args__ = (sa.UniqueConstraint("nonce", name="uq_oauth_states_nonce"),)

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=64)
    purpose: str = Field(max_length=16)  # authorize / select
    workspace_id: int = Field(foreign_key="workspaces.id", index=True)
    initiator: str = Field(max_length=128)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


CONNECTIONS = table(TikTokConnection)
STATES = table(OAuthState)


def upsert(
    dialect_name: str, target: sa.Table, key: str, values: dict[str, Any], *, insert_only: dict[str, Any]
) -> sa.Insert:
    """One atomic insert-or-update on the unique ``key`` (SQLite and PostgreSQL both speak ON CONFLICT), so two
    callbacks racing for one workspace cannot both insert.

    ``insert_only`` columns (creation time, defaults) are written on insert and left alone on update.
    """
    if dialect_name == "postgresql":
        pg = postgresql.insert(target).values(**values, **insert_only)
        return pg.on_conflict_do_update(index_elements=[key], set_=values)
    lite = sqlite.insert(target).values(**values, **insert_only)
    return lite.on_conflict_do_update(index_elements=[key], set_=values)
