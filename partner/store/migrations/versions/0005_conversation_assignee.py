"""The assignee on the conversation row, so the inbox's tab counts read one index.

Counting "mine" and "unassigned" over a large workspace probed the assignment of every conversation; with a copy
of the assignee on the row (kept by ``partner.inbox.assignment``) the counts come from
``ix_conversations_inbox_counts`` alone. The copy is filled from ``conversation_assignments`` here.

Revision ID: 0005_conversation_assignee
Revises: 0004_availability
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_conversation_assignee"
down_revision: str | None = "0004_availability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COPY_ASSIGNEES = sa.text(
    "UPDATE conversations SET assignee_id = "
    "(SELECT user_id FROM conversation_assignments WHERE conversation_id = conversations.id)"
)


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
    op.execute(COPY_ASSIGNEES)
    op.drop_index("ix_conversations_inbox_status_channel", table_name="conversations")
    op.create_index(
        "ix_conversations_inbox_counts", "conversations", ["workspace_id", "status", "channel_id", "assignee_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_inbox_counts", table_name="conversations")
    op.create_index("ix_conversations_inbox_status_channel", "conversations", ["workspace_id", "status", "channel_id"])
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("assignee_id")
