"""Objective metrics of one piece, after muspy (``muspy/metrics/metrics.py``).

Each metric is a small pure function of an int32 notes array, shape=(n, 6),
columns :data:`core.data.piece.NOTE_COLUMNS`, with the grid sizes it needs.
Drum notes are ignored throughout (their pitch picks an instrument, not a
tone), and a piece without pitched notes gets NaN rather than an exception, so
that a table of many pieces can still be built and averaged with ``np.nanmean``.
Time is counted from step 0, where the first bar line sits.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from core.data.piece import END, IS_DRUM, PITCH, START
from core.errors import ConfigError
from core.music.theory import MAJOR_PROFILE, MINOR_PROFILE, estimate_key, pitch_class_histogram, scale_pitch_classes

METRIC_LABELS: dict[str, str] = {
    "pitch_range": "Pitch range (semitones)",
    "n_pitch_classes_used": "Pitch classes used (of 12)",
    "pitch_class_entropy": "Pitch-class entropy (bits)",
    "polyphony": "Polyphony (notes at once)",
    "note_density": "Note density (notes/bar)",
    "mean_duration_beats": "Mean note length (beats)",
    "scale_consistency": "Scale consistency (0-1)",
    "empty_beat_rate": "Empty beats (0-1)",
    "repetition_rate": "Repeated bars (0-1)",
    "tonal_stability": "Tonal stability (key correlation)",
}


def _pitched(notes: np.ndarray) -> np.ndarray:
    return notes[notes[:, IS_DRUM] == 0]


def _check_steps(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")


def _sounding_counts(notes: np.ndarray) -> np.ndarray:
    """Notes sounding at each step from 0 to the last end, shape=(max_end,)."""
    changes = np.zeros(int(notes[:, END].max()) + 1, dtype=np.int64)
    np.add.at(changes, notes[:, START], 1)
    np.add.at(changes, notes[:, END], -1)
    return np.cumsum(changes)[:-1]


def pitch_range(notes: np.ndarray) -> float:
    r"""Highest minus lowest pitch, in semitones.

    .. math:: pitch\_range = \max_i p_i - \min_i p_i
    """
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    return float(pitched[:, PITCH].max() - pitched[:, PITCH].min())


def n_pitch_classes_used(notes: np.ndarray) -> float:
    r"""Number of distinct pitch classes (chroma) used, 1-12 (muspy ``n_chroma_used``).

    .. math:: n\_pitch\_classes\_used = |\{p_i \bmod 12\}|
    """
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    return float(len(np.unique(pitched[:, PITCH] % 12)))


def pitch_class_entropy(notes: np.ndarray) -> float:
    r"""Shannon entropy of the duration-weighted pitch-class histogram, in bits, 0 to log2(12).

    Low for a piece that stays on few tones, high for one that wanders
    chromatically (Wu and Yang 2020, weighted by duration here).

    .. math:: H = -\sum_{c=0}^{11} P(c) \log_2 P(c),\quad P(c) \propto \sum_{i: p_i \bmod 12 = c} (e_i - s_i)
    """
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    histogram = pitch_class_histogram(pitched)
    used = histogram[histogram > 0]
    return float(-(used * np.log2(used)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def polyphony(notes: np.ndarray) -> float:
    r"""Mean number of notes sounding, over the steps where at least one sounds.

    1 for a monophonic line, 3 for block triads.

    .. math:: polyphony = \frac{\sum_t n_t}{|\{t : n_t > 0\}|}, \quad n_t = |\{i : s_i \le t < e_i\}|
    """
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    counts = _sounding_counts(pitched)
    return float(counts.sum() / np.count_nonzero(counts))


def note_density(notes: np.ndarray, steps_per_bar: int) -> float:
    r"""Notes (onsets) per bar, over the bars from step 0 to the last end.

    .. math:: note\_density = \frac{n}{\lceil \max_i e_i / steps\_per\_bar \rceil}
    """
    _check_steps("steps_per_bar", steps_per_bar)
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    bars = -(-int(pitched[:, END].max()) // steps_per_bar)
    return len(pitched) / bars


def mean_duration_beats(notes: np.ndarray, steps_per_quarter: int) -> float:
    r"""Mean note length in beats (quarter notes).

    .. math:: mean\_duration = \frac{1}{n} \sum_i \frac{e_i - s_i}{steps\_per\_quarter}
    """
    _check_steps("steps_per_quarter", steps_per_quarter)
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    return float((pitched[:, END] - pitched[:, START]).mean() / steps_per_quarter)


def scale_consistency(notes: np.ndarray) -> float:
    r"""Largest fraction of notes in one of the 24 major and natural minor scales (Mogren 2016, as muspy).

    Counts notes, not durations.

    .. math:: scale\_consistency = \max_{root, mode} \frac{|\{i : p_i \bmod 12 \in S_{root, mode}\}|}{n}
    """
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    counts = np.bincount(pitched[:, PITCH] % 12, minlength=12)
    best = max(
        sum(counts[pitch_class] for pitch_class in scale_pitch_classes(tonic, mode))
        for mode in ("major", "minor")
        for tonic in range(12)
    )
    return float(best / len(pitched))


def empty_beat_rate(notes: np.ndarray, steps_per_quarter: int) -> float:
    r"""Fraction of beats in which no note sounds (Dong et al. 2018, as muspy).

    Beats are quarter notes from step 0 up to the beat holding the last end; a
    beat is empty when no note sounds at any of its steps.

    .. math:: empty\_beat\_rate = \frac{|\{b : n_t = 0\ \forall t \in b\}|}{\lceil \max_i e_i / steps\_per\_quarter \rceil}
    """
    _check_steps("steps_per_quarter", steps_per_quarter)
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    counts = _sounding_counts(pitched)
    beats = -(-len(counts) // steps_per_quarter)
    padded = np.zeros(beats * steps_per_quarter, dtype=np.int64)
    padded[: len(counts)] = counts
    return float(np.mean(padded.reshape(beats, steps_per_quarter).max(axis=1) == 0))


def repetition_rate(notes: np.ndarray, steps_per_bar: int) -> float:
    r"""Fraction of bars that repeat an earlier bar exactly.

    A bar's pattern is the multiset of (pitch, start within the bar) of the
    notes starting in it; a bar repeats when its pattern equals that of any
    earlier bar. Bars without onsets (silence or held notes) are left out of
    both counts, so that rests do not pass for repetition.

    .. math:: repetition\_rate = \frac{|\{k : \exists j < k,\ P_j = P_k\}|}{|\{k : P_k \ne \emptyset\}|}
    """
    _check_steps("steps_per_bar", steps_per_bar)
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    bar, position = np.divmod(pitched[:, START], steps_per_bar)
    patterns: dict[int, Counter] = {}
    for bar_index, pitch, offset in zip(bar.tolist(), pitched[:, PITCH].tolist(), position.tolist()):
        patterns.setdefault(bar_index, Counter())[(pitch, offset)] += 1
    seen: list[Counter] = []
    repeats = 0
    for bar_index in sorted(patterns):
        pattern = patterns[bar_index]
        repeats += pattern in seen
        seen.append(pattern)
    return repeats / len(patterns)


def tonal_stability(notes: np.ndarray) -> float:
    r"""Correlation of the piece's pitch-class histogram with its best-fitting key profile.

    The key is the one :func:`core.music.theory.estimate_key` finds
    (Krumhansl-Schmuckler); its score is the metric, near 1 for a piece that
    stays in one key, lower for chromatic or modulating music. A histogram
    with all 12 classes equal fits no key and scores 0.

    .. math:: tonal\_stability = \max_{root, mode} corr(h, K_{mode} \text{ rolled by } root)
    """
    pitched = _pitched(notes)
    if len(pitched) == 0:
        return float("nan")
    histogram = pitch_class_histogram(pitched)
    if np.allclose(histogram, histogram[0]):
        return 0.0
    tonic, mode = estimate_key(pitched)
    profile = MAJOR_PROFILE if mode == "major" else MINOR_PROFILE
    return float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])


def piece_metrics(notes: np.ndarray, steps_per_quarter: int, beats_per_bar: int = 4) -> dict[str, float]:
    """Every metric of one piece, keyed as :data:`METRIC_LABELS`.

    Args:
        notes: int32, shape=(n, 6).
        steps_per_quarter: Grid resolution.
        beats_per_bar: Quarter notes per bar (4 for 4/4, 3 for 3/4).

    Returns:
        Metric name -> value; NaN for every metric when there are no pitched notes.

    Raises:
        ConfigError: ``steps_per_quarter`` or ``beats_per_bar`` below 1.
    """
    _check_steps("steps_per_quarter", steps_per_quarter)
    _check_steps("beats_per_bar", beats_per_bar)
    steps_per_bar = steps_per_quarter * beats_per_bar
    return {
        "pitch_range": pitch_range(notes),
        "n_pitch_classes_used": n_pitch_classes_used(notes),
        "pitch_class_entropy": pitch_class_entropy(notes),
        "polyphony": polyphony(notes),
        "note_density": note_density(notes, steps_per_bar),
        "mean_duration_beats": mean_duration_beats(notes, steps_per_quarter),
        "scale_consistency": scale_consistency(notes),
        "empty_beat_rate": empty_beat_rate(notes, steps_per_quarter),
        "repetition_rate": repetition_rate(notes, steps_per_bar),
        "tonal_stability": tonal_stability(notes),
    }
