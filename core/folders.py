"""Folders under the data home: made when missing, or one clear error saying why they cannot be.

Apart from the database layer, so that processes which only read files (the sandboxed MIDI readers)
start without loading it.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import StoreError, describe_os_error

# Set either to a folder or database this user can write to.
WRITABLE_HOME_FIX = "set NEUROTUNE_HOME (or NEUROTUNE_DB_URL) to a place this user can write to"


def data_folder(path: Path) -> Path:
    """``path``, created if missing: a folder under the data home that this user can write to.

    Raises:
        StoreError: The folder cannot be made (a file in the way, no permission, a read-only or full disk)
            or is not writable.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot use the data folder {path}: {describe_os_error(error)}; {WRITABLE_HOME_FIX}"
        ) from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(f"cannot use the data folder {path}: this user may not write to it; {WRITABLE_HOME_FIX}")
    return path
