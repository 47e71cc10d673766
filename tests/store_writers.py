"""A writer process for tests/test_store.py's concurrency test, apart so that a spawned process imports only the store."""

from __future__ import annotations

import traceback

from core.store import library, runs
from core.store.db import RunRecord

METRIC_STEPS = 100  # per writer, two metrics a step, one transaction a step
PIECES = 5  # per writer


def write(index: int, start, failures) -> None:
    """One process: a training run logging metrics and a composer saving pieces, as fast as they can.

    Args:
        index: Names the writer's run, ``run-<index>``.
        start: A ``multiprocessing.Barrier``: every writer begins at once.
        failures: A ``multiprocessing.Queue`` that gets the traceback of anything raised.
    """
    try:
        start.wait(timeout=60)
        run_id = f"run-{index}"
        runs.add_run(
            RunRecord(
                id=run_id,
                model="lstm",
                dataset="tiny",
                representation="event",
                status="running",
                config={},
                checkpoint_dir=f"checkpoints/{run_id}",
            )
        )
        for step in range(1, METRIC_STEPS + 1):
            runs.add_metrics(run_id, step, 0, {"loss": 1 / step, "accuracy": step / METRIC_STEPS})
            if step % 10 == 0:
                runs.update_run(run_id, step=step)
            if step % (METRIC_STEPS // PIECES) == 0:
                library.save_piece(
                    title=f"Piece {index}.{step}",
                    checkpoint=f"checkpoints/{run_id}",
                    model="lstm",
                    dataset="tiny",
                    representation="event",
                    parameters={"temperature": 1.0},
                    seed=step,
                    variation=1,
                    midi=b"MThd not parsed here",
                    audio=None,
                    metrics={"pitch_range": step},
                    duration_seconds=1.0,
                )
    except BaseException:  # reported to the test, whatever it was
        failures.put(f"writer {index}: {traceback.format_exc()}")
