"""Queries on stored evaluations: the cache of finished comparisons, keyed by what decides their result."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select

from core.errors import EvaluationError
from core.store.db import EvaluationRecord, session_scope


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
