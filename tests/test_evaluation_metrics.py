"""Objective metrics, histograms and harmony of one piece: exact values on tiny hand-made pieces, as muspy's tests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import ConfigError
from core.evaluation import harmony, histograms, metrics
from core.evaluation.features import FEATURES, HISTOGRAMS, piece_features
from core.evaluation.metrics import (
    METRIC_LABELS,
    empty_bar_rate,
    empty_beat_rate,
    groove_consistency,
    mean_absolute_interval,
    mean_duration_beats,
    melodic_intervals,
    n_pitch_classes_used,
    note_density,
    piece_metrics,
    pitch_class_entropy,
    pitch_classes_per_bar,
    pitch_range,
    polyphony,
    qualified_note_rate,
    repetition_rate,
    scale_consistency,
    self_repetition,
    tonal_stability,
    top_line,
)
from core.music.theory import estimate_key
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


# === The newer per-piece metrics, histograms and harmony ===

# A held C5 over a moving alto, then G4 on top: the alto's F4 lies under the held C5.
HELD = _notes((0, 8, 72), (0, 4, 64), (4, 8, 65), (8, 12, 67), (8, 12, 60))


def test_top_line_is_the_skyline():
    assert top_line(ARPEGGIO)[:, 2].tolist() == [60, 64, 67, 72]
    assert top_line(HELD)[:, 2].tolist() == [72, 67]  # F4 at step 4 is under the held C5; C4 under G4
    assert melodic_intervals(HELD).tolist() == [-5]
    assert len(top_line(_notes())) == 0 and len(melodic_intervals(_notes((0, 4, 60)))) == 0


def test_melodic_interval_metrics():
    assert melodic_intervals(ARPEGGIO).tolist() == [4, 3, 5]
    assert mean_absolute_interval(ARPEGGIO) == 4.0  # (4 + 3 + 5) / 3
    expected = np.zeros(25)
    expected[[12 + 4, 12 + 3, 12 + 5]] = 1 / 3
    assert histograms.pitch_interval_histogram(ARPEGGIO) == pytest.approx(expected)
    leap = histograms.pitch_interval_histogram(_notes((0, 1, 40), (1, 2, 80), (2, 3, 79)))
    assert leap[24] == 0.5 and leap[11] == 0.5  # +40 counts as an octave up; -1


def test_groove_consistency_compares_onset_patterns_of_consecutive_bars():
    # Bars of 4 steps: onsets at 0 and 2, then 0, then 0: Hamming distances 1/4 and 0.
    notes = _notes((0, 2, 60), (2, 4, 62), (4, 8, 64), (8, 12, 65))
    assert groove_consistency(notes, steps_per_bar=4) == pytest.approx(1 - (0.25 + 0) / 2)
    assert math.isnan(groove_consistency(ARPEGGIO, steps_per_bar=16))  # one bar
    assert groove_consistency(ARPEGGIO, steps_per_bar=4) == 1.0  # the same onset in every bar


def test_pitch_classes_per_bar_and_empty_bars():
    # Bars of 4 steps: bar 0 holds C and E, the C goes on into bar 1 with G; bar 2 is empty; bar 3 holds C'.
    notes = _notes((0, 6, 60), (0, 4, 64), (4, 8, 67), (12, 16, 72))
    assert pitch_classes_per_bar(notes, steps_per_bar=4) == pytest.approx((2 + 2 + 1) / 3)
    assert empty_bar_rate(notes, steps_per_bar=4) == 0.25
    assert pitch_classes_per_bar(ARPEGGIO, steps_per_bar=16) == 3.0
    assert empty_bar_rate(ARPEGGIO, steps_per_bar=16) == 0.0


def test_qualified_notes_are_at_least_a_32nd_note():
    assert qualified_note_rate(ARPEGGIO, steps_per_quarter=4) == 1.0
    # At 24 steps per quarter a 32nd note is 3 steps: the 2-step note is a fragment.
    assert qualified_note_rate(_notes((0, 2, 60), (2, 5, 62)), steps_per_quarter=24) == 0.5


def test_self_repetition_finds_a_motif_repeated_in_another_key():
    # C D E C, then the same motif from G: intervals 2 2 -4 7 2 2 -4; n-grams of 3, the first and the last match.
    pitches = [60, 62, 64, 60, 67, 69, 71, 67]
    notes = _notes(*[(4 * i, 4 * i + 4, p) for i, p in enumerate(pitches)])
    assert self_repetition(notes, n=3) == pytest.approx(2 / 5)
    assert self_repetition(ARPEGGIO, n=1) == 0.0
    assert math.isnan(self_repetition(ARPEGGIO))  # 3 intervals, n-grams of 4


def test_length_and_onset_histograms():
    quarter = histograms.LENGTH_BINS_BEATS.index(1.0)
    expected = np.zeros(8)
    expected[quarter] = 1.0
    assert histograms.note_length_histogram(ARPEGGIO, 4) == pytest.approx(expected)
    assert histograms.inter_onset_interval_histogram(ARPEGGIO, 4) == pytest.approx(expected)
    # SPARSE: lengths 4, 2, 4 steps (quarter, 8th, quarter); onsets 0 and 8: one half-note gap.
    lengths = histograms.note_length_histogram(SPARSE, 4)
    assert lengths[quarter] == pytest.approx(2 / 3) and lengths[1] == pytest.approx(1 / 3)
    assert histograms.inter_onset_interval_histogram(SPARSE, 4)[histograms.LENGTH_BINS_BEATS.index(2.0)] == 1.0
    assert histograms.note_length_histogram(_notes((0, 1, 60), (0, 80, 62)), 4)[[0, 7]].tolist() == [0.5, 0.5]


def test_key_relative_pitch_class_histograms():
    expected = np.array([0.5, 0, 0, 0, 0.25, 0, 0, 0.25, 0, 0, 0, 0])  # ARPEGGIO in C major
    assert histograms.key_pitch_class_histogram(ARPEGGIO) == pytest.approx(expected)
    transposed = ARPEGGIO.copy()
    transposed[:, 2] += 3  # in Eb: the same degrees
    assert histograms.key_pitch_class_histogram(transposed) == pytest.approx(expected)
    transitions = histograms.pitch_class_transitions(ARPEGGIO)
    assert transitions[0, 4] == transitions[4, 7] == transitions[7, 0] == pytest.approx(1 / 3)
    assert transitions.sum() == pytest.approx(1.0)


def test_tonal_centroid_is_harte_s_six_dimensional_projection():
    c, g = np.eye(12)[0], np.eye(12)[7]
    assert harmony.tonal_centroid(c) == pytest.approx([0, 1, 0, 1, 0, 0.5])
    # G: fifths angle 7 * 7pi/6 = pi/6 (mod 2pi), minor thirds 7 * 3pi/2 = pi/2, major thirds 7 * 2pi/3 = 2pi/3.
    root3 = math.sqrt(3)
    assert harmony.tonal_centroid(g) == pytest.approx([0.5, root3 / 2, 1, 0, root3 / 4, -0.25])
    assert np.isnan(harmony.tonal_centroid(np.zeros(12))).all()


def test_tonal_distance_between_the_top_line_and_the_voices_under_it():
    melody_c_bass_g = _notes((0, 16, 72), (0, 16, 43))
    root3 = math.sqrt(3)
    difference = np.array([0, 1, 0, 1, 0, 0.5]) - np.array([0.5, root3 / 2, 1, 0, root3 / 4, -0.25])
    assert harmony.tonal_distance(melody_c_bass_g, 16) == pytest.approx(np.linalg.norm(difference))
    assert harmony.tonal_distance(_notes((0, 16, 72), (0, 16, 48)), 16) == pytest.approx(0.0)  # octaves agree
    assert math.isnan(harmony.tonal_distance(ARPEGGIO, 16))  # a single line


def _triads(*chords: tuple[int, ...], beat: int = 4) -> np.ndarray:
    return _notes(*[(beat * i, beat * i + beat, p) for i, chord in enumerate(chords) for p in chord])


def test_beat_chords_by_template_matching():
    notes = _triads((60, 64, 67), (57, 60, 64), (60, 64), (62,), ())
    names = [harmony.CHORD_NAMES[c] if c >= 0 else None for c in harmony.beat_chords(notes, 4)]
    # C-E ties C major and A minor: C, their root that sounds, wins; a lone D is D major (root first, then order).
    assert names == ["C", "Am", "C", "D"]
    assert harmony.beat_chords(_triads((60, 64, 67), (), (65, 69, 72)), 4).tolist() == [0, -1, 5]


def test_chord_progression_plausibility_is_the_share_of_known_transitions():
    cadence = _triads((60, 64, 67), (60, 65, 69), (59, 62, 67), (60, 64, 67))  # C F G C: I IV V I
    assert estimate_key(cadence) == (0, "major")
    transitions = harmony.chord_transitions(cadence, 4)
    assert transitions == [
        ("major", 0, "major", 5, "major"),
        ("major", 5, "major", 7, "major"),
        ("major", 7, "major", 0, "major"),
    ]
    # The same cadence in D is the same transitions.
    assert (
        harmony.chord_transitions(np.column_stack([cadence[:, :2], cadence[:, 2] + 2, cadence[:, 3:]]), 4)
        == transitions
    )
    reference = harmony.transition_pieces([transitions[:2], transitions[:1]])
    assert reference[transitions[0]] == 2 and reference[transitions[1]] == 1
    assert harmony.chord_progression_plausibility(cadence, 4, reference) == pytest.approx(2 / 3)
    # Leave-one-out: IV-V came only from this piece itself.
    assert harmony.chord_progression_plausibility(cadence, 4, reference, leave_out=transitions[:2]) == pytest.approx(
        1 / 3
    )
    held = _triads((60, 64, 67), (60, 64, 67), ())  # one chord held: no change to judge
    assert math.isnan(harmony.chord_progression_plausibility(held, 4, reference))


@pytest.mark.parametrize("notes", [_notes(), _notes(DRUM)], ids=["empty", "drums-only"])
def test_newer_metrics_give_nan_without_pitched_notes(notes):
    for function in (mean_absolute_interval, self_repetition):
        assert math.isnan(function(notes))
    for function in (groove_consistency, pitch_classes_per_bar, empty_bar_rate, qualified_note_rate):
        assert math.isnan(function(notes, 4))
    assert math.isnan(harmony.tonal_distance(notes, 16))
    assert math.isnan(harmony.chord_progression_plausibility(notes, 4, {}))
    values = piece_features(notes, 4, chord_reference={})
    assert list(values) == list(FEATURES)
    assert all(np.isnan(value).all() for value in values.values())
    assert np.shape(values["pitch_class_transitions"]) == (12, 12)


def test_piece_features_hold_the_ten_metrics_and_every_feature():
    values = piece_features(ARPEGGIO, 4)
    assert {name: values[name] for name in METRIC_LABELS} == piece_metrics(ARPEGGIO, 4)
    assert math.isnan(values["chord_plausibility"])  # no reference given
    for name in HISTOGRAMS:
        assert np.shape(values[name]) == FEATURES[name].shape and np.nansum(values[name]) == pytest.approx(1.0)
