"""Incremental decoding: a trained model run one step at a time, carrying its state.

Re-running a model over the whole window for every new token costs a full
forward pass per token. A step decoder instead keeps what the model already
computed: recurrent models their hidden (and cell) states, the attention LSTM
a ring buffer of its recent outputs, the transformer a key/value cache per
block. :func:`step_decoder` picks the decoder for a saved model by its
architecture name; each one reuses the model's own layers, so weights are
never copied and the step gives the same logits as the full forward pass
(tested for every architecture).

Every method is plain TensorFlow and runs inside the compiled sampling loops
of :mod:`core.generation.sampling`. States are flat tuples of tensors, so that
``tf.while_loop`` can carry them and beam search can reorder them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from core.errors import CheckpointError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf


class StepDecoder:
    """One step of a trained sequence model.

    Attributes:
        kind: ``"tokens"`` (inputs are int ids, shape=(batch,)) or ``"frames"``
            (multi-hot floats, shape=(batch, pitches)).
        size: Width of the logits: vocabulary size or pitches.
        max_length: Longest sequence the decoder can run, or None for no limit.
    """

    kind: str = "tokens"
    size: int = 0
    max_length: int | None = None

    def initial_state(self, batch: tf.Tensor, capacity: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Zero state for ``batch`` sequences of at most ``capacity`` steps."""
        raise NotImplementedError

    def state_batch_axes(self) -> tuple[int, ...]:
        """The batch axis of each state tensor, for :meth:`reorder`."""
        raise NotImplementedError

    def step(self, inputs: tf.Tensor, state: tuple, position: tf.Tensor) -> tuple[tf.Tensor, tuple]:
        """Logits of the step after ``inputs`` (shape=(batch, size), float32) and the new state."""
        raise NotImplementedError

    def reorder(self, state: tuple, indices: tf.Tensor) -> tuple:
        """The state of the sequences ``indices`` (beam search keeps the best beams' states)."""
        import tensorflow as tf

        return tuple(tf.gather(part, indices, axis=axis) for part, axis in zip(state, self.state_batch_axes()))


def _input_kind(model: keras.Model) -> str:
    return "tokens" if model.inputs[0].dtype in ("int32", "int64") else "frames"


def _layers_named(model: keras.Model, pattern: str) -> list:
    """The model's layers whose names match ``pattern`` + a number, in number order."""
    found = [(int(m.group(1)), layer) for layer in model.layers if (m := re.fullmatch(pattern + r"_(\d+)", layer.name))]
    return [layer for _, layer in sorted(found, key=lambda pair: pair[0])]


class _ModelDecoder(StepDecoder):
    """What every architecture shares: the input projection, the controls and the logits head.

    Subclasses implement :meth:`_core_state`, :meth:`_core_axes` and
    :meth:`_core_step` for their own layers; a conditioned model's running
    control sum (:class:`core.models.layers.ControlBroadcast`) is added here as
    the last state tensor.
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.kind = _input_kind(model)
        self.projection = model.get_layer("embedding" if self.kind == "tokens" else "frame_projection")
        self.logits = model.get_layer("logits")
        self.size = int(self.logits.units)
        names = {layer.name for layer in model.layers}
        self.broadcast = model.get_layer("control_broadcast") if "control_broadcast" in names else None

    def initial_state(self, batch, capacity):
        import tensorflow as tf

        state = self._core_state(batch, capacity)
        if self.broadcast is None:
            return state
        return (*state, tf.zeros((batch, self.projection.output_dim)))

    def state_batch_axes(self):
        return self._core_axes() + ((0,) if self.broadcast is not None else ())

    def step(self, inputs, state, position):
        hidden = self.projection(inputs[:, None])[:, 0]
        if self.broadcast is None:
            return self._core_step(hidden, state, position)
        hidden, controls = self.broadcast.step(hidden, state[-1], position)
        logits, core_state = self._core_step(hidden, state[:-1], position)
        return logits, (*core_state, controls)

    def _core_state(self, batch, capacity) -> tuple:
        raise NotImplementedError

    def _core_axes(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _core_step(self, hidden, state: tuple, position) -> tuple:
        """Logits and new state from the step's projected input, shape=(batch, width)."""
        raise NotImplementedError


