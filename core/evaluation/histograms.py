"""Histograms of one piece: the distributions Yang and Lerch (2018) compare between sets.

Each is a pure function of an int32 notes array, shape=(n, 6), columns
:data:`core.data.piece.NOTE_COLUMNS`, returning a float vector (or matrix) that
sums to 1, so that pieces of any length compare; drum notes are ignored. A
piece too short to have the counted thing gets a vector of NaN of the same
shape, never an exception. Pitch classes are counted relative to the piece's
estimated key (:func:`core.music.theory.estimate_key`), as scale degrees: a set
of pieces in many keys then compares fairly with one composed in C.
"""

from __future__ import annotations

import numpy as np

from core.data.piece import END, PITCH, START
from core.evaluation.metrics import check_steps, melodic_intervals, pitched_notes, top_line
from core.music.theory import estimate_key, pitch_class_histogram

# Melodic intervals are counted from a descending octave to an ascending one; wider leaps go to the end bins.
MAX_INTERVAL = 12
INTERVAL_BINS = tuple(range(-MAX_INTERVAL, MAX_INTERVAL + 1))
# Lower edges of the length classes, in beats (quarter notes): 16th, 8th, dotted 8th, quarter, dotted quarter,
# half, dotted half, whole; shorter notes go to the first class, longer ones to the last.
LENGTH_BINS_BEATS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
LENGTH_BIN_NAMES = ("1/16", "1/8", "1/8.", "1/4", "1/4.", "1/2", "1/2.", "1+")


def _nan(*shape: int) -> np.ndarray:
    return np.full(shape, np.nan)


def _normalized(counts: np.ndarray) -> np.ndarray:
    return counts / counts.sum()


def key_pitch_class_histogram(notes: np.ndarray, key: tuple[int, str] | None = None) -> np.ndarray:
    r"""Duration-weighted pitch-class histogram with the estimated tonic at index 0 ("PCH", Yang and Lerch 2018).

    Index ``k`` is the share of sounding time on the degree ``k`` semitones
    above the tonic of :func:`~core.music.theory.estimate_key`.

    .. math:: h(k) = \frac{\sum_{i: (p_i - tonic) \bmod 12 = k} (e_i - s_i)}{\sum_i (e_i - s_i)}

    Args:
        key: The piece's (tonic, mode) when already estimated.

    Returns:
        float, shape=(12,); NaN without pitched notes.
    """
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return _nan(12)
    tonic, _ = key or estimate_key(pitched)
    return np.roll(pitch_class_histogram(pitched), -tonic)


def pitch_class_transitions(notes: np.ndarray, key: tuple[int, str] | None = None) -> np.ndarray:
    r"""Transitions between consecutive top-line pitch classes, key-relative ("PCTM", Yang and Lerch 2018).

    Entry ``[a, b]`` is the share of steps of :func:`~core.evaluation.metrics.top_line`
    from degree ``a`` to degree ``b`` (semitones above the estimated tonic).

    .. math:: M[a, b] = \frac{|\{j : (q_j - tonic) \bmod 12 = a,\ (q_{j+1} - tonic) \bmod 12 = b\}|}{m - 1}

    Args:
        key: The piece's (tonic, mode) when already estimated.

    Returns:
        float, shape=(12, 12); NaN with fewer than two top-line notes.
    """
    line = top_line(notes)
    if len(line) < 2:
        return _nan(12, 12)
    tonic, _ = key or estimate_key(pitched_notes(notes))
    degrees = (line[:, PITCH].astype(np.int64) - tonic) % 12
    counts = np.zeros((12, 12))
    np.add.at(counts, (degrees[:-1], degrees[1:]), 1)
    return _normalized(counts)


def pitch_interval_histogram(notes: np.ndarray) -> np.ndarray:
    r"""Signed melodic intervals of the top line, -12 to +12 semitones (Yang and Lerch 2018, "PI" as a histogram).

    Bin ``k`` counts intervals of ``k - 12`` semitones; leaps beyond an octave
    count in the end bins.

    .. math:: h(k) = \frac{|\{j : \mathrm{clip}(d_j, -12, 12) = k - 12\}|}{m - 1}

    Returns:
        float, shape=(25,); NaN with fewer than two top-line notes.
    """
    intervals = melodic_intervals(notes)
    if len(intervals) == 0:
        return _nan(len(INTERVAL_BINS))
    clipped = np.clip(intervals, -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    return _normalized(np.bincount(clipped, minlength=len(INTERVAL_BINS)).astype(float))


def _length_classes(steps: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    """Counts of lengths (in steps) per class of :data:`LENGTH_BINS_BEATS`, shape=(8,)."""
    beats = steps / steps_per_quarter
    classes = np.clip(np.searchsorted(LENGTH_BINS_BEATS, beats, side="right") - 1, 0, len(LENGTH_BINS_BEATS) - 1)
    return np.bincount(classes, minlength=len(LENGTH_BINS_BEATS)).astype(float)


def note_length_histogram(notes: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    r"""Note lengths in eight classes from a 16th to a whole note ("NLH", Yang and Lerch 2018).

    A note falls in the longest class of :data:`LENGTH_BINS_BEATS` not longer
    than itself (a 16th when shorter than all, the whole note when longer).

    .. math:: h(k) = \frac{|\{i : L_k \le (e_i - s_i) / steps\_per\_quarter < L_{k+1}\}|}{n}

    Returns:
        float, shape=(8,); NaN without pitched notes.
    """
    check_steps("steps_per_quarter", steps_per_quarter)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return _nan(len(LENGTH_BINS_BEATS))
    return _normalized(_length_classes(pitched[:, END] - pitched[:, START], steps_per_quarter))


def inter_onset_interval_histogram(notes: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    r"""Times between consecutive onsets, in the classes of :func:`note_length_histogram` ("IOI", Yang and Lerch 2018).

    Onsets are the distinct steps where any note starts, so a chord is one onset.

    .. math:: h(k) = \frac{|\{j : L_k \le (t_{j+1} - t_j) / steps\_per\_quarter < L_{k+1}\}|}{|T| - 1},
        \quad T = \{s_i\} \text{ sorted}

    Returns:
        float, shape=(8,); NaN with fewer than two onsets.
    """
    check_steps("steps_per_quarter", steps_per_quarter)
    onsets = np.unique(pitched_notes(notes)[:, START])
    if len(onsets) < 2:
        return _nan(len(LENGTH_BINS_BEATS))
    return _normalized(_length_classes(np.diff(onsets), steps_per_quarter))
