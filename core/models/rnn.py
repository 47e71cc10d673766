"""Embedding, stacked SimpleRNN layers and a dense output: the baseline.

The recurrent layers are named ``rnn_0``, ``rnn_1``, ... so that generation can
run them one step at a time, carrying their states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import check_config

if TYPE_CHECKING:
    import keras

    from core.models.base import InputSpec


@dataclass(frozen=True)
class RNNConfig:
    """Sizes of the plain recurrent model.

    Attributes:
        embedding_dim: Width of the token embedding (or frame projection).
        units: Width of each recurrent layer.
        layers: Number of stacked recurrent layers.
        dropout: Dropout on the inputs of every recurrent layer and before the output layer.
    """

    embedding_dim: int = 64
    units: int = 128
    layers: int = 2
    dropout: float = 0.1

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

    # === Layers ===
    projection = layers.input_projection(spec, config.embedding_dim)
    broadcast = layers.control_broadcast(spec)
    output_dropout = keras.layers.Dropout(config.dropout, name="output_dropout")
    logits = layers.output_logits(spec)
    # === Functional Model ===
    inputs = layers.sequence_input(spec)
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
