"""TikTok advertiser authorization: tiktok_connections and oauth_states

Revision ID: 0002_oauth
Revises: 0001
Create Date: 2026-11-22 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partner.store.models

revision: str = "0002_oauth"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tiktok_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("access_token_encrypted", sa.String(), nullable=True),
        sa.Column("advertiser_ids", sa.JSON(), nullable=True),
        sa.Column("advertiser_names", sa.JSON(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=True),
        sa.Column("selected_advertiser_id", sa.String(length=64), nullable=True),
        sa.Column("selected_event_set_id", sa.String(length=128), nullable=True),
        sa.Column("connected_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", name="uq_tiktok_connections_workspace"),
    )
    op.create_table(
        "oauth_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("initiator", sa.String(length=128), nullable=False),
        sa.Column("expires_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("used_at", partner.store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nonce", name="uq_oauth_states_nonce"),
    )
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_states_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_states_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_states_expires_at"))
        batch_op.drop_index(batch_op.f("ix_oauth_states_workspace_id"))
    op.drop_table("oauth_states")
    op.drop_table("tiktok_connections")
