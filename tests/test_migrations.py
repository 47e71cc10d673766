"""Schema migrations on SQLite and PostgreSQL: they make exactly the models' tables, and old databases are adopted."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from core.errors import StoreError
from core.store import datasets, evaluations, library, migrations
from core.store.db import Base, get_engine
from core.store.migrations import current_revision, scripts
from tests.test_store import add_dataset

FIRST = "0001"


def schema_differences(connection) -> list:
    """What Alembic's autogenerate would change to make the database match the models: nothing, when in step."""
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, Base.metadata)


def test_the_revisions_are_one_line_from_the_first():
    assert len(scripts().get_heads()) == 1
    assert list(scripts().walk_revisions())[-1].revision == FIRST


def test_the_migrations_make_the_tables_of_the_models_and_undo_them(empty_db_url):
    with get_engine().connect() as connection:  # the app's first connection runs them
        assert current_revision(connection) == migrations.head()
        assert schema_differences(connection) == []
    engine = create_engine(empty_db_url)
    try:
        with engine.begin() as connection:
            migrations.downgrade(connection, "base")
        assert set(inspect(engine).get_table_names()) <= {migrations.VERSION_TABLE}
        with engine.begin() as connection:
            migrations.upgrade(connection)
        with engine.connect() as connection:
            assert schema_differences(connection) == []
    finally:
        engine.dispose()


def _before_migrations(url: str, revision: str) -> None:
    """A database as ``Base.metadata.create_all`` left it before migrations: the tables of ``revision``, no version."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            migrations.upgrade(connection, revision)
            connection.execute(text(f"DROP TABLE {migrations.VERSION_TABLE}"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("made_at", [FIRST, "head"])
def test_a_database_made_before_migrations_is_adopted_and_keeps_its_rows(empty_db_url, made_at):
    _before_migrations(empty_db_url, made_at)
    engine = create_engine(empty_db_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO datasets (id, name, source, path, cache_key, config, files, stats, created_at) "
                "VALUES ('old', 'old', 'upload', '/data/old', 'k', '{}', '[]', '{}', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    add_dataset("new")  # the first use stamps it at the revision it matches and brings it to the newest
    assert [record.name for record in datasets.list_dataset_records()] == ["new", "old"]
    with get_engine().connect() as connection:
        assert current_revision(connection) == migrations.head()
        assert schema_differences(connection) == []


def test_a_database_with_tables_no_revision_made_is_refused(empty_db_url):
    engine = create_engine(empty_db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE datasets (id INTEGER PRIMARY KEY, title TEXT)"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"holds tables that no NeuroTune schema revision made \(datasets\)"):
        datasets.list_dataset_records()


def test_a_database_from_a_newer_neurotune_is_refused(empty_db_url):
    engine = create_engine(empty_db_url)
    with engine.begin() as connection:
        migrations.upgrade(connection)
        connection.execute(text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema revision '9999', which this version of NeuroTune does not know"):
        datasets.list_dataset_records()


def test_pieces_sharing_a_title_are_numbered_oldest_first_before_titles_become_unique(empty_db_url):
    engine = create_engine(empty_db_url)
    with engine.begin() as connection:
        migrations.upgrade(connection, "0003")
        for number, title in enumerate(["bach-lstm #0.1", "bach-lstm #0.1 (2)", "bach-lstm #0.1", "bach-lstm #0.1"]):
            connection.execute(
                text(
                    "INSERT INTO pieces (id, title, checkpoint, model, dataset, representation, parameters, seed, "
                    "variation, midi_path, metrics, duration_seconds, created_at) VALUES (:id, :title, 'c', 'lstm', "
                    "'bach', 'events', '{}', 0, 1, 'm', '{}', 1.0, :created_at)"
                ),
                {"id": f"p{number}", "title": title, "created_at": f"2026-01-0{number + 1} 00:00:00"},
            )
    engine.dispose()
    titles = {piece.id: piece.title for piece in library.list_pieces()}  # the first use migrates
    assert titles == {
        "p0": "bach-lstm #0.1",
        "p1": "bach-lstm #0.1 (2)",
        "p2": "bach-lstm #0.1 (3)",
        "p3": "bach-lstm #0.1 (4)",
    }
    with get_engine().connect() as connection:
        assert schema_differences(connection) == []


def test_evaluation_jobs_asked_before_library_rows_have_no_library_pieces(empty_db_url):
    engine = create_engine(empty_db_url)
    with engine.begin() as connection:
        migrations.upgrade(connection, "0004")
        connection.execute(
            text(
                "INSERT INTO evaluation_jobs (id, dataset, checkpoints, settings, status, done, total, message, steps, "
                "cancel_requested, created_at) VALUES ('old', 'bach', '[]', '{}', 'finished', 1, 1, '', '[]', false, "
                "CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    assert evaluations.get_job("old").library == []  # the first use migrates
