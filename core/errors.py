"""One exception type per domain, each carrying a message a user can act on.

Pages show ``str(error)`` with ``st.error``; the CLI prints it and exits 2.
"""

from __future__ import annotations

import errno


class NeuroTuneError(Exception):
    """Base class: an error the user caused or can fix, never a bug."""


class InvalidMidiError(NeuroTuneError):
    """A file that cannot be used as MIDI input (corrupt, empty, too long, ...)."""


class UnsafeArchiveError(NeuroTuneError):
    """A zip archive that is malformed or breaks the safety limits."""


class DatasetError(NeuroTuneError):
    """A dataset that cannot be built, found or used as asked."""


class ConfigError(NeuroTuneError):
    """A parameter outside its allowed range."""


class TrainingError(NeuroTuneError):
    """A run that cannot be found or go on: NaN loss, a failed save, an impossible request."""


class CheckpointError(NeuroTuneError):
    """A checkpoint that is missing, corrupt or does not match its config."""


class GenerationError(NeuroTuneError):
    """A composition request that cannot be met: a bad sampling parameter, a primer, a length."""


class EvaluationError(NeuroTuneError):
    """An evaluation that cannot run as asked: no held-out pieces, a checkpoint on another grid, cancelled."""


class LibraryError(NeuroTuneError):
    """A piece that cannot be found or stored."""


class AccessError(NeuroTuneError):
    """An action or a way of serving the app that needs the admin password."""


class SurveyError(NeuroTuneError):
    """A listening test that cannot be built, taken or answered as asked: closed, unknown, a bad token or answer."""


class StoreError(NeuroTuneError):
    """The data folder or the database cannot be used: missing, read-only, full, or not this user's to write."""


class ScoreError(NeuroTuneError):
    """A piece that cannot be written as sheet music: no pitched notes, or bars the grid cannot hold."""


# What an OSError's errno means for the user, in words; others keep their strerror.
_OS_PROBLEMS = {
    errno.EACCES: "permission denied (this user may not write there)",
    errno.EPERM: "the operation is not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.ENOENT: "a folder on the path does not exist",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is in the way where a folder should be",
    errno.EISDIR: "it is a folder, not a file",
}


def describe_os_error(error: OSError) -> str:
    """What went wrong with a file or folder, in words a user can act on (``"the disk is full"``)."""
    return _OS_PROBLEMS.get(error.errno) or (error.strerror or str(error)).lower()
