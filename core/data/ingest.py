"""Validate and preprocess untrusted MIDI files in sandboxed worker processes.

Why: what a file costs to read depends on its content, not its size. Before
symusic and the chunk pre-scan, a dense 4.9 MB file inside the size limit took
40 s and 570 MB, and a 750 KB zip of 100 such files half an hour of CPU. The
pre-scan and symusic make every real file cheap; this module bounds the rest,
whatever a parser or a future change may do with a hostile file:

- each file is read in a worker process: a fresh interpreter (``subprocess``,
  not multiprocessing's spawn, which would re-run Streamlit's app script in
  it) that imports only this module and what it needs, no TensorFlow;
- a worker reads one file at a time under a CPU-time limit (an interval timer
  interrupts Python code; ``RLIMIT_CPU`` kills a worker stuck in C++) and an
  address-space limit (``RLIMIT_AS``: allocations beyond it fail);
- the parent knows which file each worker holds, so a worker that dies takes
  only that file down: it is rejected with the reason and a fresh worker goes on;
- an upload shares a CPU budget; files not started once it is spent are
  rejected with that reason;
- leaving the iteration early (a progress callback raising, as Streamlit's
  Stop does, or ``cancel``) kills the workers at once rather than waiting;
- a worker that read its files within the limits is kept idle for the next
  upload (:class:`SpareReaders`): starting one costs 0.3 s of CPU, more than
  reading a typical file, and a primer or a small upload would pay it each
  time. An idle worker exits by itself after a while.
"""

from __future__ import annotations

import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait

import numpy as np

from core.config import DataConfig, ValidationLimits
from core.data.midi_io import load_score
from core.data.preprocess import preprocess_midi
from core.errors import DatasetError, InvalidMidiError
from core.processes import child_environment

# A file's outcome: the piece's metadata and notes, or the reason it was rejected.
Result = tuple[dict, np.ndarray] | str
Process = Callable[[str, bytes, DataConfig, ValidationLimits], Result]
# Set to stop: a threading.Event (the Dataset page's Cancel button) or a callable returning True.
Cancel = threading.Event | Callable[[], bool]
# How often the parent looks at ``cancel`` and the wall-clock deadlines while files are being read.
_POLL_SECONDS = 0.1
# A worker that uses no CPU (blocked) is killed after this many times its CPU limit, plus a margin.
_WALL_FACTOR, _WALL_MARGIN_SECONDS = 4, 10.0
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_READY = "ready"
# Idle workers kept for the next upload (one per core, at most 4: each holds about 50 MB), and how long
# an idle one waits for a file before it exits; one idle for nearly that long, counted from its last answer, is
# not given another file (it might exit as the file comes) but stopped.
SPARE_READERS = min(os.cpu_count() or 1, 4)
SPARE_IDLE_SECONDS = 300.0
_SPARE_MARGIN_SECONDS = 30.0


def process_file(name: str, data: bytes, config: DataConfig, limits: ValidationLimits) -> Result:
    """Validate and preprocess one file in this process.

    Returns:
        (meta, notes) of the piece, or the reason it was rejected.
    """
    try:
        piece = preprocess_midi(load_score(data, limits), name, config)
    except InvalidMidiError as error:
        return str(error)
    return piece.meta(), piece.notes


@dataclass(frozen=True)
class FileOutcome:
    """What reading one file gave, and what it cost its worker.

    Attributes:
        index: The file's position in the input.
        result: (meta, notes) or the reason it was rejected.
        cpu_seconds: CPU time spent on it (the limit when the worker was killed).
        peak_rss_mb: The worker's peak resident memory so far (0 when it died).
    """

    index: int
    result: Result
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0


def cpu_limit_reason(seconds: float) -> str:
    return f"took more than {seconds:g} s of CPU to read"


def memory_limit_reason(limit_bytes: int) -> str:
    return f"needed more than {limit_bytes / 2**20:.0f} MB of memory to read"


def budget_reason(seconds: float) -> str:
    return f"not read: this upload used up its CPU budget of {seconds:g} s on earlier files"


# === Worker side ===


class _CpuLimitExceeded(BaseException):  # not an Exception: no parser's `except Exception` may swallow it
    pass


