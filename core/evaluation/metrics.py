"""Objective metrics of one piece, after muspy (``muspy/metrics/metrics.py``).

Each metric is a small pure function of an int32 notes array, shape=(n, 6),
columns :data:`core.data.piece.NOTE_COLUMNS`, with the grid sizes it needs.
Drum notes are ignored throughout (their pitch picks an instrument, not a
tone), and a piece without pitched notes gets NaN rather than an exception, so
that a table of many pieces can still be built and averaged with ``np.nanmean``.
Time is counted from step 0, where the first bar line sits.

Besides today's ten (:func:`piece_metrics`, shown on the Generate page and kept
with library pieces), this module holds the per-piece figures of the Evaluate
engine that need nothing but the piece: melodic intervals of the top line,
groove consistency, pitch classes per bar, qualified notes, empty bars and
n-gram self-repetition (after MuseGAN, Dong et al. 2018, and MusPy, Dong et al.
2020). Histograms are :mod:`core.evaluation.histograms`, harmony
:mod:`core.evaluation.harmony`, copying :mod:`core.evaluation.originality`.
"""

from __future__ import annotations

import math
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


# MuseGAN's qualified note: at least 3 steps of its 24 per beat, a 32nd note.
QUALIFIED_NOTE_BEATS = 1 / 8
# Length of the melodic n-grams of :func:`self_repetition`, in intervals (5 notes).
SELF_REPETITION_INTERVALS = 4


def pitched_notes(notes: np.ndarray) -> np.ndarray:
    """The notes that are not drums, shape=(m, 6): the only ones any metric reads."""
    return notes[notes[:, IS_DRUM] == 0]


def check_steps(name: str, value: int) -> None:
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
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    return float(pitched[:, PITCH].max() - pitched[:, PITCH].min())


def n_pitch_classes_used(notes: np.ndarray) -> float:
    r"""Number of distinct pitch classes (chroma) used, 1-12 (muspy ``n_chroma_used``).

    .. math:: n\_pitch\_classes\_used = |\{p_i \bmod 12\}|
    """
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    return float(len(np.unique(pitched[:, PITCH] % 12)))


def pitch_class_entropy(notes: np.ndarray) -> float:
    r"""Shannon entropy of the duration-weighted pitch-class histogram, in bits, 0 to log2(12).

    Low for a piece that stays on few tones, high for one that wanders
    chromatically (Wu and Yang 2020, weighted by duration here).

    .. math:: H = -\sum_{c=0}^{11} P(c) \log_2 P(c),\quad P(c) \propto \sum_{i: p_i \bmod 12 = c} (e_i - s_i)
    """
    pitched = pitched_notes(notes)
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
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    counts = _sounding_counts(pitched)
    return float(counts.sum() / np.count_nonzero(counts))


def note_density(notes: np.ndarray, steps_per_bar: int) -> float:
    r"""Notes (onsets) per bar, over the bars from step 0 to the last end.

    .. math:: note\_density = \frac{n}{\lceil \max_i e_i / steps\_per\_bar \rceil}
    """
    check_steps("steps_per_bar", steps_per_bar)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    bars = -(-int(pitched[:, END].max()) // steps_per_bar)
    return len(pitched) / bars


def mean_duration_beats(notes: np.ndarray, steps_per_quarter: int) -> float:
    r"""Mean note length in beats (quarter notes).

    .. math:: mean\_duration = \frac{1}{n} \sum_i \frac{e_i - s_i}{steps\_per\_quarter}
    """
    check_steps("steps_per_quarter", steps_per_quarter)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    return float((pitched[:, END] - pitched[:, START]).mean() / steps_per_quarter)


def scale_consistency(notes: np.ndarray) -> float:
    r"""Largest fraction of notes in one of the 24 major and natural minor scales (Mogren 2016, as muspy).

    Counts notes, not durations.

    .. math:: scale\_consistency = \max_{root, mode} \frac{|\{i : p_i \bmod 12 \in S_{root, mode}\}|}{n}
    """
    pitched = pitched_notes(notes)
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
    check_steps("steps_per_quarter", steps_per_quarter)
    pitched = pitched_notes(notes)
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
    check_steps("steps_per_bar", steps_per_bar)
    pitched = pitched_notes(notes)
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


def tonal_stability(notes: np.ndarray, key: tuple[int, str] | None = None) -> float:
    r"""Correlation of the piece's pitch-class histogram with its best-fitting key profile.

    The key is the one :func:`core.music.theory.estimate_key` finds
    (Krumhansl-Schmuckler); its score is the metric, near 1 for a piece that
    stays in one key, lower for chromatic or modulating music. A histogram
    with all 12 classes equal fits no key and scores 0.

    .. math:: tonal\_stability = \max_{root, mode} corr(h, K_{mode} \text{ rolled by } root)

    Args:
        key: The piece's (tonic, mode) when already estimated.
    """
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    histogram = pitch_class_histogram(pitched)
    if np.allclose(histogram, histogram[0]):
        return 0.0
    tonic, mode = key or estimate_key(pitched)
    profile = MAJOR_PROFILE if mode == "major" else MINOR_PROFILE
    return float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])


