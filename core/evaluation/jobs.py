"""Evaluations as background OS processes, recorded in the database: what the Evaluate page starts and polls.

The page calls :func:`start_job`, which records a job (status ``queued``) and
:func:`schedule` starts ``python -m core evaluate --job JOB_ID`` for it while no
other evaluation runs (composing and measuring take every core: one at a time,
the others wait in line). The worker (:func:`work`) runs
:func:`~core.evaluation.evaluate.evaluate`, writing each step's progress to the
job's row, stores the result in the evaluations cache and records its key on the
job, then starts the next queued job. A cancel is a flag in the store that the
engine reads between steps (its ``cancel=``); a job whose process vanished is
found by :func:`reconcile` and marked failed. Asking again for an evaluation
already stored finishes at once, without a process.
"""

from __future__ import annotations

import csv
import io
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.checkpoints import CheckpointInfo, checkpoint_info, file_sha256, list_checkpoints
from core.data.datasets import Dataset, load_dataset
from core.errors import EvaluationError, NeuroTuneError
from core.evaluation.evaluate import EvaluationResult, EvaluationSettings, evaluation_key, read_library
from core.evaluation.originality import COPY_FLAG_BARS
from core.evaluation.selections import PieceSelection
from core.folders import data_folder
from core.generation.sampling import SampleConfig
from core.processes import identity, process_alive, scheduler_lock, start_background
from core.settings import get_settings
from core.store import evaluations as store
from core.store.db import EvaluationJobRecord, EvaluationRecord, utcnow

ACTIVE = ("queued", "running")
# Evaluations running at once: each composes and measures on every core, so more would only share them.
MAX_RUNNING = 1


@dataclass(frozen=True)
class CheckpointChoice:
    """A checkpoint that can be evaluated against a dataset (it composes on the dataset's grid).

    Attributes:
        info: The checkpoint.
        trained_here: Trained on this dataset's build; otherwise its validation figures are on other data
            and the held-out pieces here may have been in its training set.
    """

    info: CheckpointInfo
    trained_here: bool


def checkpoint_choices(dataset: Dataset) -> tuple[list[CheckpointChoice], list[CheckpointInfo]]:
    """The checkpoints to offer for ``dataset``: those on its grid (trained on it first), and those on another.

    Returns:
        (the choices, the checkpoints left out because they compose on another grid).
    """
    choices, other_grid = [], []
    for info in list_checkpoints():
        if info.data_config.steps_per_quarter != dataset.config.steps_per_quarter:
            other_grid.append(info)
            continue
        here = info.config.dataset_id == dataset.id or info.config.dataset_hash == dataset.manifest["cache_key"]
        choices.append(CheckpointChoice(info, here))
    return sorted(choices, key=lambda choice: not choice.trained_here), other_grid


def new_job_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-eval-{uuid.uuid4().hex[:4]}"


def create_job(
    dataset: str,
    checkpoints: Sequence[str | Path] = (),
    n: int = 32,
    seed: int = 0,
    sampling: SampleConfig | None = None,
    *,
    bars: float = 8.0,
    copy_flag_bars: float = COPY_FLAG_BARS,
    library: Sequence[PieceSelection] = (),
) -> EvaluationJobRecord:
    """Check an evaluation's settings and record it as a job: queued, or finished when its result is stored.

    The same evaluation already queued or running is returned rather than asked twice.

    Raises:
        EvaluationError: Bad settings, a library piece missing.
        DatasetError, CheckpointError: No such dataset, a missing or damaged checkpoint.
    """
    settings = EvaluationSettings(n, seed, bars, sampling or SampleConfig(), copy_flag_bars)
    found = load_dataset(dataset)
    infos = [checkpoint_info(path) for path in checkpoints]
    hashes = [file_sha256(info.folder.model) for info in infos]
    cache_key = evaluation_key(found, hashes, settings, read_library(library))
    for job in store.list_jobs():
        if job.status in ACTIVE and job.cache_key == cache_key:
            return job
    record = EvaluationJobRecord(
        id=new_job_id(),
        dataset=found.name,
        checkpoints=[str(info.path) for info in infos],
        library=[list(selection.piece_ids) for selection in library],
        settings=settings.to_json(),
        status="queued",
        cache_key=cache_key,
        steps=[],
    )
    if store.find_evaluation(cache_key) is not None:
        now = utcnow()
        record.status, record.done, record.total, record.message = "finished", 1, 1, "stored result"
        record.started_at = record.finished_at = now
    return store.add_job(record)