_armed = False


def _on_cpu_timer(signum, frame) -> None:
    if _armed:
        raise _CpuLimitExceeded


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _address_space_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None  # not Linux: the memory limit is not enforced


def _peak_rss_mb() -> float:
    """This process's peak resident memory (ru_maxrss would include the parent's, copied at fork)."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 2**20)


def _set_soft_limit(which: int, soft: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > hard):
        soft = hard
    resource.setrlimit(which, (soft, hard))


def _read_limited(process: Process, name: str, data: bytes, config: DataConfig, limits: ValidationLimits):
    """Run ``process`` on one file under the CPU and memory limits.

    Returns:
        (result, cpu seconds, whether the worker should retire: a limit was hit or ``process`` failed).
    """
    global _armed
    started = _cpu_seconds()
    address_space = _address_space_bytes()
    if address_space is not None:
        _set_soft_limit(resource.RLIMIT_AS, address_space + limits.max_file_memory_bytes)
    # The timer interrupts Python code; a worker stuck in C++ gets SIGXCPU (which kills it) a second later.
    _set_soft_limit(resource.RLIMIT_CPU, math.ceil(started + limits.max_file_cpu_seconds) + 1)
    limit_hit = True
    try:
        try:
            _armed = True
            signal.setitimer(signal.ITIMER_PROF, limits.max_file_cpu_seconds)
            result = process(name, data, config, limits)
            limit_hit = False
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            _armed = False
    except _CpuLimitExceeded:
        result = cpu_limit_reason(limits.max_file_cpu_seconds)
    except MemoryError:
        result = memory_limit_reason(limits.max_file_memory_bytes)
    except Exception as error:  # a bug, not the file's fault: the file is rejected, the trace goes to the log
        traceback.print_exc()
        result = f"could not be read: internal error ({type(error).__name__}: {error})"
    finally:
        _set_soft_limit(resource.RLIMIT_AS, resource.RLIM_INFINITY)
        _set_soft_limit(resource.RLIMIT_CPU, resource.RLIM_INFINITY)
    return result, _cpu_seconds() - started, limit_hit


def worker_main(fd: int) -> None:
    """A worker process's life, on the connection at file descriptor ``fd``.

    Says "ready", then reads files sent as (index, name, data, process, config,
    limits) until None, answering (index, result, cpu seconds, peak RSS in MB,
    whether it retires) for each. Exits after :data:`SPARE_IDLE_SECONDS` without a file,
    and quietly once its parent is gone (a command-line build exits with its spare readers idle).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    signal.signal(signal.SIGPROF, _on_cpu_timer)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a worker killed by a limit leaves no core file
    connection = Connection(fd)
    try:
        connection.send(_READY)
    except OSError:  # the parent finished, or was stopped, before this worker was up
        return
    try:
        while connection.poll(SPARE_IDLE_SECONDS):
            task = connection.recv()
            if task is None:
                return
            index, name, data, process, config, limits = task
            result, cpu, retire = _read_limited(process, name, data, config, limits)
            connection.send((index, result, cpu, _peak_rss_mb(), retire))
            del task, data, result  # an idle reader keeps nothing of the upload it read
            if retire:
                return  # a fresh worker is cleaner than one whose heap hit the wall
    except (EOFError, ConnectionError):  # the parent closed its end, or exited with this reader's "ready" unread
        return


# === Parent side ===


@dataclass
class _Worker:
    process: subprocess.Popen
    connection: Connection
    ready: bool = False  # it has started and imported what it needs
    index: int | None = None  # the file it is reading
    deadline: float = 0.0
    done: bool = False  # it has exited, or will after its answer (it hit a limit or failed)
    idle_since: float = 0.0  # when its last message came: its own idle clock started just before


