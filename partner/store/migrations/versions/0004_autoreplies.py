"""auto-replies: rules per channel, the ledger of fired replies, business hours

Revision ID: 0004_autoreplies
Revises: 0003_conversation_click_index
Depends on: 0002_inbox (adds a column to its inbox_settings)

Hand-written. ``uq_auto_reply_firings_trigger`` is what makes a re-run analysis job answer an inbound message at
most once; the partial unique index ``uq_auto_reply_firings_once`` holds a once-per-conversation rule to one reply
per conversation even if two analyses raced past the check.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partner.store.models

revision: str = "0004_autoreplies"
down_revision: str | None = "0003_conversation_click_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0002_inbox"

UTC_DATETIME = partner.store.models.UTCDateTime
ONCE = sa.text("once_per_conversation")


def upgrade() -> None:
    with op.batch_alter_table("inbox_settings") as batch:
        batch.add_column(sa.Column("business_hours", sa.JSON(), nullable=True))
    op.create_table(
        "auto_reply_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("text", sa.String(length=6000), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=True),
        sa.Column("cooldown_seconds", sa.Integer(), nullable=False),
        sa.Column("once_per_conversation", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auto_reply_rules_channel", "auto_reply_rules", ["channel_id"])
    op.create_table(
        "auto_reply_firings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("trigger_message_id", sa.Integer(), nullable=False),
        sa.Column("reply_message_id", sa.Integer(), nullable=False),
        sa.Column("once_per_conversation", sa.Boolean(), nullable=False),
        sa.Column("fired_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["auto_reply_rules.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.ForeignKeyConstraint(["trigger_message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["reply_message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trigger_message_id", name="uq_auto_reply_firings_trigger"),
        sa.UniqueConstraint("reply_message_id", name="uq_auto_reply_firings_reply"),
    )
    op.create_index("ix_auto_reply_firings_conversation", "auto_reply_firings", ["conversation_id", "fired_at"])
    op.create_index("ix_auto_reply_firings_contact", "auto_reply_firings", ["contact_id", "fired_at"])
    op.create_index(
        "uq_auto_reply_firings_once",
        "auto_reply_firings",
        ["rule_id", "conversation_id"],
        unique=True,
        sqlite_where=ONCE,
        postgresql_where=ONCE,
    )


def downgrade() -> None:
    op.drop_index("uq_auto_reply_firings_once", table_name="auto_reply_firings")
    op.drop_index("ix_auto_reply_firings_contact", table_name="auto_reply_firings")
    op.drop_index("ix_auto_reply_firings_conversation", table_name="auto_reply_firings")
    op.drop_table("auto_reply_firings")
    op.drop_index("ix_auto_reply_rules_channel", table_name="auto_reply_rules")
    op.drop_table("auto_reply_rules")
    with op.batch_alter_table("inbox_settings") as batch:
        batch.drop_column("business_hours")
