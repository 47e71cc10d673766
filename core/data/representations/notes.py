"""Continuous per-note features: pitch, duration, gap to the previous onset, velocity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from core.data.piece import END, PITCH, START, VELOCITY, sort_notes
from core.data.representations.base import FULL_RANGE, Representation, masked_pitch_bounds_tf, notes_from_columns
from core.music.theory import MIDI_PITCHES

if TYPE_CHECKING:
    import tensorflow as tf

# A note's pitch feature is its MIDI pitch / PITCH_SCALE: 0 for the lowest MIDI pitch, 1 for the highest.
PITCH_SCALE = MIDI_PITCHES - 1


@dataclass(frozen=True)
class NotesRepresentation(Representation):
    """Continuous per-note features in [0, 1], one row per note in canonical order.

    Columns: pitch / PITCH_SCALE (127), duration / D, steps since the previous onset / D (0 for
    the first note), velocity / 127, with ``D = 16 * steps_per_quarter`` (four 4/4
    bars); durations and gaps longer than D are clipped to D. Decoding rounds back
    to steps, with durations of at least one step; the first onset lands on step
    ``round(features[0, 2] * D)``, so encoded pieces come back starting at step 0.

    Attributes:
        steps_per_quarter: Grid resolution, which sets D.
    """

    name: ClassVar[str] = "notes"
    kind: ClassVar[str] = "features"
    steps_per_quarter: int = 4

    @property
    def size(self) -> int:
        return 4

    @property
    def pitch_range(self) -> tuple[int, int]:
        return FULL_RANGE

    @property
    def time_scale_steps(self) -> int:
        """D: the number of steps that maps to 1.0 for durations and gaps."""
        return 16 * self.steps_per_quarter

    def encode(self, notes: np.ndarray) -> np.ndarray:
        """Returns float32, shape=(n, 4)."""
        notes = sort_notes(notes)
        scale = np.float32(self.time_scale_steps)
        max_velocity = np.float32(127)
        gaps = np.diff(notes[:, START], prepend=notes[:1, START])
        features = np.stack(
            [
                notes[:, PITCH].astype(np.float32) / np.float32(PITCH_SCALE),
                (notes[:, END] - notes[:, START]).astype(np.float32) / scale,
                gaps.astype(np.float32) / scale,
                notes[:, VELOCITY].astype(np.float32) / max_velocity,
            ],
            axis=1,
        )
        return np.clip(features, 0, 1).astype(np.float32)

    def decode(self, array: np.ndarray) -> np.ndarray:
        """Args: array: shape=(n, 4); values outside [0, 1] are clipped first.

        Onsets are rounded after the gaps are added up, not each gap alone: a generator's gaps are
        continuous, and four notes a quarter of a step apart make a chord then the next onset a step
        later, where rounding every gap would pile every note on the first step. Encoded gaps are whole
        steps, so encoded pieces come back the same either way.
        """
        features = np.clip(np.asarray(array, dtype=np.float64).reshape(-1, 4), 0, 1)
        scale = self.time_scale_steps
        starts = np.rint(np.cumsum(features[:, 2] * scale))
        durations = np.maximum(np.rint(features[:, 1] * scale), 1)
        pitches = np.rint(features[:, 0] * PITCH_SCALE)
        velocities = np.maximum(np.rint(features[:, 3] * 127), 1)
        return notes_from_columns(starts, starts + durations, pitches, velocities)

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        pitches = tf.round(tf.convert_to_tensor(window)[..., 0] * PITCH_SCALE)
        return masked_pitch_bounds_tf(pitches, tf.ones_like(pitches, dtype=tf.bool))

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        # Integer pitch first, then one division: bit-identical to encoding the transposed notes.
        pitches = tf.round(window[..., :1] * PITCH_SCALE) + tf.cast(shift, window.dtype)
        return tf.concat([pitches / PITCH_SCALE, window[..., 1:]], axis=-1)
