"""Incremental decoding: a trained model run one step at a time, carrying its state.

Re-running a model over the whole window for every new token costs a full
forward pass per token. A step decoder instead keeps what the model already
computed: recurrent models their hidden (and cell) states, the attention LSTM
a ring buffer of its recent outputs, the transformer a key/value cache per
block. Each architecture's step decoder lives next to its builder and is
registered as :attr:`core.models.ModelSpec.decoder`; :func:`step_decoder` only
asks the registry, so a new architecture needs no change here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import CheckpointError
from core.models import MODELS
from core.models.base import StepDecoder

if TYPE_CHECKING:
    import keras

__all__ = ["StepDecoder", "step_decoder"]


def step_decoder(model: keras.Model) -> StepDecoder:
    """The incremental decoder of a model built by :func:`core.models.build_model` (or loaded from its file).

    Raises:
        CheckpointError: For a model of an architecture without a step decoder, or
            whose layers are not those its architecture builds.
    """
    if model.name not in MODELS:
        raise CheckpointError(
            f"cannot compose with a {model.name!r} model; step decoders exist for {', '.join(MODELS)}"
        )
    return MODELS[model.name].decoder(model)
