"""Embedding, stacked SimpleRNN layers and a dense output: the baseline.

:func:`recurrent_model` wires every recurrent architecture (``rnn``, ``lstm``,
``lstm_attention``) and :class:`RecurrentStep` runs the same layers one step at a
time for generation, carrying their states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.config import check_config
from core.models.base import ModelStep

if TYPE_CHECKING:
    import keras

    from core.models.base import InputSpec


# Form metadata of the recurrent models' fields (ui.forms.dataclass_form), shared by the configs
# that set their own defaults for them (a field declared again loses its parent's metadata).
EMBEDDING_FIELD = {
    "label": "Embedding size",
    "help": "Width of the vector each token (or frame) becomes before the recurrent layers",
    "min": 1,
    "max": 4096,
    "advanced": True,
}
UNITS_FIELD = {
    "label": "Units per layer",
    "help": "Width of each recurrent layer: wider remembers more and trains slower",
    "min": 1,
    "max": 4096,
}
LAYERS_FIELD = {"label": "Layers", "help": "Recurrent layers stacked on one another", "min": 1, "max": 16}
DROPOUT_FIELD = {
    "label": "Dropout",
    "help": "Share of activations silenced at random while training: a guard against learning the pieces by heart",
    "min": 0.0,
    "max": 0.95,
    "step": 0.05,
    "advanced": True,
}


@dataclass(frozen=True)
class RNNConfig:
    """Sizes of the plain recurrent model.

    Attributes:
        embedding_dim: Width of the token embedding (or frame projection).
        units: Width of each recurrent layer.
        layers: Number of stacked recurrent layers.
        dropout: Dropout on the inputs of every recurrent layer and before the output layer.
    """

    embedding_dim: int = field(default=64, metadata=EMBEDDING_FIELD)
    units: int = field(default=128, metadata=UNITS_FIELD)
    layers: int = field(default=2, metadata=LAYERS_FIELD)
    dropout: float = field(default=0.1, metadata=DROPOUT_FIELD)

    def __post_init__(self) -> None:
        check_config(
            [
                (self.embedding_dim >= 1, f"embedding_dim must be positive, got {self.embedding_dim}"),
                (self.units >= 1, f"units must be positive, got {self.units}"),
                (self.layers >= 1, f"layers must be at least 1, got {self.layers}"),
                (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
            ]
        )


def recurrent_model(
    config: RNNConfig,
    spec: InputSpec,
    recurrent: list[keras.layers.Layer],
    name: str,
    top: Callable[[keras.KerasTensor], keras.KerasTensor] | None = None,
) -> keras.Model:
    """Wire input projection -> ``recurrent`` layers -> ``top`` (if any) -> dropout -> logits.

    Args:
        top: Extra layers on the top recurrent output, e.g. the attention of ``lstm_attention``.

    Returns:
        A model from shape=(batch, time[, pitches]) to logits, shape=(batch, time, spec.size).
    """
    import keras

    from core.models import layers
    from core.models.heads import head_for

    head = head_for(spec.kind)
    # === Layers ===
    projection = head.input_projection(spec, config.embedding_dim)
    broadcast = layers.control_broadcast(spec)
    output_dropout = keras.layers.Dropout(config.dropout, name="output_dropout")
    logits = layers.output_logits(spec)
    # === Functional Model ===
    inputs = head.model_input(spec)
    hidden = projection(inputs)
    if broadcast is not None:
        hidden = broadcast(hidden)
    for layer in recurrent:
        hidden = layer(hidden)
    if top is not None:
        hidden = top(hidden)
    return keras.Model(inputs, logits(output_dropout(hidden)), name=name)


def build_rnn(config: RNNConfig, spec: InputSpec) -> keras.Model:
    """Build the SimpleRNN model; see :func:`recurrent_model` for shapes."""
    import keras

    recurrent = [
        keras.layers.SimpleRNN(config.units, return_sequences=True, dropout=config.dropout, name=f"rnn_{index}")
        for index in range(config.layers)
    ]
    return recurrent_model(config, spec, recurrent, name="rnn")


class RecurrentStep(ModelStep):
    """:func:`recurrent_model` one step at a time: each recurrent layer's cell, carrying its states.

    State: the states of every recurrent layer in order (hidden, and for LSTMs also
    cell), each shape=(batch, units), then the states of the top (:meth:`_top_state`).
    Subclasses with a ``top`` in their builder step it in :meth:`_top_step`.
    """

    def __init__(self, model: keras.Model):
        import keras

        super().__init__(model)
        self.recurrent = self._all(keras.layers.RNN)
        if not self.recurrent:
            self._mismatch("has no recurrent layers")
        # One width per state tensor of each cell: SimpleRNN has one, LSTM two (hidden, cell).
        self.state_sizes = [
            list(size) if isinstance(size, list | tuple) else [size]
            for size in (layer.cell.state_size for layer in self.recurrent)
        ]

    def _core_state(self, batch, capacity):
        import tensorflow as tf

        state = [tf.zeros((batch, size)) for sizes in self.state_sizes for size in sizes]
        return (*state, *self._top_state(batch, capacity))

    def _core_axes(self):
        return (0,) * sum(map(len, self.state_sizes)) + self._top_axes()

    def _core_step(self, hidden, state, position):
        new_state = []
        start = 0
        for layer, sizes in zip(self.recurrent, self.state_sizes):
            layer_state = list(state[start : start + len(sizes)])
            start += len(sizes)
            hidden, layer_state = layer.cell(hidden, layer_state, training=False)
            new_state += list(layer_state) if isinstance(layer_state, list | tuple) else [layer_state]
        hidden, top_state = self._top_step(hidden, state[start:], position)
        return self.logits(hidden), (*new_state, *top_state)

    def _top_state(self, batch, capacity) -> tuple:
        """Zero state of the layers on top of the recurrent ones; none here."""
        return ()

    def _top_axes(self) -> tuple[int, ...]:
        return ()

    def _top_step(self, hidden, state: tuple, position) -> tuple:
        """The top recurrent output through the ``top`` layers: (hidden, new top state)."""
        return hidden, ()
