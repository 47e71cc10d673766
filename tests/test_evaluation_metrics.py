"""Objective metrics of one piece: exact values on tiny hand-made pieces, as muspy's tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import ConfigError
from core.evaluation import metrics
from core.evaluation.metrics import (
    METRIC_LABELS,
    empty_beat_rate,
    mean_duration_beats,
    n_pitch_classes_used,
    note_density,
    piece_metrics,
    pitch_class_entropy,
    pitch_range,
    polyphony,
    repetition_rate,
    scale_consistency,
    tonal_stability,
)
from tests.conftest import make_notes as _notes

# C E G C', one quarter note each at 4 steps per quarter: one 4/4 bar.
ARPEGGIO = _notes((0, 4, 60), (4, 8, 64), (8, 12, 67), (12, 16, 72))
# A dyad, a held note, a silent beat, a note: counts 2 2 1 1 0 0 0 0 1 1 1 1.
SPARSE = _notes((0, 4, 60), (0, 2, 64), (8, 12, 67))
DRUM = (0, 16, 36, 100, 0, 1)


def test_arpeggio_metrics():
    assert piece_metrics(ARPEGGIO, steps_per_quarter=4) == pytest.approx(
        {
            "pitch_range": 12.0,
            "n_pitch_classes_used": 3.0,
            "pitch_class_entropy": 1.5,  # C 8 steps, E 4, G 4: -(1/2 log 1/2 + 2 * 1/4 log 1/4)
            "polyphony": 1.0,
            "note_density": 4.0,
            "mean_duration_beats": 1.0,
            "scale_consistency": 1.0,
            "empty_beat_rate": 0.0,
            "repetition_rate": 0.0,
            "tonal_stability": 0.8823098,
        }
    )


def test_sparse_metrics():
    assert polyphony(SPARSE) == 1.25  # (2 + 2 + 1 + 1 + 1 + 1 + 1 + 1) / 8 sounding steps
    assert empty_beat_rate(SPARSE, steps_per_quarter=4) == pytest.approx(1 / 3)  # beat 1 of 0..2
    assert empty_beat_rate(SPARSE, steps_per_quarter=2) == pytest.approx(2 / 6)  # beats 2 and 3 of 0..5
    assert note_density(SPARSE, steps_per_bar=8) == 1.5  # 3 notes over ceil(12 / 8) = 2 bars
    assert mean_duration_beats(SPARSE, steps_per_quarter=4) == pytest.approx(10 / 12)
    assert pitch_range(SPARSE) == 7.0
    # Durations C 4, E 2, G 4 of 10.
    assert pitch_class_entropy(SPARSE) == pytest.approx(-(0.4 * math.log2(0.4) * 2 + 0.2 * math.log2(0.2)))


def test_empty_beat_rate_counts_a_beat_touched_by_one_step_as_filled():
    # Steps 3-4 fill beats 0 and 1; beat 2 (steps 8-11) is empty; step 12 fills beat 3.
    assert empty_beat_rate(_notes((3, 5, 60), (12, 13, 62)), steps_per_quarter=4) == 0.25


def test_pitch_class_metrics():
    chromatic = _notes(*[(step, step + 1, 60 + step) for step in range(12)])
    assert n_pitch_classes_used(chromatic) == 12.0
    assert pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert tonal_stability(chromatic) == 0.0  # all classes equal: no key stands out
    assert n_pitch_classes_used(_notes((0, 1, 60), (0, 1, 72), (1, 2, 48))) == 1.0
    assert pitch_class_entropy(_notes((0, 1, 60), (1, 3, 72))) == 0.0


def test_scale_consistency_counts_notes_not_durations():
    scale = [(step, step + 1, pitch) for step, pitch in enumerate([60, 62, 64, 65, 67, 69, 71])]
    notes = _notes(*scale, (7, 100, 61))  # a long C#: 7 of 8 notes fit C major, none fits better
    assert scale_consistency(notes) == 0.875
    assert scale_consistency(_notes((0, 1, 61), (1, 2, 63))) == 1.0  # both in C# minor (and others)


def test_tonal_stability_is_the_correlation_with_the_best_key_profile():
    histogram = np.array([0.5, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0, 0, 0])  # ARPEGGIO, best fit C major
    major = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
    h, p = histogram - histogram.mean(), major - major.mean()
    expected = (h * p).sum() / math.sqrt((h * h).sum() * (p * p).sum())
    assert tonal_stability(ARPEGGIO) == pytest.approx(expected)
    # Transposing keeps the fit: the profile rolls with the key.
    transposed = ARPEGGIO.copy()
    transposed[:, 2] += 5
    assert tonal_stability(transposed) == pytest.approx(expected)


def test_repetition_rate_compares_onset_multisets_of_bars():
    notes = _notes(
        (0, 2, 60),
        (2, 4, 64),  # bar 0
        (6, 8, 64),
        (4, 6, 60),  # bar 1: bar 0 again
        (8, 10, 60),
        (10, 16, 67),  # bar 2: new; bar 3 only holds the G: left out
        (18, 20, 64),
        (16, 18, 60),  # bar 4: bar 0 again
    )
    assert repetition_rate(notes, steps_per_bar=4) == 0.5
    doubled = _notes((0, 2, 60), (0, 2, 60), (4, 6, 60), (8, 10, 60), (8, 10, 60))
    assert repetition_rate(doubled, steps_per_bar=4) == pytest.approx(1 / 3)  # counts matter: only bar 2 repeats


def test_drum_notes_are_ignored():
    with_drums = np.vstack([ARPEGGIO, _notes(DRUM)])
    assert piece_metrics(with_drums, 4) == piece_metrics(ARPEGGIO, 4)


@pytest.mark.parametrize("notes", [_notes(), _notes(DRUM)], ids=["empty", "drums-only"])
def test_no_pitched_notes_give_nan_everywhere(notes):
    values = piece_metrics(notes, steps_per_quarter=4, beats_per_bar=3)
    assert set(values) == set(METRIC_LABELS)
    assert all(math.isnan(value) for value in values.values())
    for function in (pitch_range, n_pitch_classes_used, pitch_class_entropy, polyphony, scale_consistency):
        assert math.isnan(function(notes))
    for function in (note_density, mean_duration_beats, empty_beat_rate, repetition_rate):
        assert math.isnan(function(notes, 4))
    assert math.isnan(tonal_stability(notes))


def test_labels_cover_every_metric_in_order():
    assert list(piece_metrics(ARPEGGIO, 4)) == list(METRIC_LABELS)
    assert all(isinstance(value, float) for value in piece_metrics(SPARSE, 4, beats_per_bar=2).values())


@pytest.mark.parametrize(
    "call",
    [
        lambda: piece_metrics(ARPEGGIO, 0),
        lambda: piece_metrics(ARPEGGIO, 4, beats_per_bar=0),
        lambda: note_density(ARPEGGIO, 0),
        lambda: metrics.empty_beat_rate(ARPEGGIO, 0),
    ],
    ids=["steps_per_quarter", "beats_per_bar", "steps_per_bar", "beat"],
)
def test_grid_sizes_must_be_positive(call):
    with pytest.raises(ConfigError):
        call()