class RecurrentDecoder(_ModelDecoder):
    """``rnn``, ``lstm`` and ``lstm_attention``: the cells stepped one at a time.

    State: per recurrent layer its hidden state (and, for LSTMs, its cell state),
    then for ``lstm_attention`` the ring buffers of attention keys and values.
    """

    def __init__(self, model: keras.Model):
        super().__init__(model)
        self.recurrent = _layers_named(model, "rnn") or _layers_named(model, "lstm")
        if not self.recurrent:
            raise CheckpointError(f"the {model.name} model has no recurrent layers named rnn_N or lstm_N")
        self.states_per_layer = 2 if self.recurrent[0].name.startswith("lstm") else 1
        names = {layer.name for layer in model.layers}
        self.attention = model.get_layer("attention") if "attention" in names else None
        if self.attention is not None:
            self.concatenate = model.get_layer("attention_concat")
            self.combine = model.get_layer("attention_combine")

    def _core_state(self, batch, capacity):
        import tensorflow as tf

        state = []
        for layer in self.recurrent:
            state += [tf.zeros((batch, layer.cell.units))] * self.states_per_layer
        if self.attention is not None:
            units = self.recurrent[-1].cell.units
            slots = self.attention.window or capacity
            state += [tf.zeros((slots, batch, self.attention.units)), tf.zeros((slots, batch, units))]
        return tuple(state)

    def _core_axes(self):
        axes = (0,) * (len(self.recurrent) * self.states_per_layer)
        return axes + ((1, 1) if self.attention is not None else ())

    def _core_step(self, hidden, state, position):
        new_state = []
        per_layer = self.states_per_layer
        for index, layer in enumerate(self.recurrent):
            layer_state = list(state[index * per_layer : (index + 1) * per_layer])
            hidden, layer_state = layer.cell(hidden, layer_state, training=False)
            new_state += list(layer_state) if isinstance(layer_state, (list, tuple)) else [layer_state]
        if self.attention is not None:
            keys, values = state[-2:]
            context, keys, values = self.attention.step(hidden, keys, values, position)
            hidden = self.combine(self.concatenate([hidden, context]))
            new_state += [keys, values]
        return self.logits(hidden), tuple(new_state)


class TransformerDecoder(_ModelDecoder):
    """``transformer``: each block attends over a key/value cache of the steps before.

    State: the keys and values of every block, shape=(batch, heads, capacity, head_dim):
    each head's cache contiguous, so attending to it needs no transpose.
    """

    def __init__(self, model: keras.Model):
        super().__init__(model)
        self.blocks = _layers_named(model, "block")
        names = {layer.name for layer in model.layers}
        self.positions = model.get_layer("position_embedding") if "position_embedding" in names else None
        self.final_norm = model.get_layer("final_norm")
        if self.positions is not None:
            self.max_length = int(self.positions.max_length)

    def _core_state(self, batch, capacity):
        import tensorflow as tf

        state = []
        for block in self.blocks:
            shape = (batch, block.heads, capacity, block.d_model // block.heads)
            state += [tf.zeros(shape, block.compute_dtype), tf.zeros(shape, block.compute_dtype)]
        return tuple(state)

    def _core_axes(self):
        return (0,) * (2 * len(self.blocks))

    def _core_step(self, hidden, state, position):
        import tensorflow as tf

        if self.positions is not None:
            # Cast as PositionEmbedding does: a mixed-precision model steps in float16.
            hidden = hidden + tf.cast(self.positions.position_embeddings[position], hidden.dtype)[None]
        new_state = []
        for index, block in enumerate(self.blocks):
            hidden, keys, values = block.step(hidden, state[2 * index], state[2 * index + 1], position)
            new_state += [keys, values]
        return self.logits(self.final_norm(hidden)), tuple(new_state)


DECODERS: dict[str, type[_ModelDecoder]] = {
    "rnn": RecurrentDecoder,
    "lstm": RecurrentDecoder,
    "lstm_attention": RecurrentDecoder,
    "transformer": TransformerDecoder,
}


def step_decoder(model: keras.Model) -> StepDecoder:
    """The incremental decoder of a model built by :func:`core.models.build_model`.

    Raises:
        CheckpointError: For a model of an architecture without a step decoder.
    """
    if model.name not in DECODERS:
        raise CheckpointError(
            f"cannot compose with a {model.name!r} model; step decoders exist for {', '.join(DECODERS)}"
        )
    return DECODERS[model.name](model)
