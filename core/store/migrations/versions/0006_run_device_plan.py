"""How a run trained: its distribution strategy, replicas and precision, next to its device.

Runs recorded before have none of them (null): they trained before these were recorded.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:20:11.402117
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("strategy", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("replicas", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("precision", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("precision")
        batch.drop_column("replicas")
        batch.drop_column("strategy")
