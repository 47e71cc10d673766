"""Which device a run uses: GPU(s) when TensorFlow sees them, else the CPU.

Multi-machine training uses ``tf.distribute.MultiWorkerMirroredStrategy``:
set ``TF_CONFIG`` on every machine (``{"cluster": {"worker": ["host1:12345",
"host2:12345"]}, "task": {"type": "worker", "index": 0}}``, each with its own
index) and ``NEUROTUNE_MULTI_WORKER=1``, then start the same
``python -m core train ...`` command on each; worker 0 writes the checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePlan:
    description: str  # shown on the Train page, e.g. "1 x GPU (NVIDIA H100), mixed precision"
    strategy: object  # a tf.distribute.Strategy


def plan_device() -> DevicePlan:
    """Pick the distribution strategy and precision for this machine (call before building a model)."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if os.environ.get("NEUROTUNE_MULTI_WORKER") == "1":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        description = f"{strategy.num_replicas_in_sync} replicas across machines (TF_CONFIG)"
    elif len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        description = f"{len(gpus)} x GPU (MirroredStrategy)"
    elif gpus:
        strategy = tf.distribute.get_strategy()
        details = tf.config.experimental.get_device_details(gpus[0])
        description = f"1 x GPU ({details.get('device_name', gpus[0].name)})"
    else:
        strategy = tf.distribute.get_strategy()
        description = f"CPU ({os.cpu_count()} cores)"
    mixed = bool(gpus)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    if mixed:
        description += ", mixed precision"
    return DevicePlan(description, strategy)
