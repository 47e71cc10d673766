"""Atomic writes: a failed save (a full disk) never damages the previous checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import TrainingError

# The temporary names the two writers below use (".history.json.tmp", ".last.tmp.keras"): what a crash leaves.
TEMPORARY_PATTERNS = (".*.tmp", ".*.tmp.keras")


def write_json_atomically(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1))
    os.replace(temporary, path)


def save_model_atomically(model, path: Path, before_replace: Callable[[str], None] | None = None) -> None:
    """Save next to ``path`` and rename over it; on failure the old file is untouched.

    Args:
        before_replace: Called with the new file's :func:`file_sha256` once it is complete and
            before it replaces ``path``: the place to record what the checkpoint holds, so that a
            crash between the two leaves a record that matches no checkpoint rather than a
            checkpoint without its record.
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


def remove_temporary_files(folder: Path) -> list[Path]:
    """Delete the temporary files interrupted atomic writes left in ``folder``; returns them.

    Only our own names (:data:`TEMPORARY_PATTERNS`) are touched; call it while no writer is at work.
    """
    leftovers = [path for pattern in TEMPORARY_PATTERNS for path in folder.glob(pattern) if path.is_file()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def rewind_history(folder: Path) -> list[dict[str, Any]]:
    """A run's ``history.json`` up to the entry written for its ``last.keras``; later entries are dropped.

    Each entry names the checkpoint it was written for (``checkpoint_sha256``, recorded
    just before the file replaced the previous one), so an entry whose save a crash cut
    short matches no file. Without a ``last.keras`` nothing was kept: the history is
    emptied. A history from before the digests were recorded is kept whole.

    Returns:
        The kept entries, oldest first; the last one holds the checkpoint's ``step``,
        ``completed_epochs`` and ``best_val_loss``.
    """
    checkpoint, history_path = folder / "last.keras", folder / "history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else []
    kept = []
    if checkpoint.exists():
        digest = file_sha256(checkpoint)
        ends = [index + 1 for index, entry in enumerate(history) if entry.get("checkpoint_sha256") == digest]
        kept = history[: ends[-1]] if ends else history
    if len(kept) < len(history):
        write_json_atomically(history_path, kept)
    return kept


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
