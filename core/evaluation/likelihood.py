"""Frame negative log-likelihood of a piano-roll or chords model over whole held-out pieces, as the literature
reports it.

The polyphonic-music benchmarks (Boulanger-Lewandowski et al. 2012, Bai et al. 2018 on JSB Chorales) score a
model by the negative log-likelihood of every frame given the frames before it: the Bernoulli NLL of each pitch,
summed over the pitches, averaged over every frame of the held-out pieces, each piece read whole from its start.
The training history's ``val_frame_nll`` is not that figure: it averages over windows cut from the pieces, whose
first frames are predicted with little context and whose overlaps count frames twice.

Here every piece runs through the model once, whole: the input is the head's neutral start (a silent frame, or
the chords' STEP, as composing starts) then the piece's steps but its last, so the logits of step ``t`` predict
step ``t`` and the first frame is scored too. Pieces are batched and padded at their end: every model is causal,
so padding never reaches the logits of a real step.

A chords model writes each frame as its pitches then a STEP (:mod:`core.data.representations.chords`), one
sequence of tokens for one frame: the frame's NLL is the sum of its tokens' NLLs, the same quantity a piano-roll
model's independent Bernoullis give, so both are scored alike, per frame. A per-token NLL of the other token
representations (melody, events) is refused: it is not comparable with a per-frame one. So is a chords model
trained with control tokens: its figure would be given each piece's key and density, not the plain model's.

A transformer with learned positions reads at most its ``max_length`` steps: a longer piece is refused rather
than scored in sliding windows, which would again give some frames less context than the model can use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.checkpoints import checkpoint_info
from core.data.datasets import Dataset, load_dataset
from core.errors import DatasetError, EvaluationError
from core.models.heads import FrameHead, head_for

if TYPE_CHECKING:
    from core.data.representations import Representation

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
        nats_per_frame: Its frames' NLL (summed over pitches, or over a chords frame's tokens), averaged over its
            frames.
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
        nats_per_frame: Every frame's NLL (summed over pitches, or tokens), averaged over all frames of all pieces
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


def token_nll(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Categorical NLL of each token from its logits, ``logsumexp(x) - x[token]``, in nats.

    Args:
        logits: shape=(T, vocab).
        tokens: int, shape=(T,).

    Returns:
        float64, shape=(T,).
    """
    x = np.asarray(logits, np.float64)
    top = x.max(axis=-1)
    normalizer = top + np.log(np.exp(x - top[:, None]).sum(axis=-1))
    return normalizer - x[np.arange(len(x)), np.asarray(tokens)]


