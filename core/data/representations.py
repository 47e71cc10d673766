"""Four ways to turn quantized notes into model arrays, and back.

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
notes      features  float32, shape=(n, 4)   4
=========  ========  ======================  ===================================

Augmentation runs inside ``tf.data``: :meth:`Representation.pitch_bounds_tf`
and :meth:`Representation.transpose_tf` work on encoded windows with
TensorFlow ops. TensorFlow is imported only inside them, so importing this
module stays cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from core.config import REPRESENTATIONS, DataConfig
from core.data.piece import END, NOTE_COLUMNS, PITCH, START, VELOCITY, empty_notes, sort_notes
from core.errors import ConfigError

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

# Melody tokens: HOLD, REST, then one onset token per pitch of PIANO_RANGE.
MELODY_HOLD = 0
MELODY_REST = 1
MELODY_FIRST_NOTE = 2

# Event tokens: NOTE_ON pitch, NOTE_OFF pitch, TIME_SHIFT 1..max, VELOCITY bin.
NOTE_ON_OFFSET = 0
NOTE_OFF_OFFSET = 128
TIME_SHIFT_OFFSET = 256


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


def _notes_from_columns(
    starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray, velocities: np.ndarray | int
) -> np.ndarray:
    """Stack columns into notes, shape=(n, 6), program 0, not drums, canonical order."""
    notes = np.zeros((len(starts), len(NOTE_COLUMNS)), dtype=np.int32)
    notes[:, START] = starts
    notes[:, END] = ends
    notes[:, PITCH] = pitches
    notes[:, VELOCITY] = velocities
    return sort_notes(notes)


def _pitch_bounds_tf(pitches: tf.Tensor, has_pitch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
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
        return _notes_from_columns(starts, next_boundaries[onsets], pitches, DEFAULT_VELOCITY)

    def token_names(self) -> list[str]:
        low, high = PIANO_RANGE
        return ["HOLD", "REST"] + [f"NOTE_{pitch}" for pitch in range(low, high + 1)]

    def token_steps(self) -> np.ndarray:
        return np.ones(self.size, dtype=np.int32)

    def token_pitches(self) -> tuple[np.ndarray, np.ndarray]:
        """Onsets start their pitch; nothing ends one explicitly (a melody is monophonic by construction)."""
        note_on = np.full(self.size, -1, dtype=np.int32)
        note_on[MELODY_FIRST_NOTE:] = np.arange(PIANO_RANGE[0], PIANO_RANGE[1] + 1)
        return note_on, np.full(self.size, -1, dtype=np.int32)

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return _pitch_bounds_tf(window - MELODY_FIRST_NOTE + PIANO_RANGE[0], window >= MELODY_FIRST_NOTE)

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return tf.where(window >= MELODY_FIRST_NOTE, window + tf.cast(shift, window.dtype), window)


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
        return _notes_from_columns(starts, ends, pitches, velocities)

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

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return _pitch_bounds_tf(tf.math.floormod(window, NOTE_OFF_OFFSET), window < TIME_SHIFT_OFFSET)

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return tf.where(window < TIME_SHIFT_OFFSET, window + tf.cast(shift, window.dtype), window)


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
        return _notes_from_columns(starts, ends, columns + self.pitch_range[0], DEFAULT_VELOCITY)

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        active = tf.reduce_any(tf.reshape(window, [-1, self.num_pitches]) > 0, axis=0)
        return _pitch_bounds_tf(tf.range(self.num_pitches) + self.pitch_range[0], active)

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        return tf.roll(window, shift=tf.cast(shift, tf.int32), axis=-1)


@dataclass(frozen=True)
class NotesRepresentation(Representation):
    """Continuous per-note features in [0, 1], one row per note in canonical order.

    Columns: pitch / 127, duration / D, steps since the previous onset / D (0 for
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
        max_midi = np.float32(127)
        gaps = np.diff(notes[:, START], prepend=notes[:1, START])
        features = np.stack(
            [
                notes[:, PITCH].astype(np.float32) / max_midi,
                (notes[:, END] - notes[:, START]).astype(np.float32) / scale,
                gaps.astype(np.float32) / scale,
                notes[:, VELOCITY].astype(np.float32) / max_midi,
            ],
            axis=1,
        )
        return np.clip(features, 0, 1).astype(np.float32)

    def decode(self, array: np.ndarray) -> np.ndarray:
        """Args: array: shape=(n, 4); values outside [0, 1] are clipped first."""
        features = np.clip(np.asarray(array, dtype=np.float64).reshape(-1, 4), 0, 1)
        scale = self.time_scale_steps
        starts = np.cumsum(np.rint(features[:, 2] * scale))
        durations = np.maximum(np.rint(features[:, 1] * scale), 1)
        pitches = np.rint(features[:, 0] * 127)
        velocities = np.maximum(np.rint(features[:, 3] * 127), 1)
        return _notes_from_columns(starts, starts + durations, pitches, velocities)

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        pitches = tf.round(tf.convert_to_tensor(window)[..., 0] * 127.0)
        return _pitch_bounds_tf(pitches, tf.ones_like(pitches, dtype=tf.bool))

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        # Integer pitch first, then one division: bit-identical to encoding the transposed notes.
        pitches = tf.round(window[..., :1] * 127.0) + tf.cast(shift, window.dtype)
        return tf.concat([pitches / 127.0, window[..., 1:]], axis=-1)


_BUILDERS: dict[str, Callable[[DataConfig], Representation]] = {
    "melody": lambda config: MelodyRepresentation(),
    "events": lambda config: EventsRepresentation(config.max_time_shift_steps, config.velocity_bins),
    "pianoroll": lambda config: PianorollRepresentation(config.pianoroll_pitches),
    "notes": lambda config: NotesRepresentation(config.steps_per_quarter),
}


def get_representation(name: str, config: DataConfig) -> Representation:
    """Build the representation called ``name`` with the settings of ``config``.

    Raises:
        ConfigError: For a name not in :data:`core.config.REPRESENTATIONS`.
    """
    if name not in _BUILDERS:
        raise ConfigError(f"unknown representation {name!r}; choose one of {', '.join(REPRESENTATIONS)}")
    return _BUILDERS[name](config)
