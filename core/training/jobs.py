"""Training runs as background OS processes, recorded in the database.

The page (or the CLI) creates a run (status ``queued``) and calls
:func:`schedule`, which starts ``python -m core runs work RUN_ID`` for queued
runs while fewer than ``NEUROTUNE_MAX_RUNS`` (default 1) are running. The
worker trains, writes metrics to the store, and schedules the next queued run
when it ends. A stop is a flag in the store that the worker's callback reads.
A run whose process vanished is found by :func:`reconcile` and marked failed.
"""

from __future__ import annotations

import os
import shutil
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from core.checkpoints import CheckpointFolder, RunConfig, run_config
from core.config import TrainConfig
from core.data.bounds import dataset_bounds
from core.data.datasets import Dataset, list_datasets, load_dataset
from core.data.representations import get_representation
from core.data.windows import conditioning_for
from core.errors import ConfigError, DatasetError, NeuroTuneError
from core.models import get_model_spec, head_for, make_config
from core.processes import identity, process_alive, scheduler_lock, start_background
from core.settings import get_settings
from core.store import runs as run_store
from core.store.db import RunRecord, utcnow
from core.training.device import is_chief, plan_device
from core.training.trainer import estimate_total_steps, longest_piece

ACTIVE = ("queued", "running")


def max_concurrent_runs() -> int:
    return max(1, int(os.environ.get("NEUROTUNE_MAX_RUNS", "1")))


def new_run_id(model: str) -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{model}-{uuid.uuid4().hex[:4]}"


def create_run(
    model: str,
    dataset_name: str,
    representation: str | None = None,
    model_overrides: dict[str, Any] | None = None,
    train: TrainConfig | None = None,
) -> RunRecord:
    """Validate everything a run needs and record it as queued, with its config.json written.

    With several workers (``NEUROTUNE_MULTI_WORKER``) every worker calls it: the chief records
    the run, then tells the others its id, and they return its record.

    Raises:
        ConfigError: unknown model, bad option, a representation the model can't take.
        DatasetError: unknown dataset, no training piece of two or more steps.
    """
    device = plan_device() if get_settings().multi_worker else None  # first: it sets up TensorFlow
    spec = get_model_spec(model)
    train = train or TrainConfig()
    model_config = make_config(model, model_overrides or {})
    dataset = load_dataset(dataset_name)
    representation = representation or spec.representations[0]
    if representation not in spec.representations:
        raise ConfigError(
            f"the {spec.title} model takes {', '.join(spec.representations)} data, not '{representation}'"
        )
    # Pieces shorter than the sequence length are padded; a piece needs two steps to hold a target.
    if longest_piece(dataset, representation, "train") < 2:
        raise DatasetError(
            f"the train split of '{dataset_name}' has no piece of two or more steps "
            f"in the {representation} representation; there is nothing to learn from"
        )
    run_id = new_run_id(model)
    codec = get_representation(representation, dataset.config)
    head = head_for(codec.kind)
    config = RunConfig(
        run_id=run_id,
        model=model,
        model_config=model_config,
        train=train,
        representation=representation,
        dataset=dataset.name,
        dataset_id=dataset.id,
        dataset_hash=dataset.manifest["cache_key"],
        data=dataset.config,
        estimated_steps=estimate_total_steps(dataset, representation, train),
        tokens_per_step=head.tokens_per_step(dataset, representation),
        conditioning=conditioning_for(dataset, codec, train.seq_len) if head.controls and train.conditioning else None,
        bounds=dataset_bounds(dataset, representation),
    )
    if device and not device.chief:
        return run_store.get_run(device.share_text(""))
    folder = CheckpointFolder(get_settings().checkpoints / run_id)
    folder.path.mkdir(parents=True)
    folder.write_config(config)
    record = run_store.add_run(
        RunRecord(
            id=run_id,
            model=model,
            dataset=dataset.name,
            representation=representation,
            status="queued",
            config=config.to_dict(),
            checkpoint_dir=str(folder.path),
        )
    )
    if device:
        device.share_text(run_id)  # recorded first: the others read the record when they have the id
    return record


def reconcile() -> None:
    """Mark running runs whose process is gone (killed, machine restarted) as failed."""
    for run in run_store.list_runs("running"):
        if not process_alive(run.pid, run.pid_started_at):
            run_store.update_run(
                run.id,
                status="failed",
                finished_at=utcnow(),
                error="the training process vanished (killed, or the machine restarted); resume it to go on",
            )


