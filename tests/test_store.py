"""The store on SQLite and on PostgreSQL alike: datasets, runs and metrics, the job states, and many writers at once."""

from __future__ import annotations

import math
import multiprocessing
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from core.config import DataConfig, TrainConfig
from core.data.build import build_dataset
from core.data.uploads import SourceFile
from core.errors import DatasetError, StoreError, TrainingError
from core.processes import identity
from core.store import datasets, library, runs, surveys
from core.store.db import DatasetRecord, RunRecord, get_engine
from core.training import jobs
from tests.conftest import free_port, scale_piece
from tests.store_writers import ANSWERS, METRIC_STEPS, PIECES, write

# Every test takes a database fixture: it runs once on SQLite and once on PostgreSQL.
on_both = pytest.mark.usefixtures("db_url")


def add_run(run_id: str, status: str = "queued", checkpoint_dir: Path | str = "checkpoints/none") -> RunRecord:
    return runs.add_run(
        RunRecord(
            id=run_id,
            model="lstm",
            dataset="tiny",
            representation="event",
            status=status,
            config={"train": {"epochs": 2}, "dataset_hash": "abc"},
            checkpoint_dir=str(checkpoint_dir),
        )
    )


def add_dataset(name: str) -> DatasetRecord:
    return datasets.add_dataset(
        DatasetRecord(
            id=name.replace(" ", "-"),
            name=name,
            source="upload",
            path=f"/data/{name}",
            cache_key="k" * 64,
            config={"steps_per_quarter": 4},
            files=[{"name": "a.mid", "sha256": "0" * 64, "status": "accepted", "reason": None}],
            stats={"notes": 120, "pieces": 1},
        )
    )


# === Datasets ===


@on_both
def test_datasets_are_added_found_renamed_and_deleted():
    add_dataset("chorales")
    add_dataset("jigs  ")  # names lose their edges
    assert [record.name for record in datasets.list_dataset_records()] == ["jigs", "chorales"]  # newest first
    found = datasets.get_dataset_record("chorales")
    assert found.files[0]["status"] == "accepted" and found.stats == {"notes": 120, "pieces": 1}
    assert found.created_at is not None

    datasets.rename_dataset_record("chorales", "bach")
    assert datasets.find_dataset("chorales") is None and datasets.get_dataset_record("bach").id == "chorales"
    with pytest.raises(DatasetError, match="a dataset named 'jigs' already exists"):
        datasets.rename_dataset_record("bach", "jigs")
    datasets.delete_dataset_record("bach")
    with pytest.raises(DatasetError, match=r"no dataset named 'bach' \(known: jigs\)"):
        datasets.get_dataset_record("bach")


# === Runs and their metrics ===


@on_both
def test_runs_are_recorded_updated_listed_and_counted():
    add_run("a")
    add_run("b", status="running")
    assert [run.id for run in runs.list_runs()] == ["b", "a"]
    assert [run.id for run in runs.list_runs("running")] == ["b"]
    updated = runs.update_run("a", status="finished", step=40, best_val_loss=1.25, final_metrics={"loss": 1.3})
    assert (updated.status, updated.step) == ("finished", 40)
    again = runs.get_run("a")
    assert (again.best_val_loss, again.final_metrics, again.config["train"]) == (1.25, {"loss": 1.3}, {"epochs": 2})
    assert (runs.count_runs("finished"), runs.count_runs("running"), runs.count_runs("queued")) == (1, 1, 0)
    with pytest.raises(TrainingError, match="no training run 'nope'"):
        runs.update_run("nope", step=1)


@on_both
def test_numbers_that_are_not_finite_are_kept_as_null_in_json():
    """PostgreSQL's JSON has no NaN: a silent piece's metrics or a diverged run's would not be stored at all."""
    add_run("a")
    runs.update_run("a", final_metrics={"loss": math.nan, "history": [1.0, math.inf], "accuracy": 0.5})
    assert runs.get_run("a").final_metrics == {"loss": None, "history": [1.0, None], "accuracy": 0.5}


