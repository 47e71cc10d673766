"""Background work as OS processes: what training runs and evaluation jobs share.

A job is a row in the store plus, while it runs, a ``python -m core ...`` process
of its own. These helpers start such a process, tell whether it still lives, and
keep two pages from scheduling the same job twice.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from core.folders import data_folder
from core.settings import PROJECT_ROOT, get_settings


@contextmanager
def scheduler_lock(name: str) -> Iterator[None]:
    """One scheduler of ``name`` at a time on this machine (a file lock in the data folder)."""
    path = data_folder(get_settings().home) / f"{name}.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def process_alive(pid: int | None, started_at: float | None) -> bool:
    """Whether ``pid`` still runs and is the process started at ``started_at`` (pids are reused)."""
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started_at is None or abs(process.create_time() - started_at) < 1.0
    except psutil.Error:
        return False


def identity(pid: int | None = None) -> tuple[int, float]:
    """(pid, start time) of a process, this one by default: what a job row records to find it again."""
    process = psutil.Process(pid)
    return process.pid, process.create_time()


def child_environment(**changes: str | None) -> dict[str, str]:
    """The environment of a Python child process started with ``python -c``: the parent's import path, as
    multiprocessing's spawn passes it, so that ``core`` imports; TensorFlow's start-up chatter off; ``changes``
    applied (None removes a variable)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    for name, value in changes.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


def start_background(arguments: list[str], log: Path) -> tuple[int, float]:
    """Start ``python -m core <arguments>`` in its own session, its output appended to ``log``.

    Returns:
        The new process's :func:`identity`.
    """
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "core", *arguments],
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
    return identity(process.pid)
