"""The tf.data window pipeline: lengths, padding, splits, laziness and transposition augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import DataConfig
from core.data.build import build_dataset
from core.data.conditioning import KEYS, key_of
from core.data.representations import get_representation
from core.data.uploads import SourceFile
from core.data.windows import WindowControls, conditioning_for, window_bounds, window_dataset, window_densities
from core.errors import DatasetError
from tests.conftest import make_midi_bytes, scale_piece

REPRESENTATIONS = ["melody", "events", "pianoroll", "notes", "chords"]
# Short pieces pass the filters: two notes of 0.25 s are a piece.
SHORT_OK = {"min_notes": 2, "min_duration_seconds": 0.1}


@pytest.fixture
def dataset():
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i, length=32)) for i in range(6)]
    return build_dataset("win", files, DataConfig(validation_fraction=0.34, transpose_semitones=3)).dataset


def test_window_bounds_stay_inside_pieces_and_a_short_piece_gets_one_window():
    offsets = np.array([0, 10, 13, 13, 30])  # pieces of 10, 3 (shorter than the window), 0 and 17 steps
    starts, ends = window_bounds(offsets, [0, 1, 2, 3], length=4, stride=3)
    assert starts.tolist() == [0, 3, 6, 10, 13, 16, 19, 22, 25]
    assert ends.tolist() == [4, 7, 10, 13, 17, 20, 23, 26, 29]


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_windows_have_the_requested_shape(dataset, representation):
    batches = list(window_dataset(dataset, representation, "validation", length=16, batch_size=4, shuffle=False))
    first, real = (tensor.numpy() for tensor in batches[0])
    assert first.shape[:2] == (4, 16) and real.shape == (4, 16) and real.all()
    values, offsets = dataset.encoded(representation)
    start = offsets[dataset.split_indices("validation")[0]]
    assert np.array_equal(first[0], values[start : start + 16])  # validation: never transposed


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_a_piece_shorter_than_the_window_gives_one_window_padded_at_the_end(representation):
    files = [SourceFile("long.mid", scale_piece(length=40)), SourceFile("short.mid", scale_piece(offset=2, length=6))]
    dataset = build_dataset("short", files, DataConfig(validation_fraction=0.0, **SHORT_OK)).dataset
    values, offsets = dataset.encoded(representation)
    lengths = np.diff(offsets).tolist()
    length = (lengths[0] + lengths[1]) // 2  # between the two pieces' lengths
    assert lengths[1] < length <= lengths[0]
    windows, real = (
        t.numpy() for t in next(iter(window_dataset(dataset, representation, "train", length, 64, shuffle=False)))
    )
    long_windows = len(range(0, lengths[0] - length + 1, length // 2))
    assert len(windows) == long_windows + 1 and real[:long_windows].all()
    short, short_real = windows[-1], real[-1]
    assert short_real.tolist() == [True] * lengths[1] + [False] * (length - lengths[1])
    assert np.array_equal(short[: lengths[1]], values[offsets[1] :])
    assert not short[lengths[1] :].any()  # zeros: id 0, silent frames, zero features


def test_a_split_without_pieces_is_a_clear_error(dataset):
    with pytest.raises(DatasetError, match="the test split of dataset 'win' has no pieces"):
        window_dataset(dataset, "melody", "test", length=16, batch_size=2)


def test_train_windows_are_transposed_within_range_and_reproducible(dataset):
    codec = get_representation("melody", dataset.config)
    values, offsets = dataset.encoded("melody")
    starts, _ = window_bounds(offsets, dataset.split_indices("train"), 16, 8)
    originals = {tuple(values[s : s + 16]) for s in starts}

    def run():
        return np.concatenate([w.numpy() for w, _ in window_dataset(dataset, "melody", "train", 16, 8, seed=1)])

    first, second = run(), run()
    assert np.array_equal(first, second)
    assert first.min() >= 0 and first.max() < codec.size
    shifted = [tuple(w) not in originals for w in first]
    assert any(shifted)  # some windows moved
    for window in first:  # ... by at most 3 semitones, as whole windows
        pitches = window[window >= 2]
        candidates = [s for s in range(-3, 4) if tuple(np.where(window >= 2, window - s, window)) in originals]
        assert candidates, pitches


def test_transposing_a_padded_window_measures_its_real_steps_only():
    """Padding is id 0, NOTE_ON_0 in events: counted as a pitch, it would forbid every downward shift."""
    high = make_midi_bytes([(118 + i % 3, i * 0.25, (i + 1) * 0.25) for i in range(6)])  # pitches 118..120
    config = DataConfig(validation_fraction=0.0, transpose_semitones=12, **SHORT_OK)
    dataset = build_dataset("padded", [SourceFile("high.mid", high)], config).dataset
    codec = get_representation("events", dataset.config)
    values, offsets = dataset.encoded("events")
    steps = int(offsets[1])
    is_note = values < 256  # NOTE_ON and NOTE_OFF carry pitches
    shifts = set()
    for seed in range(24):
        windows, real = (
            t.numpy()[0] for t in next(iter(window_dataset(dataset, "events", "train", 200, 1, seed=seed)))
        )
        assert not real[steps:].any() and not windows[steps:].any()  # the padding stays zeros, after any shift
        moved = windows[:steps]
        assert np.array_equal(moved[~is_note], values[~is_note])
        (shift,) = set((moved[is_note] - values[is_note]).tolist())
        pitches = moved[is_note] % 128
        assert codec.pitch_range[0] <= pitches.min() and pitches.max() <= codec.pitch_range[1]
        shifts.add(shift)
    assert min(shifts) < 0 and max(shifts) <= 127 - 120  # moved down too, never above the top pitch


@pytest.mark.parametrize("length", [8, 40])  # 40: the pieces of 16 and 32 steps are padded
def test_control_prefixes_go_before_each_window_and_move_with_its_transposition(length):
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i, length=8 + 8 * i)) for i in range(3)]
    dataset = build_dataset("prefixed", files, DataConfig(validation_fraction=0.0)).dataset
    codec = get_representation("melody", dataset.config)
    conditioning = conditioning_for(dataset, codec, window_length=length)
    assert conditioning.styles == ("prefixed",) and conditioning.density_edges[0] <= conditioning.density_edges[1]
    controls = WindowControls(conditioning, dataset, codec)
    values, offsets = dataset.encoded("melody")
    starts, ends = window_bounds(offsets, [0, 1, 2], length, length // 2)
    densities = window_densities(values, starts, ends, codec, dataset.config.steps_per_quarter)
    for transpose in (0, 3):
        windows = window_dataset(
            dataset, "melody", "train", length, 64, shuffle=False, transpose_semitones=transpose, controls=controls
        )
        batch, real = (tensor.numpy() for tensor in next(iter(windows)))
        assert batch.shape[1] == 3 + length and len(batch) == len(starts)
        for row, mask, start, end, density in zip(batch, real, starts, ends, densities):
            piece = int(np.searchsorted(offsets, start, side="right") - 1)
            onset = int(np.argmax(values[start:end] >= 2))  # melody ids >= 2 are notes
            shift = int(row[3 + onset] - values[start + onset])
            tonic, mode = KEYS[key_of(dataset.piece_meta[piece])].split(" ")
            # Density is measured on the real steps: padding (HOLD, id 0) would dilute it.
            expected = conditioning.prefix("prefixed", mode, conditioning.density_of(density), tonic)
            moved = conditioning.key_base + (expected[1] - conditioning.key_base) // 12 * 12
            expected[1] = moved + (expected[1] - moved + shift) % 12
            assert row[:3].tolist() == expected.tolist()
            steps = row[3 : 3 + end - start]
            assert (steps - shift * (steps >= 2)).tolist() == values[start:end].tolist()
            assert mask.tolist() == [True] * (3 + end - start) + [False] * (length - (end - start))
