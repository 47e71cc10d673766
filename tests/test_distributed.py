"""Training on several devices and several workers, on the CPU: MirroredStrategy and MultiWorkerMirroredStrategy.

Each test starts fresh processes: the devices of a TensorFlow process are fixed when it starts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from core.checkpoints import CheckpointFolder
from core.store import runs as run_store
from core.training import jobs
from tests.conftest import free_port, tiny_dataset
from tests.mirrored_run import TRAIN

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_every_model_trains_on_two_logical_cpus_under_mirrored_strategy():
    tiny_dataset()
    result = subprocess.run(
        [sys.executable, "-m", "tests.mirrored_run", "tiny"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "NEUROTUNE_DEVICES": "cpu:2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.splitlines()[-1])
    gan = runs.pop("crnn_gan")  # brings its own train_step: its curves, not a recorded batch split
    assert gan["status"] == "finished", gan["error"]
    assert (gan["strategy"], gan["replicas"]) == ("MirroredStrategy", 2) and gan["finite"]
    assert {"d_loss", "g_loss", "d_real_acc", "d_fake_acc", "val_feature_distance"} <= set(gan["curves"])
    assert gan["reload_gap"] < 1e-5
    for model, run in runs.items():
        assert run["status"] == "finished", (model, run["error"])
        assert (run["strategy"], run["replicas"]) == ("MirroredStrategy", 2), model
        assert run["losses"][-1] < run["losses"][0], (model, run["losses"])
        # The batch size is the global batch: each of the two replicas gets half of every step's windows.
        assert run["replica_batches"] == [TRAIN.batch_size // 2] * (2 * TRAIN.steps_per_epoch), model
        assert run["reload_gap"] < 1e-5, model  # the same checkpoint in and out of the strategy


def _worker_command(ports: list[int], index: int, temporary: Path) -> subprocess.Popen:
    """``python -m core train ...`` as worker ``index`` of a cluster on ``ports``, its temporary files in ``temporary``."""
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    env = {
        **os.environ,
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        "NEUROTUNE_MULTI_WORKER": "1",
        "NEUROTUNE_DEVICES": "cpu",
        "TMPDIR": str(temporary),
    }
    model = ["units=8", "embedding_dim=8", "layers=1"]
    training = {"epochs": 100, "steps-per-epoch": 2, "validation-steps": 1, "batch-size": 8, "seq-len": 8}
    return subprocess.Popen(
        [sys.executable, "-m", "core", "train", "--dataset", "tiny", "--model", "lstm", "--log-every-steps", "1"]
        + [argument for option in model for argument in ("--model-option", option)]
        + [argument for flag, value in training.items() for argument in (f"--{flag}", str(value))],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _localhost_ports(count: int) -> list[int]:
    try:
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
    except OSError as error:
        pytest.skip(f"no localhost TCP port to listen on: {error}")
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@pytest.mark.localhost_ports
def test_two_workers_train_one_run_that_the_chief_records_and_a_stop_ends(tmp_path):
    tiny_dataset()
    ports = _localhost_ports(2)
    temporary = [tmp_path / f"worker-{index}-tmp" for index in range(2)]
    for folder in temporary:
        folder.mkdir()
    workers = [_worker_command(ports, index, temporary[index]) for index in range(2)]
    try:
        deadline = time.monotonic() + 240
        run = None
        while time.monotonic() < deadline and all(worker.poll() is None for worker in workers):
            runs = run_store.list_runs()
            run = runs[0] if runs else None
            if run and run.epoch >= 1:  # a checkpoint is written: stop in the middle of the run
                break
            time.sleep(0.5)
        assert run is not None and run.epoch >= 1, [worker.poll() for worker in workers]
        jobs.request_stop(run.id)
        outputs = [worker.communicate(timeout=120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (stdout, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
        assert f"run {run.id} stopped" in stdout  # both stopped, at the same step

    assert [record.id for record in run_store.list_runs()] == [run.id]  # one record, the chief's
    stopped = run_store.get_run(run.id)
    assert stopped.status == "stopped" and 1 <= stopped.epoch < 100
    assert (stopped.strategy, stopped.replicas, stopped.precision) == ("MultiWorkerMirroredStrategy", 2, "float32")
    assert stopped.device.startswith("2 workers x CPU")
    rows = run_store.get_metrics([run.id])
    assert max(Counter((row["name"], row["step"]) for row in rows).values()) == 1  # recorded once
    assert [row["step"] for row in rows if row["name"] == "loss"] == list(range(1, stopped.step + 1))
    folder = CheckpointFolder(Path(stopped.checkpoint_dir))
    assert [path.name for path in folder.path.parent.iterdir()] == [run.id]  # one checkpoint folder
    assert folder.model.exists() and folder.last.exists() and len(folder.read_history()) == stopped.epoch + 1
    assert [list(folder.iterdir()) for folder in temporary] == [[], []]  # the other's saves are deleted