class SpareReaders:
    """Idle workers of a finished :func:`ingest_files` (none hit a limit; some may still be starting), for the next
    one of this process.

    Only workers that ran :func:`process_file` come back: one that ran another function (a test's) may have
    imported more than this module. At most :data:`SPARE_READERS` are kept; those that have exited (after
    :data:`SPARE_IDLE_SECONDS` idle) or are about to are stopped and reaped whenever spares are taken or given.
    A reader serves uploads of several users in turn, as it did the files of one: same user id, limits per file.
    Shared by a server's threads, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []

    def take(self) -> _Worker | None:
        """An idle worker, ready for a file, or None."""
        with self._lock:
            self._sweep()
            return self._workers.pop() if self._workers else None

    def give(self, workers: list[_Worker]) -> list[_Worker]:
        """Keep what room allows of ``workers`` (idle, healthy, started or starting); returns the rest, to stop."""
        with self._lock:
            self._sweep()
            room = max(SPARE_READERS - len(self._workers), 0)
            self._workers.extend(workers[:room])
        return workers[room:]

    def _sweep(self) -> None:
        """Stop and reap the spares that have exited or idled nearly as long as they wait."""
        fresh_since = time.monotonic() - (SPARE_IDLE_SECONDS - _SPARE_MARGIN_SECONDS)
        stale = [
            worker for worker in self._workers if worker.idle_since <= fresh_since or worker.process.poll() is not None
        ]
        self._workers = [worker for worker in self._workers if worker not in stale]
        _stop(stale, kill=True)

    def pids(self) -> list[int]:
        with self._lock:
            return [worker.process.pid for worker in self._workers]


SPARES = SpareReaders()


def _start_worker() -> _Worker:
    parent_end, child_end = Pipe()
    command = [sys.executable, "-c", f"from core.data.ingest import worker_main; worker_main({child_end.fileno()})"]
    try:
        child = subprocess.Popen(command, pass_fds=(child_end.fileno(),), env=child_environment(), close_fds=True)
    except OSError as error:  # no processes or file descriptors left: the build stops with the reason
        parent_end.close()
        raise DatasetError(f"cannot start a worker process to read MIDI ({error}); try again later") from error
    finally:
        child_end.close()
    return _Worker(child, parent_end, idle_since=time.monotonic())  # its idle clock starts later, once it is up


def _wall_seconds(limits: ValidationLimits) -> float:
    return limits.max_file_cpu_seconds * _WALL_FACTOR + _WALL_MARGIN_SECONDS


def _death_reason(exitcode: int | None, limits: ValidationLimits, timed_out: bool) -> str:
    if timed_out:
        return f"took more than {_wall_seconds(limits):g} s to read; stopped"
    if exitcode == -signal.SIGXCPU:
        return cpu_limit_reason(limits.max_file_cpu_seconds)
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the MIDI reader crashed on this file ({name})"
    return f"the MIDI reader stopped on this file (exit code {exitcode})"


def _stop(workers: list[_Worker], kill: bool) -> None:
    """End the workers: killed at once, or asked to finish (killed if they do not within seconds)."""
    for worker in workers:
        if kill or worker.done:
            worker.process.kill()
        else:
            try:
                worker.connection.send(None)
            except (OSError, ValueError):
                worker.process.kill()
    for worker in workers:
        try:
            worker.process.wait(timeout=None if kill else 5)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        worker.connection.close()


def is_cancelled(cancel: Cancel | None) -> bool:
    """Whether ``cancel`` (a ``threading.Event``, a callable or None) asks to stop."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def check_cancel(cancel: Cancel | None) -> None:
    """Raise :class:`DatasetError` when ``cancel`` is set."""
    if is_cancelled(cancel):
        raise DatasetError("cancelled: the dataset was not built and nothing was stored")