def scores_frames(codec: Representation) -> bool:
    """Whether :func:`frame_nll` can score a model of ``codec``: piano-roll frames, or tokens that write them (chords).

    Never a model without a likelihood (a GAN's note features): it has no probability of a frame to score.
    """
    if not head_for(codec.kind).likelihood:
        return False
    return codec.kind == FrameHead.kind or bool(codec.token_frame_ends().any())


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
    """Score every held-out piece of ``dataset``, whole, with a piano-roll or chords checkpoint (see the module
    docstring).

    Args:
        checkpoint: A checkpoint folder.
        dataset: A dataset's name, or the dataset, on the checkpoint's grid.
        split: The split to score; None: ``test`` when the dataset has one, else ``validation``.

    Raises:
        EvaluationError: A melody or events model, a chords model trained with control tokens, a dataset on
            another grid, no held-out pieces, or a piece longer than a transformer's learned positions.
        CheckpointError, DatasetError: A damaged checkpoint, no such dataset or split.
    """
    from core.generation.loading import load_checkpoint

    info = checkpoint_info(checkpoint)
    codec = info.codec
    if not head_for(codec.kind).likelihood:
        raise EvaluationError(
            f"{info.name} is a {info.model} model, which writes note features from noise and gives no likelihood: "
            "a frame NLL needs a piano-roll or chords model; compare it on the musical metrics "
            "(python -m core evaluate)"
        )
    dataset = load_dataset(dataset) if isinstance(dataset, str) else dataset
    if not scores_frames(codec):
        raise EvaluationError(
            f"{info.name} is a {info.representation} model, which predicts {codec.kind}: a frame NLL needs a "
            "piano-roll or chords model (representation pianoroll or chords); a per-token NLL is not comparable "
            "with it"
        )
    if info.conditioning is not None:
        raise EvaluationError(
            f"{info.name} was trained with control tokens (style, key, density): its NLL would be given each "
            "piece's own key and density, not the plain model's; train it with --no-conditioning to score it"
        )
    if info.data_config.steps_per_quarter != dataset.config.steps_per_quarter:
        raise EvaluationError(
            f"{info.name} reads {info.data_config.steps_per_quarter} frames per quarter note, the dataset "
            f"'{dataset.name}' has {dataset.config.steps_per_quarter}: score it on a dataset built on its grid"
        )
    split, indices = held_out_split(dataset, split)
    names = [dataset.piece_meta[index]["name"] for index in indices]
    # The checkpoint's own codec: its pitch range, whatever the dataset's config would derive.
    sequences = [codec.encode(dataset.piece(index).notes) for index in indices]
    if codec.kind == FrameHead.kind:
        step_nll, frame_counts = frame_bce, [len(roll) for roll in sequences]
    else:
        ends = codec.token_frame_ends()
        step_nll, frame_counts = token_nll, [int(ends[tokens].sum()) for tokens in sequences]
    loaded = load_checkpoint(info.path)
    limit = loaded.decoder.max_length
    longest = max(range(len(sequences)), key=lambda i: len(sequences[i]))
    if limit is not None and len(sequences[longest]) > limit:
        unit = "frames" if codec.kind == FrameHead.kind else "tokens"
        raise EvaluationError(
            f"{info.name} reads at most {limit} {unit} (learned positions), and the {split} piece "
            f"'{names[longest]}' has {len(sequences[longest])}: score a transformer with relative positions or a "
            "larger max_length, or a dataset on a coarser grid"
        )
    sums = _nll_sums(loaded.model, sequences, head_for(codec.kind).neutral_start(codec), step_nll)
    per_piece = tuple(
        PieceNLL(name, count, total / count if count else math.nan)
        for name, count, total in zip(names, frame_counts, sums)
    )
    frames = sum(frame_counts)
    here = info.config.dataset_id == dataset.id or info.config.dataset_hash == dataset.manifest["cache_key"]
    nats_per_frame = sum(sums) / frames if frames else math.nan
    return FrameNLL(info.name, dataset.name, split, nats_per_frame, frames, per_piece, here)


def _nll_sums(
    model,
    sequences: list[np.ndarray],
    start: np.ndarray,
    step_nll: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> list[float]:
    """Each piece's NLL summed over its steps, teacher-forced from ``start``; 0 for an empty piece.

    Args:
        sequences: Each piece's steps: frames, shape=(T, pitches), or tokens, shape=(T,).
        start: The step before each piece, shape=(1[, pitches]), in the model's input dtype.
        step_nll: The NLL of each step from its logits (:func:`frame_bce`, :func:`token_nll`), shape=(T,).
    """
    sums = [0.0] * len(sequences)
    order = sorted((i for i in range(len(sequences)) if len(sequences[i])), key=lambda i: len(sequences[i]))
    for first in range(0, len(order), BATCH_PIECES):
        batch = order[first : first + BATCH_PIECES]
        length = len(sequences[batch[-1]])
        inputs = np.zeros((len(batch), length, *start.shape[1:]), start.dtype)
        for row, index in enumerate(batch):
            steps = sequences[index]
            inputs[row, : len(steps)] = np.concatenate([start, steps[:-1]])
        logits = np.asarray(model(inputs, training=False), np.float32)
        for row, index in enumerate(batch):
            steps = sequences[index]
            sums[index] = float(step_nll(logits[row, : len(steps)], steps).sum())
    return sums
