"""Which devices a run trains on, in which precision, and which worker keeps what it makes.

:func:`plan_device` reads the settings (:mod:`core.settings`) and picks a ``tf.distribute`` strategy:

- by default the GPUs TensorFlow sees (``MirroredStrategy`` over several), else the CPU;
- ``NEUROTUNE_DEVICES=cpu:N``: the CPU split into N logical devices under ``MirroredStrategy``. It is no
  faster than one device; it runs the multi-device code path where there is no GPU (the tests use it);
- ``NEUROTUNE_MULTI_WORKER=1``: ``MultiWorkerMirroredStrategy`` across machines. Set ``TF_CONFIG`` on every
  machine (``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker",
  "index": 0}}``, each with its own index) and start the same ``python -m core train ...`` command on each.
  The workers share the database (``NEUROTUNE_DB_URL``), the dataset and, to resume, the checkpoint folder.

Precision is mixed (``mixed_float16``: float16 compute, float32 weights, loss scaling) on GPUs and float32
on the CPU, unless ``NEUROTUNE_PRECISION`` forces one; every model's logits stay float32 either way.

Batches: ``TrainConfig.batch_size`` is the global batch. Every optimizer step takes ``batch_size`` windows
and ``fit`` splits them across the replicas, ``batch_size / replicas`` each (when it does not divide,
some replicas take one window more); the gradients are summed into the mean over the whole batch. A run
therefore takes the same steps, learning rate and tokens/s on one device or eight.

Workers: the chief (worker 0) writes the run's record, its metrics and its checkpoints. Every worker
saves, since saving reads distributed variables, a collective all must join; the others save into a
temporary folder they delete (:meth:`DevicePlan.save_folder`), as TensorFlow's multi-worker guide does,
and write nothing to the database. They learn where to start and when to stop from the chief
(:meth:`DevicePlan.from_chief`), so every worker runs the same steps.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import TrainingError
from core.settings import get_settings
from core.store.db import RunRecord
from core.training.multi_worker import multi_worker_strategy

# Longest text :meth:`DevicePlan.share_text` carries: a run id (``RunRecord.id``).
SHARED_TEXT_LENGTH = 64


@dataclass(frozen=True)
class DevicePlan:
    """How this process trains: its strategy, what it runs on and in which precision, its place among workers.

    Attributes:
        strategy: The ``tf.distribute.Strategy`` to build and fit the model under.
        strategy_name: ``default`` (one device), ``MirroredStrategy`` or ``MultiWorkerMirroredStrategy``.
        hardware: What the run computes on, e.g. ``CPU (16 cores)``, ``1 x GPU (NVIDIA H200)``,
            ``2 x CPU (logical devices of 16 cores)``, ``2 workers x CPU (16 cores)``.
        precision: The Keras dtype policy: ``float32`` or ``mixed_float16``.
        workers: Processes training together (1 but with ``NEUROTUNE_MULTI_WORKER``).
        chief: Whether this process writes the run's record, metrics and checkpoints.
    """

    strategy: object
    strategy_name: str
    hardware: str
    precision: str
    workers: int = 1
    chief: bool = True

    @property
    def replicas(self) -> int:
        """Model copies that share each global batch, over all workers."""
        return self.strategy.num_replicas_in_sync

    def from_chief(self, *values: float) -> tuple[float, ...]:
        """The chief's ``values`` on every worker; ``values`` themselves in a single process.

        A sum over all replicas to which only the first (on the chief) adds its values: every
        worker must call it at the same point, and none goes on before all have arrived.
        """
        if self.workers == 1:
            return tuple(float(value) for value in values)
        import tensorflow as tf

        mine = tf.constant([float(value) for value in values] if self.chief else [0.0] * len(values), tf.float64)
        return tuple(float(value) for value in _first_replica_sum(self.strategy)(mine).numpy())

    def share_text(self, text: str) -> str:
        """The chief's ``text`` (up to :data:`SHARED_TEXT_LENGTH` characters) on every worker, as :meth:`from_chief`."""
        if len(text) > SHARED_TEXT_LENGTH:
            raise ValueError(f"shared text holds up to {SHARED_TEXT_LENGTH} characters, got {len(text)}")
        codes = self.from_chief(*(ord(character) for character in text.ljust(SHARED_TEXT_LENGTH, "\0")))
        return "".join(chr(int(code)) for code in codes).rstrip("\0")

    @contextmanager
    def save_folder(self, folder: Path) -> Iterator[Path]:
        """Where this worker saves checkpoints: ``folder`` on the chief, elsewhere a temporary folder deleted after."""
        if self.chief:
            yield folder
            return
        temporary = Path(tempfile.mkdtemp(prefix=f"neurotune-worker-{folder.name}-"))
        try:
            yield temporary
        finally:
            shutil.rmtree(temporary, ignore_errors=True)


