"""Binary piano-roll frames: one row per step, one column per pitch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from core.data.piece import END, PITCH, START
from core.data.representations.base import (
    DEFAULT_VELOCITY,
    FULL_RANGE,
    PIANO_RANGE,
    Representation,
    masked_pitch_bounds_tf,
    notes_from_columns,
)

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class PianorollRepresentation(Representation):
    """Binary multi-hot frames, one row per step, one column per pitch.

    Notes outside the pitch range are dropped. Decoding reads each maximal run of
    nonzero frames in a column as one note of velocity :data:`DEFAULT_VELOCITY`,
    so re-attacks of a pitch on the very step its previous note ends merge.

    Attributes:
        num_pitches: 88 (A0..C8) or 128 (every MIDI pitch).
    """

    name: ClassVar[str] = "pianoroll"
    kind: ClassVar[str] = "frames"
    num_pitches: int = 88

    @property
    def size(self) -> int:
        return self.num_pitches

    @property
    def pitch_range(self) -> tuple[int, int]:
        return PIANO_RANGE if self.num_pitches == 88 else FULL_RANGE

    def encode(self, notes: np.ndarray) -> np.ndarray:
        """Returns uint8, shape=(T, num_pitches), T = last end step of the kept notes."""
        low, high = self.pitch_range
        inside = notes[(notes[:, PITCH] >= low) & (notes[:, PITCH] <= high)]
        frames = np.zeros((int(inside[:, END].max(initial=0)), self.num_pitches), dtype=np.uint8)
        for start, end, pitch in inside[:, [START, END, PITCH]].tolist():
            frames[start:end, pitch - low] = 1
        return frames

    def decode(self, array: np.ndarray) -> np.ndarray:
        """Args: array: shape=(T, num_pitches); nonzero means on (threshold model outputs first)."""
        on = np.asarray(array) > 0
        padded = np.zeros((on.shape[1], on.shape[0] + 2), dtype=np.int8)
        padded[:, 1:-1] = on.T
        changes = np.diff(padded, axis=1)  # (P, T + 1): +1 where a run starts, -1 one past its end
        columns, starts = np.nonzero(changes == 1)
        _, ends = np.nonzero(changes == -1)
        return notes_from_columns(starts, ends, columns + self.pitch_range[0], DEFAULT_VELOCITY)

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        active = tf.reduce_any(tf.reshape(window, [-1, self.num_pitches]) > 0, axis=0)
        return masked_pitch_bounds_tf(tf.range(self.num_pitches) + self.pitch_range[0], active)

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        return tf.roll(window, shift=tf.cast(shift, tf.int32), axis=-1)
