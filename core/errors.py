"""One exception type per domain, each carrying a message a user can act on.

Pages show ``str(error)`` with ``st.error``; the CLI prints it and exits 2.
"""

from __future__ import annotations


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


class LibraryError(NeuroTuneError):
    """A piece that cannot be found or stored."""
