"""Evaluation jobs: an evaluation asked for on the Evaluate page, run in its own process (``EvaluationJobRecord``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:05:12.514032
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_jobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("checkpoints", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("pid_started_at", sa.Float(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_evaluation_jobs_created_at"), "evaluation_jobs", ["created_at"], unique=False)
    op.create_index(op.f("ix_evaluation_jobs_dataset"), "evaluation_jobs", ["dataset"], unique=False)
    op.create_index(op.f("ix_evaluation_jobs_status"), "evaluation_jobs", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_evaluation_jobs_status"), table_name="evaluation_jobs")
    op.drop_index(op.f("ix_evaluation_jobs_dataset"), table_name="evaluation_jobs")
    op.drop_index(op.f("ix_evaluation_jobs_created_at"), table_name="evaluation_jobs")
    op.drop_table("evaluation_jobs")
