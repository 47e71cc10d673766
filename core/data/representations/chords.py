"""A piano roll written frame by frame as tokens: each frame's pitches, low to high, then STEP.

A frame model (:class:`.pianoroll.PianorollRepresentation`) predicts the pitches of
a frame independently of each other, so it cannot learn which chords go together.
Written as tokens, each pitch is predicted knowing the lower pitches of its frame,
as RNN-NADE does, with every token model, sampler and trainer as they are. The
tokens of a frame are a bijection of the frame, so a frame's NLL is the sum of its
tokens' NLLs (:func:`core.evaluation.likelihood.frame_nll`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from core.data.representations.base import PIANO_RANGE, Representation, masked_pitch_bounds_tf
from core.data.representations.pianoroll import PianorollRepresentation

if TYPE_CHECKING:
    import tensorflow as tf

# Chord tokens: one per piano key (id k sounds pitch 21 + k in the frame), then STEP, which ends the frame.
CHORD_PITCHES = PIANO_RANGE[1] - PIANO_RANGE[0] + 1
CHORD_STEP = CHORD_PITCHES


@dataclass(frozen=True)
class ChordsRepresentation(Representation):
    """An 88-key piano roll as tokens: for each frame, the pitches sounding in ascending order, then STEP.

    Encoding serializes the frames of :class:`PianorollRepresentation` (88 keys), so a
    pitch on in consecutive frames is one held note, as there, and an empty frame is a
    lone STEP. Valid sequences (strictly ascending pitches in each frame, every frame
    ended by a STEP) decode and encode back to themselves. Any other sequence decodes
    too: a frame sounds the set of its pitch tokens, and pitch tokens after the last
    STEP make a last frame.
    """

    name: ClassVar[str] = "chords"
    kind: ClassVar[str] = "tokens"

    @property
    def frames(self) -> PianorollRepresentation:
        """The piano roll these tokens write."""
        return PianorollRepresentation(CHORD_PITCHES)

    @property
    def size(self) -> int:
        return CHORD_PITCHES + 1

    @property
    def pitch_range(self) -> tuple[int, int]:
        return PIANO_RANGE

    def encode(self, notes: np.ndarray) -> np.ndarray:
        """Returns int32, shape=(L,), L = frames + pitches sounding summed over frames; ends with a STEP."""
        roll = self.frames.encode(notes) > 0
        # Row-major nonzero walks each frame's keys in ascending order and reaches its STEP column last.
        written = np.concatenate([roll, np.ones((len(roll), 1), dtype=bool)], axis=1)
        return np.nonzero(written)[1].astype(np.int32)

    def decode(self, array: np.ndarray) -> np.ndarray:
        tokens = np.asarray(array, dtype=np.int64)
        ends = tokens == CHORD_STEP
        frame_of = np.cumsum(ends) - ends  # frames ended before each token
        pitch_tokens = ~ends
        unended = len(tokens) > 0 and not ends[-1]  # pitches after the last STEP: a last frame
        roll = np.zeros((int(ends.sum()) + unended, CHORD_PITCHES), dtype=np.uint8)
        roll[frame_of[pitch_tokens], tokens[pitch_tokens]] = 1
        return self.frames.decode(roll)

    def token_names(self) -> list[str]:
        low, high = PIANO_RANGE
        return [f"NOTE_{pitch}" for pitch in range(low, high + 1)] + ["STEP"]

    def token_steps(self) -> np.ndarray:
        steps = np.zeros(self.size, dtype=np.int32)
        steps[CHORD_STEP] = 1
        return steps

    def token_pitches(self) -> tuple[np.ndarray, np.ndarray]:
        """Each pitch token starts its pitch (for key guidance and the pitch range); none ends one explicitly:
        a pitch ends where a frame leaves it out."""
        note_on = np.full(self.size, -1, dtype=np.int32)
        note_on[:CHORD_STEP] = np.arange(PIANO_RANGE[0], PIANO_RANGE[1] + 1)
        return note_on, np.full(self.size, -1, dtype=np.int32)

    def token_frame_ends(self) -> np.ndarray:
        """STEP ends a frame."""
        ends = np.zeros(self.size, dtype=bool)
        ends[CHORD_STEP] = True
        return ends

    def start_token(self) -> int:
        """STEP: the end of a silent frame before the piece."""
        return CHORD_STEP

    def pitch_bounds_tf(self, window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return masked_pitch_bounds_tf(window + PIANO_RANGE[0], window < CHORD_STEP)

    def transpose_tf(self, window: tf.Tensor, shift: int | tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        window = tf.convert_to_tensor(window)
        return tf.where(window < CHORD_STEP, window + tf.cast(shift, window.dtype), window)
