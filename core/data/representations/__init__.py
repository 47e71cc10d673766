"""Five ways to turn quantized notes into model arrays, and back.

Every representation encodes an int32 notes array, shape=(n, 6) as in
:class:`core.data.piece.QuantizedPiece`, and decodes back to one in canonical
order (:func:`core.data.piece.sort_notes`) with program 0 and is_drum 0.
Program and drum flags are ignored on the way in.

=========  ========  ======================  ===================================
name       kind      array                   ``size``
=========  ========  ======================  ===================================
melody     tokens    int32, shape=(T,)       vocabulary (90)
events     tokens    int32, shape=(L,)       vocabulary (256 + shifts + bins)
pianoroll  frames    uint8, shape=(T, P)     P, pitches (88 or 128)
chords     tokens    int32, shape=(L,)       vocabulary (89: 88 keys + STEP)
notes      features  float32, shape=(n, 4)   4
=========  ========  ======================  ===================================

The contract and the shared helpers live in :mod:`.base`, each representation
in its own module; this module is the registry. Augmentation runs inside
``tf.data`` (:meth:`Representation.pitch_bounds_tf`,
:meth:`Representation.transpose_tf`); TensorFlow is imported only inside those
methods, so importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from core.config import REPRESENTATIONS, DataConfig
from core.data.representations.base import (
    DEFAULT_VELOCITY,
    FULL_RANGE,
    NO_PITCH_BOUNDS,
    PIANO_RANGE,
    Representation,
    bin_to_velocity,
    bin_velocity,
    trim_overlaps,
    velocity_to_bin,
)
from core.data.representations.chords import CHORD_PITCHES, CHORD_STEP, ChordsRepresentation
from core.data.representations.events import (
    NOTE_OFF_OFFSET,
    NOTE_ON_OFFSET,
    TIME_SHIFT_OFFSET,
    EventsRepresentation,
)
from core.data.representations.melody import (
    MELODY_FIRST_NOTE,
    MELODY_HOLD,
    MELODY_REST,
    MelodyRepresentation,
    skyline,
)
from core.data.representations.notes import NotesRepresentation
from core.data.representations.pianoroll import PianorollRepresentation
from core.errors import ConfigError

__all__ = [
    "CHORD_PITCHES",
    "CHORD_STEP",
    "DEFAULT_VELOCITY",
    "FULL_RANGE",
    "MELODY_FIRST_NOTE",
    "MELODY_HOLD",
    "MELODY_REST",
    "NOTE_OFF_OFFSET",
    "NOTE_ON_OFFSET",
    "NO_PITCH_BOUNDS",
    "PIANO_RANGE",
    "TIME_SHIFT_OFFSET",
    "ChordsRepresentation",
    "EventsRepresentation",
    "MelodyRepresentation",
    "NotesRepresentation",
    "PianorollRepresentation",
    "Representation",
    "bin_to_velocity",
    "bin_velocity",
    "get_representation",
    "skyline",
    "trim_overlaps",
    "velocity_to_bin",
]

_BUILDERS: dict[str, Callable[[DataConfig], Representation]] = {
    "melody": lambda config: MelodyRepresentation(),
    "events": lambda config: EventsRepresentation(config.max_time_shift_steps, config.velocity_bins),
    "pianoroll": lambda config: PianorollRepresentation(config.pianoroll_pitches),
    "notes": lambda config: NotesRepresentation(config.steps_per_quarter),
    "chords": lambda config: ChordsRepresentation(),
}


def get_representation(name: str, config: DataConfig) -> Representation:
    """Build the representation called ``name`` with the settings of ``config``.

    Raises:
        ConfigError: For a name not in :data:`core.config.REPRESENTATIONS`.
    """
    if name not in _BUILDERS:
        raise ConfigError(f"unknown representation {name!r}; choose one of {', '.join(REPRESENTATIONS)}")
    return _BUILDERS[name](config)
