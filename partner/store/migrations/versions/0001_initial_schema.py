"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:22:22.689525
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partner.store.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("locked_until", partner.store.models.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_due", ["status", "run_at"], unique=False)

    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_phone", sa.String(length=32), nullable=True),
        sa.Column("line_basic_id", sa.String(length=64), nullable=True),
        sa.Column("secrets_encrypted", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "external_id", name="uq_channels_platform_external"),
    )
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channels_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("event_name", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("event_time", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("locked_until", partner.store.models.UTCDateTime(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", partner.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_events_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_events_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "reporting_configs",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("event_source", sa.String(length=16), nullable=False),
        sa.Column("event_source_id", sa.String(length=128), nullable=False),
        sa.Column("access_token_encrypted", sa.String(), nullable=True),
        sa.Column("test_event_code", sa.String(length=64), nullable=True),
        sa.Column("event_mapping", sa.JSON(), nullable=True),
        sa.Column("allow_unidentified", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("needs_reauthorization", sa.Boolean(), nullable=False),
        sa.Column("updated_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("workspace_id"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("following", sa.Boolean(), nullable=True),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "external_id", name="uq_contacts_channel_external"),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=128), nullable=True),
        sa.Column("received_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "dedup_key", name="uq_inbound_events_channel_key"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("started_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("last_message_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("last_inbound_at", partner.store.models.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", partner.store.models.UTCDateTime(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=True),
        sa.Column("referral", sa.JSON(), nullable=True),
        sa.Column("attribution_source", sa.String(length=32), nullable=True),
        sa.Column("ttclid", sa.String(length=512), nullable=True),
        sa.Column("click_id", sa.Integer(), nullable=True),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("ix_conversations_contact_open", ["channel_id", "contact_id", "status"], unique=False)
        batch_op.create_index("ix_conversations_workspace_updated", ["workspace_id", "updated_at"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("platform_message_id", sa.String(length=256), nullable=True),
        sa.Column("message_type", sa.String(length=32), nullable=False),
        sa.Column("unsupported_type", sa.String(length=128), nullable=True),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("media", sa.JSON(), nullable=True),
        sa.Column("reply_to", sa.String(length=256), nullable=True),
        sa.Column("delivery_status", sa.String(length=16), nullable=True),
        sa.Column("status_at", partner.store.models.UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=True),
        sa.Column("referral", sa.JSON(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("private_note", sa.Boolean(), nullable=False),
        sa.Column("sent_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.Column("edited_at", partner.store.models.UTCDateTime(), nullable=True),
        sa.Column("deleted_at", partner.store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", partner.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "platform_message_id", name="uq_messages_channel_platform_id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_conversation_created", ["conversation_id", "id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_conversation_created")

    op.drop_table("messages")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_workspace_updated")
        batch_op.drop_index("ix_conversations_contact_open")

    op.drop_table("conversations")
    op.drop_table("inbound_events")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_workspace_id"))

    op.drop_table("contacts")
    op.drop_table("reporting_configs")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_events_conversation_id"))
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox_events")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channels_workspace_id"))

    op.drop_table("channels")
    op.drop_table("workspaces")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_due")

    op.drop_table("jobs")
