"""The tf.data window pipeline: lengths, splits, laziness and transposition augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import DataConfig
from core.data.build import build_dataset
from core.data.conditioning import KEYS, key_of
from core.data.representations import get_representation
from core.data.uploads import SourceFile
from core.data.windows import WindowControls, conditioning_for, window_dataset, window_densities, window_starts
from core.errors import DatasetError
from tests.conftest import scale_piece


@pytest.fixture
def dataset():
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i, length=32)) for i in range(6)]
    return build_dataset("win", files, DataConfig(validation_fraction=0.34, transpose_semitones=3)).dataset


def test_window_starts_stay_inside_pieces():
    offsets = np.array([0, 10, 13, 30])
    assert window_starts(offsets, [0, 1, 2], length=4, stride=3).tolist() == [0, 3, 6, 13, 16, 19, 22, 25]


@pytest.mark.parametrize("representation", ["melody", "events", "pianoroll", "notes"])
def test_windows_have_the_requested_shape(dataset, representation):
    batches = list(window_dataset(dataset, representation, "validation", length=16, batch_size=4, shuffle=False))
    first = batches[0].numpy()
    assert first.shape[:2] == (4, 16)
    values, offsets = dataset.encoded(representation)
    start = offsets[dataset.split_indices("validation")[0]]
    assert np.array_equal(first[0], values[start : start + 16])  # validation: never transposed


def test_train_windows_are_transposed_within_range_and_reproducible(dataset):
    codec = get_representation("melody", dataset.config)
    values, offsets = dataset.encoded("melody")
    originals = {tuple(values[s : s + 16]) for s in window_starts(offsets, dataset.split_indices("train"), 16, 8)}

    def run():
        return np.concatenate([b.numpy() for b in window_dataset(dataset, "melody", "train", 16, 8, seed=1)])

    first, second = run(), run()
    assert np.array_equal(first, second)
    assert first.min() >= 0 and first.max() < codec.size
    shifted = [tuple(w) not in originals for w in first]
    assert any(shifted)  # some windows moved
    for window in first:  # ... by at most 3 semitones, as whole windows
        pitches = window[window >= 2]
        candidates = [s for s in range(-3, 4) if tuple(np.where(window >= 2, window - s, window)) in originals]
        assert candidates, pitches


def test_too_long_windows_are_a_clear_error(dataset):
    with pytest.raises(DatasetError, match="longer than every piece"):
        window_dataset(dataset, "melody", "train", length=100_000, batch_size=2)


def test_control_prefixes_go_before_each_window_and_move_with_its_transposition():
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i, length=8 + 8 * i)) for i in range(3)]
    dataset = build_dataset("prefixed", files, DataConfig(validation_fraction=0.0)).dataset
    codec = get_representation("melody", dataset.config)
    conditioning = conditioning_for(dataset, codec, window_length=8)
    assert conditioning.styles == ("prefixed",) and conditioning.density_edges[0] <= conditioning.density_edges[1]
    controls = WindowControls(conditioning, dataset, codec)
    values, offsets = dataset.encoded("melody")
    starts = window_starts(offsets, [0, 1, 2], 8, 4)
    densities = window_densities(values, starts, 8, codec, dataset.config.steps_per_quarter)
    for transpose in (0, 3):
        windows = window_dataset(
            dataset, "melody", "train", 8, 64, shuffle=False, transpose_semitones=transpose, controls=controls
        )
        batch = next(iter(windows)).numpy()
        assert batch.shape[1] == 3 + 8
        for row, start, density in zip(batch, starts, densities):
            piece = int(np.searchsorted(offsets, start, side="right") - 1)
            onset = int(np.argmax(values[start : start + 8] >= 2))  # melody ids >= 2 are notes
            shift = int(row[3 + onset] - values[start + onset])
            tonic, mode = KEYS[key_of(dataset.piece_meta[piece])].split(" ")
            expected = conditioning.prefix("prefixed", mode, conditioning.density_of(density), tonic)
            moved = conditioning.key_base + (expected[1] - conditioning.key_base) // 12 * 12
            expected[1] = moved + (expected[1] - moved + shift) % 12
            assert row[:3].tolist() == expected.tolist()
            assert (row[3:] - shift * (row[3:] >= 2)).tolist() == values[start : start + 8].tolist()
