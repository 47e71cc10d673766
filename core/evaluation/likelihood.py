"""Frame negative log-likelihood of a piano-roll model over whole held-out pieces, as the literature reports it.

The polyphonic-music benchmarks (Boulanger-Lewandowski et al. 2012, Bai et al. 2018 on JSB Chorales) score a
model by the negative log-likelihood of every frame given the frames before it: the Bernoulli NLL of each pitch,
summed over the pitches, averaged over every frame of the held-out pieces, each piece read whole from its start.
The training history's ``val_frame_nll`` is not that figure: it averages over windows cut from the pieces, whose
first frames are predicted with little context and whose overlaps count frames twice.

Here every piece runs through the model once, whole: the input is the head's neutral start (a silent frame, as
composing starts) then the piece's frames but its last, so the logits of step ``t`` predict frame ``t`` and the
first frame is scored too. Pieces are batched and padded at their end: every model is causal, so padding never
reaches the logits of a real frame.

A transformer with learned positions reads at most its ``max_length`` steps: a longer piece is refused rather
than scored in sliding windows, which would again give some frames less context than the model can use. A
per-token NLL (melody, events) is refused too: it is not comparable with a per-frame one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.checkpoints import checkpoint_info
from core.data.datasets import Dataset, load_dataset
from core.errors import DatasetError, EvaluationError
from core.models.heads import FrameHead, head_for

# Frame NLL on JSB Chorales, nats per frame, one frame per quarter note, on the test split of Boulanger-Lewandowski
# et al.'s 229/76/77 chorales. RNN-NADE: Boulanger-Lewandowski, Bengio and Vincent 2012, "Modeling temporal
# dependencies in high-dimensional sequences" (ICML), Table 1, log-likelihood sign flipped. LSTM, GRU, TCN: Bai,
# Kolter and Koltun 2018, "An empirical evaluation of generic convolutional and recurrent networks for sequence
# modeling", Table 1. Comparable with :func:`frame_nll` only on the chorales at one step per quarter note.
PUBLISHED_JSB_FRAME_NLL = {"LSTM": 8.45, "GRU": 8.43, "TCN": 8.10, "RNN-NADE": 5.19}
# The held-out splits, in order of preference: a test split when the dataset has one.
HELD_OUT_SPLITS = ("test", "validation")
# Pieces run through the model together (padded to the longest of them; pieces are sorted by length first).
BATCH_PIECES = 16


@dataclass(frozen=True)
class PieceNLL:
    """One held-out piece's frame NLL.

    Attributes:
        name: The piece's name in the dataset.
        frames: Frames scored: every frame of the piece.
        nats_per_frame: Its frames' NLL summed over pitches, averaged over its frames.
    """

    name: str
    frames: int
    nats_per_frame: float


@dataclass(frozen=True)
class FrameNLL:
    """The frame NLL of a checkpoint on a dataset's held-out pieces (unlike the training metric of the same name,
    over whole pieces).

    Attributes:
        checkpoint: The checkpoint folder's name.
        dataset: The dataset's name.
        split: The split scored (``"test"`` or ``"validation"``).
        nats_per_frame: Every frame's NLL summed over pitches, averaged over all frames of all pieces
            (so a long piece weighs more than a short one, as in the literature).
        frames: Frames scored.
        per_piece: Each piece's figure, in dataset order (NaN for a piece with no note in the model's pitch range).
        trained_on_dataset: Whether the checkpoint was trained on this build of the dataset; if not, the
            pieces scored may have been in its training set.
    """

    checkpoint: str
    dataset: str
    split: str
    nats_per_frame: float
    frames: int
    per_piece: tuple[PieceNLL, ...]
    trained_on_dataset: bool

    @property
    def pieces(self) -> int:
        return len(self.per_piece)

    def to_json(self) -> dict[str, Any]:
        """The figure and its counts, each piece's, and the published table beside it."""
        return {
            "checkpoint": self.checkpoint,
            "dataset": self.dataset,
            "split": self.split,
            "nats_per_frame": self.nats_per_frame,
            "frames": self.frames,
            "pieces": self.pieces,
            "trained_on_dataset": self.trained_on_dataset,
            "published_jsb_frame_nll": PUBLISHED_JSB_FRAME_NLL,
            "per_piece": [vars(piece) for piece in self.per_piece],
        }


