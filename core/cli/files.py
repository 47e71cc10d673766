"""Output files a command writes: checked before the work starts, written with a clear error."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import ConfigError, describe_os_error


def check_writable(path: Path | None, flag: str, example: str) -> None:
    """Refuse an output path that cannot be written, before minutes of work: a folder, or a folder
    that cannot be made or written to. Missing folders are made here.

    Raises:
        ConfigError: Saying which path and why.
    """
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give a file name such as {path / example}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot write {flag} {path}: {describe_os_error(error)}") from error
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {flag} {path}: this user may not write to {path.parent}")


def write_output(path: Path, data: bytes | str) -> None:
    """Write a command's output file; a full disk or a vanished folder is one clear error."""
    try:
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {describe_os_error(error)}") from error
