"""Finding checkpoints to compose with, and loading one with everything composing needs.

A checkpoint is a run folder (see :mod:`core.training.trainer`): ``model.keras``
plus ``config.json``, ``vocab.json`` and ``history.json``. The app lists the
shipped ones in the project's ``checkpoints/`` and the runs under
``NEUROTUNE_CHECKPOINTS``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.config import DataConfig, TrainConfig, from_dict
from core.data.conditioning import Conditioning
from core.data.representations import Representation, get_representation
from core.errors import CheckpointError, ConfigError
from core.settings import PROJECT_ROOT, get_settings

SHIPPED_CHECKPOINTS = PROJECT_ROOT / "checkpoints"
MODEL_FILE = "model.keras"
# Tokens per grid step for a run that did not record it: four-part Bach chorales in events measure 2.5.
DEFAULT_TOKENS_PER_STEP = 2.5


@dataclass(frozen=True)
class CheckpointInfo:
    """What the model selector shows about a checkpoint, read without loading the model.

    Attributes:
        path: The run folder.
        name: The folder name.
        model: Architecture (registry name).
        dataset: Dataset it was trained on.
        representation: Representation it reads and writes.
        val_loss: Best validation loss, or None before the first validation.
        epochs: Epochs trained.
        created: When the model file was last written.
        shipped: True for the checkpoints that come with the project (``python -m core runs export``).
        config: The run's config.json.
    """

    path: Path
    name: str
    model: str
    dataset: str
    representation: str
    val_loss: float | None
    epochs: int
    created: datetime
    shipped: bool
    config: dict

    @property
    def data_config(self) -> DataConfig:
        return from_dict(DataConfig, self.config["data"])

    @property
    def train_config(self) -> TrainConfig:
        return from_dict(TrainConfig, self.config["train"])

    @property
    def conditioning(self) -> Conditioning | None:
        return Conditioning.of_run(self.config)

    @property
    def codec(self) -> Representation:
        return get_representation(self.representation, self.data_config)

    @property
    def label(self) -> str:
        loss = f"val loss {self.val_loss:.3f}" if self.val_loss is not None else "not validated"
        return f"{self.name} · {self.model} on {self.dataset} ({self.representation}, {loss})"


def checkpoint_info(path: Path | str) -> CheckpointInfo:
    """Read a checkpoint's metadata.

    Raises:
        CheckpointError: Not a folder, no model file, a missing or unreadable config.json.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a checkpoint folder")
    model_file = path / MODEL_FILE
    if not model_file.is_file():
        raise CheckpointError(f"{path} has no {MODEL_FILE}: the run has not saved a model yet, or it was deleted")
    try:
        config = json.loads((path / "config.json").read_text())
        model, dataset, representation = config["model"], config["dataset"], config["representation"]
        from_dict(DataConfig, config["data"])
    except FileNotFoundError as error:
        raise CheckpointError(f"{path} has no config.json; it is not a NeuroTune checkpoint") from error
    except (json.JSONDecodeError, KeyError, TypeError, ConfigError) as error:
        raise CheckpointError(f"the config.json of {path} is damaged ({error}); retrain or restore it") from error
    history_path = path / "history.json"
    try:
        history = json.loads(history_path.read_text()) if history_path.exists() else []
    except json.JSONDecodeError:
        history = []
    losses = [row["val_loss"] for row in history if isinstance(row.get("val_loss"), (int, float))]
    return CheckpointInfo(
        path=path.resolve(),
        name=path.name,
        model=model,
        dataset=dataset,
        representation=representation,
        val_loss=min(losses) if losses else None,
        epochs=max((int(row.get("epoch", 0)) for row in history), default=0),
        created=datetime.fromtimestamp(model_file.stat().st_mtime),
        shipped=bool(config.get("shipped")),
        config=config,
    )


def list_checkpoints() -> list[CheckpointInfo]:
    """Every usable checkpoint: shipped ones first by name, then the newest runs first. Broken folders are skipped."""
    roots = dict.fromkeys([SHIPPED_CHECKPOINTS.resolve(), get_settings().checkpoints])
    found: dict[Path, CheckpointInfo] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for folder in root.iterdir():
            if (folder / MODEL_FILE).is_file() and folder.resolve() not in found:
                try:
                    found[folder.resolve()] = checkpoint_info(folder)
                except CheckpointError:
                    continue
    return sorted(
        found.values(),
        key=lambda info: (not info.shipped, info.name if info.shipped else "", -info.created.timestamp()),
    )


@dataclass
class LoadedCheckpoint:
    """A checkpoint ready to compose with: its metadata, the Keras model and its step decoder."""

    info: CheckpointInfo
    model: object
    decoder: object


def load_checkpoint(path: Path | str) -> LoadedCheckpoint:
    """Load a checkpoint's model and check it against its config.

    Raises:
        CheckpointError: A corrupt or truncated model file, or a model whose
            output does not match the vocabulary its config describes.
    """
    import keras

    import core.models.layers  # noqa: F401  (registers the custom layers)
    from core.generation.decoding import step_decoder

    info = checkpoint_info(path)
    model_file = info.path / MODEL_FILE
    if not zipfile.is_zipfile(model_file):
        raise CheckpointError(f"{model_file} is not a Keras model file (damaged or truncated); retrain the run")
    try:
        model = keras.models.load_model(model_file, compile=False)
    except Exception as error:  # Keras raises many types for a damaged archive
        raise CheckpointError(f"{model_file} could not be loaded ({type(error).__name__}: {error})") from error
    codec = info.codec
    expected = info.conditioning.vocab_size if info.conditioning else codec.size
    produced = int(model.outputs[0].shape[-1])
    if produced != expected or model.name != info.model:
        raise CheckpointError(
            f"{info.path} does not match its config: the model is a {model.name} with {produced} outputs, "
            f"the config describes a {info.model} over the {info.representation} representation "
            f"with {expected}; the folder mixes files of different runs"
        )
    return LoadedCheckpoint(info, model, step_decoder(model))


def tokens_per_step(info: CheckpointInfo) -> float:
    """Average tokens per grid step of the training data (melody: 1), to turn a length into a token budget."""
    return float(info.config.get("tokens_per_step") or DEFAULT_TOKENS_PER_STEP)
