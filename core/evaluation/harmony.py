"""Harmony of one piece: tonal distance between voices, chords per beat and how plausible their progression is.

Pure functions of an int32 notes array, shape=(n, 6), columns
:data:`core.data.piece.NOTE_COLUMNS`; drums ignored; NaN when a piece has
nothing to measure. "Voices" are the top line (:func:`~core.evaluation.metrics.top_line`)
and everything under it, so the figures need no track layout: a generated piece
is one track, a chorale four voices on one program.

Chords are triads found per beat by template matching (Fujishima 1999) and
named relative to the piece's estimated key (:func:`~core.music.theory.estimate_key`),
as roman numerals would: a progression I-V in D major and one in G major are
the same transition, so the reference set of a dataset in many keys judges a
piece in any key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping

import numpy as np

from core.data.piece import END, PITCH
from core.evaluation.metrics import check_steps, note_steps, pitched_notes, top_line_mask
from core.music.theory import PITCH_CLASS_NAMES, estimate_key

# Harte, Sandler and Gasser (2006): the 6-D tonal centroid projects a chroma vector onto three circles,
# fifths (radius r1 = 1), minor thirds (r2 = 1) and major thirds (r3 = 0.5).
_ANGLES = (7 * np.pi / 6, 3 * np.pi / 2, 2 * np.pi / 3)
_RADII = (1.0, 1.0, 0.5)
TONAL_CENTROID = np.array(
    [
        row
        for angle, radius in zip(_ANGLES, _RADII)
        for row in (radius * np.sin(np.arange(12) * angle), radius * np.cos(np.arange(12) * angle))
    ]
)  # shape=(6, 12)

# The 24 triads: chord c has root c % 12 and is major for c < 12, minor from 12 on.
QUALITIES = ("major", "minor")
_TRIAD_STEPS = {"major": (0, 4, 7), "minor": (0, 3, 7)}
TRIADS = np.array(
    [
        [float((pc - root) % 12 in _TRIAD_STEPS[quality]) for pc in range(12)]
        for quality in QUALITIES
        for root in range(12)
    ]
)  # shape=(24, 12)
CHORD_NAMES = tuple(f"{PITCH_CLASS_NAMES[c % 12]}{'' if c < 12 else 'm'}" for c in range(24))
NO_CHORD = -1
# A transition: (key mode, root a above the tonic, quality a, root b above the tonic, quality b).
Transition = tuple[str, int, str, int, str]


def tonal_centroid(chroma: np.ndarray) -> np.ndarray:
    r"""Harte's tonal centroid of chroma vectors (Harte, Sandler and Gasser 2006).

    .. math:: \zeta_d = \frac{1}{\lVert c \rVert_1} \sum_{l=0}^{11} \Phi(d, l)\, c(l),\quad
        \Phi = [r_1 \sin l\tfrac{7\pi}{6}, r_1 \cos l\tfrac{7\pi}{6}, r_2 \sin l\tfrac{3\pi}{2},
        r_2 \cos l\tfrac{3\pi}{2}, r_3 \sin l\tfrac{2\pi}{3}, r_3 \cos l\tfrac{2\pi}{3}]

    Args:
        chroma: shape=(..., 12), non-negative.

    Returns:
        shape=(..., 6); NaN for an all-zero chroma.
    """
    chroma = np.asarray(chroma, dtype=float)
    total = chroma.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (chroma / np.where(total > 0, total, np.nan)) @ TONAL_CENTROID.T


def _chroma(pitched: np.ndarray, steps_per_window: int, windows: int) -> np.ndarray:
    """Sounding steps per pitch class in each window of ``steps_per_window`` steps, shape=(windows, 12)."""
    chroma = np.zeros((windows, 12))
    note, step = note_steps(pitched)
    np.add.at(chroma, (step // steps_per_window, pitched[note, PITCH] % 12), 1)
    return chroma


def tonal_distance(notes: np.ndarray, steps_per_bar: int) -> float:
    r"""Mean distance between the tonal centroids of the top line and the voices under it ("TD", MuseGAN).

    Per bar, the duration-weighted chroma of the top line and of all other
    notes each give a tonal centroid; the metric is their Euclidean distance,
    averaged over the bars where both sound (Dong et al. 2018 compare tracks the
    same way). Small when melody and accompaniment agree harmonically. NaN for
    a single line.

    .. math:: TD = \frac{1}{|B'|} \sum_{b \in B'} \lVert \zeta(c^{top}_b) - \zeta(c^{rest}_b) \rVert_2
    """
    check_steps("steps_per_bar", steps_per_bar)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return float("nan")
    bars = -(-int(pitched[:, END].max()) // steps_per_bar)
    on_top = top_line_mask(notes)
    top = tonal_centroid(_chroma(pitched[on_top], steps_per_bar, bars))
    rest = tonal_centroid(_chroma(pitched[~on_top], steps_per_bar, bars))
    distances = np.linalg.norm(top - rest, axis=1)
    distances = distances[~np.isnan(distances)]
    return float(distances.mean()) if len(distances) else float("nan")


def beat_chords(notes: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    r"""The triad of each beat, by template matching on its duration-weighted chroma (Fujishima 1999).

    A beat's chord is the triad of :data:`TRIADS` whose three pitch classes
    sound longest in the beat; ties go to the triad whose root sounds longest,
    then to the first (C, C#, ..., B, Cm, ..., Bm). A silent beat has none.

    .. math:: chord_b = \arg\max_c \sum_{l} T_c(l)\, chroma_b(l)

    Returns:
        int, shape=(beats,): an index of :data:`CHORD_NAMES`, or :data:`NO_CHORD`; empty without pitched notes.
    """
    check_steps("steps_per_quarter", steps_per_quarter)
    pitched = pitched_notes(notes)
    if len(pitched) == 0:
        return np.zeros(0, dtype=np.int64)
    chroma = _chroma(pitched, steps_per_quarter, -(-int(pitched[:, END].max()) // steps_per_quarter))
    roots = chroma[:, np.arange(24) % 12]
    scores = chroma @ TRIADS.T * (chroma.max() + 1) + roots  # exact integers: the tie-break never outweighs a step
    chords = np.argmax(scores, axis=1)
    return np.where(chroma.any(axis=1), chords, NO_CHORD)


def chord_transitions(
    notes: np.ndarray, steps_per_quarter: int, key: tuple[int, str] | None = None
) -> list[Transition]:
    """The piece's changes of chord, beat by beat, named relative to its estimated key.

    Silent beats are skipped and a chord held over several beats is one chord,
    so ``C C - G`` is the single transition C to G.

    Args:
        key: The piece's (tonic, mode) when already estimated.

    Returns:
        (mode, root above the tonic, quality, next root above the tonic, next quality) per change, in order.
    """
    chords = beat_chords(notes, steps_per_quarter)
    chords = chords[chords != NO_CHORD]
    if len(chords) < 2:
        return []
    chords = chords[np.concatenate([[True], chords[1:] != chords[:-1]])]
    tonic, mode = key or estimate_key(pitched_notes(notes))
    return [
        (mode, (int(a) - tonic) % 12, QUALITIES[a // 12], (int(b) - tonic) % 12, QUALITIES[b // 12])
        for a, b in zip(chords[:-1], chords[1:])
    ]


def transition_pieces(transitions: Iterable[Iterable[Transition]]) -> Counter:
    """The reference set of a dataset: for each chord transition, in how many pieces it occurs.

    Args:
        transitions: The :func:`chord_transitions` of each reference piece.
    """
    counts: Counter = Counter()
    for piece in transitions:
        counts.update(set(piece))
    return counts


def chord_progression_plausibility(
    notes: np.ndarray,
    steps_per_quarter: int,
    reference: Mapping[Transition, int],
    *,
    leave_out: Collection[Transition] = (),
    key: tuple[int, str] | None = None,
) -> float:
    r"""Share of the piece's chord transitions that also occur in the reference set.

    Chord changes are those of :func:`chord_transitions`, key-relative; the
    reference maps each transition to the number of reference pieces holding
    it (:func:`transition_pieces`). Near 1 for progressions the dataset uses,
    low for chords strung at random. NaN without a change of chord.

    .. math:: plausibility = \frac{|\{j : R(t_j) - [t_j \in own] \ge 1\}|}{|\{t_j\}|}

    Args:
        reference: Transition -> number of reference pieces holding it.
        leave_out: When the piece (or the whole it is an excerpt of) is a
            reference piece: the transitions it put into the reference, which
            must not vouch for themselves (leave-one-out).
        key: The piece's (tonic, mode) when already estimated.
    """
    transitions = chord_transitions(notes, steps_per_quarter, key)
    if not transitions:
        return float("nan")
    own = set(leave_out)
    return float(np.mean([reference.get(t, 0) - (t in own) >= 1 for t in transitions]))
