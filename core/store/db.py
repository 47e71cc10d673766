"""Engine, session and table definitions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from core.settings import get_settings


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
    device: Mapped[str | None] = mapped_column(String(200), default=None)
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
    title: Mapped[str] = mapped_column(String(200))
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


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:  # pragma: no cover - trivial
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the training writer
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


def get_engine() -> Engine:
    return _engine(get_settings().db_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = sessionmaker(get_engine(), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