def frame_bce(logits: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Bernoulli NLL of each frame from its logits, summed over pitches, in nats.

    ``-[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] = max(x, 0) - x y + log(1 + exp(-|x|))``, which
    neither overflows nor takes the log of 0.

    Args:
        logits: shape=(T, pitches).
        frames: 0/1, shape=(T, pitches).

    Returns:
        float64, shape=(T,).
    """
    x = np.asarray(logits, np.float64)
    y = np.asarray(frames, np.float64)
    return (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).sum(axis=-1)


def held_out_split(dataset: Dataset, split: str | None = None) -> tuple[str, list[int]]:
    """The split to score and its pieces: ``split``, else the dataset's test split, else its validation split.

    Raises:
        EvaluationError: The split (or both held-out splits) holds no pieces.
        DatasetError: A split the dataset does not know.
    """
    if split is not None:
        indices = dataset.split_indices(split)
        if not indices:
            raise EvaluationError(f"the {split} split of the dataset '{dataset.name}' holds no pieces")
        return split, indices
    for name in HELD_OUT_SPLITS:
        try:
            indices = dataset.split_indices(name)
        except DatasetError:  # a dataset built before test splits existed
            continue
        if indices:
            return name, indices
    raise EvaluationError(
        f"the dataset '{dataset.name}' holds no pieces out of training; rebuild it with a validation fraction "
        "above 0 (and at least two pieces)"
    )


def frame_nll(checkpoint: str | Path, dataset: str | Dataset, split: str | None = None) -> FrameNLL:
    """Score every held-out piece of ``dataset``, whole, with a piano-roll checkpoint (see the module docstring).

    Args:
        checkpoint: A checkpoint folder.
        dataset: A dataset's name, or the dataset, on the checkpoint's grid.
        split: The split to score; None: ``test`` when the dataset has one, else ``validation``.

    Raises:
        EvaluationError: A token model, a dataset on another grid, no held-out pieces, or a piece longer
            than a transformer's learned positions.
        CheckpointError, DatasetError: A damaged checkpoint, no such dataset or split.
    """
    from core.generation.loading import load_checkpoint

    info = checkpoint_info(checkpoint)
    dataset = load_dataset(dataset) if isinstance(dataset, str) else dataset
    codec = info.codec
    if codec.kind != FrameHead.kind:
        raise EvaluationError(
            f"{info.name} is a {info.representation} model, which predicts {codec.kind}: a frame NLL needs a "
            "piano-roll model (representation pianoroll); a per-token NLL is not comparable with it"
        )
    if info.data_config.steps_per_quarter != dataset.config.steps_per_quarter:
        raise EvaluationError(
            f"{info.name} reads {info.data_config.steps_per_quarter} frames per quarter note, the dataset "
            f"'{dataset.name}' has {dataset.config.steps_per_quarter}: score it on a dataset built on its grid"
        )
    split, indices = held_out_split(dataset, split)
    names = [dataset.piece_meta[index]["name"] for index in indices]
    # The checkpoint's own codec: its pitch range, whatever the dataset's config would derive.
    rolls = [codec.encode(dataset.piece(index).notes) for index in indices]
    loaded = load_checkpoint(info.path)
    limit = loaded.decoder.max_length
    longest = max(range(len(rolls)), key=lambda i: len(rolls[i]))
    if limit is not None and len(rolls[longest]) > limit:
        raise EvaluationError(
            f"{info.name} reads at most {limit} frames (learned positions), and the {split} piece "
            f"'{names[longest]}' has {len(rolls[longest])}: score a transformer with relative positions or a "
            "larger max_length, or a dataset on a coarser grid"
        )
    sums = _nll_sums(loaded.model, rolls, head_for(codec.kind).neutral_start(codec))
    per_piece = tuple(
        PieceNLL(name, len(roll), total / len(roll) if len(roll) else math.nan)
        for name, roll, total in zip(names, rolls, sums)
    )
    frames = sum(len(roll) for roll in rolls)
    here = info.config.dataset_id == dataset.id or info.config.dataset_hash == dataset.manifest["cache_key"]
    nats_per_frame = sum(sums) / frames if frames else math.nan
    return FrameNLL(info.name, dataset.name, split, nats_per_frame, frames, per_piece, here)


def _nll_sums(model, rolls: list[np.ndarray], start: np.ndarray) -> list[float]:
    """Each piece's frame NLL summed over its frames, teacher-forced from ``start``, shape=(1, pitches); 0 for no frames."""
    sums = [0.0] * len(rolls)
    order = sorted((i for i in range(len(rolls)) if len(rolls[i])), key=lambda i: len(rolls[i]))
    for first in range(0, len(order), BATCH_PIECES):
        batch = order[first : first + BATCH_PIECES]
        length = len(rolls[batch[-1]])
        inputs = np.zeros((len(batch), length, start.shape[-1]), np.float32)
        for row, index in enumerate(batch):
            roll = rolls[index]
            inputs[row, : len(roll)] = np.concatenate([start, roll[:-1]])
        logits = np.asarray(model(inputs, training=False), np.float32)
        for row, index in enumerate(batch):
            roll = rolls[index]
            sums[index] = float(frame_bce(logits[row, : len(roll)], roll).sum())
    return sums
