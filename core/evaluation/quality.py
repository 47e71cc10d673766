"""The musical quality of a set of pieces in six measures, how far one set is from another, and the bounds checks.

What a listener hears first in generated music is wrong notes, a thick or thin
texture, odd rhythms and an aimless or stuck melody: the six measures of
:data:`MEASURES` (scale degrees, in-key share, polyphony, note lengths, melodic
intervals, repeated notes), each taken from the existing per-piece metrics and
histograms. A :class:`QualityProfile` holds each measure's mean over a set and
how far a piece of the set typically lies from that mean;
:meth:`QualityProfile.distance` puts the gap between two sets' means in units of
that spread among the real pieces, so that a histogram and a share weigh alike.
The composing defaults are chosen by it (:mod:`core.evaluation.tuning`) and
``bench/quality.py`` reports it.

The bounds checks (:data:`BOUNDS_CHECKS`) tell what share of pieces leaves the
training music's bounds (:class:`~core.data.bounds.MusicBounds`): a note held
longer than any it has, a pitch outside its range, more voices than it has.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.bounds import MusicBounds, voices_per_step
from core.data.datasets import Dataset
from core.data.piece import END, PITCH, START
from core.errors import EvaluationError
from core.evaluation import histograms, metrics
from core.evaluation.baselines import excerpt
from core.evaluation.likelihood import held_out_split
from core.music.theory import estimate_key

# A measure on which every real piece agrees (one voice in a set of melodies) still divides by this:
# a hundredth of a share, a voice or a histogram's mass is below any spread real music shows.
SPREAD_FLOOR = 0.01
# Held-out pieces a profile is measured on at most (a seeded sample): the mean of a few hundred is steady.
MAX_REFERENCE_PIECES = 500

Key = tuple[int, str] | None


@dataclass(frozen=True)
class Measure:
    """One measure of a :class:`QualityProfile`.

    Attributes:
        of: The value of one piece, given its notes (int32, shape=(n, 6)), its grid (steps per
            quarter note) and its estimated key: a float, or a histogram summing to 1; NaN where unmeasurable.
        shape: () for a number, the histogram's shape otherwise.
    """

    of: Callable[[np.ndarray, int, Key], float | np.ndarray]
    shape: tuple[int, ...] = ()


MEASURES: dict[str, Measure] = {
    "pitch_classes": Measure(lambda notes, _, key: histograms.key_pitch_class_histogram(notes, key), (12,)),
    "in_key": Measure(lambda notes, _, __: metrics.scale_consistency(notes)),
    "polyphony": Measure(lambda notes, _, __: metrics.polyphony(notes)),
    "note_lengths": Measure(
        lambda notes, grid, _: histograms.note_length_histogram(notes, grid), (len(histograms.LENGTH_BINS_BEATS),)
    ),
    "intervals": Measure(
        lambda notes, _, __: histograms.pitch_interval_histogram(notes), (len(histograms.INTERVAL_BINS),)
    ),
    "repeated_notes": Measure(lambda notes, _, __: metrics.repeated_note_rate(notes)),
}


@dataclass(frozen=True)
class ProfileDistance:
    """How far a set of pieces is from the real ones.

    Attributes:
        total: The mean of ``measures``; 0 for the same means.
        measures: Per measure of :data:`MEASURES`, the gap in units of the real pieces' spread.
    """

    total: float
    measures: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "measures": dict(self.measures)}


@dataclass(frozen=True)
class QualityProfile:
    """The measures of a set of pieces.

    Attributes:
        pieces: Pieces measured.
        means: Per measure, its mean over the pieces that have it: float, shape=() for a number, the
            histogram's shape otherwise; NaN when no piece has it.
        spreads: Per measure, the mean L1 distance of a piece's value from ``means``: how much the
            set's pieces differ among themselves.
    """

    pieces: int
    means: dict[str, np.ndarray]
    spreads: dict[str, float]

    @classmethod
    def of(cls, pieces: Sequence[np.ndarray], steps_per_quarter: int) -> QualityProfile:
        """Measure ``pieces`` (int32 notes arrays, shape=(n, 6), on a grid of ``steps_per_quarter``).

        A piece without the measured thing (no notes; one top-line note for the intervals) is left
        out of that measure's mean only.
        """
        values: dict[str, list[float | np.ndarray]] = {name: [] for name in MEASURES}
        for notes in pieces:
            pitched = metrics.pitched_notes(notes)
            key = estimate_key(pitched) if len(pitched) else None  # once: the slowest step
            for name, measure in MEASURES.items():
                values[name].append(measure.of(notes, steps_per_quarter, key))
        means, spreads = {}, {}
        for name, measure in MEASURES.items():
            table = np.array(values[name], dtype=float).reshape(len(pieces), math.prod(measure.shape))
            kept = table[~np.isnan(table).any(axis=1)]
            mean = kept.mean(axis=0) if len(kept) else np.full(table.shape[1], np.nan)
            means[name] = mean.reshape(measure.shape)
            spreads[name] = float(np.abs(kept - mean).sum(axis=1).mean()) if len(kept) else float("nan")
        return cls(len(pieces), means, spreads)

    def value(self, name: str) -> float | list[float]:
        """A measure's mean as JSON-able data: a float, or the histogram as a list."""
        mean = self.means[name]
        return float(mean) if mean.ndim == 0 else [float(x) for x in mean]

    def distance(self, reference: QualityProfile) -> ProfileDistance:
        r"""How far this set's means lie from ``reference``'s (the real pieces), per measure and overall.

        Each measure's gap is the L1 distance of the two means over the reference's
        spread: 1 is as far as a typical real piece lies from the real mean. For a
        histogram the L1 distance is twice the total variation; for a number, the
        absolute difference. NaN where either set lacks the measure; the total is the
        mean of the others.

        .. math:: d_m = \frac{\lVert \bar x_m - \bar r_m \rVert_1}{\max(s_m, floor)},\quad
            s_m = \frac{1}{|R|} \sum_{r \in R} \lVert r_m - \bar r_m \rVert_1,\quad d = \frac{1}{|M|} \sum_m d_m
        """
        gaps = {
            name: float(
                np.abs(self.means[name] - reference.means[name]).sum() / max(reference.spreads[name], SPREAD_FLOOR)
            )
            for name in MEASURES
        }
        finite = [gap for gap in gaps.values() if np.isfinite(gap)]
        return ProfileDistance(float(np.mean(finite)) if finite else float("nan"), gaps)

    def to_json(self) -> dict[str, Any]:
        return {
            "pieces": self.pieces,
            "means": {name: self.value(name) for name in MEASURES},
            "spreads": dict(self.spreads),
        }


