"""The trivial systems every comparison includes: a first-order Markov chain and random notes.

Both are fitted on the training pieces of the dataset under evaluation and
write pieces of a given number of grid steps, seeded, as int32 notes arrays,
shape=(n, 6) (:data:`core.data.piece.NOTE_COLUMNS`), on program 0.

The Markov chain walks the notes in onset order; a state is one note's
(pitch, length, steps to the next onset), so one note of memory is enough to
stack a chord (0 steps to the next onset), keep a local key and a rhythm, and
nothing more: no phrase, no cadence, no voice leading beyond one step. It is
the floor any learnt model of the same notes must clear. It is fitted over
notes rather than over a model's tokens so that it does not depend on any
representation, and it writes polyphony like the data does.

Random notes are the floor of the floor: pitches uniform over the dataset's
range, onsets uniform over the piece, lengths uniform from one step to the
longest common length, as many per bar as the data has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.data.piece import END, PITCH, START, VELOCITY, sort_notes
from core.errors import EvaluationError
from core.evaluation.metrics import pitched_notes

# Loudness of every baseline note (no metric reads it).
NOTE_VELOCITY = 80
# Random notes last at most the length this share of the data's notes do not exceed.
RANDOM_LENGTH_QUANTILE = 0.95


def excerpt(notes: np.ndarray, steps: int) -> np.ndarray:
    """The first ``steps`` grid steps of a piece: notes starting before, cut at the end; drums dropped.

    Every system's pieces are measured as excerpts of the same length, so that
    length-bound features (pitch range, pitch classes used) compare fairly.
    """
    kept = pitched_notes(notes)
    kept = kept[kept[:, START] < steps].copy()
    kept[:, END] = np.minimum(kept[:, END], steps)
    return kept


def _notes(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    notes = np.zeros((len(starts), 6), dtype=np.int32)
    notes[:, START], notes[:, END], notes[:, PITCH] = starts, ends, pitches
    notes[:, VELOCITY] = NOTE_VELOCITY
    return sort_notes(notes)


@dataclass(frozen=True)
class MarkovChain:
    """A first-order Markov chain over notes in onset order, fitted by counting.

    Attributes:
        states: shape=(k, 3): (pitch, length, steps to the next onset) of each state.
        successors: Every observed successor of each state, grouped by state:
            state ``s`` was followed by ``successors[offsets[s]:offsets[s + 1]]``,
            each as often as it was seen, so a uniform pick among them samples the
            transition probabilities.
        offsets: shape=(k + 1,).
        starts: The first state of every training piece (a piece starts, or restarts
            after a state never followed, from one of them).
    """

    states: np.ndarray
    successors: np.ndarray
    offsets: np.ndarray
    starts: np.ndarray

    @classmethod
    def fit(cls, pieces: Sequence[np.ndarray]) -> MarkovChain:
        r"""Count the transitions of ``pieces``.

        .. math:: P(x_{j+1} = b \mid x_j = a) = \frac{N(a \to b)}{\sum_c N(a \to c)},
            \quad x_j = (p_j, e_j - s_j, s_{j+1} - s_j)

        Raises:
            EvaluationError: No piece has a pitched note.
        """
        rows, pairs, firsts = [], [], []
        for notes in pieces:
            pitched = pitched_notes(notes)
            if len(pitched) == 0:
                continue
            pitched = sort_notes(pitched)
            gaps = np.diff(pitched[:, START], append=pitched[-1, END])
            rows.append(np.column_stack([pitched[:, PITCH], pitched[:, END] - pitched[:, START], gaps]))
        if not rows:
            raise EvaluationError("the Markov chain needs training pieces with notes; the dataset has none")
        states, codes = np.unique(np.concatenate(rows), axis=0, return_inverse=True)
        codes = codes.reshape(-1)
        position = 0
        for piece in rows:
            piece_codes = codes[position : position + len(piece)]
            firsts.append(piece_codes[0])
            pairs.append(np.column_stack([piece_codes[:-1], piece_codes[1:]]))
            position += len(piece)
        pairs = np.concatenate(pairs)
        pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
        offsets = np.searchsorted(pairs[:, 0], np.arange(len(states) + 1))
        return cls(states.astype(np.int64), pairs[:, 1], offsets, np.array(firsts))

    def sample(self, count: int, steps: int, seed: int) -> list[np.ndarray]:
        """``count`` pieces of ``steps`` grid steps, notes cut at the end."""
        rng = np.random.default_rng(seed)
        pieces = []
        for _ in range(count):
            starts, ends, pitches = [], [], []
            time, state = 0, int(rng.choice(self.starts))
            while time < steps:
                pitch, length, gap = self.states[state]
                starts.append(time)
                ends.append(min(time + length, steps))
                pitches.append(pitch)
                time += gap
                first, last = self.offsets[state], self.offsets[state + 1]
                state = (
                    int(self.successors[rng.integers(first, last)]) if last > first else int(rng.choice(self.starts))
                )
            pieces.append(_notes(np.array(starts), np.array(ends), np.array(pitches)))
        return pieces


@dataclass(frozen=True)
class RandomNotes:
    """Notes drawn uniformly within the dataset's ranges.

    Attributes:
        lowest: Lowest pitch of the data.
        highest: Highest pitch of the data.
        longest: Longest note length, in steps (the data's 95th percentile).
        notes_per_step: The data's notes per grid step.
    """

    lowest: int
    highest: int
    longest: int
    notes_per_step: float

    @classmethod
    def fit(cls, pieces: Sequence[np.ndarray]) -> RandomNotes:
        """Read the ranges of ``pieces``.

        Raises:
            EvaluationError: No piece has a pitched note.
        """
        pitched = [pitched_notes(notes) for notes in pieces]
        pitched = [notes for notes in pitched if len(notes)]
        if not pitched:
            raise EvaluationError("random notes need training pieces with notes; the dataset has none")
        every = np.concatenate(pitched)
        lengths = every[:, END] - every[:, START]
        return cls(
            lowest=int(every[:, PITCH].min()),
            highest=int(every[:, PITCH].max()),
            longest=max(1, int(np.quantile(lengths, RANDOM_LENGTH_QUANTILE))),
            notes_per_step=len(every) / sum(int(notes[:, END].max()) for notes in pitched),
        )

    def sample(self, count: int, steps: int, seed: int) -> list[np.ndarray]:
        r"""``count`` pieces of ``steps`` grid steps.

        .. math:: n = \mathrm{round}(notes\_per\_step \cdot steps),\ p \sim U\{lowest..highest\},\
            s \sim U\{0..steps-1\},\ e - s \sim U\{1..longest\}
        """
        rng = np.random.default_rng(seed)
        size = max(1, round(self.notes_per_step * steps))
        pieces = []
        for _ in range(count):
            starts = rng.integers(0, steps, size)
            ends = np.minimum(starts + rng.integers(1, self.longest + 1, size), steps)
            pieces.append(_notes(starts, ends, rng.integers(self.lowest, self.highest + 1, size)))
        return pieces
