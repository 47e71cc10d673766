"""Frame NLL over whole held-out pieces: equal to a step-by-step hand computation, the right split, refusals."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil

import numpy as np
import pytest

from core.checkpoints import CheckpointFolder
from core.cli import main
from core.config import DataConfig
from core.data.build import build_dataset
from core.data.datasets import Dataset
from core.data.representations import CHORD_STEP, get_representation
from core.data.uploads import SourceFile
from core.data.windows import conditioning_for
from core.errors import EvaluationError
from core.evaluation import likelihood
from core.evaluation.likelihood import PUBLISHED_JSB_FRAME_NLL, frame_nll
from tests.conftest import make_midi_bytes
from tests.untrained import untrained_checkpoint


def _chorale(index: int) -> bytes:
    """Three-voice chords, one every eighth note at 120 BPM (two frames each), a different length per piece."""
    notes = []
    for step in range(12 + 3 * index):
        start, end = step * 0.25, (step + 1) * 0.25
        notes += [(48 + (step + index) % 7, start, end), (60 + step % 5, start, end), (67 + (step * 3) % 4, start, end)]
    return make_midi_bytes(notes)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Eight polyphonic pieces, four held out, and untrained piano-roll, chords and melody LSTM checkpoints."""
    home = tmp_path_factory.mktemp("likelihood-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEUROTUNE_HOME", str(home))
        files = [SourceFile(f"c{i}.mid", _chorale(i)) for i in range(8)]
        dataset = build_dataset("tiny", files, DataConfig(validation_fraction=0.5), workers=1).dataset
        checkpoints = {
            kind: untrained_checkpoint(home, dataset, "lstm", kind) for kind in ("pianoroll", "chords", "melody")
        }
    return home, dataset, checkpoints


@pytest.fixture
def home(tiny, monkeypatch):
    monkeypatch.setenv("NEUROTUNE_HOME", str(tiny[0]))
    return tiny


@functools.cache
def _stepping(checkpoint: str):
    """The checkpoint's step decoder and its step as one graph (traced once: eager steps token by token were
    most of this file's time)."""
    import tensorflow as tf

    from core.generation.loading import load_checkpoint

    decoder = load_checkpoint(checkpoint).decoder
    return decoder, tf.function(decoder.step)


def _by_steps(checkpoint: str, frames: np.ndarray) -> float:
    """A piece's NLL summed over its frames, by the step decoder from a silent frame, with the textbook formula."""
    import tensorflow as tf

    decoder, step = _stepping(checkpoint)
    state = decoder.initial_state(1, len(frames))
    previous = np.zeros((1, frames.shape[1]), np.float32)
    total = 0.0
    for position, frame in enumerate(frames):
        logits, state = step(tf.constant(previous), state, tf.constant(position))
        on = 1 / (1 + np.exp(-np.asarray(logits, np.float64)[0]))
        total -= float(np.sum(frame * np.log(on) + (1 - frame) * np.log(1 - on)))
        previous = frame[None].astype(np.float32)
    return total


def test_the_frame_nll_is_every_held_out_frame_scored_from_the_piece_start(home, monkeypatch):
    _, dataset, checkpoints = home
    monkeypatch.setattr(likelihood, "BATCH_PIECES", 3)  # two batches, each padded to its longest piece
    result = frame_nll(checkpoints["pianoroll"], dataset)
    held_out = dataset.split_indices("validation")
    codec = get_representation("pianoroll", dataset.config)
    rolls = [codec.encode(dataset.piece(i).notes) for i in held_out]
    sums = [_by_steps(checkpoints["pianoroll"], roll) for roll in rolls]
    assert result.split == "validation" and result.trained_on_dataset
    assert result.pieces == len(held_out) == 4 and len({len(roll) for roll in rolls}) == 4
    assert result.frames == sum(len(roll) for roll in rolls)
    assert [piece.name for piece in result.per_piece] == [dataset.piece_meta[i]["name"] for i in held_out]
    np.testing.assert_allclose(
        [piece.nats_per_frame for piece in result.per_piece], [s / len(r) for s, r in zip(sums, rolls)], rtol=1e-5
    )
    np.testing.assert_allclose(result.nats_per_frame, sum(sums) / result.frames, rtol=1e-5)