@on_both
def test_metrics_are_polled_by_id_rewound_and_deleted_with_their_run():
    add_run("a")
    add_run("b")
    for step in range(1, 6):
        runs.add_metrics("a", step, 0, {"loss": 1 / step, "accuracy": step / 10})
    runs.add_metrics("b", 1, 0, {"loss": 9.0})
    rows = runs.get_metrics(["a"])
    assert [(row["step"], row["name"]) for row in rows][:3] == [(1, "loss"), (1, "accuracy"), (2, "loss")]
    assert [row["value"] for row in rows if row["name"] == "loss"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    newer = runs.get_metrics(["a", "b"], since_id=rows[-1]["id"])
    assert [(row["run_id"], row["value"]) for row in newer] == [("b", 9.0)]

    assert runs.delete_metrics_after("a", 3) == 4  # a resumed run drops the rows past its checkpoint
    assert max(row["step"] for row in runs.get_metrics(["a"])) == 3
    runs.delete_run_record("a")
    assert runs.get_metrics(["a"]) == [] and [row["run_id"] for row in runs.get_metrics(["a", "b"])] == ["b"]
    with pytest.raises(TrainingError, match="no training run 'a'"):
        runs.get_run("a")


# === Job states (no training: the records only) ===


@on_both
def test_the_scheduler_starts_queued_runs_oldest_first_while_there_is_room(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(jobs, "start_background", lambda arguments, log: started.append(arguments[-1]) or identity())
    monkeypatch.setattr(jobs, "process_alive", lambda pid, at: True)
    for run_id in ("first", "second", "third"):
        add_run(run_id, checkpoint_dir=tmp_path)
    assert jobs.schedule() == ["first"] and started == ["first"]
    assert runs.get_run("first").pid == os.getpid() and runs.get_run("second").status == "queued"
    monkeypatch.setenv("NEUROTUNE_MAX_RUNS", "3")
    assert jobs.schedule() == ["second", "third"]
    assert runs.count_runs("running") == 3


@on_both
def test_stop_resume_and_a_vanished_process(tmp_path):
    add_run("queued", checkpoint_dir=tmp_path)
    assert jobs.request_stop("queued").status == "stopped"
    add_run("running", status="running", checkpoint_dir=tmp_path)
    runs.update_run("running", pid=os.getpid(), pid_started_at=1.0)  # our pid, but not our start time: gone
    assert jobs.request_stop("running").stop_requested
    jobs.reconcile()
    vanished = runs.get_run("running")
    assert vanished.status == "failed" and "vanished" in vanished.error and vanished.finished_at is not None
    again = jobs.queue_again("running")
    assert (again.status, again.stop_requested, again.error, again.finished_at) == ("queued", False, None, None)
    runs.update_run("queued", status="finished")
    with pytest.raises(Exception, match="has finished all its epochs"):
        jobs.queue_again("queued")
    runs.add_metrics("running", 1, 0, {"loss": 2.0})
    jobs.delete_run("running")
    assert [run.id for run in runs.list_runs()] == ["queued"] and runs.get_metrics(["running"]) == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # on SQLite: tests/test_training.py
def test_a_training_run_records_its_dataset_progress_and_metrics_on_postgresql(db_url):
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i % 5, length=48)) for i in range(8)]
    build_dataset("tiny", files, DataConfig(validation_fraction=0.25))
    train = TrainConfig(epochs=2, batch_size=8, seq_len=16, warmup_steps=2, log_every_steps=2)
    run = jobs.create_run("lstm", "tiny", None, {"embedding_dim": 8, "units": 16, "layers": 1}, train)
    assert jobs.work(run.id) == "finished", runs.get_run(run.id).error
    finished = runs.get_run(run.id)
    assert (finished.status, finished.epoch) == ("finished", 2) and finished.final_metrics["val_loss"] > 0
    steps = [row["step"] for row in runs.get_metrics([run.id]) if row["name"] == "loss"]
    assert steps == list(range(2, finished.step + 1, 2))


# === Many writers at once ===

WRITERS = 4


def test_several_processes_write_at_once_and_nothing_is_lost(empty_db_url):
    """A fresh database: the writers also race to create the tables, which one of them does while the others wait."""
    context = multiprocessing.get_context("spawn")
    start, failures = context.Barrier(WRITERS), context.Queue()
    writers = [context.Process(target=write, args=(index, start, failures)) for index in range(WRITERS)]
    began = time.monotonic()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        if writer.is_alive():
            writer.kill()
    elapsed = time.monotonic() - began
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert not errors, "\n".join(errors)
    assert [writer.exitcode for writer in writers] == [0] * WRITERS

    assert len(runs.get_metrics([f"run-{index}" for index in range(WRITERS)])) == WRITERS * METRIC_STEPS * 2
    assert [run.step for run in runs.list_runs("running")] == [METRIC_STEPS] * WRITERS
    assert library.count_pieces() == WRITERS * PIECES
    answers = [surveys.survey_answers(f"survey-{index}") for index in range(WRITERS)]
    assert [len(rows) for rows in answers] == [ANSWERS] * WRITERS  # double submits replaced, none lost
    assert elapsed < 60, f"{WRITERS} writers took {elapsed:.1f} s"


# === SQLite: WAL, a busy timeout, and "locked" said in words ===


def test_sqlite_waits_for_another_writer_and_names_a_lock_that_outlasts_its_patience(neurotune_home, monkeypatch):
    monkeypatch.setattr("core.store.db.BUSY_TIMEOUT_SECONDS", 1)
    with get_engine().connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 1000
    add_run("a")
    holder = sqlite3.connect(neurotune_home / "neurotune.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    threading.Timer(0.2, holder.rollback).start()
    runs.add_metrics("a", 1, 0, {"loss": 1.0})  # waits for it
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert runs.get_run("a").id == "a"  # readers are not blocked (WAL)
        with pytest.raises(StoreError, match="another process holds it locked; try again in a moment"):
            runs.add_metrics("a", 2, 0, {"loss": 0.5})
    finally:
        holder.rollback()
        holder.close()
    assert [row["step"] for row in runs.get_metrics(["a"])] == [1]


# === A database that cannot be used ===


def test_an_unreachable_postgresql_server_is_one_clear_error_without_its_password(monkeypatch):
    pytest.importorskip("psycopg")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("NEUROTUNE_DB_URL", f"postgresql+psycopg://team:s3cret@{address}/neurotune")
    with pytest.raises(StoreError) as caught:
        datasets.list_dataset_records()
    message = str(caught.value)
    assert message.startswith(f"cannot use the database postgresql+psycopg://team:***@{address}/neurotune: "), message
    assert "refused" in message and message.endswith(
        "check that the database server is running and that NEUROTUNE_DB_URL names it, its user and password"
    )
    assert "s3cret" not in message
