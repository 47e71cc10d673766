"""All settings in one place, read from environment variables.

``NEUROTUNE_HOME``         datasets, runs, generated pieces and the SQLite file (default ``./data``)
``NEUROTUNE_DB_URL``       any SQLAlchemy URL (default a SQLite file under ``NEUROTUNE_HOME``)
``NEUROTUNE_SOUNDFONT``    a ``.sf2`` file to render audio with (default: discovered)
``NEUROTUNE_CHECKPOINTS``  shipped and new training runs (default ``checkpoints/``)

Settings are read on every call to :func:`get_settings`, so tests can point
``NEUROTUNE_HOME`` at a temporary folder with ``monkeypatch.setenv``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    soundfont: Path | None
    checkpoints: Path

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def corpora_dir(self) -> Path:
        """Bundled corpora converted to MIDI on first use."""
        return self.home / "corpora"

    @property
    def cache_dir(self) -> Path:
        """Per-file preprocessing results, shared between datasets."""
        return self.home / "cache"


def get_settings() -> Settings:
    home = Path(os.environ.get("NEUROTUNE_HOME") or PROJECT_ROOT / "data").resolve()
    db_url = os.environ.get("NEUROTUNE_DB_URL") or f"sqlite:///{home / 'neurotune.db'}"
    soundfont = os.environ.get("NEUROTUNE_SOUNDFONT")
    checkpoints = Path(os.environ.get("NEUROTUNE_CHECKPOINTS") or PROJECT_ROOT / "checkpoints")
    return Settings(
        home=home,
        db_url=db_url,
        soundfont=Path(soundfont) if soundfont else None,
        checkpoints=checkpoints.resolve(),
    )