def ingest_files(
    files: Sequence[tuple[str, bytes]],
    config: DataConfig,
    limits: ValidationLimits,
    *,
    workers: int = 1,
    cancel: Cancel | None = None,
    process: Process = process_file,
) -> Iterator[FileOutcome]:
    """Read every file in sandboxed worker processes; yield outcomes as they come in.

    Close the iterator (``contextlib.closing``) so that leaving it early kills the workers at once.

    Args:
        files: (name, data) pairs.
        workers: At most this many processes, never more than there are files.
        cancel: When set, the workers are killed and :class:`DatasetError` is raised.
        process: What a worker runs on each file (a module-level function, so
            that it can be sent to a spawned process). With :func:`process_file`, the
            workers of an iteration that went to its end are kept for the next (:class:`SpareReaders`).

    Raises:
        DatasetError: cancelled, or a worker process could not start.
    """
    pending = deque(range(len(files)))
    pool: list[_Worker] = []
    spent_cpu, finished = 0.0, False
    try:
        while pending or any(worker.index is not None for worker in pool):
            check_cancel(cancel)
            if pending and spent_cpu >= limits.max_upload_cpu_seconds:
                while pending:
                    yield FileOutcome(pending.popleft(), budget_reason(limits.max_upload_cpu_seconds))
                continue
            retired = [worker for worker in pool if worker.done and worker.index is None]
            if retired:
                _stop(retired, kill=True)
                pool = [worker for worker in pool if worker not in retired]
            idle = sum(worker.index is None for worker in pool)
            while len(pool) < max(workers, 1) and idle < len(pending):
                pool.append(SPARES.take() or _start_worker())
                idle += 1
            for worker in pool:
                if worker.ready and not worker.done and worker.index is None and pending:
                    _dispatch(worker, pending, files, process, config, limits)
            waiting = [worker for worker in pool if not worker.done or worker.index is not None]
            wait([worker.connection for worker in waiting], timeout=_POLL_SECONDS)  # a dead worker's is at EOF
            for worker in waiting:
                outcome = _collect(worker, limits)
                if outcome is not None:
                    spent_cpu += outcome.cpu_seconds
                    yield outcome
        finished = True
    finally:
        if finished and process is process_file:  # the healthy ones (some may still be starting) are kept
            pool = SPARES.give([worker for worker in pool if not worker.done])
        _stop(pool, kill=not finished)


def ingest_one(
    name: str, data: bytes, config: DataConfig, limits: ValidationLimits | None = None
) -> tuple[dict, np.ndarray]:
    """Validate and preprocess one uploaded file (a primer) in a sandboxed worker.

    Returns:
        The piece's metadata and notes, int32, shape=(n, 6).

    Raises:
        InvalidMidiError: the file was rejected; the message says why.
    """
    with closing(ingest_files([(name, data)], config, limits or ValidationLimits())) as outcomes:
        (outcome,) = list(outcomes)
    if isinstance(outcome.result, str):
        raise InvalidMidiError(outcome.result)
    return outcome.result


def _dispatch(
    worker: _Worker,
    pending: deque,
    files: Sequence[tuple[str, bytes]],
    process: Process,
    config: DataConfig,
    limits: ValidationLimits,
) -> None:
    """Send the next pending file to ``worker``, with what to run on it and under which limits."""
    index = pending.popleft()
    name, data = files[index]
    try:
        worker.connection.send((index, name, data, process, config, limits))
    except (OSError, ValueError):  # it died while idle: the file goes to the next worker
        pending.appendleft(index)
        worker.done = True
        return
    worker.index, worker.deadline = index, time.monotonic() + _wall_seconds(limits)


def _collect(worker: _Worker, limits: ValidationLimits) -> FileOutcome | None:
    """The worker's answer if it has one, a rejection if it died or overran; None while it is still reading.

    Raises:
        DatasetError: the worker died before it was ready (the environment, not a file, is at fault).
    """
    while worker.connection.poll():
        try:
            message = worker.connection.recv()
        except (EOFError, OSError):
            break  # it died mid-answer: handled below
        worker.idle_since = time.monotonic()
        if message == _READY:
            worker.ready = True
            continue
        index, result, cpu, peak_mb, retire = message
        worker.index, worker.done = None, retire
        return FileOutcome(index, result, cpu, peak_mb)
    timed_out = worker.index is not None and time.monotonic() > worker.deadline
    if worker.process.poll() is None and not timed_out:
        return None
    worker.process.kill()
    exitcode = worker.process.wait()
    worker.done = True
    if not worker.ready:
        raise DatasetError(f"could not start a process to read MIDI files (exit code {exitcode}); see the server log")
    if worker.index is None:
        return None
    index, worker.index = worker.index, None
    return FileOutcome(index, _death_reason(exitcode, limits, timed_out), limits.max_file_cpu_seconds)
