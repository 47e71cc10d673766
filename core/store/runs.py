"""Queries on training runs and their metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from core.errors import TrainingError
from core.store.db import MetricRecord, RunRecord, session_scope


def add_run(record: RunRecord) -> RunRecord:
    with session_scope() as session:
        session.add(record)
    return record


def get_run(run_id: str) -> RunRecord:
    with session_scope() as session:
        record = session.get(RunRecord, run_id)
    if record is None:
        raise TrainingError(f"no training run '{run_id}'")
    return record


def list_runs(status: str | None = None) -> list[RunRecord]:
    query = select(RunRecord).order_by(RunRecord.created_at.desc())
    if status:
        query = query.where(RunRecord.status == status)
    with session_scope() as session:
        return list(session.scalars(query))


def update_run(run_id: str, **fields: Any) -> RunRecord:
    with session_scope() as session:
        record = session.get(RunRecord, run_id)
        if record is None:
            raise TrainingError(f"no training run '{run_id}'")
        for name, value in fields.items():
            setattr(record, name, value)
    return record


def count_runs(status: str) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(RunRecord).where(RunRecord.status == status)) or 0


def add_metrics(run_id: str, step: int, epoch: int, values: dict[str, float]) -> None:
    with session_scope() as session:
        session.add_all(
            MetricRecord(run_id=run_id, step=step, epoch=epoch, name=name, value=float(value))
            for name, value in values.items()
        )


def delete_metrics_after(run_id: str, step: int) -> int:
    """Delete a run's metric rows past ``step``; returns how many went.

    A resumed run trains again the steps its crashed worker logged after its last checkpoint:
    their old rows go, so that every step is charted once.
    """
    with session_scope() as session:
        result = session.execute(delete(MetricRecord).where(MetricRecord.run_id == run_id, MetricRecord.step > step))
        return result.rowcount


def get_metrics(run_ids: list[str], since_id: int = 0) -> list[dict[str, Any]]:
    """Metric rows of some runs, oldest first; ``since_id`` fetches only newer rows (live polling).

    Each row holds its ``logged_at`` time (UTC; without a time zone from SQLite), which charts against
    time and the speed of a run are read from.
    """
    query = (
        select(MetricRecord)
        .where(MetricRecord.run_id.in_(run_ids), MetricRecord.id > since_id)
        .order_by(MetricRecord.id)
    )
    with session_scope() as session:
        return [
            {
                "id": m.id,
                "run_id": m.run_id,
                "step": m.step,
                "epoch": m.epoch,
                "name": m.name,
                "value": m.value,
                "logged_at": m.logged_at,
            }
            for m in session.scalars(query)
        ]


def delete_run_record(run_id: str) -> RunRecord:
    with session_scope() as session:
        record = session.get(RunRecord, run_id)
        if record is None:
            raise TrainingError(f"no training run '{run_id}'")
        session.execute(delete(MetricRecord).where(MetricRecord.run_id == run_id))
        session.delete(record)
    return record
