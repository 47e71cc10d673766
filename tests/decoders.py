"""Crafted step decoders for sampling tests: models whose every probability the test chose."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from core.generation.decoding import StepDecoder


class BigramDecoder(StepDecoder):
    """A model whose next-token logits depend only on the current token: row ``t`` of ``log_table``."""

    kind = "tokens"

    def __init__(self, log_table: np.ndarray):
        self.size = int(log_table.shape[1])
        self.log_table = tf.constant(log_table, tf.float32)

    def initial_state(self, batch, capacity):
        return (tf.zeros((batch,)),)

    def state_batch_axes(self):
        return (0,)

    def step(self, inputs, state, position):
        return tf.gather(self.log_table, inputs), state


class ConstantFrameDecoder(StepDecoder):
    """A piano-roll model that gives every frame the same per-column logits, whatever came before."""

    kind = "frames"

    def __init__(self, logits: np.ndarray):
        self.size = int(logits.shape[0])
        self.logits = tf.constant(logits, tf.float32)

    def initial_state(self, batch, capacity):
        return (tf.zeros((batch,)),)

    def state_batch_axes(self):
        return (0,)

    def step(self, inputs, state, position):
        return tf.repeat(self.logits[None], tf.shape(inputs)[0], axis=0), state
