"""Engine, session and table definitions."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from core.errors import StoreError
from core.folders import WRITABLE_HOME_FIX, data_folder
from core.settings import get_settings
from core.store.migrations import migrate

# The same for a database server.
_SERVER_FIX = "check that the database server is running and that NEUROTUNE_DB_URL names it, its user and password"
# SQLite's words for a database it cannot use, and ours.
_SQLITE_PROBLEMS = {
    "readonly database": "it is read-only",
    "unable to open database file": "it cannot be opened or created (a missing or read-only folder?)",
    "disk is full": "the disk is full",
    "disk i/o error": "reading or writing it failed (a full disk or a failing drive?)",
    "database is locked": "another process holds it locked; try again in a moment",
    "file is not a database": "the file is not a database",
}
# How long a SQLite writer waits for another process's write to end before it gives up with "locked".
BUSY_TIMEOUT_SECONDS = 30


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class DatasetRecord(Base):
    """A preprocessed dataset; its arrays and manifest live in ``path``."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    source: Mapped[str] = mapped_column(String(500))
    path: Mapped[str] = mapped_column(String(1000))
    cache_key: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]]
    files: Mapped[list[Any]]  # [{"name", "sha256", "status", "reason"}]
    stats: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


RUN_STATUSES = ("queued", "running", "finished", "failed", "stopped")


class RunRecord(Base):
    """A training run: its own OS process, its checkpoints in ``checkpoint_dir``."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(200))
    representation: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    config: Mapped[dict[str, Any]]  # {"model": ..., "train": ..., "data": ..., "dataset_id": ..., "dataset_hash": ...}
    checkpoint_dir: Mapped[str] = mapped_column(String(1000))
    device: Mapped[str | None] = mapped_column(String(200), default=None)  # the hardware: "CPU (16 cores)"
    # How the run trained, recorded when it starts (core.training.device.DevicePlan); None before.
    strategy: Mapped[str | None] = mapped_column(String(64), default=None)  # "default", "MirroredStrategy", ...
    replicas: Mapped[int | None] = mapped_column(Integer, default=None)
    precision: Mapped[str | None] = mapped_column(String(32), default=None)  # "float32", "mixed_float16"
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    pid_started_at: Mapped[float | None] = mapped_column(Float, default=None)  # tells a reused pid apart
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    step: Mapped[int] = mapped_column(Integer, default=0)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    best_val_loss: Mapped[float | None] = mapped_column(Float, default=None)
    final_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class MetricRecord(Base):
    """One logged value: long format, so new metrics need no schema change."""

    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    logged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PieceRecord(Base):
    """A generated piece kept for listening tests and evaluation; its files live in ``library/<id>/``.

    Everything needed to make it again is kept with it: the checkpoint, the parameters and the seed.
    """

    __tablename__ = "pieces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True, index=True)  # what people call it: one piece each
    checkpoint: Mapped[str] = mapped_column(String(1000), index=True)
    model: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(200))
    representation: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]]  # sampling and post-processing parameters
    seed: Mapped[int] = mapped_column(Integer)
    variation: Mapped[int] = mapped_column(Integer)  # 1-based, among the pieces of one request
    midi_path: Mapped[str] = mapped_column(String(1000))
    audio_path: Mapped[str | None] = mapped_column(String(1000), default=None)
    metrics: Mapped[dict[str, Any]]
    duration_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class EvaluationRecord(Base):
    """A finished evaluation, kept so that asking again shows it at once (``core/store/evaluations.py``).

    ``cache_key`` hashes what decides the result: the checkpoints' model files, the library pieces' MIDI files,
    the dataset's build and the settings.
    """

    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cache_key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    dataset: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    result: Mapped[dict[str, Any]]  # core.evaluation.evaluate.EvaluationResult.to_json()


JOB_STATUSES = ("queued", "running", "finished", "failed", "cancelled")


class EvaluationJobRecord(Base):
    """An evaluation asked for on the Evaluate page: its own OS process (``core/evaluation/jobs.py``).

    Its result is the :class:`EvaluationRecord` stored under ``cache_key``.
    """

    __tablename__ = "evaluation_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(200), index=True)
    checkpoints: Mapped[list[Any]]  # checkpoint folders, in the leaderboard's order
    library: Mapped[list[Any]] = mapped_column(JSON, default=list)  # per library selection its piece ids, in order
    settings: Mapped[dict[str, Any]]  # core.evaluation.evaluate.EvaluationSettings.to_json()
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"done", "total", "message", "seconds"}]
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    pid_started_at: Mapped[float | None] = mapped_column(Float, default=None)  # tells a reused pid apart
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cache_key: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


SURVEY_STATUSES = ("draft", "open", "closed")


class SurveyRecord(Base):
    """A listening test (``core/surveys/``): its clips' audio lives in ``surveys/<id>/``."""

    __tablename__ = "surveys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text)
    consent: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True, default="draft")
    settings: Mapped[dict[str, Any]]  # core.surveys.config.SurveySettings.to_json()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class SurveyClipRecord(Base):
    """A clip of a survey: the first seconds of a library piece or of a dataset's real piece, rendered once."""

    __tablename__ = "survey_clips"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1-based, in a shuffled order: it says nothing of the source
    label: Mapped[str] = mapped_column(String(32))  # "Clip 3": all a participant learns of it
    source: Mapped[str] = mapped_column(String(16))  # "generated" or "real"
    system: Mapped[str] = mapped_column(String(200))  # the model's name, or "real"
    name: Mapped[str] = mapped_column(String(200))  # the piece's title or the dataset file's name
    piece_id: Mapped[str | None] = mapped_column(String(32), default=None)  # a library piece
    dataset: Mapped[str | None] = mapped_column(String(200), default=None)  # a real piece: its dataset...
    dataset_index: Mapped[int | None] = mapped_column(Integer, default=None)  # ...and its index there
    audio_path: Mapped[str] = mapped_column(String(1000))
    duration_seconds: Mapped[float] = mapped_column(Float)


