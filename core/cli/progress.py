"""One console progress bar for every long command."""

from __future__ import annotations

import sys


def print_progress(done: int, total: int, label: str = "") -> None:
    """A bar redrawn in place on a terminal; a line per 10% when the output is a log."""
    total = max(total, 1)
    shown = min(done, total)
    if sys.stderr.isatty():
        filled = 30 * shown // total
        print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {label}{done}/{total}", end="", file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)
    elif done <= total and shown * 10 // total != (shown - 1) * 10 // total:
        print(f"{label}{done}/{total}", file=sys.stderr, flush=True)
