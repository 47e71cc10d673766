"""Loading a checkpoint's Keras model with everything composing needs (imports TensorFlow).

Finding checkpoints and reading their configs, without TensorFlow, is :mod:`core.checkpoints`.
"""

from __future__ import annotations

import gc
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.checkpoints import CheckpointInfo, checkpoint_info
from core.errors import CheckpointError


@dataclass
class LoadedCheckpoint:
    """A checkpoint ready to compose with: its metadata, the Keras model and its step decoder."""

    info: CheckpointInfo
    model: object
    decoder: object


def free_dropped_models() -> None:
    """Free the models dropped since the last load: a full collection, run before every load.

    A dropped model is a web of reference cycles that only a full collection frees, and beside TensorFlow's
    objects Python runs one rarely: a server switching models (the Generate page keeps the last four) or an
    evaluation of several would grow by each. A load takes seconds; the collection, a fraction of one.
    """
    gc.collect()


def load_checkpoint(path: Path | str) -> LoadedCheckpoint:
    """Load a checkpoint's model and check it against its config.

    Raises:
        CheckpointError: A missing or unreadable config, a corrupt or truncated model
            file, or a model whose output does not match the vocabulary its config describes.
    """
    import keras

    import core.models.layers  # noqa: F401  (registers the custom layers)
    from core.generation.decoding import step_decoder

    info = checkpoint_info(path)
    model_file = info.folder.model
    if not zipfile.is_zipfile(model_file):
        raise CheckpointError(f"{model_file} is not a Keras model file (damaged or truncated); retrain the run")
    free_dropped_models()
    try:
        model = keras.models.load_model(model_file, compile=False)
    except Exception as error:  # Keras raises many types for a damaged archive
        raise CheckpointError(f"{model_file} could not be loaded ({type(error).__name__}: {error})") from error
    expected = info.conditioning.vocab_size if info.conditioning else info.codec.size
    decoder = step_decoder(model)
    if decoder.size != expected or model.name != info.model:
        raise CheckpointError(
            f"{info.path} does not match its config: the model is a {model.name} with {decoder.size} outputs, "
            f"the config describes a {info.model} over the {info.representation} representation "
            f"with {expected}; the folder mixes files of different runs"
        )
    return LoadedCheckpoint(info, model, decoder)
