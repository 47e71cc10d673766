"""Monophonic Melody RNN tokens, after Magenta's Melody RNN: one token per step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from core.data.piece import END, PITCH, START, empty_notes
from core.data.representations.base import (
    DEFAULT_VELOCITY,
    PIANO_RANGE,
    Representation,
    masked_pitch_bounds_tf,
    notes_from_columns,
)

if TYPE_CHECKING:
    import tensorflow as tf

# Melody tokens: HOLD, REST, then one onset token per pitch of PIANO_RANGE.
MELODY_HOLD = 0
MELODY_REST = 1
MELODY_FIRST_NOTE = 2


def skyline(notes: np.ndarray, pitch_range: tuple[int, int] = PIANO_RANGE) -> np.ndarray:
    """Reduce polyphony to its highest voice, the way the melody representation sees it.

    Notes outside ``pitch_range`` are dropped. Onsets are visited in time order and
    only the highest note starting at each onset step is considered. It is dropped
    if the melody note still sounding there is higher; otherwise it is kept and cuts
    the sounding note (same pitch included: a re-attack).

    Args:
        notes: int32, shape=(n, 6), canonical order.
        pitch_range: Lowest and highest pitch kept.

    Returns:
        int32, shape=(m, 6): non-overlapping notes with strictly increasing starts.
    """
    low, high = pitch_range
    notes = notes[(notes[:, PITCH] >= low) & (notes[:, PITCH] <= high)]
    kept: list[np.ndarray] = []
    last_onset = -1
    for row in notes[np.lexsort((-notes[:, PITCH], notes[:, START]))]:
        start = int(row[START])
        if start == last_onset:
            continue
        last_onset = start
        if kept:
            previous = kept[-1]
            if previous[END] > start and previous[PITCH] > row[PITCH]:
                continue
            previous[END] = min(int(previous[END]), start)
        kept.append(row.copy())
    return np.stack(kept).astype(np.int32) if kept else empty_notes()


@dataclass(frozen=True)
class MelodyRepresentation(Representation):
    """Monophonic Melody RNN tokens, one per step: HOLD, REST or a note onset.

    Token 0 (HOLD) keeps the previous state, 1 (REST) ends the sounding note,
    ``2 + k`` starts pitch ``21 + k`` (A0..C8). Polyphony is reduced with
    :func:`skyline`. The sequence ends at the last melody note's end, with no REST
    there: the decoder ends a note still sounding at the end of the sequence.
    Decoded notes get velocity :data:`DEFAULT_VELOCITY`.
    """

    name: ClassVar[str] = "melody"
    kind: ClassVar[str] = "tokens"

    @property
    def size(self) -> int:
        return MELODY_FIRST_NOTE + PIANO_RANGE[1] - PIANO_RANGE[0] + 1

    @property
    def pitch_range(self) -> tuple[int, int]:
        return PIANO_RANGE

    def encode(self, notes: np.ndarray) -> np.ndarray:
        """Returns int32, shape=(T,), T = end step of the last melody note (0 if none)."""
        melody = skyline(notes, PIANO_RANGE)
        if len(melody) == 0:
            return np.zeros(0, dtype=np.int32)
        tokens = np.full(int(melody[-1, END]), MELODY_HOLD, dtype=np.int32)
        # Only the last note can end at the sequence end; earlier ends before the next onset get a REST.
        tokens[melody[:-1, END]] = MELODY_REST
        tokens[melody[:, START]] = MELODY_FIRST_NOTE + melody[:, PITCH] - PIANO_RANGE[0]
        return tokens

    def decode(self, array: np.ndarray) -> np.ndarray:
        """Each onset lasts until the next REST or onset, or the end of the sequence."""
        tokens = np.asarray(array)
        boundaries = np.flatnonzero(tokens != MELODY_HOLD)
        next_boundaries = np.append(boundaries[1:], len(tokens))
        onsets = tokens[boundaries] >= MELODY_FIRST_NOTE
        starts = boundaries[onsets]
        pitches = tokens[starts] - MELODY_FIRST_NOTE + PIANO_RANGE[0]
        return notes_from_columns(starts, next_boundaries[onsets], pitches, DEFAULT_VELOCITY)

    def token_names(self) -> list[str]:
        low, high = PIANO_RANGE
        return ["HOLD", "REST"] + [f"NOTE_{pitch}" for pitch in range(low, high + 1)]

    def token_steps(self) -> np.ndarray:
        return np.ones(self.size, dtype=np.int32)

    def token_sustains(self) -> np.ndarray:
        """Only HOLD keeps the note sounding: a REST or the next onset ends it."""
        sustains = np.zeros(self.size, dtype=bool)
        sustains[MELODY_HOLD] = True
        return sustains

    def token_pitches(self) -> tuple[np.ndarray, np.ndarray]:
        """Onsets start their pitch; nothing ends one explicitly (a melody is monophonic by construction)."""
        note_on = np.full(self.size, -1, dtype=np.int32)
        note_on[MELODY_FIRST_NOTE:] = np.arange(PIANO_RANGE[0], PIANO_RANGE[1] + 1)
        return note_on, np.full(self.size, -1, dtype=np.int32)

    def start_token(self) -> int:
        """A rest."""
        return MELODY_REST

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return masked_pitch_bounds_tf(window - MELODY_FIRST_NOTE + PIANO_RANGE[0], window >= MELODY_FIRST_NOTE)

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return tf.where(window >= MELODY_FIRST_NOTE, window + tf.cast(shift, window.dtype), window)
