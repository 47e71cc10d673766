"""The contract every representation keeps, and the helpers they share.

Every representation encodes an int32 notes array, shape=(n, 6) as in
:class:`core.data.piece.QuantizedPiece`, and decodes back to one in canonical
order (:func:`core.data.piece.sort_notes`) with program 0 and is_drum 0.
Program and drum flags are ignored on the way in.

Augmentation runs inside ``tf.data``: :meth:`Representation.pitch_bounds_tf`
and :meth:`Representation.transpose_tf` work on encoded windows with
TensorFlow ops. TensorFlow is imported only inside them, so importing this
package stays cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from core.data.piece import END, NOTE_COLUMNS, PITCH, START, VELOCITY, sort_notes

if TYPE_CHECKING:
    import tensorflow as tf

# Velocity given to decoded notes of representations that do not carry one.
DEFAULT_VELOCITY = 100
# (low, high) reported for a window without any pitch: a caller's range check
# ``low + shift >= range_low and high + shift <= range_high`` then admits any shift
# in [range_low - 127, range_high], i.e. every augmentation shift.
NO_PITCH_BOUNDS = (127, 0)
# A0..C8, the 88 piano keys.
PIANO_RANGE = (21, 108)
FULL_RANGE = (0, 127)


def velocity_to_bin(velocity: int | np.ndarray, bins: int) -> np.ndarray:
    """Bin index in ``[0, bins)`` of MIDI velocities, with equal-width bins over 1..127.

    Args:
        velocity: A velocity or an array of them; values are clipped to 1..127.
        bins: Number of bins, 1..127.

    Returns:
        int32 array of the input's shape (0-d for a scalar).
    """
    clipped = np.clip(np.asarray(velocity, dtype=np.int64), 1, 127)
    return ((clipped - 1) * bins // 127).astype(np.int32)


def bin_to_velocity(index: int | np.ndarray, bins: int) -> np.ndarray:
    """Representative velocity of bin ``index``: the middle of the velocities in it.

    Bin ``b`` holds the velocities ``v`` with ``b <= (v - 1) * bins / 127 < b + 1``;
    since ``bins <= 127`` none is empty, and the representative falls in its own bin.

    Returns:
        int32 array of the input's shape (0-d for a scalar).
    """
    index = np.asarray(index, dtype=np.int64)
    lowest = (index * 127 + bins - 1) // bins + 1
    highest = ((index + 1) * 127 + bins - 1) // bins
    return ((lowest + highest) // 2).astype(np.int32)


def bin_velocity(velocity: int | np.ndarray, bins: int) -> np.ndarray:
    """Replace velocities by their bin's representative, as the events round trip does.

    Preprocessing applies this to stored notes so that events encode and decode exactly.

    Returns:
        int32 array of the input's shape (0-d for a scalar).
    """
    return bin_to_velocity(velocity_to_bin(velocity, bins), bins)


def trim_overlaps(notes: np.ndarray) -> np.ndarray:
    """End each note where the next note of the same pitch starts; drop notes left empty.

    This is how the events decoder reads a NOTE_ON for a sounding pitch, so events
    encode any input as if it had been trimmed. Preprocessing applies it to stored notes.

    Args:
        notes: int32, shape=(n, 6).

    Returns:
        int32, shape=(m, 6), m <= n, canonical order.
    """
    if len(notes) == 0:
        return notes
    by_pitch = notes[np.lexsort((notes[:, END], notes[:, START], notes[:, PITCH]))].copy()
    same_pitch_next = by_pitch[1:, PITCH] == by_pitch[:-1, PITCH]
    cut_ends = np.minimum(by_pitch[:-1, END], by_pitch[1:, START])
    by_pitch[:-1, END] = np.where(same_pitch_next, cut_ends, by_pitch[:-1, END])
    return sort_notes(by_pitch[by_pitch[:, END] > by_pitch[:, START]])


def notes_from_columns(
    starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray, velocities: np.ndarray | int
) -> np.ndarray:
    """Stack columns into notes, shape=(n, 6), program 0, not drums, canonical order."""
    notes = np.zeros((len(starts), len(NOTE_COLUMNS)), dtype=np.int32)
    notes[:, START] = starts
    notes[:, END] = ends
    notes[:, PITCH] = pitches
    notes[:, VELOCITY] = velocities
    return sort_notes(notes)


def masked_pitch_bounds_tf(pitches: tf.Tensor, has_pitch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Lowest and highest of ``pitches`` where ``has_pitch``; :data:`NO_PITCH_BOUNDS` if none."""
    import tensorflow as tf

    pitches = tf.cast(pitches, tf.int32)
    no_low, no_high = NO_PITCH_BOUNDS
    # min/max with the sentinel also cover an empty window, whose reductions give the dtype limits.
    low = tf.minimum(tf.reduce_min(tf.where(has_pitch, pitches, no_low)), no_low)
    high = tf.maximum(tf.reduce_max(tf.where(has_pitch, pitches, no_high)), no_high)
    return low, high


