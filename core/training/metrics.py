"""Metrics for the piano-roll head (the setting of the classic polyphonic benchmarks).

Both take logits: the model's last layer has no sigmoid.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="neurotune")
class FrameNLL(keras.metrics.Mean):
    """Negative log-likelihood of a frame in nats: binary cross-entropy summed over pitches, averaged over frames."""

    def __init__(self, name: str = "frame_nll", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        per_pitch = ops.binary_crossentropy(ops.cast(y_true, "float32"), ops.cast(y_pred, "float32"), from_logits=True)
        return super().update_state(ops.sum(per_pitch, axis=-1), sample_weight)


@keras.saving.register_keras_serializable(package="neurotune")
class FrameF1(keras.metrics.Metric):
    """F1 of predicted notes-on (logit > 0) against the true frames, pooled over all frames and pitches.

    A frame of weight 0 (padding, see :meth:`core.models.heads.TaskHead.targets`) counts for nothing.
    """

    def __init__(self, name: str = "frame_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), initializer="zeros", name="tp")
        self.false_positives = self.add_variable(shape=(), initializer="zeros", name="fp")
        self.false_negatives = self.add_variable(shape=(), initializer="zeros", name="fn")

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = ops.cast(y_true, "float32")
        predicted = ops.cast(ops.cast(y_pred, "float32") > 0, "float32")
        # One weight per frame, shape=(batch, time), over all its pitches.
        weight = 1.0 if sample_weight is None else ops.expand_dims(ops.cast(sample_weight, "float32"), -1)
        self.true_positives.assign_add(ops.sum(truth * predicted * weight))
        self.false_positives.assign_add(ops.sum((1 - truth) * predicted * weight))
        self.false_negatives.assign_add(ops.sum(truth * (1 - predicted) * weight))

    def result(self):
        denominator = 2 * self.true_positives + self.false_positives + self.false_negatives
        return ops.where(denominator > 0, 2 * self.true_positives / ops.maximum(denominator, 1e-9), 0.0)

    def reset_state(self):
        for variable in (self.true_positives, self.false_positives, self.false_negatives):
            variable.assign(0.0)
