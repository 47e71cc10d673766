"""Schema migrations (Alembic): every change to the tables in ``core/store/db.py`` is a revision in ``versions/``.

The app brings its database to the newest revision when it first connects (:func:`migrate`), so a team's
database survives an upgrade. A database made before migrations existed (by ``create_all``, with no
``alembic_version`` table) is adopted: stamped at the revision whose tables it has, then upgraded.
How to write a revision: see ``alembic.ini`` beside this file.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine

from core.errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
# Any fixed number: PostgreSQL's lock that keeps two processes from migrating one database at once.
_POSTGRES_LOCK_KEY = 7_305_218_640


@lru_cache(maxsize=1)
def scripts() -> ScriptDirectory:
    """The revisions in ``versions/``, read once per process."""
    return ScriptDirectory(str(MIGRATIONS_DIR))


def head() -> str:
    """The newest revision: the schema of the models in ``core/store/db.py``."""
    return scripts().get_current_head() or ""


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at; None for an empty database or one made before migrations."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on ``connection``, inside its transaction when it has one."""
    _run(command.upgrade, connection, revision)


def downgrade(connection: Connection, revision: str) -> None:
    """Undo the migrations down to ``revision`` (``"base"``: every table gone)."""
    _run(command.downgrade, connection, revision)


def _run(step: Callable[[Config, str], None], connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    try:
        step(config, revision)
    except CommandError as error:
        current = current_revision(connection)
        if current is None or current in {script.revision for script in scripts().walk_revisions()}:
            raise  # a broken revision file: a bug, not the database
        raise StoreError(
            f"the database is at schema revision {current!r}, which this version of NeuroTune does not know "
            "(a newer NeuroTune made it); upgrade NeuroTune, or point NEUROTUNE_DB_URL at another database"
        ) from error


def migrate(engine: Engine) -> None:
    """Bring a database to the newest revision; one process at a time does it, the others wait.

    A database already there is only read, so a read-only one still opens.

    Raises:
        StoreError: The database is at a revision unknown here, or holds tables no revision made.
        sqlalchemy.exc.DatabaseError: The database cannot be read or written.
    """
    with engine.connect() as connection:
        if current_revision(connection) == head():
            return
    with engine.connect() as connection, connection.begin():
        _lock(connection)
        if not inspect(connection).has_table(VERSION_TABLE):
            _adopt(connection)
        upgrade(connection)


def _lock(connection: Connection) -> None:
    """Hold the database's write lock until the transaction ends, so the migrating process is alone."""
    backend = connection.dialect.name
    if backend == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # waits out other writers (the busy timeout)
    elif backend == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK_KEY})


def _tables(connection: Connection) -> dict[str, set[str]]:
    """Table name -> column names, leaving out Alembic's own table."""
    inspector = inspect(connection)
    return {
        name: {column["name"] for column in inspector.get_columns(name)}
        for name in inspector.get_table_names()
        if name != VERSION_TABLE
    }


def _adopt(connection: Connection) -> None:
    """Stamp a database made before migrations at the revision whose tables and columns it has.

    An empty database is left alone: the upgrade then creates everything.

    Raises:
        StoreError: Its tables match no revision (made by something else, or changed by hand).
    """
    found = _tables(connection)
    if not found:
        return
    probe = create_engine("sqlite://")  # each revision's tables, made in memory to compare with
    try:
        with probe.connect() as probe_connection:
            for revision in reversed(list(scripts().walk_revisions())):  # oldest first
                upgrade(probe_connection, revision.revision)
                if _tables(probe_connection) == found:
                    MigrationContext.configure(connection).stamp(scripts(), revision.revision)
                    return
    finally:
        probe.dispose()
    raise StoreError(
        f"the database holds tables that no NeuroTune schema revision made ({', '.join(sorted(found))}); "
        "point NEUROTUNE_DB_URL at an empty database or one NeuroTune made"
    )