class SurveyPairRecord(Base):
    """Two clips of different systems for an A/B preference; the order they play in is each participant's own."""

    __tablename__ = "survey_pairs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1-based
    label: Mapped[str] = mapped_column(String(32))  # "Pair 2"
    first_clip_id: Mapped[str] = mapped_column(ForeignKey("survey_clips.id", ondelete="CASCADE"))
    second_clip_id: Mapped[str] = mapped_column(ForeignKey("survey_clips.id", ondelete="CASCADE"))


class SurveyParticipantRecord(Base):
    """Someone taking a survey: known by a token only they hold (the hash is kept), their order by ``seed``."""

    __tablename__ = "survey_participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the secret part of the token, hex
    seed: Mapped[int] = mapped_column(Integer)
    background: Mapped[str | None] = mapped_column(String(32), default=None)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class SurveyAnswerRecord(Base):
    """One answer: one row per participant, item (a clip or a pair) and question, so a second submit replaces."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("participant_id", "item_id", "question", name="uq_survey_answers_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("survey_participants.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(32))  # a SurveyClipRecord's or a SurveyPairRecord's id
    question: Mapped[str] = mapped_column(String(32))  # a key of core.surveys.questions.QUESTIONS
    value: Mapped[str] = mapped_column(String(64))  # as the question stores it: "4", "human", a clip id
    played_share: Mapped[float] = mapped_column(Float)  # of the item's audio, as the browser reported it
    elapsed_ms: Mapped[int | None] = mapped_column(Integer, default=None)  # from the item shown to the answer
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def database_location(url: str) -> str:
    """Where a database is, for messages: a SQLite file's path, else the URL with its password masked."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "NEUROTUNE_DB_URL (not a database URL)"
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or "an in-memory SQLite database"
    return parsed.render_as_string(hide_password=True)


def _is_unusable_database(error: BaseException) -> bool:
    """A database that cannot be opened, written or reached; not a query that broke a rule (a bug or a taken name)."""
    return isinstance(error, DatabaseError) and not isinstance(error, IntegrityError | ProgrammingError)


def database_error(url: str, error: DatabaseError) -> StoreError:
    """A :class:`StoreError` naming the database and what is wrong with it, from SQLAlchemy's error."""
    detail = str(error.orig if error.orig is not None else error).strip().splitlines()[0]
    problem = next((words for key, words in _SQLITE_PROBLEMS.items() if key in detail.lower()), detail)
    fix = WRITABLE_HOME_FIX if url.startswith("sqlite") else _SERVER_FIX
    return StoreError(f"cannot use the database {database_location(url)}: {problem}; {fix}")


def json_dumps(value: Any) -> str:
    """JSON columns as text: NaN and infinities (a metric of an empty piece) become null.

    PostgreSQL refuses them in JSON, SQLite would keep them: null on both, so both read back the same.
    """
    return json.dumps(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def sqlite_file(url: str) -> Path:
    """The file of a SQLite URL, also in URI form (``sqlite:///file:/path.db?mode=ro&uri=true``)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.query.get("uri") == "true":
        database = database.removeprefix("file:")
    return Path(database)


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        data_folder(sqlite_file(url).parent)
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS},  # SQLite's busy_timeout
            json_serializer=json_dumps,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:  # pragma: no cover - trivial
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the training writer
            cursor.execute("PRAGMA synchronous=NORMAL")  # with WAL: still safe from corruption, no sync per commit
            cursor.close()
    else:
        try:
            engine = create_engine(url, pool_pre_ping=True, json_serializer=json_dumps)
        except (ArgumentError, ImportError) as error:
            raise StoreError(f"cannot use the database {database_location(url)}: {error}") from error
    try:
        migrate(engine)  # the tables, made or brought up to date by core/store/migrations
    except StoreError:
        engine.dispose()
        raise
    except DatabaseError as error:
        engine.dispose()
        if _is_unusable_database(error):
            raise database_error(url, error) from error
        raise
    return engine


def get_engine() -> Engine:
    """The engine of the configured database, its schema migrated to the newest revision on first use.

    Raises:
        StoreError: The database (or its folder) cannot be opened, created or written.
    """
    return _engine(get_settings().db_url)


@lru_cache(maxsize=8)
def _sessions(engine: Engine) -> sessionmaker[Session]:
    """One session factory per engine: making one costs more than a short transaction (a survey answer)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error.

    Raises:
        StoreError: The database cannot be opened, read or written (read-only, full, locked, unreachable).
    """
    url = get_settings().db_url
    session = _sessions(_engine(url))()
    try:
        yield session
        session.commit()
    except Exception as error:
        with suppress(DatabaseError):  # a database that failed may fail to roll back; the error below says how
            session.rollback()
        if _is_unusable_database(error):
            raise database_error(url, error) from error
        raise
    finally:
        session.close()