def start_job(*args: Any, **kwargs: Any) -> EvaluationJobRecord:
    """Create a job (:func:`create_job`, same arguments) and start it now, or queue it behind the running one."""
    job = create_job(*args, **kwargs)
    if job.status == "queued":
        schedule()
    return store.get_job(job.id)


def reconcile() -> None:
    """Mark running jobs whose process is gone (killed, machine restarted) as failed."""
    for job in store.list_jobs("running"):
        if not process_alive(job.pid, job.pid_started_at):
            store.update_job(
                job.id,
                status="failed",
                finished_at=utcnow(),
                error="the evaluation process vanished (killed, or the machine restarted); press Evaluate again",
            )


def log_path(job_id: str) -> Path:
    """Where a job's process writes its output."""
    return data_folder(get_settings().home / "evaluations") / f"{job_id}.log"


def schedule() -> list[str]:
    """Start queued jobs, oldest first, while fewer than :data:`MAX_RUNNING` run; returns the ids started."""
    started = []
    with scheduler_lock("evaluation-scheduler"):
        reconcile()
        room = MAX_RUNNING - len(store.list_jobs("running"))
        queued = sorted(store.list_jobs("queued"), key=lambda job: job.created_at)
        for job in queued[: max(room, 0)]:
            pid, pid_started_at = start_background(["evaluate", "--job", job.id], log_path(job.id))
            store.update_job(job.id, status="running", pid=pid, pid_started_at=pid_started_at, started_at=utcnow())
            started.append(job.id)
    return started


def work(job_id: str) -> str:
    """Run a job's evaluation in this process, record how it ended, then start the next queued job.

    Returns the final status. Never raises for a failed evaluation: the error is recorded on the job.
    """
    job = store.get_job(job_id)
    if job.status not in ACTIVE:
        return job.status  # cancelled while queued, or run already
    pid, pid_started_at = identity()
    store.update_job(
        job_id,
        status="running",
        pid=pid,
        pid_started_at=pid_started_at,
        started_at=job.started_at or utcnow(),
    )
    began = time.perf_counter()

    def progress(done: int, total: int, what: str) -> None:
        store.add_job_step(job_id, done, total, what, time.perf_counter() - began)

    def cancelled() -> bool:
        return store.get_job(job_id).cancel_requested

    try:
        from core.evaluation.evaluate import evaluate

        settings = EvaluationSettings.from_json(job.settings)
        result = evaluate(
            job.dataset,
            job.checkpoints,
            n=settings.n,
            seed=settings.seed,
            sampling=settings.sampling,
            bars=settings.bars,
            copy_flag_bars=settings.copy_flag_bars,
            library=[PieceSelection(tuple(piece_ids)) for piece_ids in job.library],
            progress=progress,
            cancel=cancelled,
        )
        status, fields = "finished", {"cache_key": result.cache_key, "error": None}
    except NeuroTuneError as error:
        status = "cancelled" if cancelled() else "failed"
        fields = {"error": None if status == "cancelled" else str(error)}
    except Exception:  # a bug, or a crash inside TensorFlow: keep the traceback for the page
        status, fields = "failed", {"error": traceback.format_exc()}
    store.update_job(job_id, status=status, finished_at=utcnow(), **fields)
    schedule()
    return status


def request_cancel(job_id: str) -> EvaluationJobRecord:
    """Cancel a job: a queued one at once, a running one at its next step (nothing is stored)."""
    job = store.get_job(job_id)
    if job.status == "queued":
        return store.update_job(job_id, status="cancelled", cancel_requested=True, finished_at=utcnow())
    if job.status == "running":
        return store.update_job(job_id, cancel_requested=True)
    return job


def latest_job() -> EvaluationJobRecord | None:
    """The newest job, or None before the first."""
    jobs = store.list_jobs(limit=1)
    return jobs[0] if jobs else None


def _read(record: EvaluationRecord | None) -> EvaluationResult | None:
    """A stored result, or None when there is none or it has an older layout (evaluating again replaces it)."""
    if record is None:
        return None
    try:
        return EvaluationResult.from_json(record.result)
    except EvaluationError:
        return None


def job_result(job: EvaluationJobRecord) -> EvaluationResult | None:
    """A finished job's result, read from the evaluations cache; None before it finishes (or when deleted)."""
    return _read(store.find_evaluation(job.cache_key) if job.status == "finished" and job.cache_key else None)


def latest_result() -> EvaluationResult | None:
    """The newest stored evaluation (from the page or the command line), or None."""
    records = store.list_evaluations(limit=1)
    return _read(records[0] if records else None)


def leaderboard_csv(rows: list[dict[str, Any]]) -> str:
    """Leaderboard rows (:meth:`~core.evaluation.evaluate.EvaluationResult.leaderboard`) as CSV text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
