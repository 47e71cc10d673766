"""The bounds of a model's training music: its pitch range, its longest note, its voices.

A model only knows the music it was trained on. Composing keeps inside these
bounds (:class:`core.generation.sampling.Limits`), so a stray logit cannot start
a pitch no chorale reaches, hold a note for a minute, or pile up voices. They are
measured once, on the training split, when a run is created, and saved with the
checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.config import check_config
from core.data.piece import END, PITCH, START
from core.errors import CheckpointError, DatasetError

# The share of notes at most as long as the longest note the bounds allow: one held pedal in a
# user's upload should not let every note ring for a minute.
NOTE_LENGTH_QUANTILE = 0.999
# The share of sounding time with at most as many voices as the bounds allow: a passing fifth voice
# in a handful of chords does not make a five-voice style.
VOICES_QUANTILE = 0.99


@dataclass(frozen=True)
class MusicBounds:
    """What the training music stays within.

    Attributes:
        pitch_low, pitch_high: Lowest and highest MIDI pitch of its notes.
        longest_note_steps: The length in grid steps that :data:`NOTE_LENGTH_QUANTILE` of its notes are within.
        voices: The most notes sounding at once, for :data:`VOICES_QUANTILE` of its sounding time.
        steps_per_quarter: The grid the lengths are counted on.
    """

    pitch_low: int
    pitch_high: int
    longest_note_steps: int
    voices: int
    steps_per_quarter: int

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.pitch_low <= self.pitch_high <= 127, "pitch_low and pitch_high must be MIDI pitches, low first"),
            (self.longest_note_steps >= 1, "longest_note_steps must be at least 1"),
            (self.voices >= 1, "voices must be at least 1"),
            (self.steps_per_quarter >= 1, "steps_per_quarter must be at least 1"),
        ]
        check_config(checks, CheckpointError, config=self)

    @property
    def pitch_range(self) -> tuple[int, int]:
        return self.pitch_low, self.pitch_high

    @property
    def longest_note_beats(self) -> float:
        return self.longest_note_steps / self.steps_per_quarter

    def to_json(self) -> dict[str, Any]:
        return {
            "pitch_low": self.pitch_low,
            "pitch_high": self.pitch_high,
            "longest_note_steps": self.longest_note_steps,
            "voices": self.voices,
            "steps_per_quarter": self.steps_per_quarter,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MusicBounds:
        return cls(**{name: int(data[name]) for name in cls.__dataclass_fields__})


def voices_per_step(notes: np.ndarray) -> np.ndarray:
    """Notes sounding at every grid step of a piece, int64 shape=(last end,)."""
    if len(notes) == 0:
        return np.zeros(0, np.int64)
    change = np.zeros(int(notes[:, END].max()) + 1, np.int64)
    np.add.at(change, notes[:, START], 1)
    np.add.at(change, notes[:, END], -1)
    return np.cumsum(change)[:-1]


def measure_bounds(pieces: Iterable[np.ndarray], steps_per_quarter: int) -> MusicBounds:
    """The bounds of pieces' notes (int32 arrays, shape=(n, 6), as in :class:`core.data.piece.QuantizedPiece`).

    Raises:
        DatasetError: No piece has a note.
    """
    notes = [piece for piece in pieces if len(piece)]
    if not notes:
        raise DatasetError("the training split has no notes to measure a pitch range, note lengths and voices on")
    everything = np.concatenate(notes)
    voices = np.concatenate([voices_per_step(piece) for piece in notes])
    # "higher": a length and a count the music really has, never an interpolation between two.
    return MusicBounds(
        pitch_low=int(everything[:, PITCH].min()),
        pitch_high=int(everything[:, PITCH].max()),
        longest_note_steps=int(
            np.quantile(everything[:, END] - everything[:, START], NOTE_LENGTH_QUANTILE, method="higher")
        ),
        voices=int(np.quantile(voices[voices > 0], VOICES_QUANTILE, method="higher")),
        steps_per_quarter=steps_per_quarter,
    )


def dataset_bounds(dataset, representation: str, split: str = "train") -> MusicBounds:
    """:func:`measure_bounds` of a :class:`core.data.datasets.Dataset`'s split, as ``representation`` holds it.

    A model learns the music its representation writes, not the notes of the files: a melody is the top
    line, and a piano roll (or chords) merges a note repeated at once into one held note. So the notes are
    encoded and decoded first, and the bounds are those of what the model saw.
    """
    from core.data.representations import get_representation

    codec = get_representation(representation, dataset.config)
    return measure_bounds(
        (codec.decode(codec.encode(dataset.piece(index).notes)) for index in dataset.split_indices(split)),
        dataset.config.steps_per_quarter,
    )
