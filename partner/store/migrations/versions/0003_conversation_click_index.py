"""Index conversations by tracked click, for link statistics.

Revision ID: 0003_conversation_click_index
Revises: 0002_attribution
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_conversation_click_index"
down_revision: str | None = "0002_attribution"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_conversations_click_id", "conversations", ["click_id"])


def downgrade() -> None:
    op.drop_index("ix_conversations_click_id", table_name="conversations")