def held_out_excerpts(dataset: Dataset, steps: int, seed: int = 0) -> tuple[str, list[np.ndarray]]:
    """The dataset's held-out pieces (its test split, else its validation split), each cut to ``steps`` grid steps.

    Generated pieces are measured against them at the same length: a piece's first
    bars, as composing writes first bars. At most :data:`MAX_REFERENCE_PIECES`, a
    seeded sample.

    Returns:
        (the split's name, the excerpts).

    Raises:
        EvaluationError: The dataset holds no pieces out of training.
    """
    split, indices = held_out_split(dataset)
    chosen = sorted(np.random.default_rng(seed).permutation(indices)[:MAX_REFERENCE_PIECES])
    return split, [excerpt(dataset.piece(int(index)).notes, steps) for index in chosen]


# === Bounds checks ===


def has_hanging_note(notes: np.ndarray, bounds: MusicBounds) -> bool:
    """A note longer than the training music's longest."""
    return bool(np.any(notes[:, END] - notes[:, START] > bounds.longest_note_steps))


def has_out_of_range_pitch(notes: np.ndarray, bounds: MusicBounds) -> bool:
    """A pitch below or above the training music's range."""
    return bool(np.any((notes[:, PITCH] < bounds.pitch_low) | (notes[:, PITCH] > bounds.pitch_high)))


def has_too_many_voices(notes: np.ndarray, bounds: MusicBounds) -> bool:
    """More notes sounding at once, at some step, than the training music's voices."""
    return bool(voices_per_step(notes).max(initial=0) > bounds.voices)


BOUNDS_CHECKS: dict[str, Callable[[np.ndarray, MusicBounds], bool]] = {
    "hanging": has_hanging_note,
    "out_of_range": has_out_of_range_pitch,
    "too_many_voices": has_too_many_voices,
}


def bounds_shares(pieces: Sequence[np.ndarray], bounds: MusicBounds, steps_per_quarter: int) -> dict[str, float]:
    """Per check of :data:`BOUNDS_CHECKS`, the share of ``pieces`` that break it (drums left out); NaN without pieces.

    Raises:
        EvaluationError: The pieces are on another grid than the bounds' note lengths.
    """
    if steps_per_quarter != bounds.steps_per_quarter:
        raise EvaluationError(
            f"the bounds count note lengths on {bounds.steps_per_quarter} steps per quarter note, "
            f"the pieces are on {steps_per_quarter}"
        )
    pitched = [metrics.pitched_notes(notes) for notes in pieces]
    return {
        name: float(np.mean([check(notes, bounds) for notes in pitched])) if pitched else float("nan")
        for name, check in BOUNDS_CHECKS.items()
    }
