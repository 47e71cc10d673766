"""The Keras callback that connects a running fit() to the store and the run's folder."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras

from core.checkpoints import CheckpointFolder, save_model_atomically
from core.config import TrainConfig
from core.models.heads import TaskHead
from core.store import runs as run_store
from core.training.device import DevicePlan

STOP_POLL_SECONDS = 1.0  # how often a running fit() reads the stop flag from the store


class RunRecorder(keras.callbacks.Callback):
    """Logs metrics to the store, checkpoints, stops on request or NaN, and stops early.

    The head names the metrics that must stay finite (its monitor and its ``guarded`` ones),
    the one whose best value keeps ``model.keras`` and that early stopping watches (its
    validation value, else its training value), and whether perplexity is logged.

    With several workers each has a recorder; only the chief's writes to the store, and
    the others stop when it does. The logs it reads are already averaged over all replicas,
    so every worker sees the same loss and takes the same NaN and early-stopping decisions.
    """

    def __init__(
        self,
        run_id: str,
        folder: CheckpointFolder,
        train: TrainConfig,
        head: TaskHead,
        step: int,
        best: float | None,
        device: DevicePlan,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self.run_id, self.folder, self.train, self.head = run_id, folder, train, head
        self.device = device
        self.step, self.best = step, best
        self.on_step = on_step
        self.stale_epochs = 0
        self.stop_requested = False
        self.failure: str | None = None
        self.early_stopped = False
        self.sequence_length = train.seq_len
        self.epoch = 0
        self._last_poll = time.monotonic()
        self._last_log = (time.monotonic(), step)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._last_log = (time.monotonic(), self.step)

    def _learning_rate(self) -> float:
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.step += 1
        if self.on_step:
            self.on_step(self.step)
        for name in (self.head.monitor, *self.head.guarded):
            value = float(logs.get(name, 0.0))
            if not math.isfinite(value):
                self.failure = (
                    f"the {name} became {value} at step {self.step}; try a lower learning rate or gradient clipping"
                )
                self.model.stop_training = True
                return
        if self.step % self.train.log_every_steps == 0 and self.device.chief:
            started, first_step = self._last_log
            seconds = max(time.monotonic() - started, 1e-9)
            tokens = (self.step - first_step) * self.train.batch_size * self.sequence_length
            values = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
            values.update(learning_rate=self._learning_rate(), tokens_per_s=tokens / seconds)
            run_store.add_metrics(self.run_id, self.step, self.epoch, values)
            run_store.update_run(self.run_id, step=self.step)
            self._last_log = (time.monotonic(), self.step)
        if self._stop_requested_now():
            self.stop_requested = True
            self.model.stop_training = True

    def _stop_requested_now(self) -> bool:
        """The chief reads the stop flag every STOP_POLL_SECONDS; with several workers every worker gets
        its answer at every step, so all stop after the same step."""
        requested = False
        if self.device.chief and time.monotonic() - self._last_poll >= STOP_POLL_SECONDS:
            self._last_poll = time.monotonic()
            requested = run_store.get_run(self.run_id).stop_requested
        return bool(self.device.from_chief(requested)[0])

    def on_epoch_end(self, epoch, logs=None):
        if self.failure:
            return
        logs = dict(logs or {})
        completed = epoch if self.stop_requested else epoch + 1  # a stopped epoch is redone on resume
        values = {f"epoch_{k}" if not k.startswith("val_") else k: float(v) for k, v in logs.items()}
        monitor = self.head.monitor
        monitored = logs.get(f"val_{monitor}", logs.get(monitor))
        if "val_loss" in logs and self.head.perplexity:
            values["val_perplexity"] = math.exp(min(logs["val_loss"], 50.0))
        if "loss" in logs and self.head.perplexity:
            values["epoch_perplexity"] = math.exp(min(logs["loss"], 50.0))
        if self.device.chief:
            run_store.add_metrics(self.run_id, self.step, epoch, values)
        improved = monitored is not None and (self.best is None or monitored < self.best)
        if improved:
            self.best = float(monitored)
            self.stale_epochs = 0
            save_model_atomically(self.model, self.folder.model)
        else:
            self.stale_epochs += 1
        entry = {
            "epoch": epoch + 1,
            "step": self.step,
            "completed_epochs": completed,
            "best_val_loss": self.best,
            "sequence_length": self.sequence_length,
            **values,
        }

        def record(checkpoint_sha256: str) -> None:
            self.folder.append_history({**entry, "checkpoint_sha256": checkpoint_sha256})

        # last.keras goes last: resume starts from the history entry that names it (see rewind_history).
        save_model_atomically(self.model, self.folder.last, before_replace=record)
        if self.device.chief:
            run_store.update_run(
                self.run_id,
                epoch=completed,
                step=self.step,
                best_val_loss=self.best,
                final_metrics={k: round(v, 5) for k, v in values.items()},
            )
        patience = self.train.early_stopping_patience
        if patience and self.stale_epochs >= patience and not self.stop_requested:
            self.early_stopped = True
            self.model.stop_training = True
