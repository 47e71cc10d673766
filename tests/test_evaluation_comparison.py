"""Set against set (Yang and Lerch 2018) and originality: exact distances, self-comparison, a planted copy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluation.comparison import (
    FeatureComparison,
    compare_distances,
    compare_sets,
    inter_set_distances,
    intra_set_distances,
    kernel_density,
    kl_divergence,
    mean_interval,
    overlap_area,
)
from core.evaluation.features import FEATURES
from core.evaluation.originality import TrainingIndex
from tests.conftest import make_notes


def _sets(count: int, seed: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    """Feature tables of ``count`` made-up pieces: normal numbers, histograms from a Dirichlet."""
    rng = np.random.default_rng(seed)
    table = {}
    for name, feature in FEATURES.items():
        if feature.shape:
            size = int(np.prod(feature.shape))
            weights = np.ones(size) + shift * np.arange(size)
            table[name] = rng.dirichlet(weights, count).reshape(count, *feature.shape)
        else:
            table[name] = rng.normal(shift, 1.0, count)
    return table


def test_intra_and_inter_set_distances_are_every_pair():
    assert sorted(intra_set_distances(np.array([0.0, 1.0, 3.0])).tolist()) == [1.0, 2.0, 3.0]
    assert sorted(inter_set_distances(np.array([0.0, 1.0]), np.array([3.0])).tolist()) == [2.0, 3.0]
    vectors = np.array([[0.0, 0.0], [3.0, 4.0], [np.nan, 1.0]])  # the NaN piece is left out
    assert intra_set_distances(vectors).tolist() == [5.0]
    assert inter_set_distances(vectors, np.array([[0.0, 1.0]])).tolist() == pytest.approx([1.0, math.sqrt(18)])


def test_density_kl_and_overlap():
    grid = np.linspace(-6, 6, 512)
    step = grid[1] - grid[0]
    samples = np.random.default_rng(0).normal(0, 1, 20000)
    density = kernel_density(samples, grid, 0.2)
    assert density.sum() * step == pytest.approx(1.0)
    assert density[256] == pytest.approx(1 / math.sqrt(2 * math.pi), rel=0.05)  # the standard normal at 0
    assert kl_divergence(density, density, step) == 0.0
    assert overlap_area(density, density, step) == pytest.approx(1.0)
    far = kernel_density(samples + 20, np.linspace(-6, 30, 512), 0.2)
    near = kernel_density(samples, np.linspace(-6, 30, 512), 0.2)
    assert overlap_area(near, far, 36 / 511) < 1e-6 and kl_divergence(near, far, 36 / 511) > 10


def test_a_set_against_itself_overlaps_fully():
    real = _sets(300, seed=0)
    for name, figures in compare_sets(real, real).items():
        assert figures.overlap > 0.95 and figures.kl < 0.05, name
        assert figures.inter_mean == pytest.approx(figures.intra_mean, rel=0.01)


def test_a_different_set_overlaps_less():
    real, same, shifted = _sets(200, seed=0), _sets(200, seed=1), _sets(200, seed=2, shift=1.5)
    alike, unlike = compare_sets(real, same), compare_sets(real, shifted)
    for name in FEATURES:
        assert unlike[name].overlap < alike[name].overlap and unlike[name].kl > alike[name].kl, name
        assert alike[name].overlap > 0.85


def test_a_feature_that_never_varies_is_marked_constant():
    figures = compare_distances(np.zeros(10), np.zeros(20))
    assert figures.constant and figures.kl == 0.0 and figures.overlap == 1.0
    assert math.isnan(compare_distances(np.zeros(1), np.zeros(20)).overlap)  # too few to estimate
    again = FeatureComparison.from_json(compare_distances(np.zeros(1), np.ones(5)).to_json())
    assert math.isnan(again.kl) and again.inter_mean == 1.0


def test_mean_interval_is_the_normal_approximation():
    mean, low, high = mean_interval(np.array([1.0, 2.0, 3.0, np.nan]))
    assert mean == 2.0 and high - mean == pytest.approx(1.96 / math.sqrt(3))
    assert mean_interval(np.array([5.0])) == (5.0, 5.0, 5.0)
    assert all(math.isnan(v) for v in mean_interval(np.array([np.nan])))


# === Originality ===

# A training melody: up the C major scale and down again, quarter notes at 4 steps per quarter.
SCALE = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60]


def _line(pitches, start: int = 0) -> np.ndarray:
    return make_notes(*[(start + 4 * i, start + 4 * i + 4, p) for i, p in enumerate(pitches)])


def test_originality_finds_a_planted_phrase_in_another_key():
    index = TrainingIndex([_line([50, 55, 53]), _line(SCALE)], ["other", "scale"])
    planted = [p + 5 for p in SCALE[3:11]]  # 8 notes of the scale from F, moved up a fourth
    piece = _line([50, 51, 49, *planted, 80, 79, 81])  # leaps of +21 and +8 around it break the run
    copy = index.longest_copy(piece, steps_per_bar=16, flag_bars=2)
    assert (copy.notes, copy.start_step, copy.source, copy.source_step) == (8, 12, "scale", 12)
    assert copy.bars == 2.0 and copy.copied  # steps 12 to 44
    assert not index.longest_copy(piece, steps_per_bar=16).copied  # under the default 4 bars
    # Under a held top note and with chords below, the top line still carries the copy.
    bass = make_notes(*[(4 * i, 4 * i + 4, 40 + (i % 3)) for i in range(14)])
    assert index.longest_copy(np.vstack([piece, bass]), 16, 2).notes == 8


def test_originality_of_unrelated_and_empty_pieces():
    index = TrainingIndex([_line(SCALE)])
    assert index.longest_copy(_line([60, 72, 61, 73]), 16).notes == 0  # no interval of +-11, 12
    nothing = index.longest_copy(make_notes(), 16)
    assert (nothing.notes, nothing.source, nothing.copied) == (0, None, False)
    assert index.longest_copy(_line(SCALE), 16).notes == len(SCALE)  # the whole melody
    assert TrainingIndex([]).longest_copy(_line(SCALE), 16).notes == 0


def test_originality_index_answers_many_pieces_with_cached_run_lengths():
    rng = np.random.default_rng(0)
    training = [_line(rng.integers(55, 75, 60)) for _ in range(50)]
    index = TrainingIndex(training)
    for number, piece in enumerate(training[:10]):
        copy = index.longest_copy(piece, 16)
        assert copy.notes == 60 and copy.source == f"piece {number + 1}"
