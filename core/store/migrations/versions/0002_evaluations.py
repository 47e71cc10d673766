"""Evaluations: finished comparisons kept by the key of what decides their result (``EvaluationRecord``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:21:47.307381
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_evaluations_cache_key"), "evaluations", ["cache_key"], unique=True)
    op.create_index(op.f("ix_evaluations_created_at"), "evaluations", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_evaluations_created_at"), table_name="evaluations")
    op.drop_index(op.f("ix_evaluations_cache_key"), table_name="evaluations")
    op.drop_table("evaluations")
