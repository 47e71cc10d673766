"""Trains every registry model through the real trainer in a process of its own; tests/test_distributed.py runs it.

Its own process, because the devices (``NEUROTUNE_DEVICES=cpu:2``: the CPU split into two logical
devices) must be set before TensorFlow starts. Every replica's batch is recorded from inside
``train_step``, to check how the global batch is split. Prints one JSON object:
``{model: {"status", "error", "strategy", "replicas", "losses", "replica_batches", "reload_gap"}}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.config import TrainConfig
from core.models import MODELS
from core.store import runs as run_store
from core.training import jobs
from tests.collector import collect_less

TINY = {
    "rnn": {"embedding_dim": 8, "units": 8, "layers": 1},
    "lstm": {"embedding_dim": 8, "units": 8, "layers": 1},
    "lstm_attention": {"embedding_dim": 8, "units": 8, "layers": 1, "attention_window": 4},
    "transformer": {"d_model": 16, "heads": 2, "layers": 1, "ff_dim": 16, "max_length": 32},
}
TINY_GAN = {
    "units": 8,
    "layers": 1,
    "noise_dim": 4,
    "discriminator_filters": 8,
    "discriminator_units": 8,
    "conv_filters": 8,
    "conv_blocks": 1,
}
TRAIN = TrainConfig(
    epochs=1,
    steps_per_epoch=3,
    validation_steps=1,
    batch_size=8,
    seq_len=8,
    learning_rate=1e-2,
    warmup_steps=0,
    log_every_steps=1,
)


def record_replica_batches() -> list[int]:
    """Make every model's ``train_step`` note its batch size: it runs once per replica, on that replica's part."""
    import keras
    import tensorflow as tf

    sizes: list[int] = []
    train_step = keras.Model.train_step

    def recording_train_step(self, data):
        tf.py_function(lambda size: sizes.append(int(size)) or size, [tf.shape(data[0])[0]], tf.int32)
        return train_step(self, data)

    keras.Model.train_step = recording_train_step
    return sizes


def reload_gap(run) -> float:
    """Largest logit difference of the best checkpoint loaded outside any strategy (as composing loads it)
    and inside the run's MirroredStrategy (as resuming does)."""
    import keras
    import numpy as np

    from core.training.device import plan_device

    path = Path(run.checkpoint_dir) / "model.keras"
    plain = keras.models.load_model(path)
    with plan_device().strategy.scope():
        mirrored = keras.models.load_model(path)
    tokens = np.arange(16, dtype=np.int32).reshape(2, 8) % 4
    return float(np.max(np.abs(keras.ops.convert_to_numpy(plain(tokens) - mirrored(tokens)))))


def gan_run(dataset: str) -> dict:
    """The GAN, which brings its own training step, the same way: its curves, and its generator reloaded in and
    out of the strategy."""
    import keras
    import numpy as np
    import tensorflow as tf

    from core.training.device import plan_device

    run = jobs.create_run("crnn_gan", dataset, "notes", TINY_GAN, TRAIN)
    status = jobs.work(run.id)
    run = run_store.get_run(run.id)
    rows = run_store.get_metrics([run.id])
    gap = None
    if status == "finished":
        path = Path(run.checkpoint_dir) / "model.keras"
        plain = keras.models.load_model(path)
        with plan_device().strategy.scope():
            mirrored = keras.models.load_model(path)
        noise = tf.random.stateless_normal((2, 8, TINY_GAN["noise_dim"]), seed=[1, 2])
        gap = float(np.max(np.abs(plain.generator(noise).numpy() - mirrored.generator(noise).numpy())))
    return {
        "status": status,
        "error": run.error,
        "strategy": run.strategy,
        "replicas": run.replicas,
        "curves": sorted({row["name"] for row in rows}),
        "finite": bool(np.all(np.isfinite([row["value"] for row in rows]))),
        "reload_gap": gap,
    }


def main() -> None:
    sizes = record_replica_batches()
    collect_less()  # after TensorFlow's import, as the test processes do
    results = {}
    for model in (name for name, spec in MODELS.items() if "melody" in spec.representations):
        sizes.clear()
        run = jobs.create_run(model, sys.argv[1], "melody", TINY[model], TRAIN)
        status = jobs.work(run.id)
        run = run_store.get_run(run.id)
        rows = run_store.get_metrics([run.id])
        results[model] = {
            "status": status,
            "error": run.error,
            "strategy": run.strategy,
            "replicas": run.replicas,
            "losses": [row["value"] for row in rows if row["name"] == "loss"],  # each step's mean loss so far
            "replica_batches": list(sizes),
            "reload_gap": reload_gap(run) if status == "finished" else None,
        }
    results["crnn_gan"] = gan_run(sys.argv[1])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
