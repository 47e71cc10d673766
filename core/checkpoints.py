"""A run's checkpoint folder: its files, its versioned run config, and the one way to write files atomically.

A checkpoint is one folder per training run (``<NEUROTUNE_CHECKPOINTS>/<run-id>/``;
the shipped ones in the project's ``checkpoints/``), its files named in
:class:`CheckpointFolder` only:

- ``model.keras``: the model of the best validation loss so far (composing loads it);
- ``last.keras``: the latest model, with optimizer state (resuming loads it; not exported);
- ``config.json``: the :class:`RunConfig`, everything needed to resume and to compose;
- ``history.json``: one entry per epoch, each naming the ``last.keras`` it was written for.

Folders written before may also hold a ``vocab.json``; nothing reads it. Every
file is written to a temporary name and renamed (:func:`write_atomically`), so a
failed save (a full disk) never damages the previous one. This module imports no
TensorFlow, except to export: the Generate page and the CLI list checkpoints
without it; loading a model to compose is :mod:`core.generation.loading`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import DataConfig, TrainConfig, check_config, from_dict, to_dict
from core.data.bounds import MusicBounds
from core.data.conditioning import LAYOUT, Conditioning
from core.data.representations import Representation, get_representation
from core.errors import CheckpointError, ConfigError, TrainingError
from core.models import get_model_spec, head_for_representation, make_config
from core.settings import PROJECT_ROOT, get_settings

if TYPE_CHECKING:
    from core.store.db import RunRecord

MODEL_FILE = "model.keras"
LAST_FILE = "last.keras"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
# The temporary names the writers below use (".history.json.tmp", ".last.tmp.keras"): what a crash leaves.
TEMPORARY_PATTERNS = (".*.tmp", ".*.tmp.keras")
SHIPPED_CHECKPOINTS = PROJECT_ROOT / "checkpoints"
# Tokens per grid step for a run that did not record it: four-part Bach chorales in events measure 2.5.
DEFAULT_TOKENS_PER_STEP = 2.5


# === Atomic writes ===


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write ``data`` under a temporary name next to ``path``, then rename it over ``path``.

    A reader never sees half a file, and a failed write (a full disk) leaves the old file as it was.

    Raises:
        OSError: The file could not be written; the temporary file is removed.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(data, str):
            temporary.write_text(data)
        else:
            temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def write_json_atomically(path: Path, data: Any) -> None:
    write_atomically(path, json.dumps(data, indent=1))


def save_model_atomically(model, path: Path, before_replace: Callable[[str], None] | None = None) -> None:
    """Save a Keras model next to ``path`` and rename it over ``path``; on failure the old file is untouched.

    Args:
        before_replace: Called with the new file's :func:`file_sha256` once it is complete and
            before it replaces ``path``: the place to record what the checkpoint holds, so that a
            crash between the two leaves a record that matches no checkpoint rather than a
            checkpoint without its record.

    Raises:
        TrainingError: The model could not be saved.
    """
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(temporary)
        if before_replace:
            before_replace(file_sha256(temporary))
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise TrainingError(f"could not save the checkpoint {path.name}: {error}") from error


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# === The run config ===

# 0: the unversioned dicts of the first releases; 1: the same fields with a version, nulls spelled out.
FORMAT_VERSION = 1
# What every run config has held since the first: a dict with none of them is not ours.
_REQUIRED = (
    "run_id",
    "model",
    "model_config",
    "train",
    "representation",
    "dataset",
    "dataset_id",
    "dataset_hash",
    "data",
)


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs to be trained, resumed and composed with.

    Saved as the run's ``config.json`` and in its database record
    (:meth:`to_dict`); read back with :meth:`from_dict`, which migrates the
    layouts of older versions.

    Attributes:
        run_id: The run's id, also its folder's name.
        model: Registry name of the architecture (:data:`core.models.MODELS`).
        model_config: The architecture's config, of its registry config class.
        train: How the model is trained.
        representation: The representation the model reads and writes.
        dataset: The dataset's name when the run was created (it may be renamed since).
        dataset_id: The dataset's id, which finds it after a rename.
        dataset_hash: The dataset's cache key: which preprocessing made its arrays.
        data: The dataset's config (steps per quarter, vocabulary sizes).
        estimated_steps: Optimizer steps of the whole run: the learning-rate schedule's
            length and the progress bar's end; 0 when unknown (runs of the first versions).
        tokens_per_step: Token representations: average tokens per grid step of the
            training data, to turn a length into a token budget (``notes``: notes per grid
            step, the GAN's note budget); None for frames or when not measured.
        conditioning: The control vocabulary of a conditioned token model, else None.
        bounds: The training music's pitch range, longest note and voices, which composing
            keeps to; None for runs of versions that did not measure them.
        compose_defaults: Composing settings chosen for this checkpoint by measurement
            (flat, as :meth:`core.generation.compose.CompositionRequest.from_settings` takes them);
            the Generate page and the CLI start from them.
        shipped: True for a checkpoint exported to ship with the project.
        format_version: Layout of the saved dict; always :data:`FORMAT_VERSION` once read.
    """

    run_id: str
    model: str
    model_config: Any
    train: TrainConfig
    representation: str
    dataset: str
    dataset_id: str
    dataset_hash: str
    data: DataConfig
    estimated_steps: int = 0
    tokens_per_step: float | None = None
    conditioning: Conditioning | None = None
    bounds: MusicBounds | None = None
    compose_defaults: dict[str, Any] = field(default_factory=dict)
    shipped: bool = False
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        spec = get_model_spec(self.model)
        names = (self.run_id, self.representation, self.dataset, self.dataset_id, self.dataset_hash)
        checks = [
            (self.format_version == FORMAT_VERSION, f"format_version must be {FORMAT_VERSION}"),
            (all(isinstance(name, str) for name in names), "run, representation and dataset names must be text"),
            (
                isinstance(self.model_config, spec.config_class),
                f"model_config must be a {spec.config_class.__name__}, got {type(self.model_config).__name__}",
            ),
            (
                self.representation in spec.representations,
                f"the {self.model} model takes {', '.join(spec.representations)}, not {self.representation!r}",
            ),
            (self.estimated_steps >= 0, "estimated_steps must be >= 0"),
            (self.tokens_per_step is None or self.tokens_per_step > 0, "tokens_per_step must be positive"),
        ]
        check_config(checks, CheckpointError, config=self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout of ``config.json`` and of the run's database record, ``format_version`` first."""
        return {
            "format_version": self.format_version,
            "run_id": self.run_id,
            "model": self.model,
            "model_config": _plain(to_dict(self.model_config)),
            "train": _plain(to_dict(self.train)),
            "representation": self.representation,
            "dataset": self.dataset,
            "dataset_id": self.dataset_id,
            "dataset_hash": self.dataset_hash,
            "data": _plain(to_dict(self.data)),
            "estimated_steps": self.estimated_steps,
            "tokens_per_step": self.tokens_per_step,
            "conditioning": self.conditioning.to_json() if self.conditioning else None,
            "bounds": self.bounds.to_json() if self.bounds else None,
            "compose_defaults": dict(self.compose_defaults),
            "shipped": self.shipped,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: Any, source: str = "the run config") -> RunConfig:
        """Read a saved run config; a layout of an older version is migrated (:data:`_MIGRATIONS`).

        Args:
            data: A dict of :meth:`to_dict`'s layout, of this or an older version.
            source: What ``data`` is, for messages (``"the config.json of checkpoints/bach-lstm"``).

        Raises:
            CheckpointError: Not a NeuroTune run config, one written by a newer NeuroTune, one of
                an older layout that cannot be read without loss, or a damaged one.
        """
        if not isinstance(data, dict) or not any(key in data for key in ("format_version", *_REQUIRED)):
            raise CheckpointError(
                f"{source} is not a NeuroTune run config (it has none of {', '.join(_REQUIRED[1:4])}); "
                "it may come from another program: choose a folder made by the Train page or `python -m core train`"
            )
        version = data.get("format_version", 0)
        if type(version) is not int or version < 0:
            raise CheckpointError(f"{source} is damaged (format_version {version!r}); retrain the run or restore it")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"{source} was written by a newer NeuroTune (format {version}; this one reads up to "
                f"{FORMAT_VERSION}); update NeuroTune to use it"
            )
        for migrate in _MIGRATIONS[version:]:
            data = migrate(data, source)
        try:
            tokens_per_step = data.get("tokens_per_step")
            return cls(
                run_id=data["run_id"],
                model=data["model"],
                model_config=make_config(data["model"], data["model_config"]),
                train=from_dict(TrainConfig, data["train"]),
                representation=data["representation"],
                dataset=data["dataset"],
                dataset_id=data["dataset_id"],
                dataset_hash=data["dataset_hash"],
                data=from_dict(DataConfig, data["data"]),
                estimated_steps=int(data.get("estimated_steps") or 0),
                tokens_per_step=float(tokens_per_step) if tokens_per_step is not None else None,
                conditioning=Conditioning.from_json(data["conditioning"]) if data.get("conditioning") else None,
                bounds=MusicBounds.from_json(data["bounds"]) if data.get("bounds") else None,
                compose_defaults=dict(data.get("compose_defaults") or {}),
                shipped=bool(data.get("shipped", False)),
            )
        except KeyError as error:
            raise CheckpointError(
                f"{source} is damaged (no {error.args[0]!r}); retrain the run or restore it"
            ) from None
        except (TypeError, ValueError, AttributeError, ConfigError, CheckpointError) as error:
            raise CheckpointError(f"{source} is damaged ({error}); retrain the run or restore it") from error

    @classmethod
    def from_json(cls, text: str, source: str = "the run config") -> RunConfig:
        """:meth:`from_dict` of JSON text.

        Raises:
            CheckpointError: Text that is not JSON, or as :meth:`from_dict`.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CheckpointError(f"{source} is damaged ({error}); retrain the run or restore it") from error
        return cls.from_dict(data, source)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """A flat config dict as JSON reads it back: tuples as lists."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}


