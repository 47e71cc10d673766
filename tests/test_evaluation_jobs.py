"""Evaluation jobs: their own processes, progress in the store, a line of waiting jobs, cancel, vanished processes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from core.checkpoints import SHIPPED_CHECKPOINTS
from core.cli import main
from core.config import DataConfig
from core.data.build import build_dataset
from core.data.datasets import delete_dataset, load_dataset
from core.data.uploads import SourceFile
from core.errors import DatasetError, EvaluationError
from core.evaluation import jobs
from core.evaluation.evaluate import BASELINE_NAMES
from core.store import evaluations as store
from tests.conftest import scale_piece

TINY = "tiny"
# Baselines only, two pieces of one bar: the job is all process start-up.
QUICK = {"n": 2, "bars": 1.0}
WAIT_SECONDS = 120


@pytest.fixture
def tiny():
    """Six scales, two held out: enough for every baseline and every feature."""
    files = [SourceFile(f"s{i}.mid", scale_piece(offset=i, length=24 + 4 * i)) for i in range(6)]
    config = DataConfig(validation_fraction=0.4, representations=("events",))
    return build_dataset(TINY, files, config, workers=1).dataset


def wait_for(job_id: str) -> jobs.EvaluationJobRecord:
    """Poll the store as the page does until the job ends; a vanished process shows as failed."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (job := store.get_job(job_id)).status in jobs.ACTIVE:
        assert time.monotonic() < deadline, jobs.log_path(job_id).read_text(errors="replace")
        jobs.reconcile()
        time.sleep(0.2)
    return job


def test_jobs_run_in_their_own_processes_one_at_a_time_and_record_their_progress(tiny):
    first = jobs.start_job(TINY, [], seed=0, **QUICK)
    second = jobs.start_job(TINY, [], seed=1, **QUICK)  # waits in line while the first runs
    assert first.status == "running" and first.pid and second.status == "queued"
    assert jobs.start_job(TINY, [], seed=1, **QUICK).id == second.id  # the same evaluation is not asked twice
    first, second = wait_for(first.id), wait_for(second.id)  # the first's worker started the second
    for job in (first, second):
        assert job.status == "finished", job.error
        assert job.done == job.total == 5 and job.message == f"measuring {BASELINE_NAMES['random']}"
        assert [step["done"] for step in job.steps] == [1, 2, 3, 4, 5]
        assert all(step["seconds"] >= 0 for step in job.steps)
        result = jobs.job_result(job)
        assert [row["system"] for row in result.leaderboard()] == list(BASELINE_NAMES.values())
    assert second.pid != first.pid and second.started_at >= first.finished_at
    assert jobs.latest_result().cache_key == second.cache_key
    assert jobs.latest_job().id == second.id

    # Asking again for a stored evaluation finishes at once, without a process.
    again = jobs.start_job(TINY, [], seed=0, **QUICK)
    assert again.id != first.id and again.status == "finished" and again.pid is None
    assert jobs.job_result(again).to_json() == jobs.job_result(first).to_json()


def test_a_cancelled_job_stops_at_its_next_step_and_stores_nothing(tiny, monkeypatch):
    queued = jobs.create_job(TINY, [], **QUICK)
    assert jobs.request_cancel(queued.id).status == "cancelled"
    assert jobs.work(queued.id) == "cancelled"  # a worker started late does nothing

    job = jobs.create_job(TINY, [], seed=5, **QUICK)
    record_step = store.add_job_step

    def cancel_after_the_first_step(job_id, *args):
        record_step(job_id, *args)
        jobs.request_cancel(job_id)

    monkeypatch.setattr(store, "add_job_step", cancel_after_the_first_step)
    monkeypatch.setattr(jobs, "schedule", lambda: [])
    assert jobs.work(job.id) == "cancelled"  # in this process: the flag is read through the engine's cancel=
    job = store.get_job(job.id)
    assert job.status == "cancelled" and job.error is None and len(job.steps) == 1
    assert jobs.job_result(job) is None and store.find_evaluation(job.cache_key) is None


def test_a_vanished_process_is_marked_failed_and_a_failure_keeps_its_reason(tiny, monkeypatch):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    job = jobs.create_job(TINY, [], **QUICK)
    store.update_job(job.id, status="running", pid=gone.pid, pid_started_at=1.0)
    jobs.reconcile()
    job = store.get_job(job.id)
    assert job.status == "failed" and "vanished" in job.error and job.finished_at

    monkeypatch.setattr(jobs, "schedule", lambda: [])
    doomed = jobs.create_job(TINY, [], seed=9, **QUICK)
    delete_dataset(TINY)
    assert jobs.work(doomed.id) == "failed"
    assert "no dataset named 'tiny'" in store.get_job(doomed.id).error


def test_bad_asks_are_refused_before_any_job(tiny):
    with pytest.raises(EvaluationError, match="between 2 and"):
        jobs.create_job(TINY, [], n=1)
    with pytest.raises(DatasetError, match="no dataset named"):
        jobs.create_job("nope", [])
    with pytest.raises(EvaluationError, match="no evaluation job"):
        store.get_job("nope")
    assert store.list_jobs() == [] and jobs.latest_job() is None and jobs.latest_result() is None
    assert main(["evaluate", "--job", "nope"]) == 2


def test_checkpoint_choices_offer_those_on_the_dataset_s_grid(tiny):
    choices, other_grid = jobs.checkpoint_choices(tiny)
    names = {choice.info.name: choice.trained_here for choice in choices}
    assert names["bach-lstm"] is False  # shipped: on the 16th grid, trained on 'bach'
    assert [info.name for info in other_grid] == ["bach-chords"]  # shipped too, on the quarter-note grid
    coarse = build_dataset(
        "coarse", [SourceFile("a.mid", scale_piece(length=24))], DataConfig(steps_per_quarter=2), workers=1
    ).dataset
    choices, other_grid = jobs.checkpoint_choices(load_dataset(coarse.name))
    assert not choices and {info.name for info in other_grid} >= {"bach-lstm"}
    assert (SHIPPED_CHECKPOINTS / "bach-lstm").resolve() in {info.path for info in other_grid}


def test_leaderboard_csv():
    assert jobs.leaderboard_csv([{"system": "a", "overlap": 0.5}, {"system": "b", "overlap": None}]) == (
        "system,overlap\r\na,0.5\r\nb,\r\n"
    )