def plan_device() -> DevicePlan:
    """Pick the strategy and precision for this process and set Keras' dtype policy; call before building a model.

    Call it before anything else of TensorFlow runs in the process: splitting the CPU
    (``NEUROTUNE_DEVICES=cpu:N``), hiding GPUs and starting multi-worker collectives must
    come first. Calling it again is cheap and gives the same plan.

    Raises:
        TrainingError: A device setting that can no longer take effect, or one that cannot go with another.
    """
    import keras
    import tensorflow as tf

    settings = get_settings()
    cpu_devices = settings.cpu_devices
    if settings.multi_worker and cpu_devices and cpu_devices > 1:
        raise TrainingError(
            f"NEUROTUNE_DEVICES=cpu:{cpu_devices} splits the CPU of one process; with NEUROTUNE_MULTI_WORKER "
            "every worker is one replica on the CPU: set NEUROTUNE_DEVICES=cpu (or auto)"
        )
    if cpu_devices is not None:
        _use_cpu_only(cpu_devices)
    gpus = tf.config.get_visible_devices("GPU")
    precision = settings.precision or ("mixed_float16" if gpus else "float32")
    keras.mixed_precision.set_global_policy(precision)
    hardware = _hardware(gpus, cpu_devices)
    if settings.multi_worker:
        strategy = multi_worker_strategy()
        cluster = strategy.cluster_resolver.cluster_spec()
        workers = sum(cluster.num_tasks(job) for job in cluster.jobs if job in ("chief", "worker"))
        chief = strategy.extended.should_checkpoint
        hardware = f"{workers} workers x {hardware}"
        return DevicePlan(strategy, "MultiWorkerMirroredStrategy", hardware, precision, workers, chief)
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        strategy = _mirrored_strategy(tuple(device.name for device in devices))
        return DevicePlan(strategy, "MirroredStrategy", hardware, precision)
    return DevicePlan(tf.distribute.get_strategy(), "default", hardware, precision)


def is_chief() -> bool:
    """Whether this process writes the run's records: always, but for the workers after the first with
    ``NEUROTUNE_MULTI_WORKER`` (imports TensorFlow only then)."""
    return not get_settings().multi_worker or plan_device().chief


def _use_cpu_only(count: int) -> None:
    """Hide the GPUs and split the CPU into ``count`` logical devices (nothing to do when done already).

    Raises:
        TrainingError: TensorFlow has started with other devices: the setting came too late.
    """
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
        if count > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:
        raise TrainingError(
            f"NEUROTUNE_DEVICES=cpu:{count} must take effect before TensorFlow starts, and it had started "
            f"in this process ({error}); train in a new process (python -m core train ...)"
        ) from error


def _hardware(gpus: list, cpu_devices: int | None) -> str:
    """What one process computes on, in words."""
    import tensorflow as tf

    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"{len(gpus)} x GPU ({details.get('device_name', 'unnamed')})"
    if cpu_devices and cpu_devices > 1:
        return f"{cpu_devices} x CPU (logical devices of {os.cpu_count()} cores)"
    return f"CPU ({os.cpu_count()} cores)"


@functools.cache
def _mirrored_strategy(devices: tuple[str, ...]):
    """One ``MirroredStrategy`` per process and devices: a second one would reuse the first one's collective keys."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(devices))


def describe_devices(run: RunRecord) -> str:
    """How a run trains, in words: ``2 x CPU (logical devices of 16 cores) · MirroredStrategy, 2 replicas ·
    float32``; as much as is known before it starts, and for runs recorded before strategies were."""
    parts = [run.device or "not started yet"]
    if run.strategy:
        replicas = f"{run.replicas} replica{'' if run.replicas == 1 else 's'}"
        parts.append(f"{'default strategy' if run.strategy == 'default' else run.strategy}, {replicas}")
    if run.precision:
        parts.append(run.precision)
    return " · ".join(parts)


@functools.cache
def _first_replica_sum(strategy):
    """A compiled sum over all replicas of what the first one holds (zeros elsewhere): the chief's values."""
    import tensorflow as tf

    @tf.function
    def chief_values(values):
        def first_replica_only():
            first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
            return tf.where(first, values, tf.zeros_like(values))

        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(first_replica_only), axis=None)

    return chief_values
