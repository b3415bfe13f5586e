"""click attribution: tracking links and clicks

Revision ID: 0002_attribution
Revises: 0001
Create Date: 2026-11-23 09:00:00

Hand-written. ``uq_clicks_code`` is what makes a minted code unique (a collision is retried); the partial index
``ix_clicks_personal_data_expiry`` holds only clicks that still carry an IP address or user agent, so the purge
of expired personal data reads only what it will change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partner.store.models

revision: str = "0002_attribution"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERSONAL_DATA_HELD = sa.text("ip IS NOT NULL OR user_agent IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "tracking_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("greeting", sa.String(length=500), nullable=True),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("match_window_days", sa.Integer(), nullable=False),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug", name="uq_tracking_links_slug"),
    )
    op.create_index("ix_tracking_links_workspace_id", "tracking_links", ["workspace_id"], unique=False)
    op.create_index("ix_tracking_links_channel_id", "tracking_links", ["channel_id"], unique=False)

    op.create_table(
        "clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("ttclid", sa.String(length=512), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("clicked_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("used_at", partner.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["link_id"], ["tracking_links.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", name="uq_clicks_code"),
    )
    op.create_index("ix_clicks_link_id", "clicks", ["link_id"], unique=False)
    op.create_index(
        "ix_clicks_personal_data_expiry",
        "clicks",
        ["expires_at"],
        unique=False,
        sqlite_where=PERSONAL_DATA_HELD,
        postgresql_where=PERSONAL_DATA_HELD,
    )


def downgrade() -> None:
    op.drop_index("ix_clicks_personal_data_expiry", table_name="clicks")
    op.drop_index("ix_clicks_link_id", table_name="clicks")
    op.drop_table("clicks")
    op.drop_index("ix_tracking_links_channel_id", table_name="tracking_links")
    op.drop_index("ix_tracking_links_workspace_id", table_name="tracking_links")
    op.drop_table("tracking_links")
