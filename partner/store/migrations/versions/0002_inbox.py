"""inbox: users, API tokens, labels, assignments, snoozes, canned responses, settings, orders

Revision ID: 0002_inbox
Revises: 0001
Create Date: 2026-11-24 09:00:00

Hand-written. The ``ix_conversations_inbox_*`` indexes serve the inbox list: (workspace, status, sort key, id) lets
a page be read in order straight from an index; (workspace, status, channel) lets the tab counts be counted from
an index alone; the partial indexes hold only flagged or attributed conversations, so counting those filters
reads only the rows that can match.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partner.store.models

revision: str = "0002_inbox"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = partner.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "email", name="uq_users_workspace_email"),
    )
    op.create_table(
        "user_channels",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"]),
        sa.PrimaryKeyConstraint("user_id", "channel_id"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("last_used_at", UTC_DATETIME(), nullable=True),
        sa.Column("revoked_at", UTC_DATETIME(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_labels_workspace_name"),
    )
    op.create_table(
        "conversation_labels",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["label_id"], ["labels.id"]),
        sa.PrimaryKeyConstraint("conversation_id", "label_id"),
    )
    op.create_index("ix_conversation_labels_label", "conversation_labels", ["label_id", "conversation_id"])
    op.create_table(
        "conversation_assignments",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    op.create_index("ix_conversation_assignments_user", "conversation_assignments", ["user_id", "conversation_id"])
    op.create_table(
        "conversation_snoozes",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("until", UTC_DATETIME(), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sa.String(length=64), nullable=False),
        sa.Column("text", sa.String(length=6000), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "shortcut", name="uq_canned_responses_shortcut"),
    )
    op.create_table(
        "inbox_settings",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("round_robin", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("workspace_id"),
    )
    op.create_table(
        "round_robin_cursors",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("last_user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"]),
        sa.PrimaryKeyConstraint("channel_id"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("value", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("reserved_for", UTC_DATETIME(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.Column("paid_at", UTC_DATETIME(), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_orders_conversation", "orders", ["conversation_id", "id"])
    for name, columns in CONVERSATION_INDEXES.items():
        op.create_index(name, "conversations", columns)
    for name, condition in PARTIAL_INDEXES.items():
        op.create_index(
            name, "conversations", ["workspace_id", "status"], sqlite_where=condition, postgresql_where=condition
        )


CONVERSATION_INDEXES = {
    "ix_conversations_inbox_status_updated": ["workspace_id", "status", "updated_at", "id"],
    "ix_conversations_inbox_status_last_message": ["workspace_id", "status", "last_message_at", "id"],
    "ix_conversations_inbox_last_message": ["workspace_id", "last_message_at", "id"],
    "ix_conversations_inbox_status_channel": ["workspace_id", "status", "channel_id"],
}
PARTIAL_INDEXES = {
    "ix_conversations_inbox_flagged": sa.text("flags IS NOT NULL"),
    "ix_conversations_inbox_attributed": sa.text("ttclid IS NOT NULL OR referral IS NOT NULL"),
}


def downgrade() -> None:
    for name in [*CONVERSATION_INDEXES, *PARTIAL_INDEXES]:
        op.drop_index(name, table_name="conversations")
    op.drop_index("ix_orders_conversation", table_name="orders")
    op.drop_table("orders")
    op.drop_table("round_robin_cursors")
    op.drop_table("inbox_settings")
    op.drop_table("canned_responses")
    op.drop_table("conversation_snoozes")
    op.drop_index("ix_conversation_assignments_user", table_name="conversation_assignments")
    op.drop_table("conversation_assignments")
    op.drop_index("ix_conversation_labels_label", table_name="conversation_labels")
    op.drop_table("conversation_labels")
    op.drop_table("labels")
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("user_channels")
    op.drop_table("users")
