"""The process's ``MultiWorkerMirroredStrategy``, and the two fixes Keras' ``fit`` needs to train under it.

Keras 3 (3.15, the pinned version, as its main branch) cannot ``fit`` under this strategy across
workers (keras-team/keras#20585):

- before the first step ``fit`` reduces a whole batch, a tuple of per-replica tensors, with
  ``strategy.reduce``, which across workers takes one tensor only ("Attempt to convert a value
  (PerReplica...) to a Tensor"); the batch is only there for its shapes, so the fix passes the
  local replica's part;
- every step it averages the logs over the replicas with ``strategy.reduce("MEAN", v, axis=0)``,
  which fails for a scalar ("Invalid reduction dimension 0 for input with 0 dimensions"); the fix
  averages over the replicas alone (``axis=None``), which is what the logs of one process hold.

Both are patched in Keras' TensorFlow trainer when the strategy is made, and change nothing for
any other strategy. ``tests/test_distributed.py`` trains two workers, so an upgrade of Keras that
breaks or fixes them shows at once.
"""

from __future__ import annotations

import functools


@functools.cache
def multi_worker_strategy():
    """The process's one ``MultiWorkerMirroredStrategy`` (its collectives are set up once, at start),
    with Keras patched to fit under it."""
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _patch_keras_fit()
    return strategy


def _patch_keras_fit() -> None:
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def across_workers(strategy) -> bool:
        return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

    symbolic_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    reduce_per_replica = trainer.reduce_per_replica

    def local_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if iterator is None or not across_workers(strategy):
            return symbolic_build(self, iterator, data_batch)
        for _, _, batches in iterator:
            data_batch = tree.map_structure(lambda value: strategy.experimental_local_results(value)[0], next(batches))
            break
        return symbolic_build(self, data_batch=data_batch)

    def replica_mean(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not across_workers(strategy):
            return reduce_per_replica(values, strategy, reduction)
        return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)

    trainer.TensorFlowTrainer._maybe_symbolic_build = local_symbolic_build
    trainer.reduce_per_replica = replica_mean
