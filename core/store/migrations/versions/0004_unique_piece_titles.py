"""Unique piece titles: the library names a piece by its title, so no two may share one.

Pieces saved before share titles ("bach-lstm #0.1" five times): the later ones of each title are
renamed ``title (2)``, ``title (3)``..., oldest first, as :func:`core.store.library.free_title` would
have named them, before the unique index is made.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:12:40.118230
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# As core.names.MAX_NAME_LENGTH when this revision was written; a revision must not change with the code.
MAX_TITLE_LENGTH = 100
INDEX = "ix_pieces_title"

pieces = sa.table(
    "pieces",
    sa.column("id", sa.String),
    sa.column("title", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _numbered(title: str, number: int) -> str:
    """``title (number)``; titles saved before may have up to 200 characters: those keep their length."""
    suffix = f" ({number})"
    return title[: max(MAX_TITLE_LENGTH, len(title)) - len(suffix)] + suffix


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(pieces.c.id, pieces.c.title).order_by(pieces.c.created_at, pieces.c.id)).all()
    taken = {title for _, title in rows}
    seen: set[str] = set()
    for piece_id, title in rows:
        if title not in seen:
            seen.add(title)
            continue
        number = 2
        while _numbered(title, number) in taken:
            number += 1
        new_title = _numbered(title, number)
        taken.add(new_title)
        bind.execute(sa.update(pieces).where(pieces.c.id == piece_id).values(title=new_title))
    # A database made by create_all from these models and adopted (see core.store.migrations) has it already.
    if INDEX not in {index["name"] for index in sa.inspect(bind).get_indexes("pieces")}:
        op.create_index(INDEX, "pieces", ["title"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="pieces")
