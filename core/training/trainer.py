"""The trainer: teacher forcing on tf.data windows through ``keras.Model.fit``, with our callbacks.

What depends on the kind of sequence (loss, metrics, targets, the monitored
metric) is the task head's (:mod:`core.models.heads`). The model is compiled
by its head and trained by ``fit``, which runs the model's own ``train_step``:
a model that overrides it (a GAN) trains here unchanged.

A run's folder (:mod:`core.checkpoints`) holds ``model.keras`` (best validation
loss so far), ``last.keras`` (latest, with optimizer state, to resume from), the
run's ``config.json`` and ``history.json``, each written atomically. At an
epoch's end ``last.keras`` is replaced last, after the history entry that names
it: a resumed run starts from exactly the step, epoch and best loss of the
checkpoint it loads.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path

from core.checkpoints import CheckpointFolder, RunConfig, run_config
from core.config import DataConfig, TrainConfig
from core.data.conditioning import PREFIX_LENGTH
from core.data.datasets import Dataset
from core.data.representations import get_representation
from core.data.windows import WindowControls, default_stride, window_bounds, window_dataset
from core.errors import TrainingError
from core.models import InputSpec, TaskHead, build_model, head_for, input_spec_for
from core.store import runs as run_store
from core.store.db import RunRecord


def model_input_spec(config: RunConfig, data_config: DataConfig) -> InputSpec:
    """The input a run's model takes: the representation, plus control tokens and their prefix if conditioned."""
    spec = input_spec_for(config.representation, data_config, config.train.seq_len)
    conditioning = config.conditioning
    if conditioning is None:
        return spec
    return InputSpec(spec.kind, conditioning.vocab_size, spec.max_length + PREFIX_LENGTH, control_prefix=PREFIX_LENGTH)


def longest_piece(dataset: Dataset, representation: str, split: str) -> int:
    _, offsets = dataset.encoded(representation)
    return max((int(offsets[p + 1] - offsets[p]) for p in dataset.split_indices(split)), default=0)


def make_datasets(
    dataset: Dataset,
    representation: str,
    head: TaskHead,
    train: TrainConfig,
    epoch: int,
    controls: WindowControls | None = None,
):
    """Train and validation pipelines of (inputs, targets, weights) for one epoch (curriculum sets the length).

    Args:
        head: The model's task head: it makes the targets and their weights, which take
            padding and control targets out of the loss and metrics
            (:meth:`core.models.heads.TaskHead.targets`).
        controls: The run's control tokens, made once per run.
    """
    length = train.seq_len_for_epoch(epoch)
    transpose = None if train.transpose_semitones < 0 else train.transpose_semitones
    split = functools.partial(head.targets, prefix_length=0 if controls is None else PREFIX_LENGTH)
    training = window_dataset(
        dataset,
        representation,
        "train",
        length + 1,
        train.batch_size,
        seed=train.seed + epoch,
        transpose_semitones=transpose,
        controls=controls,
    ).map(split)
    if train.steps_per_epoch:
        training = training.repeat().take(train.steps_per_epoch)
    validation = None
    # Validation always uses the full length, so its curve compares across curriculum epochs;
    # a piece of one step has no target to predict.
    if longest_piece(dataset, representation, "validation") > 1:
        validation = window_dataset(
            dataset,
            representation,
            "validation",
            train.seq_len + 1,
            train.batch_size,
            shuffle=False,
            controls=controls,
        ).map(split)
        if train.validation_steps:
            validation = validation.take(train.validation_steps)
    return training, validation, length


def estimate_total_steps(dataset: Dataset, representation: str, train: TrainConfig) -> int:
    if train.steps_per_epoch:
        return train.steps_per_epoch * train.epochs
    _, offsets = dataset.encoded(representation)
    pieces = dataset.split_indices("train")
    total = 0
    for epoch in range(train.epochs):
        length = train.seq_len_for_epoch(epoch) + 1
        starts, _ = window_bounds(offsets, pieces, length, default_stride(length))
        total += math.ceil(len(starts) / train.batch_size)
    return max(total, 1)


