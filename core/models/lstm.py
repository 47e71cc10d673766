"""Embedding, stacked LSTM layers and a dense output, as Magenta's basic_rnn.

Generation steps them with :class:`core.models.rnn.RecurrentStep`. With
``recurrent_dropout == 0`` they use the fused cuDNN kernel on GPU; any recurrent
dropout disables it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.config import check_config
from core.models.rnn import DROPOUT_FIELD, UNITS_FIELD, RNNConfig, recurrent_model

if TYPE_CHECKING:
    import keras

    from core.models.base import InputSpec


@dataclass(frozen=True)
class LSTMConfig(RNNConfig):
    """Sizes of the LSTM model; fields as :class:`RNNConfig`, plus:

    Attributes:
        recurrent_dropout: Dropout on the recurrent state (slow: no cuDNN).
    """

    units: int = field(default=256, metadata=UNITS_FIELD)
    dropout: float = field(default=0.2, metadata=DROPOUT_FIELD)
    recurrent_dropout: float = field(
        default=0.0,
        metadata={
            "label": "Recurrent dropout",
            "help": "Dropout on the state carried from step to step; slow: it turns off the fast cuDNN kernel",
            "min": 0.0,
            "max": 0.95,
            "step": 0.05,
            "advanced": True,
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(
            [(0 <= self.recurrent_dropout < 1, f"recurrent_dropout must be in [0, 1), got {self.recurrent_dropout}")]
        )


def lstm_layers(config: LSTMConfig) -> list[keras.layers.LSTM]:
    """The stacked LSTM layers, each returning its whole sequence, shape=(batch, time, units)."""
    import keras

    return [
        keras.layers.LSTM(
            config.units,
            return_sequences=True,
            dropout=config.dropout,
            recurrent_dropout=config.recurrent_dropout,
            name=f"lstm_{index}",
        )
        for index in range(config.layers)
    ]


def build_lstm(config: LSTMConfig, spec: InputSpec) -> keras.Model:
    """Build the LSTM model; see :func:`core.models.rnn.recurrent_model` for shapes."""
    return recurrent_model(config, spec, lstm_layers(config), name="lstm")
