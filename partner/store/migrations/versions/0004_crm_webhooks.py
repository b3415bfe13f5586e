"""crm webhooks: subscriptions, deliveries and their attempts

Revision ID: 0004_crm_webhooks
Revises: 0003_conversation_click_index

Hand-written. ``uq_crm_deliveries_webhook_event`` makes an event with a deterministic id queue once per
subscription; ``ix_crm_deliveries_webhook`` serves the newest-first delivery list of one subscription.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partner.store.models

revision: str = "0004_crm_webhooks"
down_revision: str | None = "0003_conversation_click_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = partner.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "crm_webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("include_message_text", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("secret_encrypted", sa.String(), nullable=False),
        sa.Column("previous_secret_encrypted", sa.String(), nullable=True),
        sa.Column("previous_secret_expires_at", UTC_DATETIME(), nullable=True),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_crm_webhooks_workspace", "crm_webhooks", ["workspace_id", "active"])
    op.create_table(
        "crm_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME(), nullable=False),
        sa.Column("delivered_at", UTC_DATETIME(), nullable=True),
        sa.ForeignKeyConstraint(["webhook_id"], ["crm_webhooks.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_crm_deliveries_webhook_event"),
    )
    op.create_index("ix_crm_deliveries_webhook", "crm_deliveries", ["webhook_id", "id"])
    op.create_table(
        "crm_delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_DATETIME(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["crm_deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_crm_delivery_attempts_delivery", "crm_delivery_attempts", ["delivery_id", "attempt"])


def downgrade() -> None:
    op.drop_index("ix_crm_delivery_attempts_delivery", table_name="crm_delivery_attempts")
    op.drop_table("crm_delivery_attempts")
    op.drop_index("ix_crm_deliveries_webhook", table_name="crm_deliveries")
    op.drop_table("crm_deliveries")
    op.drop_index("ix_crm_webhooks_workspace", table_name="crm_webhooks")
    op.drop_table("crm_webhooks")
