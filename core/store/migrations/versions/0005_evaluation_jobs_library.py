"""Library pieces in evaluation jobs: per selection of library pieces evaluated as a row, its piece ids.

Jobs asked for before have none: their column is filled with an empty list before it becomes required.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:40:11.402117
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

jobs = sa.table("evaluation_jobs", sa.column("library", sa.JSON))


def upgrade() -> None:
    op.add_column("evaluation_jobs", sa.Column("library", sa.JSON(), nullable=True))
    op.execute(jobs.update().values(library=[]))
    with op.batch_alter_table("evaluation_jobs") as batch:  # SQLite changes a column by copying its table
        batch.alter_column("library", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("evaluation_jobs") as batch:
        batch.drop_column("library")
