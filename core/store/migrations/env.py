"""Alembic's environment: the app hands over its own connection; the alembic command line connects to NEUROTUNE_DB_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from core.settings import get_settings
from core.store.db import Base


def run_migrations(connection: Connection) -> None:
    # Batch mode: SQLite cannot alter or drop a column in place, so such a change copies the table.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    with create_engine(get_settings().db_url).begin() as connection:
        run_migrations(connection)
