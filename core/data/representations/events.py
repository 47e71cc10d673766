"""Polyphonic performance events, after Magenta's Performance RNN: NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from core.data.piece import END, PITCH, START, VELOCITY, empty_notes
from core.data.representations.base import (
    DEFAULT_VELOCITY,
    FULL_RANGE,
    Representation,
    bin_to_velocity,
    bin_velocity,
    masked_pitch_bounds_tf,
    notes_from_columns,
    trim_overlaps,
    velocity_to_bin,
)

if TYPE_CHECKING:
    import tensorflow as tf

# Event tokens: NOTE_ON pitch, NOTE_OFF pitch, TIME_SHIFT 1..max, VELOCITY bin.
NOTE_ON_OFFSET = 0
NOTE_OFF_OFFSET = 128
TIME_SHIFT_OFFSET = 256


@dataclass(frozen=True)
class EventsRepresentation(Representation):
    """Polyphonic performance tokens: NOTE_ON, NOTE_OFF, TIME_SHIFT, VELOCITY.

    Ids: NOTE_ON pitch = pitch, NOTE_OFF pitch = 128 + pitch, TIME_SHIFT s
    (1..max_time_shift_steps) = 255 + s, VELOCITY b = 256 + max_time_shift_steps + b.
    Events at one step: NOTE_OFFs then NOTE_ONs, each in ascending pitch; a gap
    longer than the longest shift takes several TIME_SHIFTs; VELOCITY comes before
    a NOTE_ON whose bin (:func:`velocity_to_bin`) differs from the last one.

    Round trips are exact for notes already passed through :func:`trim_overlaps`
    and :func:`bin_velocity`. Decoding: a NOTE_ON for a sounding pitch ends the old
    note, a NOTE_OFF for a silent pitch is ignored, notes still on end at the last
    step, notes of zero length are dropped, and velocity before any VELOCITY token
    is that of :data:`DEFAULT_VELOCITY`'s bin.

    Attributes:
        max_time_shift_steps: Longest single TIME_SHIFT.
        velocity_bins: Number of VELOCITY tokens.
    """

    name: ClassVar[str] = "events"
    kind: ClassVar[str] = "tokens"
    max_time_shift_steps: int = 16
    velocity_bins: int = 32

    @property
    def size(self) -> int:
        return self.velocity_offset + self.velocity_bins

    @property
    def pitch_range(self) -> tuple[int, int]:
        return FULL_RANGE

    @property
    def velocity_offset(self) -> int:
        """Id of the VELOCITY token of bin 0."""
        return TIME_SHIFT_OFFSET + self.max_time_shift_steps

    def encode(self, notes: np.ndarray) -> np.ndarray:
        """Returns int32, shape=(L,), ending with the NOTE_OFFs of the last step."""
        notes = trim_overlaps(notes)
        count = len(notes)
        times = np.concatenate([notes[:, END], notes[:, START]])
        is_on = np.repeat([False, True], count)
        pitches = np.concatenate([notes[:, PITCH], notes[:, PITCH]])
        bins = np.tile(velocity_to_bin(notes[:, VELOCITY], self.velocity_bins), 2)
        tokens: list[int] = []
        now = 0
        current_bin = -1
        for index in np.lexsort((pitches, is_on, times)).tolist():
            gap = int(times[index]) - now
            now += gap
            full_shifts, rest = divmod(gap, self.max_time_shift_steps)
            tokens += [TIME_SHIFT_OFFSET + self.max_time_shift_steps - 1] * full_shifts
            if rest:
                tokens.append(TIME_SHIFT_OFFSET + rest - 1)
            if not is_on[index]:
                tokens.append(NOTE_OFF_OFFSET + int(pitches[index]))
                continue
            if bins[index] != current_bin:
                current_bin = int(bins[index])
                tokens.append(self.velocity_offset + current_bin)
            tokens.append(NOTE_ON_OFFSET + int(pitches[index]))
        return np.asarray(tokens, dtype=np.int32)

    def decode(self, array: np.ndarray) -> np.ndarray:
        velocity = int(bin_velocity(DEFAULT_VELOCITY, self.velocity_bins))
        now = 0
        sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start, velocity)
        rows: list[tuple[int, int, int, int]] = []

        def end_note(pitch: int) -> None:
            start, note_velocity = sounding.pop(pitch)
            if now > start:
                rows.append((start, now, pitch, note_velocity))

        for token in np.asarray(array).tolist():
            if token < NOTE_OFF_OFFSET:
                if token in sounding:
                    end_note(token)
                sounding[token] = (now, velocity)
            elif token < TIME_SHIFT_OFFSET:
                if token - NOTE_OFF_OFFSET in sounding:
                    end_note(token - NOTE_OFF_OFFSET)
            elif token < self.velocity_offset:
                now += token - TIME_SHIFT_OFFSET + 1
            else:
                velocity = int(bin_to_velocity(token - self.velocity_offset, self.velocity_bins))
        for pitch in list(sounding):
            end_note(pitch)
        if not rows:
            return empty_notes()
        starts, ends, pitches, velocities = (np.asarray(column) for column in zip(*rows, strict=True))
        return notes_from_columns(starts, ends, pitches, velocities)

    def token_names(self) -> list[str]:
        return (
            [f"NOTE_ON_{pitch}" for pitch in range(128)]
            + [f"NOTE_OFF_{pitch}" for pitch in range(128)]
            + [f"TIME_SHIFT_{steps}" for steps in range(1, self.max_time_shift_steps + 1)]
            + [f"VELOCITY_{index}" for index in range(self.velocity_bins)]
        )

    def token_steps(self) -> np.ndarray:
        steps = np.zeros(self.size, dtype=np.int32)
        steps[TIME_SHIFT_OFFSET : self.velocity_offset] = np.arange(1, self.max_time_shift_steps + 1)
        return steps

    def token_pitches(self) -> tuple[np.ndarray, np.ndarray]:
        note_on = np.full(self.size, -1, dtype=np.int32)
        note_off = np.full(self.size, -1, dtype=np.int32)
        note_on[NOTE_ON_OFFSET:NOTE_OFF_OFFSET] = np.arange(128)
        note_off[NOTE_OFF_OFFSET:TIME_SHIFT_OFFSET] = np.arange(128)
        return note_on, note_off

    def start_token(self) -> int:
        """The loudness of :data:`DEFAULT_VELOCITY`."""
        return self.velocity_offset + int(velocity_to_bin(DEFAULT_VELOCITY, self.velocity_bins))

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return masked_pitch_bounds_tf(tf.math.floormod(window, NOTE_OFF_OFFSET), window < TIME_SHIFT_OFFSET)

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return tf.where(window < TIME_SHIFT_OFFSET, window + tf.cast(shift, window.dtype), window)
