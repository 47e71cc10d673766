"""Training runs: the trainer, checkpoints, resume, stop, failures and background jobs."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from core.checkpoints import CheckpointFolder, run_config, save_model_atomically
from core.config import TrainConfig
from core.errors import ConfigError, TrainingError
from core.processes import identity
from core.store import runs as run_store
from core.training import jobs
from tests.conftest import tiny_dataset

TINY_LSTM = {"embedding_dim": 8, "units": 16, "layers": 1}
# What the head of each representation logs besides the loss, every few steps and on the validation split.
HEAD_METRICS = {
    "melody": {"accuracy", "top5_accuracy"},
    "events": {"accuracy", "top5_accuracy"},
    "pianoroll": {"frame_nll", "frame_f1"},
}
TINY_TRAIN = {"epochs": 2, "batch_size": 8, "seq_len": 16, "warmup_steps": 2, "log_every_steps": 2}


@pytest.fixture
def dataset():
    return tiny_dataset()


def _run(model="lstm", options=TINY_LSTM, representation=None, **train):
    return jobs.create_run(model, "tiny", representation, options, TrainConfig(**{**TINY_TRAIN, **train}))


def test_a_run_trains_logs_metrics_and_checkpoints(dataset):
    run = _run()
    assert jobs.work(run.id) == "finished"
    run = run_store.get_run(run.id)
    assert run.status == "finished" and run.epoch == 2 and run.step > 0 and run.device.startswith("CPU")
    names = {m["name"] for m in run_store.get_metrics([run.id])}
    assert {"loss", "accuracy", "top5_accuracy", "learning_rate", "tokens_per_s"} <= names
    assert {"val_loss", "val_perplexity", "val_accuracy", "val_top5_accuracy"} <= names
    folder = CheckpointFolder(Path(run.checkpoint_dir))
    for path in (folder.model, folder.last, folder.config, folder.history):
        assert path.exists(), path.name
    assert not (folder.path / "vocab.json").exists()  # never read, no longer written
    config = folder.read_config()
    assert config == run_config(run) and json.loads(folder.config.read_text())["format_version"] == 1
    assert config.dataset_id == dataset.id and config.dataset_hash == dataset.manifest["cache_key"]
    assert config.model == "lstm" and config.representation == "melody" and config.model_config.units == 16
    assert config.tokens_per_step == 1.0 and config.conditioning.styles == ("tiny",)
    assert len(folder.read_history()) == 2


def test_curriculum_grows_the_window(dataset):
    run = _run(epochs=3, curriculum=True, curriculum_start_len=4, curriculum_epochs=2)
    jobs.work(run.id)
    history = json.loads((Path(run.checkpoint_dir) / "history.json").read_text())
    assert [h["sequence_length"] for h in history] == [4, 8, 16]


def test_stop_then_resume_continues_the_curves(dataset, monkeypatch):
    run = _run(epochs=3, steps_per_epoch=4)
    steps_seen = []

    def stop_after_five(step):
        steps_seen.append(step)
        if step == 5:
            jobs.request_stop(run.id)

    monkeypatch.setattr("core.training.callbacks.STOP_POLL_SECONDS", 0.0)
    assert jobs.work(run.id, on_step=stop_after_five) == "stopped"
    stopped = run_store.get_run(run.id)
    assert stopped.status == "stopped" and stopped.epoch == 1  # the stopped epoch will be redone
    assert (Path(run.checkpoint_dir) / "last.keras").exists()
    jobs.queue_again(run.id)
    assert jobs.work(run.id) == "finished"
    resumed = run_store.get_run(run.id)
    assert resumed.epoch == 3 and resumed.step > stopped.step
    steps = [m["step"] for m in run_store.get_metrics([run.id]) if m["name"] == "loss"]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # one curve, continued


def test_nan_loss_fails_the_run_with_the_reason(dataset):
    run = _run(learning_rate=1e30, clip_norm=0, epochs=1)
    assert jobs.work(run.id) == "failed"
    assert "loss became nan" in run_store.get_run(run.id).error.lower()


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    target = tmp_path / "last.keras"
    save_model_atomically(model, target)
    before = target.read_bytes()

    class FullDisk(keras.Sequential):
        def save(self, *args, **kwargs):
            Path(args[0]).write_bytes(b"partial")
            raise OSError(28, "No space left on device")

    broken = FullDisk([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(TrainingError, match="No space left on device"):
        save_model_atomically(broken, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.keras"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": "gpt9"}, ConfigError, "gpt9"),
        ({"representation": "notes"}, ConfigError, "notes"),
        ({"epochs": 0}, ConfigError, "epochs must be at least 1"),
    ],
)
def test_bad_requests_are_refused_clearly(dataset, kwargs, error, message):
    with pytest.raises(error, match=message):
        _run(**kwargs)


def test_a_sequence_longer_than_every_piece_trains_on_padded_windows(dataset):
    run = _run(epochs=1, seq_len=256)  # the pieces have 96 melody steps
    assert run_config(run).estimated_steps == 1  # one padded window per train piece: 6, one batch
    assert jobs.work(run.id) == "finished", run_store.get_run(run.id).error
    assert {"epoch_loss", "val_loss", "val_accuracy"} <= {m["name"] for m in run_store.get_metrics([run.id])}


def test_background_job_runs_stops_and_resumes(dataset):
    run = jobs.start_run("lstm", "tiny", None, TINY_LSTM, TrainConfig(**{**TINY_TRAIN, "epochs": 50}))
    assert run.status == "running" and run.pid
    deadline = time.monotonic() + 120
    while not run_store.get_metrics([run.id]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert run_store.get_metrics([run.id]), Path(run.checkpoint_dir, "train.log").read_text()
    jobs.request_stop(run.id)
    while run_store.get_run(run.id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    stopped = run_store.get_run(run.id)
    assert stopped.status == "stopped", Path(run.checkpoint_dir, "train.log").read_text()
    assert (Path(run.checkpoint_dir) / "last.keras").exists()
    resumed = jobs.resume(run.id)
    assert resumed.status == "running"
    jobs.request_stop(run.id)  # most likely before the new worker has started: it must still stop
    while run_store.get_run(run.id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    again = run_store.get_run(run.id)
    assert again.status == "stopped" and again.epoch < 50, Path(run.checkpoint_dir, "train.log").read_text()
    assert again.step > stopped.step


def test_a_killed_worker_resumes_from_its_checkpoint_with_every_step_once(dataset):
    """kill -9 mid-epoch, then ``train --resume``: the lost partial epoch is redone, not counted twice."""
    epochs, steps_per_epoch = 3, 20
    train = TrainConfig(**{**TINY_TRAIN, "epochs": epochs, "steps_per_epoch": steps_per_epoch, "log_every_steps": 1})
    run = jobs.start_run("lstm", "tiny", None, TINY_LSTM, train)
    folder = Path(run.checkpoint_dir)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # mid-epoch, after the first checkpoint
        current = run_store.get_run(run.id)
        if current.epoch >= 1 and current.step % steps_per_epoch or current.status != "running":
            break
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    os.waitpid(run.pid, 0)
    killed = run_store.get_run(run.id)
    assert killed.status == "running" and killed.epoch < epochs, (folder / "train.log").read_text()
    (folder / ".history.json.tmp").write_text("[")  # what an interrupted atomic write leaves
    (folder / ".last.tmp.keras").write_bytes(b"partial")
    (folder / "notes.tmp").write_text("not ours")

    jobs.queue_again(run.id)  # what `python -m core train --resume RUN_ID` does
    steps = []
    assert jobs.work(run.id, on_step=steps.append) == "finished", run_store.get_run(run.id).error

    resumed_from = steps[0] - 1
    assert 0 < resumed_from < killed.step and resumed_from % steps_per_epoch == 0  # from last.keras, not zero
    finished = run_store.get_run(run.id)
    assert finished.step == epochs * steps_per_epoch and finished.epoch == epochs
    rows = run_store.get_metrics([run.id])
    assert [m["step"] for m in rows if m["name"] == "loss"] == list(range(1, epochs * steps_per_epoch + 1))
    # The killed worker's rows past the checkpoint are gone: otherwise their steps would appear twice.
    assert max(Counter((m["name"], m["step"]) for m in rows).values()) == 1
    assert not [p.name for p in folder.glob(".*.tmp*")] and (folder / "notes.tmp").exists()


def test_a_vanished_process_is_marked_failed(dataset):
    run = _run()
    run_store.update_run(run.id, status="running", pid=999_999, pid_started_at=1.0)
    jobs.reconcile()
    failed = run_store.get_run(run.id)
    assert failed.status == "failed" and "vanished" in failed.error


def test_runs_queue_behind_the_running_one(dataset, monkeypatch):
    started = []
    monkeypatch.setattr(jobs, "start_background", lambda arguments, log: started.append(arguments) or identity())
    monkeypatch.setattr(jobs, "process_alive", lambda pid, at: True)
    first, second = _run(), _run()
    assert jobs.schedule() == [first.id]
    assert run_store.get_run(second.id).status == "queued"
    monkeypatch.setenv("NEUROTUNE_MAX_RUNS", "2")
    assert jobs.schedule() == [second.id]


def test_delete_run_removes_files_and_metrics(dataset):
    run = _run(epochs=1)
    run_store.add_metrics(run.id, 1, 0, {"loss": 4.2})  # as training logs them, without training for it
    assert (Path(run.checkpoint_dir) / "config.json").exists()
    jobs.delete_run(run.id)
    assert not Path(run.checkpoint_dir).exists()
    assert run_store.get_metrics([run.id]) == [] and run_store.list_runs() == []


@pytest.mark.parametrize(
    ("model", "options", "representation"),
    [
        ("rnn", {"embedding_dim": 8, "units": 16, "layers": 1}, "events"),
        ("lstm", TINY_LSTM, "pianoroll"),
        ("lstm_attention", {**TINY_LSTM, "attention_window": 4}, "melody"),
        ("transformer", {"d_model": 16, "heads": 2, "layers": 1, "ff_dim": 32, "max_length": 64}, "events"),
        ("transformer", {"d_model": 16, "heads": 2, "layers": 1, "ff_dim": 32, "positions": "relative"}, "pianoroll"),
    ],
)
def test_every_model_trains_through_the_trainer_in_mixed_precision(
    dataset, monkeypatch, model, options, representation
):
    """Mixed precision forced on the CPU, so that a dtype bug shows without a GPU; each head logs its metrics.

    float32, on one device and on two: tests/test_distributed.py.
    """
    import keras
    import numpy as np

    monkeypatch.setenv("NEUROTUNE_PRECISION", "mixed")
    run = _run(model, options, representation, epochs=1, steps_per_epoch=2, validation_steps=1)
    try:
        assert jobs.work(run.id) == "finished", run_store.get_run(run.id).error
    finally:
        keras.mixed_precision.set_global_policy("float32")  # the policy is global: leave it as other tests expect
    run = run_store.get_run(run.id)
    assert run.precision == "mixed_float16" and run.strategy == "default" and run.replicas == 1
    rows = run_store.get_metrics([run.id])
    logged = {"loss", *HEAD_METRICS[representation]}
    assert logged | {f"val_{name}" for name in logged} <= {m["name"] for m in rows}
    assert np.all(np.isfinite([m["value"] for m in rows]))
    trained = keras.models.load_model(Path(run.checkpoint_dir) / "model.keras")
    assert {layer.compute_dtype for layer in trained.layers[1:-1]} >= {"float16"}
    size = trained.inputs[0].shape[-1] if representation == "pianoroll" else None
    inputs = np.zeros((1, 4, size), np.float32) if size else np.ones((1, 4), np.int32)
    assert trained(inputs).dtype == "float32"
