"""Benchmark: our trainer against a bare ``model.fit`` of the same model on the same data.

Each side runs in a fresh process: two epochs of the same number of steps over the same
tf.data windows; tokens/s is measured over the second epoch (after tracing). ``overhead`` =
bare tokens/s / trainer tokens/s (target <= 1.10). Both sides train on the devices and in the precision
the trainer picks (mixed on a GPU, float32 on the CPU; ``NEUROTUNE_PRECISION=float32`` or ``mixed`` forces
one), which the JSON names. Prints JSON.

    .venv/bin/python bench/train.py [--model lstm] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_OPTIONS = {
    "lstm": {"units": 256, "layers": 2},
    "transformer": {"d_model": 128, "layers": 2},
    "rnn": {"units": 256},
    "lstm_attention": {"units": 128, "layers": 1},
}


def _setup(model: str, steps: int):
    from core.config import TrainConfig
    from core.data.build import build_from_corpus
    from core.data.datasets import load_dataset
    from core.errors import DatasetError
    from core.training import jobs

    try:
        load_dataset("bench")
    except DatasetError:
        build_from_corpus("bench", "bach-chorales", limit=40)
    train = TrainConfig(
        epochs=2,
        steps_per_epoch=steps,
        batch_size=32,
        seq_len=128,
        log_every_steps=10,
        early_stopping_patience=0,
        validation_steps=1,
        conditioning=False,  # the bare side builds an unconditioned model on plain windows
    )
    return jobs.create_run(model, "bench", "events", MODEL_OPTIONS.get(model, {}), train), train


def _rate(stamps: list[float], steps: int, tokens_per_step: int) -> float:
    second_epoch = stamps[steps:]
    return (len(second_epoch) - 1) * tokens_per_step / (second_epoch[-1] - second_epoch[0])


def measure_trainer(model: str, steps: int) -> dict:
    from core.store import runs as run_store
    from core.training import jobs

    run, train = _setup(model, steps)
    stamps: list[float] = []
    jobs.work(run.id, on_step=lambda step: stamps.append(time.perf_counter()))
    run = run_store.get_run(run.id)
    return {
        "tokens_per_s": _rate(stamps, steps, train.batch_size * train.seq_len),
        "device": run.device,
        "precision": run.precision,
    }


def measure_bare_fit(model: str, steps: int) -> dict:
    import keras

    from core.data.datasets import load_dataset
    from core.models import build_model, head_for, input_spec_for, make_config
    from core.training.device import plan_device
    from core.training.trainer import compile_model, make_datasets

    device = plan_device()  # the trainer's devices and precision (mixed on a GPU), or the sides differ in more
    run, train = _setup(model, steps)
    dataset = load_dataset("bench")
    head = head_for("tokens")
    with device.strategy.scope():
        keras_model = build_model(
            model,
            make_config(model, MODEL_OPTIONS.get(model, {})),
            input_spec_for("events", dataset.config, train.seq_len),
        )
        compile_model(keras_model, head, train, steps * 2)
    stamps: list[float] = []
    recorder = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: stamps.append(time.perf_counter()))
    for epoch in range(2):
        training, validation, _ = make_datasets(dataset, "events", head, train, epoch)
        keras_model.fit(
            training,
            validation_data=validation,
            initial_epoch=epoch,
            epochs=epoch + 1,
            callbacks=[recorder],
            verbose=0,
            shuffle=False,
        )
    return {"tokens_per_s": _rate(stamps, steps, train.batch_size * train.seq_len)}


def child(side: str, model: str, steps: int) -> None:
    figures = (measure_trainer if side == "trainer" else measure_bare_fit)(model, steps)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


def in_fresh_process(side: str, model: str, steps: int, home: str) -> dict:
    env = {
        **os.environ,
        "NEUROTUNE_HOME": home,
        "NEUROTUNE_CHECKPOINTS": f"{home}/checkpoints",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    command = [sys.executable, __file__, "--child", side, "--model", model, "--steps", str(steps)]
    output = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--steps", type=int, default=60, help="steps per epoch")
    parser.add_argument("--child", choices=("trainer", "bare"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        child(args.child, args.model, args.steps)
        return
    with tempfile.TemporaryDirectory() as home:
        bare = in_fresh_process("bare", args.model, args.steps, home)
        trainer = in_fresh_process("trainer", args.model, args.steps, home)
    print(
        json.dumps(
            {
                "benchmark": "train-overhead",
                "model": args.model,
                "trainer_tokens_per_s": round(trainer["tokens_per_s"]),
                "bare_fit_tokens_per_s": round(bare["tokens_per_s"]),
                "overhead": round(bare["tokens_per_s"] / trainer["tokens_per_s"], 3),
                "device": trainer["device"],
                "precision": trainer["precision"],
                "trainer_peak_rss_mb": trainer["peak_rss_mb"],
                "bare_fit_peak_rss_mb": bare["peak_rss_mb"],
                "target_overhead": 1.10,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
