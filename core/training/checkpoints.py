"""Atomic writes: a failed save (a full disk) never damages the previous checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.errors import TrainingError


def write_json_atomically(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1))
    os.replace(temporary, path)


def save_model_atomically(model, path: Path) -> None:
    """Save next to ``path`` and rename over it; on failure the old file is untouched."""
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(temporary)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise TrainingError(f"could not save the checkpoint {path.name}: {error}") from error


def export_checkpoint(run_folder: Path, destination: Path) -> Path:
    """Copy a run's best model into a standalone checkpoint folder that ships with the project.

    The model is saved without optimizer state (a third of the size; a shipped
    checkpoint is for composing, not resuming), next to the run's config.json
    (marked ``"shipped": true``), vocab.json and history.json.

    Raises:
        TrainingError: The run has no model yet, or the destination exists.
    """
    import keras

    import core.models.layers  # noqa: F401  (registers the custom layers)

    source = run_folder / "model.keras"
    if not source.is_file():
        raise TrainingError(f"{run_folder} has no model.keras yet; wait for the first epoch to finish")
    if destination.exists():
        raise TrainingError(f"{destination} already exists; delete it or choose another name")
    model = keras.models.load_model(source, compile=False)
    staging = destination.with_name(f".{destination.name}.exporting")
    staging.mkdir(parents=True)
    model.save(staging / "model.keras")
    config = json.loads((run_folder / "config.json").read_text())
    write_json_atomically(staging / "config.json", {**config, "shipped": True})
    for name in ("vocab.json", "history.json"):
        if (run_folder / name).exists():
            (staging / name).write_bytes((run_folder / name).read_bytes())
    os.replace(staging, destination)
    return destination
