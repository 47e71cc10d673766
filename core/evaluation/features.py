"""Every figure the Evaluate engine measures on one piece, by name, with its label and group.

:func:`piece_features` gathers the ten metrics of :func:`~core.evaluation.metrics.piece_metrics`,
the newer per-piece metrics, the harmony figures and the histograms, so that a
set of pieces becomes one array per feature for the set-against-set comparison
(:mod:`core.evaluation.comparison`). Each feature belongs to one group, the
papers' words for what it judges: pitch, rhythm, harmony or structure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from core.evaluation import histograms, metrics
from core.evaluation.harmony import Transition, chord_progression_plausibility, tonal_distance
from core.evaluation.metrics import METRIC_LABELS, check_steps
from core.music.theory import estimate_key

GROUPS = ("pitch", "rhythm", "harmony", "structure")


@dataclass(frozen=True)
class Feature:
    """What a feature is called and what it judges.

    Attributes:
        label: Name for people, with its unit.
        group: One of :data:`GROUPS`.
        shape: () for a number, the histogram's shape otherwise.
    """

    label: str
    group: str
    shape: tuple[int, ...] = ()


FEATURES: dict[str, Feature] = {
    "pitch_range": Feature(METRIC_LABELS["pitch_range"], "pitch"),
    "n_pitch_classes_used": Feature(METRIC_LABELS["n_pitch_classes_used"], "pitch"),
    "pitch_class_entropy": Feature(METRIC_LABELS["pitch_class_entropy"], "pitch"),
    "polyphony": Feature(METRIC_LABELS["polyphony"], "harmony"),
    "note_density": Feature(METRIC_LABELS["note_density"], "rhythm"),
    "mean_duration_beats": Feature(METRIC_LABELS["mean_duration_beats"], "rhythm"),
    "scale_consistency": Feature(METRIC_LABELS["scale_consistency"], "pitch"),
    "empty_beat_rate": Feature(METRIC_LABELS["empty_beat_rate"], "rhythm"),
    "repetition_rate": Feature(METRIC_LABELS["repetition_rate"], "structure"),
    "tonal_stability": Feature(METRIC_LABELS["tonal_stability"], "harmony"),
    "mean_absolute_interval": Feature("Mean melodic step (semitones)", "pitch"),
    "pitch_classes_per_bar": Feature("Pitch classes per bar", "pitch"),
    "groove_consistency": Feature("Groove consistency (0-1)", "rhythm"),
    "qualified_note_rate": Feature("Qualified notes (0-1)", "rhythm"),
    "empty_bar_rate": Feature("Empty bars (0-1)", "rhythm"),
    "self_repetition": Feature("Motif self-repetition (0-1)", "structure"),
    "tonal_distance": Feature("Tonal distance melody-voices", "harmony"),
    "chord_plausibility": Feature("Chord-progression plausibility (0-1)", "harmony"),
    "pitch_class_histogram": Feature("Scale-degree histogram", "pitch", (12,)),
    "pitch_class_transitions": Feature("Scale-degree transitions", "pitch", (12, 12)),
    "pitch_interval_histogram": Feature("Melodic interval histogram", "pitch", (len(histograms.INTERVAL_BINS),)),
    "note_length_histogram": Feature("Note length histogram", "rhythm", (len(histograms.LENGTH_BINS_BEATS),)),
    "ioi_histogram": Feature("Inter-onset interval histogram", "rhythm", (len(histograms.LENGTH_BINS_BEATS),)),
}
SCALARS = tuple(name for name, feature in FEATURES.items() if not feature.shape)
HISTOGRAMS = tuple(name for name, feature in FEATURES.items() if feature.shape)


def piece_features(
    notes: np.ndarray,
    steps_per_quarter: int,
    beats_per_bar: int = 4,
    chord_reference: Mapping[Transition, int] | None = None,
    *,
    leave_out: Collection[Transition] = (),
) -> dict[str, float | np.ndarray]:
    """Every feature of :data:`FEATURES` of one piece, in its order.

    Args:
        notes: int32, shape=(n, 6).
        steps_per_quarter: Grid resolution.
        beats_per_bar: Quarter notes per bar.
        chord_reference: The dataset's chord transitions
            (:func:`~core.evaluation.harmony.transition_pieces`); without it
            ``chord_plausibility`` is NaN.
        leave_out: For a reference piece, the transitions it put into ``chord_reference`` (leave-one-out).

    Returns:
        Name -> float for numbers, float array of the feature's shape for histograms; NaN where unmeasurable.

    Raises:
        ConfigError: ``steps_per_quarter`` or ``beats_per_bar`` below 1.
    """
    check_steps("beats_per_bar", beats_per_bar)
    steps_per_bar = steps_per_quarter * beats_per_bar
    pitched = metrics.pitched_notes(notes)
    key = estimate_key(pitched) if len(pitched) else None  # once: the slowest step, shared by five features
    values: dict[str, float | np.ndarray] = dict(metrics.piece_metrics(notes, steps_per_quarter, beats_per_bar, key))
    values.update(
        mean_absolute_interval=metrics.mean_absolute_interval(notes),
        pitch_classes_per_bar=metrics.pitch_classes_per_bar(notes, steps_per_bar),
        groove_consistency=metrics.groove_consistency(notes, steps_per_bar),
        qualified_note_rate=metrics.qualified_note_rate(notes, steps_per_quarter),
        empty_bar_rate=metrics.empty_bar_rate(notes, steps_per_bar),
        self_repetition=metrics.self_repetition(notes),
        tonal_distance=tonal_distance(notes, steps_per_bar),
        chord_plausibility=float("nan")
        if chord_reference is None
        else chord_progression_plausibility(notes, steps_per_quarter, chord_reference, leave_out=leave_out, key=key),
        pitch_class_histogram=histograms.key_pitch_class_histogram(notes, key),
        pitch_class_transitions=histograms.pitch_class_transitions(notes, key),
        pitch_interval_histogram=histograms.pitch_interval_histogram(notes),
        note_length_histogram=histograms.note_length_histogram(notes, steps_per_quarter),
        ioi_histogram=histograms.inter_onset_interval_histogram(notes, steps_per_quarter),
    )
    return {name: values[name] for name in FEATURES}


def feature_table(pieces: list[dict[str, float | np.ndarray]]) -> dict[str, np.ndarray]:
    """The features of many pieces stacked: name -> shape=(pieces,) or (pieces, *histogram shape)."""
    return {
        name: np.array([piece[name] for piece in pieces], dtype=float).reshape(len(pieces), *feature.shape)
        for name, feature in FEATURES.items()
    }
