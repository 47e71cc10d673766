"""A writer process for tests/test_store.py's concurrency test, apart so that a spawned process imports only the store."""

from __future__ import annotations

import traceback

from core.store import library, runs, surveys
from core.store.db import RunRecord, SurveyParticipantRecord, SurveyRecord

METRIC_STEPS = 100  # per writer, two metrics a step, one transaction a step
PIECES = 5  # per writer
ANSWERS = 20  # per writer: its participant rates one clip a step, every other one twice (a double click)


def write(index: int, start, failures) -> None:
    """One process: a training run logging metrics, a composer saving pieces and a listener answering, at full speed.

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
        survey_id, participant_id = f"survey-{index}", f"listener-{index}"
        surveys.add_survey(
            SurveyRecord(id=survey_id, title=survey_id, instructions="", consent="", status="open", settings={}),
            [],
            [],
        )
        surveys.add_participant(SurveyParticipantRecord(id=participant_id, survey_id=survey_id, token_hash="", seed=0))
        for step in range(1, METRIC_STEPS + 1):
            if step <= ANSWERS:
                for _ in range(1 + step % 2):
                    surveys.save_answer(participant_id, f"clip-{step}", "overall", "4", played_share=1.0, elapsed_ms=1)
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
