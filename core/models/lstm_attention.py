"""Stacked LSTM whose output attends over its own past outputs, after Magenta's attention_rnn.

At every step the top LSTM output ``h_t`` attends causally over ``h_s`` for the
last ``attention_window`` steps ``s <= t`` (:class:`core.models.layers.CausalAttention`);
the context and ``h_t`` are combined by a tanh layer (Luong's attentional hidden
state) before the output logits. Unlike Magenta, the context is not fed back into
the next LSTM input, so training runs the LSTM as one fused sequence op.
Generation (:class:`AttentionLSTMStep`) steps the LSTM cells and keeps the last
``attention_window`` top outputs in a ring buffer for the attention.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.config import check_config
from core.models.base import ATTENTION_SCORES
from core.models.lstm import LSTMConfig, lstm_layers
from core.models.rnn import RecurrentStep, recurrent_model

if TYPE_CHECKING:
    import keras

    from core.models.base import InputSpec


@dataclass(frozen=True)
class LSTMAttentionConfig(LSTMConfig):
    """Sizes of the attention LSTM; fields as :class:`core.models.lstm.LSTMConfig`, plus:

    Attributes:
        attention: ``"additive"`` (Bahdanau, as Magenta) or ``"dot"`` (scaled Luong).
        attention_window: Number of past outputs attended to, the current one
            included (Magenta's ``attn_length`` is 40); 0 attends to all. Additive
            attention costs memory of order batch * time * window * units.
    """

    attention: str = field(
        default="additive",
        metadata={
            "label": "Attention score",
            "help": "How a past output is scored against the current one: additive (as Magenta) or scaled dot product",
            "choices": ATTENTION_SCORES,
            "advanced": True,
        },
    )
    attention_window: int = field(
        default=40,
        metadata={
            "label": "Attention window (steps)",
            "help": "How many past outputs the model looks back over, the current one included; 0: all",
            "min": 0,
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(
            [
                (
                    self.attention in ATTENTION_SCORES,
                    f"attention must be one of {', '.join(ATTENTION_SCORES)}, got {self.attention!r}",
                ),
                (self.attention_window >= 0, f"attention_window must be >= 0, got {self.attention_window}"),
            ]
        )


def build_lstm_attention(config: LSTMAttentionConfig, spec: InputSpec) -> keras.Model:
    """Build the attention LSTM.

    Returns:
        A model from shape=(batch, time[, pitches]) to logits, shape=(batch, time, spec.size).
    """
    import keras

    from core.models import layers

    # === Layers ===
    attention = layers.CausalAttention(
        config.units, score=config.attention, window=config.attention_window, name="attention"
    )
    concatenate = keras.layers.Concatenate(name="attention_concat")
    combine = keras.layers.Dense(config.units, activation="tanh", name="attention_combine")
    # === Functional Model ===
    return recurrent_model(
        config,
        spec,
        lstm_layers(config),
        name="lstm_attention",
        top=lambda hidden: combine(concatenate([hidden, attention(hidden)])),
    )


class AttentionLSTMStep(RecurrentStep):
    """:func:`build_lstm_attention` one step at a time.

    State: the LSTM states (:class:`core.models.rnn.RecurrentStep`), then ring buffers of
    the attention's keys, shape=(slots, batch, units), and values (the top LSTM outputs),
    shape=(slots, batch, lstm units); ``slots`` is the attention window, or the whole
    sequence when it is 0 (:meth:`core.models.layers.CausalAttention.step`).
    """

    def __init__(self, model: keras.Model):
        import keras

        from core.models.layers import CausalAttention

        super().__init__(model)
        self.attention = self._one(CausalAttention)
        self.concatenate = self._one(keras.layers.Concatenate)
        # The tanh layer the concatenation feeds: the next layer in graph order.
        self.combine = self.layers[self.layers.index(self.concatenate) + 1]
        if not isinstance(self.combine, keras.layers.Dense):
            self._mismatch("has no Dense layer after its attention")

    def _top_state(self, batch, capacity):
        import tensorflow as tf

        slots = self.attention.window or capacity
        units = self.recurrent[-1].cell.units
        return tf.zeros((slots, batch, self.attention.units)), tf.zeros((slots, batch, units))

    def _top_axes(self):
        return (1, 1)

    def _top_step(self, hidden, state, position):
        keys, values = state
        context, keys, values = self.attention.step(hidden, keys, values, position)
        return self.combine(self.concatenate([hidden, context])), (keys, values)
