"""Originality: the longest stretch of a piece's melody that also occurs in the training set.

A melody is compared as the melodic intervals of its top line
(:func:`~core.evaluation.metrics.melodic_intervals`: the skyline, one note per
onset), so a phrase copied in another key is still found; rhythm is not
compared, so a copied tune with other note lengths is found too. The training
set is indexed once (:class:`TrainingIndex`): for each run length asked, a
sorted array of 64-bit polynomial hashes of every run of intervals in it
(Karp and Rabin 1987), so one lookup is a binary search and a thousand pieces
take well under a second. The longest copied run is found by binary search on
its length: a run of ``L`` intervals that occurs holds runs of every shorter
length that occur. Two different runs share a hash with odds of about one in
2**64 / (runs in the training set), some 10**14 for the Bach chorales.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.data.piece import END, PITCH, START
from core.evaluation.metrics import check_steps, top_line

# A piece that copies a stretch of melody this many bars long or longer is flagged...
COPY_FLAG_BARS = 4.0
# ...when the stretch holds at least this many notes per flagged bar: a few long notes that happen to move by the
# intervals of a training melody (any 4 intervals do) are not a copied phrase.
COPY_FLAG_NOTES_PER_BAR = 2
# Odd, so that it is invertible modulo 2**64 (the golden-ratio constant, well mixed).
_BASE = 0x9E3779B97F4A7C15
_BASE_INVERSE = pow(_BASE, -1, 2**64)
# Intervals are shifted to positive values before hashing.
_SHIFT = 256
# Hash sets kept for lookups of different run lengths.
_MAX_CACHED_LENGTHS = 64


@dataclass(frozen=True)
class Copy:
    """The longest run of a piece's top line that the training set also holds.

    Attributes:
        notes: Top-line notes in the run (intervals + 1); 0 when not even one interval recurs.
        bars: How long the run lasts in the piece, in bars (first onset to last end).
        start_step: Where the run starts in the piece.
        source: Name of a training piece holding it, or None.
        source_step: Where the run starts in that piece, or None.
        copied: True when the run lasts at least the flag's bars with at least
            :data:`COPY_FLAG_NOTES_PER_BAR` notes per flagged bar.
    """

    notes: int
    bars: float
    start_step: int
    source: str | None
    source_step: int | None
    copied: bool

    def to_json(self) -> dict:
        return {
            "notes": self.notes,
            "bars": round(self.bars, 3),
            "start_step": self.start_step,
            "source": self.source,
            "source_step": self.source_step,
            "copied": self.copied,
        }


def _powers(base: int, count: int) -> np.ndarray:
    """``base ** k mod 2**64`` for k in 0..count-1, uint64."""
    powers = np.full(count, base, dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)


def _prefix_hashes(values: np.ndarray, powers: np.ndarray) -> np.ndarray:
    r"""Prefix sums :math:`P_i = \sum_{k<i} x_k B^k \bmod 2^{64}`, shape=(len(values) + 1,)."""
    terms = (values.astype(np.int64) + _SHIFT).astype(np.uint64) * powers[: len(values)]
    return np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])


def _window_hashes(prefix: np.ndarray, inverse_powers: np.ndarray, length: int) -> np.ndarray:
    r"""Hash of every run of ``length`` values: :math:`(P_{i+L} - P_i) B^{-i} \bmod 2^{64}`, position-free."""
    starts = len(prefix) - length
    return (prefix[length:] - prefix[:starts]) * inverse_powers[:starts]


class TrainingIndex:
    """The training set's melodies, indexed for :meth:`longest_copy`.

    Args:
        pieces: Notes arrays, int32 shape=(n, 6) each.
        names: A name per piece, for the originality table; default ``piece 1``, ``piece 2``, ...
    """

    def __init__(self, pieces: Sequence[np.ndarray], names: Sequence[str] | None = None):
        self.names = list(names) if names is not None else [f"piece {i + 1}" for i in range(len(pieces))]
        lines = [top_line(notes) for notes in pieces]
        intervals = [np.diff(line[:, PITCH].astype(np.int64)) for line in lines]
        self._values = np.concatenate([np.zeros(0, np.int64), *intervals])
        self._piece = np.repeat(np.arange(len(pieces)), [len(i) for i in intervals])
        self._onsets = np.concatenate([np.zeros(0, np.int64), *(line[:-1, START] for line in lines if len(line))])
        self.longest = max((len(i) for i in intervals), default=0)
        count = len(self._values) + 1
        self._powers, self._inverse_powers = _powers(_BASE, count), _powers(_BASE_INVERSE, count)
        self._prefix = _prefix_hashes(self._values, self._powers)
        self._sets: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _runs(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(sorted hashes, start of each) of every run of ``length`` intervals within one training piece."""
        if length not in self._sets:
            if len(self._sets) >= _MAX_CACHED_LENGTHS:
                self._sets.pop(next(iter(self._sets)))
            hashes = _window_hashes(self._prefix, self._inverse_powers, length)
            starts = np.flatnonzero(self._piece[: len(hashes)] == self._piece[length - 1 :])
            order = np.argsort(hashes[starts], kind="stable")
            self._sets[length] = hashes[starts][order], starts[order]
        return self._sets[length]

    def _matches(self, prefix: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(query starts, training starts) of the query's runs of ``length`` whose hash the training set holds."""
        hashes, starts = self._runs(length)
        query = _window_hashes(prefix, self._inverse_powers, length)
        slot = np.minimum(np.searchsorted(hashes, query), max(len(hashes) - 1, 0))
        found = np.flatnonzero(hashes[slot] == query) if len(hashes) else np.zeros(0, np.int64)
        return found, starts[slot[found]]

    def longest_copy(self, notes: np.ndarray, steps_per_bar: int, flag_bars: float = COPY_FLAG_BARS) -> Copy:
        r"""The longest run of the piece's top-line intervals that occurs in a training piece.

        .. math:: L^* = \max \{L : \exists j, k:\ d_{j..j+L-1} = d^{train}_{k..k+L-1}\},\quad
            notes = L^* + 1

        Args:
            notes: int32, shape=(n, 6).
            steps_per_bar: Grid steps per bar of the piece, to tell the run's length in bars.
            flag_bars: Runs this many bars long or longer, of at least
                ``COPY_FLAG_NOTES_PER_BAR * flag_bars`` notes, are flagged as copies.

        Returns:
            The run; ``Copy(0, 0.0, 0, None, None, False)`` when no interval recurs (or the piece has none).
        """
        check_steps("steps_per_bar", steps_per_bar)
        line = top_line(notes)
        intervals = np.diff(line[:, PITCH].astype(np.int64))
        if len(intervals) >= len(self._powers):  # a piece longer than the whole training set
            self._powers, self._inverse_powers = (
                _powers(_BASE, len(intervals) + 1),
                _powers(_BASE_INVERSE, len(intervals) + 1),
            )
        prefix = _prefix_hashes(intervals, self._powers)
        low, high, best = 0, min(len(intervals), self.longest), None
        while low < high:
            middle = (low + high + 1) // 2
            found, sources = self._matches(prefix, middle)
            if len(found):
                low, best = middle, (middle, int(found[0]), int(sources[0]))
            else:
                high = middle - 1
        if best is None:
            return Copy(0, 0.0, 0, None, None, False)
        length, start, source = best
        bars = float(line[start + length, END] - line[start, START]) / steps_per_bar
        return Copy(
            notes=length + 1,
            bars=bars,
            start_step=int(line[start, START]),
            source=self.names[self._piece[source]],
            source_step=int(self._onsets[source]),
            copied=bars >= flag_bars and length + 1 >= COPY_FLAG_NOTES_PER_BAR * flag_bars,
        )