@dataclass(frozen=True)
class Representation(ABC):
    """One encoding of quantized notes; build it with :func:`get_representation`.

    Attributes:
        name: Registry name, one of :data:`core.config.REPRESENTATIONS`.
        kind: ``"tokens"`` (int32, shape=(T,)), ``"frames"`` (uint8, shape=(T, P))
            or ``"features"`` (float32, shape=(n, 4)).
    """

    name: ClassVar[str]
    kind: ClassVar[str]

    @property
    @abstractmethod
    def size(self) -> int:
        """Vocabulary size (tokens), pitches per frame (frames) or features per note."""

    @property
    @abstractmethod
    def pitch_range(self) -> tuple[int, int]:
        """Lowest and highest MIDI pitch the representation can hold."""

    @abstractmethod
    def encode(self, notes: np.ndarray) -> np.ndarray:
        """Encode notes, int32 shape=(n, 6) in canonical order, into this representation."""

    @abstractmethod
    def decode(self, array: np.ndarray) -> np.ndarray:
        """Decode an encoded array back to notes, int32 shape=(n, 6), canonical order."""

    def token_names(self) -> list[str]:
        """Readable name of every token id, e.g. ``"NOTE_ON_60"``; tokens kinds only.

        Raises:
            TypeError: For representations whose kind is not ``"tokens"``.
        """
        raise TypeError(f"the {self.name} representation has no tokens")

    def token_steps(self) -> np.ndarray:
        """Grid steps each token id moves time forward, int32 shape=(size,); tokens kinds only.

        Generation counts these to stop once a piece is as long as asked.

        Raises:
            TypeError: For representations whose kind is not ``"tokens"``.
        """
        raise TypeError(f"the {self.name} representation has no tokens")

    def token_sustains(self) -> np.ndarray:
        """Whether each token id leaves the sounding notes sounding, bool shape=(size,); tokens kinds only.

        Generation follows it to know when a note ends: a melody's REST or next onset
        ends its note; event tokens end only the pitch of a NOTE_OFF. Default: all do.
        """
        return np.ones(self.size, dtype=bool)

    def token_pitches(self) -> tuple[np.ndarray, np.ndarray]:
        """MIDI pitch each token id starts and ends, or -1; tokens kinds only.

        Generation follows the note grammar with them: end only sounding pitches,
        start only silent ones.

        Returns:
            ``(note_on_pitch, note_off_pitch)``, each int32 shape=(size,).

        Raises:
            TypeError: For representations whose kind is not ``"tokens"``.
        """
        raise TypeError(f"the {self.name} representation has no tokens")

    def token_frame_ends(self) -> np.ndarray:
        """Whether each token id ends a frame of simultaneous pitches, bool shape=(size,); tokens kinds only.

        Only a representation that writes a piano roll frame by frame (chords) has such
        tokens: its frame-end count is its frame count, and composing follows its own
        frame rules. Default: none does.
        """
        return np.zeros(self.size, dtype=bool)

    def start_token(self) -> int:
        """A token to start composing from without controls or primer: no note, so the model picks the first.

        Raises:
            TypeError: For representations whose kind is not ``"tokens"``.
        """
        raise TypeError(f"the {self.name} representation has no tokens")

    @abstractmethod
    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Lowest and highest MIDI pitch in an encoded window (or a batch of them).

        Returns:
            Two int32 scalars; :data:`NO_PITCH_BOUNDS` ``(127, 0)`` when the window
            holds no pitch, so that every shift passes a check of the form
            ``low + shift >= pitch_range[0] and high + shift <= pitch_range[1]``
            for ``shift`` in ``[pitch_range[0] - 127, pitch_range[1]]``.
        """

    @abstractmethod
    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        """Transpose an encoded window (or batch) by ``shift`` semitones; shape and dtype kept.

        The caller chooses ``shift`` with :meth:`pitch_bounds_tf` and :attr:`pitch_range`
        so that every pitch stays representable; nothing is checked here.
        """
