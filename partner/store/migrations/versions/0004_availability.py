"""Agents' availability and capacity, for balanced auto-assignment.

Revision ID: 0004_availability
Revises: 0002_inbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_availability"
down_revision: str | None = "0002_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("availability", sa.String(length=16), nullable=False, server_default="online"))
        batch.add_column(sa.Column("capacity", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("capacity")
        batch.drop_column("availability")