def schedule() -> list[str]:
    """Start queued runs while there is room; returns the ids started."""
    started = []
    with scheduler_lock("scheduler"):
        reconcile()
        room = max_concurrent_runs() - run_store.count_runs("running")
        queued = sorted(run_store.list_runs("queued"), key=lambda r: r.created_at)
        for run in queued[: max(room, 0)]:
            pid, pid_started_at = start_background(["runs", "work", run.id], Path(run.checkpoint_dir) / "train.log")
            # A resumed run keeps the time it first started: its elapsed time counts from there.
            started_at = run.started_at or utcnow()
            run_store.update_run(
                run.id, status="running", pid=pid, pid_started_at=pid_started_at, started_at=started_at
            )
            started.append(run.id)
    return started


def start_run(*args, **kwargs) -> RunRecord:
    """Create a run and start it now, or queue it behind the running ones."""
    run = create_run(*args, **kwargs)
    schedule()
    return run_store.get_run(run.id)


def work(run_id: str, on_step: Callable[[int], None] | None = None) -> str:
    """Train a run in this process, record how it ended, then start the next queued run.

    Returns the final status. Never raises for a training failure: it is recorded.
    A stop requested before this process started is honoured (:func:`queue_again`
    clears the flag when a run is queued, not here). A worker other than the chief only
    trains: the chief records the run (and the failure, which every worker meets alike).
    """
    from core.training.trainer import train

    if not is_chief():
        return train(run_id, dataset_of(run_store.get_run(run_id)), on_step)
    run = run_store.get_run(run_id)
    pid, pid_started_at = identity()
    run_store.update_run(
        run_id,
        status="running",
        pid=pid,
        pid_started_at=pid_started_at,
        started_at=run.started_at or utcnow(),
        error=None,
        finished_at=None,
    )
    try:
        dataset = dataset_of(run)
        status = train(run_id, dataset, on_step)
        run_store.update_run(run_id, status=status, finished_at=utcnow())
    except NeuroTuneError as error:
        status = "failed"
        run_store.update_run(run_id, status=status, error=str(error), finished_at=utcnow())
    except Exception:  # a bug or a crash inside TensorFlow: keep the traceback for the page
        status = "failed"
        run_store.update_run(run_id, status=status, error=traceback.format_exc(), finished_at=utcnow())
    schedule()
    return status


def dataset_of(run: RunRecord) -> Dataset:
    """The run's dataset, by id (it may have been renamed since)."""
    dataset_id = run_config(run).dataset_id
    for record in list_datasets():
        if record.id == dataset_id:
            return Dataset(Path(record.path), record.name)
    raise DatasetError(f"the dataset '{run.dataset}' this run was trained on has been deleted")


def request_stop(run_id: str) -> RunRecord:
    """Stop a run: a queued one at once, a running one at its next step (it saves a checkpoint)."""
    run = run_store.get_run(run_id)
    if run.status == "queued":
        return run_store.update_run(run_id, status="stopped", finished_at=utcnow())
    if run.status == "running":
        return run_store.update_run(run_id, stop_requested=True)
    return run


def queue_again(run_id: str) -> RunRecord:
    """Mark a stopped or failed run as queued; it will continue from last.keras and its curves.

    A run still marked running whose process is gone (killed) is marked failed first, so it can be resumed.
    A worker other than the chief changes nothing: the chief queues the run they resume together.
    """
    if not is_chief():
        return run_store.get_run(run_id)
    reconcile()
    run = run_store.get_run(run_id)
    if run.status in ACTIVE:
        raise ConfigError(f"run {run_id} is already {run.status}")
    if run.status == "finished":
        raise ConfigError(f"run {run_id} has finished all its epochs; start a new run to train longer")
    return run_store.update_run(run_id, status="queued", stop_requested=False, error=None, finished_at=None)


def resume(run_id: str) -> RunRecord:
    """Resume a stopped or failed run in the background."""
    queue_again(run_id)
    schedule()
    return run_store.get_run(run_id)


def delete_run(run_id: str) -> None:
    """Delete a run, its metrics and its folder; a running process is killed first."""
    run = run_store.get_run(run_id)
    if run.status == "running" and process_alive(run.pid, run.pid_started_at):
        try:
            process = psutil.Process(run.pid)
            process.kill()
            process.wait(timeout=10)  # no dying worker still writing into the folder being removed
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            pass
    run_store.delete_run_record(run_id)
    shutil.rmtree(run.checkpoint_dir, ignore_errors=True)
