"""All settings in one place, read from environment variables.

``NEUROTUNE_HOME``            datasets, runs, generated pieces and the SQLite file (default ``./data``)
``NEUROTUNE_DB_URL``          any SQLAlchemy URL (default a SQLite file under ``NEUROTUNE_HOME``)
``NEUROTUNE_SOUNDFONT``       a ``.sf2`` file to render audio with (default: discovered)
``NEUROTUNE_CHECKPOINTS``     shipped and new training runs (default ``checkpoints/``)
``NEUROTUNE_CACHE``           preprocessed files, shared by every dataset built from them (default ``cache`` in the home):
                              homes pointed at one cache read a file once between them
``NEUROTUNE_ADDRESS``         the address the app serves on (default ``localhost``: this machine only)
``NEUROTUNE_ADMIN_PASSWORD``  when set, needed for everything that changes state or costs a lot;
                              also read from Streamlit's secrets file (``.streamlit/secrets.toml``)
``NEUROTUNE_OPEN_COMPOSE``    ``1``: anyone who reaches the app may compose, even with a password set
``NEUROTUNE_DEVICES``         what training runs on (:mod:`core.training.device`): ``auto`` (default) the GPUs
                              TensorFlow sees, else the CPU; ``cpu`` the CPU even beside GPUs; ``cpu:N`` the CPU
                              split into N logical devices under MirroredStrategy (the multi-device path without GPUs)
``NEUROTUNE_PRECISION``       ``auto`` (default): mixed precision on GPUs, float32 on the CPU; ``mixed`` or ``float32``
                              forces one (``mixed`` on the CPU is slow: it exists to test that path without a GPU)
``NEUROTUNE_MULTI_WORKER``    ``1``: train across the machines of ``TF_CONFIG`` (MultiWorkerMirroredStrategy)
``NEUROTUNE_XLA``             ``0``: compile the sampling loop without XLA (default ``1``): it starts composing a second or two
                              sooner per new length and batch and composes slower per token (the tests use it)
``NEUROTUNE_WARM_UP``         ``0``: the Generate page does not compile a model's sampler in the background when it
                              opens (default ``1``; off, the first Compose of each length compiles it)

Settings are read on every call to :func:`get_settings`, so tests can point
``NEUROTUNE_HOME`` at a temporary folder with ``monkeypatch.setenv``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PASSWORD_VARIABLE = "NEUROTUNE_ADMIN_PASSWORD"
# Where Streamlit itself looks for secrets: the project's folder first, then the user's.
SECRETS_FILES = (PROJECT_ROOT / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml")
# NEUROTUNE_PRECISION's words -> the Keras dtype policy forced (None: chosen by the device).
PRECISIONS = {"auto": None, "mixed": "mixed_float16", "float32": "float32"}


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str = field(repr=False)  # may hold a password: show it through core.access.mask_url
    soundfont: Path | None
    checkpoints: Path
    address: str = "localhost"
    admin_password: str | None = field(default=None, repr=False)
    open_compose: bool = False
    cpu_devices: int | None = None  # None: GPUs when there are any; N: the CPU only, as N logical devices
    precision: str | None = None  # a Keras dtype policy to train in; None: mixed_float16 on GPUs, else float32
    multi_worker: bool = False
    warm_up: bool = True
    xla: bool = True
    cache: Path | None = None  # None: ``cache`` in the home

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
        return self.cache or self.home / "cache"


def _secret_password() -> str | None:
    """The admin password from Streamlit's secrets file, read without importing Streamlit."""
    for path in SECRETS_FILES:
        try:
            secrets = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        value = secrets.get(PASSWORD_VARIABLE)
        if isinstance(value, str) and value:
            return value
    return None


def _cpu_devices(text: str) -> int | None:
    """``auto`` -> None, ``cpu`` -> 1, ``cpu:N`` -> N.

    Raises:
        ConfigError: Anything else.
    """
    text = text.strip().lower() or "auto"
    if text == "auto":
        return None
    kind, _, count = text.partition(":")
    if kind == "cpu" and (not count or count.isdigit() and int(count) >= 1):
        return int(count or 1)
    raise ConfigError(f"NEUROTUNE_DEVICES must be auto, cpu or cpu:N with N >= 1 (e.g. cpu:2), not {text!r}")


def _precision(text: str) -> str | None:
    """``auto`` -> None, ``mixed`` -> ``mixed_float16``, ``float32`` -> ``float32``.

    Raises:
        ConfigError: Anything else.
    """
    text = text.strip().lower() or "auto"
    if text not in PRECISIONS:
        raise ConfigError(f"NEUROTUNE_PRECISION must be one of {', '.join(PRECISIONS)}, not {text!r}")
    return PRECISIONS[text]


def get_settings() -> Settings:
    """The settings of the environment now.

    Raises:
        ConfigError: NEUROTUNE_DEVICES or NEUROTUNE_PRECISION holds a value it cannot take.
    """
    home = Path(os.environ.get("NEUROTUNE_HOME") or PROJECT_ROOT / "data").resolve()
    db_url = os.environ.get("NEUROTUNE_DB_URL") or f"sqlite:///{home / 'neurotune.db'}"
    soundfont = os.environ.get("NEUROTUNE_SOUNDFONT")
    checkpoints = Path(os.environ.get("NEUROTUNE_CHECKPOINTS") or PROJECT_ROOT / "checkpoints")
    cache = os.environ.get("NEUROTUNE_CACHE")
    return Settings(
        home=home,
        db_url=db_url,
        soundfont=Path(soundfont) if soundfont else None,
        checkpoints=checkpoints.resolve(),
        address=os.environ.get("NEUROTUNE_ADDRESS", "").strip() or "localhost",
        admin_password=os.environ.get(PASSWORD_VARIABLE) or _secret_password(),
        open_compose=_flag("NEUROTUNE_OPEN_COMPOSE"),
        cpu_devices=_cpu_devices(os.environ.get("NEUROTUNE_DEVICES", "")),
        precision=_precision(os.environ.get("NEUROTUNE_PRECISION", "")),
        multi_worker=_flag("NEUROTUNE_MULTI_WORKER"),
        warm_up=_on_unless_off("NEUROTUNE_WARM_UP"),
        xla=_on_unless_off("NEUROTUNE_XLA"),
        cache=Path(cache).resolve() if cache else None,
    )


def _flag(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes")


def _on_unless_off(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() not in ("0", "false", "no")