def _chords_by_steps(checkpoint: str, tokens: np.ndarray) -> float:
    """A piece's NLL summed over its tokens, by the step decoder from a STEP, each token's -log softmax."""
    import tensorflow as tf

    decoder, step = _stepping(checkpoint)
    state = decoder.initial_state(1, len(tokens))
    previous = CHORD_STEP
    total = 0.0
    for position, token in enumerate(tokens.tolist()):
        logits, state = step(tf.constant([previous], tf.int32), state, tf.constant(position))
        logits = np.asarray(logits, np.float64)[0]
        total -= logits[token] - np.log(np.exp(logits).sum())
        previous = token
    return total


def test_a_chords_model_scores_each_frame_as_the_sum_of_its_tokens(home, monkeypatch):
    _, dataset, checkpoints = home
    monkeypatch.setattr(likelihood, "BATCH_PIECES", 3)
    result = frame_nll(checkpoints["chords"], dataset)
    codec = get_representation("chords", dataset.config)
    held_out = dataset.split_indices("validation")
    pieces = [codec.encode(dataset.piece(i).notes) for i in held_out]
    frames = [int((tokens == CHORD_STEP).sum()) for tokens in pieces]
    sums = [_chords_by_steps(checkpoints["chords"], tokens) for tokens in pieces]
    assert result.frames == sum(frames) == frame_nll(checkpoints["pianoroll"], dataset).frames  # the same frames
    assert [piece.frames for piece in result.per_piece] == frames and all(len(t) > f for t, f in zip(pieces, frames))
    np.testing.assert_allclose(
        [piece.nats_per_frame for piece in result.per_piece], [s / f for s, f in zip(sums, frames)], rtol=1e-5
    )
    np.testing.assert_allclose(result.nats_per_frame, sum(sums) / sum(frames), rtol=1e-5)


def test_a_chords_model_trained_with_controls_is_refused(home, tmp_path):
    _, dataset, checkpoints = home
    folder = CheckpointFolder(tmp_path / "conditioned")
    shutil.copytree(checkpoints["chords"], folder.path)
    codec = get_representation("chords", dataset.config)
    config = folder.read_config()
    folder.write_config(dataclasses.replace(config, conditioning=conditioning_for(dataset, codec, 8)))
    with pytest.raises(EvaluationError, match="trained with control tokens.*--no-conditioning"):
        frame_nll(folder.path, dataset)


def test_a_test_split_is_scored_first_when_the_dataset_has_one(home, monkeypatch):
    _, dataset, checkpoints = home
    known = Dataset.split_indices

    def with_test(self, split):
        return [0, 1] if split == "test" else known(self, split)

    monkeypatch.setattr(Dataset, "split_indices", with_test)
    result = frame_nll(checkpoints["pianoroll"], dataset)
    assert (result.split, result.pieces) == ("test", 2)
    assert frame_nll(checkpoints["pianoroll"], dataset, "validation").pieces == 4


def test_token_models_datasets_on_another_grid_and_too_long_pieces_are_refused(home):
    home_path, dataset, checkpoints = home
    with pytest.raises(EvaluationError, match="melody model, which predicts tokens.*per-token NLL is not comparable"):
        frame_nll(checkpoints["melody"], dataset)
    files = [SourceFile(f"c{i}.mid", _chorale(i)) for i in range(4)]
    coarse = build_dataset("coarse", files, DataConfig(steps_per_quarter=2), workers=1).dataset
    with pytest.raises(EvaluationError, match="reads 4 frames per quarter note, the dataset 'coarse' has 2"):
        frame_nll(checkpoints["pianoroll"], coarse)
    transformer = untrained_checkpoint(home_path, dataset, "transformer", "pianoroll")  # 16 learned positions
    with pytest.raises(EvaluationError, match=r"reads at most 16 frames .* has \d+"):
        frame_nll(transformer, dataset)


def test_cli_prints_the_figure_beside_the_published_table(home, capsys):
    _, dataset, checkpoints = home
    assert main(["frame-nll", "--checkpoint", checkpoints["pianoroll"], "--dataset", "tiny"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == "validation" and printed["pieces"] == 4 and printed["nats_per_frame"] > 0
    assert printed["published_jsb_frame_nll"] == PUBLISHED_JSB_FRAME_NLL
    assert main(["frame-nll", "--checkpoint", checkpoints["melody"], "--dataset", "tiny"]) == 2
    assert "per-token NLL is not comparable" in capsys.readouterr().err
