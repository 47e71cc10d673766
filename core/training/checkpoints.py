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
