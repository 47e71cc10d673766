"""Queries on stored evaluations (the cache of finished comparisons, keyed by what decides their result) and on
evaluation jobs (the Evaluate page's background runs, ``core/evaluation/jobs.py``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select

from core.errors import EvaluationError
from core.store.db import EvaluationJobRecord, EvaluationRecord, session_scope


def find_evaluation(cache_key: str) -> EvaluationRecord | None:
    """The evaluation stored under ``cache_key``, or None."""
    with session_scope() as session:
        return session.scalar(select(EvaluationRecord).where(EvaluationRecord.cache_key == cache_key))


def save_evaluation(cache_key: str, dataset: str, result: dict[str, Any]) -> EvaluationRecord:
    """Store a result under ``cache_key``, replacing one stored there before (a rerun asked for on purpose)."""
    with session_scope() as session:
        session.execute(delete(EvaluationRecord).where(EvaluationRecord.cache_key == cache_key))
        record = EvaluationRecord(id=uuid.uuid4().hex, cache_key=cache_key, dataset=dataset, result=result)
        session.add(record)
    return record


def list_evaluations(dataset: str | None = None, limit: int | None = None) -> list[EvaluationRecord]:
    """Stored evaluations, newest first; only those of ``dataset`` when given."""
    query = select(EvaluationRecord).order_by(EvaluationRecord.created_at.desc())
    if dataset is not None:
        query = query.where(EvaluationRecord.dataset == dataset)
    if limit is not None:
        query = query.limit(limit)
    with session_scope() as session:
        return list(session.scalars(query))


def delete_evaluation(evaluation_id: str) -> None:
    """Forget a stored evaluation.

    Raises:
        EvaluationError: There is no such evaluation.
    """
    with session_scope() as session:
        record = session.get(EvaluationRecord, evaluation_id)
        if record is None:
            raise EvaluationError(f"no stored evaluation '{evaluation_id}'")
        session.delete(record)


# === Jobs ===


def add_job(record: EvaluationJobRecord) -> EvaluationJobRecord:
    with session_scope() as session:
        session.add(record)
    return record


def get_job(job_id: str) -> EvaluationJobRecord:
    """The job ``job_id``.

    Raises:
        EvaluationError: There is no such job.
    """
    with session_scope() as session:
        record = session.get(EvaluationJobRecord, job_id)
    if record is None:
        raise EvaluationError(f"no evaluation job '{job_id}'")
    return record


def list_jobs(status: str | None = None, limit: int | None = None) -> list[EvaluationJobRecord]:
    """Jobs, newest first; only those of ``status`` when given."""
    query = select(EvaluationJobRecord).order_by(EvaluationJobRecord.created_at.desc())
    if status is not None:
        query = query.where(EvaluationJobRecord.status == status)
    if limit is not None:
        query = query.limit(limit)
    with session_scope() as session:
        return list(session.scalars(query))


def update_job(job_id: str, **fields: Any) -> EvaluationJobRecord:
    """Set some of a job's columns.

    Raises:
        EvaluationError: There is no such job.
    """
    with session_scope() as session:
        record = session.get(EvaluationJobRecord, job_id)
        if record is None:
            raise EvaluationError(f"no evaluation job '{job_id}'")
        for name, value in fields.items():
            setattr(record, name, value)
    return record


def add_job_step(job_id: str, done: int, total: int, message: str, seconds: float) -> None:
    """Record a step of a running job: its progress and one more entry in its ``steps``."""
    with session_scope() as session:
        record = session.get(EvaluationJobRecord, job_id)
        if record is None:
            raise EvaluationError(f"no evaluation job '{job_id}'")
        step = {"done": done, "total": total, "message": message, "seconds": round(seconds, 3)}
        record.done, record.total, record.message = done, total, message[:500]
        record.steps = [*record.steps, step]  # a new list: the JSON column sees the change