def note_steps(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (note, step) pair where a note sounds: ``note[k]`` indexes ``notes``, ``step[k]`` in its [start, end).

    Returns:
        (note, step), int64 each, shape=(sum of lengths,): the piano roll as a sparse list.
    """
    lengths = np.maximum(notes[:, END] - notes[:, START], 0).astype(np.int64)
    note = np.repeat(np.arange(len(notes)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return note, notes[note, START].astype(np.int64) + np.arange(len(note)) - first


def top_line_mask(notes: np.ndarray) -> np.ndarray:
    r"""Which pitched notes form the melody heard on top: the skyline of Uitdenbogerd and Zobel (1999).

    At each onset the highest note starting there is kept, unless a higher note
    that started earlier still sounds (the new note lies under a held melody
    note). For a single line it is the line itself.

    .. math:: T = \{\arg\max_{i: s_i = t} p_i : t \text{ an onset},\ \max_{i: s_i = t} p_i \ge \max_{j: s_j < t < e_j} p_j\}

    Returns:
        bool, shape=(len(pitched_notes(notes)),).
    """
    pitched = pitched_notes(notes)
    mask = np.zeros(len(pitched), dtype=bool)
    if len(pitched) == 0:
        return mask
    order = np.lexsort((-pitched[:, PITCH], pitched[:, START]))
    tops = order[np.concatenate([[True], pitched[order[1:], START] != pitched[order[:-1], START]])]
    note, step = note_steps(pitched)
    later = step > pitched[note, START]  # a note holds over the steps after its onset
    held = np.full(int(pitched[:, END].max()) + 1, -1, dtype=np.int64)
    np.maximum.at(held, step[later], pitched[note[later], PITCH])
    mask[tops[pitched[tops, PITCH] >= held[pitched[tops, START]]]] = True
    return mask


def top_line(notes: np.ndarray) -> np.ndarray:
    """The notes of :func:`top_line_mask`, shape=(m, 6), in onset order; each keeps its own end."""
    line = pitched_notes(notes)[top_line_mask(notes)]
    return line[np.argsort(line[:, START], kind="stable")]


def melodic_intervals(notes: np.ndarray) -> np.ndarray:
    r"""Signed semitones between consecutive notes of :func:`top_line`, shape=(m - 1,).

    .. math:: d_j = q_{j+1} - q_j,\quad q \text{ the pitches of the top line}
    """
    return np.diff(top_line(notes)[:, PITCH].astype(np.int64))


def mean_absolute_interval(notes: np.ndarray) -> float:
    r"""Mean size of the melodic steps of the top line, in semitones ("PI", Yang and Lerch 2018).

    Small for stepwise melodies, large for leaps; NaN with fewer than two top-line notes.

    .. math:: mean\_absolute\_interval = \frac{1}{m - 1} \sum_{j=1}^{m-1} |q_{j+1} - q_j|
    """
    intervals = melodic_intervals(notes)
    if len(intervals) == 0:
        return float("nan")
    return float(np.abs(intervals).mean())


def repeated_note_rate(notes: np.ndarray) -> float:
    r"""Share of consecutive top-line notes on the same pitch: a melody stuck on one tone scores near 1.

    A key can be kept by hammering its tonic, so a model steered into the key is
    checked on this too (:mod:`core.evaluation.quality`). NaN with fewer than two top-line notes.

    .. math:: repeated\_note\_rate = \frac{|\{j : q_{j+1} = q_j\}|}{m - 1}
    """
    intervals = melodic_intervals(notes)
    if len(intervals) == 0:
        return float("nan")
    return float(np.mean(intervals == 0))


def _bars(pitched: np.ndarray, steps_per_bar: int) -> int:
    """Bars from step 0 to the bar holding the last end."""
    return -(-int(pitched[:, END].max()) // steps_per_bar)


def groove_consistency(notes: np.ndarray, steps_per_bar: int) -> float:
    r"""One minus the mean Hamming distance of consecutive bars' onset patterns (Wu and Yang 2020, as muspy).

    A bar's pattern marks the steps of the bar where a note starts; a steady
    rhythm repeats it and scores near 1. Over the bars from step 0 to the
    last end; NaN below two bars.

    .. math:: groove = 1 - \frac{1}{B - 1} \sum_{b=1}^{B-1} \frac{\lVert G_b \oplus G_{b+1} \rVert_1}{steps\_per\_bar},
        \quad G_b \in \{0, 1\}^{steps\_per\_bar}
    """
    check_steps("steps_per_bar", steps_per_bar)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    bars = _bars(pitched, steps_per_bar)
    if bars < 2:
        return float("nan")
    onsets = np.zeros((bars, steps_per_bar), dtype=bool)
    onsets[np.divmod(pitched[:, START], steps_per_bar)] = True
    return float(1 - np.mean(np.count_nonzero(onsets[1:] != onsets[:-1], axis=1) / steps_per_bar))


def _bar_pitch_classes(pitched: np.ndarray, steps_per_bar: int) -> np.ndarray:
    """Which pitch classes sound in each bar, bool shape=(bars, 12)."""
    note, step = note_steps(pitched)
    used = np.zeros((_bars(pitched, steps_per_bar), 12), dtype=bool)
    used[step // steps_per_bar, pitched[note, PITCH] % 12] = True
    return used


def pitch_classes_per_bar(notes: np.ndarray, steps_per_bar: int) -> float:
    r"""Pitch classes used per bar, over the bars where a note sounds ("UPC", Dong et al. 2018, MuseGAN).

    A note counts in every bar it sounds in.

    .. math:: UPC = \frac{1}{|B'|} \sum_{b \in B'} |\{p_i \bmod 12 : i \text{ sounds in } b\}|,
        \quad B' = \{b : \text{a note sounds in } b\}
    """
    check_steps("steps_per_bar", steps_per_bar)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    counts = _bar_pitch_classes(pitched, steps_per_bar).sum(axis=1)
    return float(counts[counts > 0].mean())


def empty_bar_rate(notes: np.ndarray, steps_per_bar: int) -> float:
    r"""Fraction of bars in which no note sounds ("EB", Dong et al. 2018, MuseGAN).

    Over the bars from step 0 to the bar holding the last end.

    .. math:: empty\_bar\_rate = \frac{|\{b : \text{no note sounds in } b\}|}{\lceil \max_i e_i / steps\_per\_bar \rceil}
    """
    check_steps("steps_per_bar", steps_per_bar)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    return float(np.mean(~_bar_pitch_classes(pitched, steps_per_bar).any(axis=1)))


def qualified_note_rate(notes: np.ndarray, steps_per_quarter: int, min_beats: float = QUALIFIED_NOTE_BEATS) -> float:
    r"""Fraction of notes at least a 32nd note long ("QN", Dong et al. 2018, MuseGAN): few fragments score 1.

    MuseGAN counts notes of at least 3 of its 24 steps per beat; here the
    shortest qualified note is ``min_beats`` rounded up to whole steps (on a
    grid of 4 steps per quarter that is one step, so every note qualifies).

    .. math:: QN = \frac{|\{i : e_i - s_i \ge \lceil min\_beats \cdot steps\_per\_quarter \rceil\}|}{n}
    """
    check_steps("steps_per_quarter", steps_per_quarter)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    shortest = max(1, math.ceil(min_beats * steps_per_quarter - 1e-9))
    return float(np.mean(pitched[:, END] - pitched[:, START] >= shortest))


def self_repetition(notes: np.ndarray, n: int = SELF_REPETITION_INTERVALS) -> float:
    r"""Share of the top line's melodic n-grams that come back elsewhere in the piece: its motivic structure.

    An n-gram is ``n`` consecutive intervals of :func:`melodic_intervals` (``n + 1``
    notes), so a motif repeated in another key counts. 0 for a line that never
    repeats itself, 1 for one made of one motif; NaN with fewer than ``n`` intervals.

    .. math:: self\_repetition = \frac{|\{j : \exists k \ne j,\ g_k = g_j\}|}{m - n},
        \quad g_j = (d_j, \dots, d_{j+n-1})
    """
    check_steps("n", n)
    intervals = melodic_intervals(notes)
    if len(intervals) < n:
        return float("nan")
    grams = np.lib.stride_tricks.sliding_window_view(intervals, n)
    _, inverse, counts = np.unique(grams, axis=0, return_inverse=True, return_counts=True)
    return float(np.mean(counts[inverse.reshape(-1)] > 1))


def piece_metrics(
    notes: np.ndarray, steps_per_quarter: int, beats_per_bar: int = 4, key: tuple[int, str] | None = None
) -> dict[str, float]:
    """Every metric of one piece, keyed as :data:`METRIC_LABELS`.

    Args:
        notes: int32, shape=(n, 6).
        steps_per_quarter: Grid resolution.
        beats_per_bar: Quarter notes per bar (4 for 4/4, 3 for 3/4).
        key: The piece's (tonic, mode) when already estimated (key finding is the slowest step).

    Returns:
        Metric name -> value; NaN for every metric when there are no pitched notes.

    Raises:
        ConfigError: ``steps_per_quarter`` or ``beats_per_bar`` below 1.
    """
    check_steps("steps_per_quarter", steps_per_quarter)
    check_steps("beats_per_bar", beats_per_bar)
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
        "tonal_stability": tonal_stability(notes, key),
    }