def compile_model(model, head: TaskHead, train: TrainConfig, total_steps: int) -> None:
    """Compile ``model`` through its head with AdamW on a warmup-cosine schedule over ``total_steps``."""
    import keras

    warmup = min(train.warmup_steps, max(total_steps - 1, 0))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else train.learning_rate,
        decay_steps=max(total_steps - warmup, 1),
        alpha=0.1 if train.decay == "cosine" else 1.0,
        warmup_target=train.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=train.weight_decay, clipnorm=train.clip_norm or None
    )
    head.compile(model, optimizer)
    # Built now, not on the first step: a variable made inside the first traced step makes
    # TensorFlow trace the whole training step twice (about a second per run on a CPU).
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def rewind_to_checkpoint(run: RunRecord, folder: CheckpointFolder) -> RunRecord:
    """Put a run back where its ``last.keras`` was saved: that step, epoch and best loss, no metric rows past it.

    A worker killed mid-epoch has logged steps after its last checkpoint; they are trained
    again, so their rows go (each step is charted once) and the step count goes back to the
    checkpoint's (none is counted twice). Without a checkpoint the run starts from step 0.
    Temporary files of interrupted saves are deleted.
    """
    folder.remove_temporary_files()
    history = folder.rewind_history()
    checkpoint = history[-1] if history else {}
    step = checkpoint.get("step", 0)
    run_store.delete_metrics_after(run.id, step)
    return run_store.update_run(
        run.id,
        step=step,
        epoch=checkpoint.get("completed_epochs", run.epoch if checkpoint else 0),
        best_val_loss=checkpoint.get("best_val_loss", run.best_val_loss if checkpoint else None),
    )


def train(run_id: str, dataset: Dataset, on_step: Callable[[int], None] | None = None) -> str:
    """Train (or resume) a run to its end; returns the final status ("finished" or "stopped").

    On the devices of :func:`core.training.device.plan_device`. With several workers every one
    calls this; the chief records the run and keeps its checkpoints, the others start from the
    chief's step and stop when it does (:mod:`core.training.device`).

    Raises:
        TrainingError: NaN loss or a failed save (the caller marks the run failed).
    """
    import keras

    import core.models.layers  # noqa: F401  (registers custom layers for load_model)
    import core.training.metrics  # noqa: F401
    from core.training.callbacks import RunRecorder
    from core.training.device import plan_device

    device = plan_device()  # first: it sets up TensorFlow's devices
    run = run_store.get_run(run_id)
    config = run_config(run)
    train_config = config.train
    folder = CheckpointFolder(Path(run.checkpoint_dir))
    if device.chief:
        run = rewind_to_checkpoint(run, folder)
        run_store.update_run(
            run_id,
            device=device.hardware,
            strategy=device.strategy_name,
            replicas=device.replicas,
            precision=device.precision,
        )
    # Every worker starts where the chief's checkpoint does (a None best loss travels as NaN).
    step, start_epoch, best = device.from_chief(
        run.step, run.epoch, math.nan if run.best_val_loss is None else run.best_val_loss
    )
    step, start_epoch, best = int(step), int(start_epoch), None if math.isnan(best) else best
    head = head_for(get_representation(run.representation, dataset.config).kind)
    keras.utils.set_random_seed(train_config.seed + start_epoch)
    with device.strategy.scope():
        if folder.last.exists():
            model = keras.models.load_model(folder.last)
        else:
            model = build_model(run.model, config.model_config, model_input_spec(config, dataset.config))
            compile_model(model, head, train_config, config.estimated_steps)
    conditioning = config.conditioning
    controls = (
        WindowControls(conditioning, dataset, get_representation(run.representation, dataset.config))
        if conditioning
        else None
    )
    with device.save_folder(folder.path) as saves:
        recorder = RunRecorder(
            run_id, CheckpointFolder(saves), train_config, head, step, best, device=device, on_step=on_step
        )
        for epoch in range(start_epoch, train_config.epochs):
            training, validation, recorder.sequence_length = make_datasets(
                dataset, run.representation, head, train_config, epoch, controls
            )
            model.fit(
                training,
                validation_data=validation,
                initial_epoch=epoch,
                epochs=epoch + 1,
                callbacks=[recorder],
                shuffle=False,  # the pipeline shuffles
                verbose=0,
            )
            if recorder.failure:
                raise TrainingError(recorder.failure)
            if recorder.stop_requested:  # last.keras was saved at the end of the stopped epoch
                return "stopped"
            if recorder.early_stopped:
                break
    return "finished"