def _from_format_0(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The unversioned dicts: the same fields, ``estimated_steps``, ``tokens_per_step`` and
    ``conditioning`` absent in the earliest ones (read as unknown, not measured, unconditioned).

    Raises:
        CheckpointError: A required field missing, or controls of the layout before keys (style,
            mode and density per piece), which no model of this version can use.
    """
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise CheckpointError(
            f"{source} was written by an older NeuroTune (format 0) and lacks {', '.join(missing)}; "
            "it cannot be read: train the model again"
        )
    conditioning = data.get("conditioning")
    if conditioning and (not isinstance(conditioning, dict) or tuple(conditioning.get("layout", ())) != LAYOUT):
        raise CheckpointError(
            f"{source} was written by an older NeuroTune (format 0) whose control tokens were style, mode and "
            "density per piece (now style, key and window density); train the model again to compose with it"
        )
    return {**data, "format_version": 1}


# Migration i turns a dict of format i into one of format i + 1.
_MIGRATIONS: tuple[Callable[[dict[str, Any], str], dict[str, Any]], ...] = (_from_format_0,)


def run_config(run: RunRecord) -> RunConfig:
    """The config of a run's database record (its JSON column holds :meth:`RunConfig.to_dict`).

    Raises:
        CheckpointError: As :meth:`RunConfig.from_dict`.
    """
    return RunConfig.from_dict(run.config, f"the config of run {run.id}")


# === The folder ===


@dataclass(frozen=True)
class CheckpointFolder:
    """The files of one checkpoint folder: their names, reading and writing them."""

    path: Path

    @property
    def model(self) -> Path:
        """Best validation loss so far."""
        return self.path / MODEL_FILE

    @property
    def last(self) -> Path:
        """Latest, with optimizer state: resuming loads it."""
        return self.path / LAST_FILE

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def history(self) -> Path:
        return self.path / HISTORY_FILE

    def read_config(self) -> RunConfig:
        """The folder's run config, older layouts migrated.

        Raises:
            CheckpointError: No config.json, or one that cannot be read (see :meth:`RunConfig.from_dict`).
        """
        try:
            text = self.config.read_text()
        except FileNotFoundError:
            raise CheckpointError(f"{self.path} has no {CONFIG_FILE}; it is not a NeuroTune checkpoint") from None
        return RunConfig.from_json(text, f"the {CONFIG_FILE} of {self.path}")

    def write_config(self, config: RunConfig) -> None:
        write_atomically(self.config, config.to_json())

    def read_history(self) -> list[dict[str, Any]]:
        """The epochs' entries, oldest first; empty before the first epoch ends.

        Raises:
            CheckpointError: A history.json that is not a list of entries.
        """
        if not self.history.exists():
            return []
        try:
            history = json.loads(self.history.read_text())
        except json.JSONDecodeError as error:
            raise CheckpointError(f"the {HISTORY_FILE} of {self.path} is damaged ({error})") from error
        if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
            raise CheckpointError(f"the {HISTORY_FILE} of {self.path} is damaged (not a list of epochs)")
        return history

    def append_history(self, entry: dict[str, Any]) -> None:
        write_json_atomically(self.history, [*self.read_history(), entry])

    def remove_temporary_files(self) -> list[Path]:
        """Delete the temporary files interrupted atomic writes left; returns them.

        Only our own names (:data:`TEMPORARY_PATTERNS`) are touched; call it while no writer is at work.
        """
        leftovers = [path for pattern in TEMPORARY_PATTERNS for path in self.path.glob(pattern) if path.is_file()]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def rewind_history(self) -> list[dict[str, Any]]:
        """The history up to the entry written for ``last.keras``; later entries are dropped from the file.

        Each entry names the checkpoint it was written for (``checkpoint_sha256``, recorded
        just before the file replaced the previous one), so an entry whose save a crash cut
        short matches no file. Without a ``last.keras`` nothing was kept: the history is
        emptied. A history from before the digests were recorded is kept whole.

        Returns:
            The kept entries, oldest first; the last one holds the checkpoint's ``step``,
            ``completed_epochs`` and ``best_val_loss``.
        """
        history = self.read_history()
        kept = []
        if self.last.exists():
            digest = file_sha256(self.last)
            ends = [index + 1 for index, entry in enumerate(history) if entry.get("checkpoint_sha256") == digest]
            recorded = any("checkpoint_sha256" in entry for entry in history)
            # No entry names this file: a history from before digests is kept whole; one with digests
            # describes other files, so nothing in it can be trusted.
            kept = history[: ends[-1]] if ends else ([] if recorded else history)
        if len(kept) < len(history):
            write_json_atomically(self.history, kept)
        return kept


# === Listing ===


@dataclass(frozen=True)
class CheckpointInfo:
    """What the model selector shows about a checkpoint, read without loading the model.

    Attributes:
        path: The folder, resolved.
        name: The folder's name.
        config: Its run config.
        val_loss: Best validation value of the head's monitor (:attr:`monitor_label`: the loss of a
            sequence model, a GAN's feature distance), or None before the first validation.
        epochs: Epochs trained.
        created: When the model file was last written.
    """

    path: Path
    name: str
    config: RunConfig
    val_loss: float | None
    epochs: int
    created: datetime

    @property
    def folder(self) -> CheckpointFolder:
        return CheckpointFolder(self.path)

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def dataset(self) -> str:
        return self.config.dataset

    @property
    def representation(self) -> str:
        return self.config.representation

    @property
    def shipped(self) -> bool:
        """True for the checkpoints that come with the project (``python -m core runs export``)."""
        return self.config.shipped

    @property
    def data_config(self) -> DataConfig:
        return self.config.data

    @property
    def conditioning(self) -> Conditioning | None:
        return self.config.conditioning

    @property
    def codec(self) -> Representation:
        return get_representation(self.representation, self.data_config)

    @property
    def tokens_per_step(self) -> float:
        """Average tokens per grid step of the training data (melody: 1), to turn a length into a token budget."""
        return self.config.tokens_per_step or DEFAULT_TOKENS_PER_STEP

    @property
    def monitor_label(self) -> str:
        """What :attr:`val_loss` measures, for people: a GAN has no loss to validate (its head's monitor)."""
        return head_for_representation(self.representation).monitor_label

    @property
    def label(self) -> str:
        monitor = head_for_representation(self.representation).monitor.replace("_", " ")
        loss = f"val {monitor} {self.val_loss:.3f}" if self.val_loss is not None else "not validated"
        return f"{self.name} · {self.model} on {self.dataset} ({self.representation}, {loss})"


def checkpoint_info(path: Path | str) -> CheckpointInfo:
    """Read a checkpoint's metadata; a damaged history reads as no epochs.

    Raises:
        CheckpointError: Not a folder, no model file, a missing or unreadable config.json.
    """
    path = Path(path)
    folder = CheckpointFolder(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a checkpoint folder")
    if not folder.model.is_file():
        raise CheckpointError(f"{path} has no {MODEL_FILE}: the run has not saved a model yet, or it was deleted")
    config = folder.read_config()
    try:
        history = folder.read_history()
    except CheckpointError:
        history = []
    # The head's monitor picks the best model (a GAN's is its feature distance, it has no val_loss).
    monitored = f"val_{head_for_representation(config.representation).monitor}"
    losses = [row[monitored] for row in history if isinstance(row.get(monitored), (int, float))]
    return CheckpointInfo(
        path=path.resolve(),
        name=path.name,
        config=config,
        val_loss=min(losses) if losses else None,
        epochs=max((int(row.get("epoch", 0)) for row in history), default=0),
        created=datetime.fromtimestamp(folder.model.stat().st_mtime),
    )


def list_checkpoints() -> list[CheckpointInfo]:
    """Every usable checkpoint: shipped ones first by name, then the newest runs first. Broken folders are skipped."""
    roots = dict.fromkeys([SHIPPED_CHECKPOINTS.resolve(), get_settings().checkpoints])
    found: dict[Path, CheckpointInfo] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for path in root.iterdir():
            if CheckpointFolder(path).model.is_file() and path.resolve() not in found:
                try:
                    found[path.resolve()] = checkpoint_info(path)
                except CheckpointError:
                    continue
    return sorted(
        found.values(),
        key=lambda info: (not info.shipped, info.name if info.shipped else "", -info.created.timestamp()),
    )


# === Export ===


def export_checkpoint(run_folder: Path, destination: Path) -> Path:
    """Copy a run's best model into a standalone checkpoint folder that ships with the project.

    The model is saved without optimizer state (a third of the size; a shipped
    checkpoint is for composing, not resuming), next to the run's config
    (marked ``shipped``) and history.

    Raises:
        TrainingError: The run has no model yet, or the destination exists.
        CheckpointError: The run's config.json cannot be read.
    """
    source = CheckpointFolder(run_folder)
    if not source.model.is_file():
        raise TrainingError(f"{run_folder} has no {MODEL_FILE} yet; wait for the first epoch to finish")
    if destination.exists():
        raise TrainingError(f"{destination} already exists; delete it or choose another name")
    config = source.read_config()

    import keras

    import core.models.layers  # noqa: F401  (registers the custom layers)

    model = keras.models.load_model(source.model, compile=False)
    staging = CheckpointFolder(destination.with_name(f".{destination.name}.exporting"))
    staging.path.mkdir(parents=True)
    model.save(staging.model)
    staging.write_config(dataclasses.replace(config, shipped=True))
    if source.history.exists():
        shutil.copyfile(source.history, staging.history)
    os.replace(staging.path, destination)
    return destination
