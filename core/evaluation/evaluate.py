"""Evaluating systems against a dataset: the one entry point of the Evaluate page, the CLI and the benchmark.

:func:`evaluate` answers *which of my models writes music closest to the real
thing, and is it better than trivial baselines?* Every comparison holds the
asked checkpoints, the asked selections of library pieces (composed before,
:mod:`core.evaluation.selections`) and three reference rows made the same way from the same
dataset: the held-out real pieces (its validation split: the ceiling), a
first-order Markov chain and random notes fitted on its training split (the
floors, :mod:`core.evaluation.baselines`). Every system's pieces are measured
as excerpts of the same length (``bars`` bars of 4/4, as composing writes
them) with every feature of :mod:`core.evaluation.features`, compared with the
training pieces set against set (:mod:`core.evaluation.comparison`, Yang and
Lerch 2018), and searched for copied melody (:mod:`core.evaluation.originality`).

A result is stored in the database under a key of everything that decides it
(the checkpoints' model files and the library pieces' MIDI files by content, the
dataset's build, the settings and the seed), so asking again returns it at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.checkpoints import CheckpointInfo, checkpoint_info, file_sha256
from core.config import check_config, from_dict, stable_hash, to_dict
from core.data.datasets import Dataset, load_dataset
from core.data.ingest import Cancel, is_cancelled
from core.data.piece import QuantizedPiece
from core.errors import EvaluationError, NeuroTuneError
from core.evaluation.baselines import MarkovChain, RandomNotes, excerpt
from core.evaluation.comparison import FeatureComparison, ReferenceSet, mean_interval
from core.evaluation.features import FEATURES, GROUPS, HISTOGRAMS, SCALARS, feature_table, piece_features
from core.evaluation.harmony import chord_transitions, transition_pieces
from core.evaluation.likelihood import frame_nll, scores_frames
from core.evaluation.originality import COPY_FLAG_BARS, Copy, TrainingIndex
from core.evaluation.selections import LibraryPieces, PieceSelection
from core.generation.sampling import MAX_VARIATIONS, SAMPLERS, SampleConfig
from core.models.heads import FrameHead, head_for

# Bump when what a result holds or how it is computed changes: older cached results are then not reused.
# 2: piano-roll checkpoints' frame NLL over whole held-out pieces.
RESULT_VERSION = 2
# Composing writes 4/4 (core.generation.compose.BEATS_PER_BAR).
BEATS_PER_BAR = 4
MAX_PIECES = 1000
MAX_BARS = 64
# The real pieces everything is compared with: the training split, at most this many (seeded sample).
MAX_REFERENCE_PIECES = 1000

REAL, MARKOV, RANDOM, CHECKPOINT, LIBRARY = "real", "markov", "random", "checkpoint", "library"
BASELINE_NAMES = {REAL: "Held-out real pieces", MARKOV: "Markov chain (1st order)", RANDOM: "Random notes"}

# The leaderboard's figures: name -> (label, True when higher is better, None when neither).
SUMMARY_FIGURES: dict[str, tuple[str, bool | None]] = {
    "overlap": ("Overlap with real, all features (0-1)", True),
    "kl": ("KL divergence from real, mean (nats)", False),
    **{f"{group}_overlap": (f"Overlap with real, {group} (0-1)", True) for group in GROUPS},
    "val_nll": ("Validation NLL (nats/token)", False),
    "top1": ("Next-token top-1 accuracy", True),
    "top5": ("Next-token top-5 accuracy", True),
    "val_frame_nll": ("Validation frame NLL (nats/frame)", False),
    "frame_nll": ("Held-out frame NLL, whole pieces (nats/frame)", False),
    "longest_copy_bars": ("Longest copied melody, mean (bars)", None),
    "copied_share": (f"Pieces copying >= {COPY_FLAG_BARS:g} bars (share)", None),
}
# The figures a system is ranked on: every one that says better or worse, likelihood aside (baselines have none).
RANKED_FIGURES = ("overlap", "kl", *(f"{group}_overlap" for group in GROUPS))

# Which figures stand for the design papers' words, for the page to show beside the leaderboard.
PAPER_TERMS: dict[str, dict[str, Any]] = {
    "pitch accuracy": {
        "figures": ["top1", "top5", "val_nll", "scale_consistency", "pitch_overlap"],
        "meaning": "how often the model's likeliest next notes are the real ones (validation top-1/top-5 and "
        "loss), how many notes sit in one key (in-scale rate), and how close pitch features are to the data",
    },
    "rhythmic consistency": {
        "figures": ["groove_consistency", "ioi_histogram", "note_length_histogram", "rhythm_overlap"],
        "meaning": "how steadily bars repeat their onset pattern (groove consistency) and how close the "
        "inter-onset and note-length distributions are to the data's",
    },
    "harmonic progression": {
        "figures": ["chord_plausibility", "tonal_stability", "tonal_distance", "harmony_overlap"],
        "meaning": "how many chord changes also occur in the data, how firmly the piece stays in one key, "
        "and how well melody and voices agree harmonically",
    },
}

Progress = Callable[[int, int, str], None]


# === Settings and results ===


@dataclass(frozen=True)
class EvaluationSettings:
    """What decides an evaluation besides the dataset and the checkpoints; stored with its result.

    Attributes:
        n: Pieces per system (the held-out row has at most the validation split's).
        seed: Seeds the composing (chunk ``i`` of 64 pieces uses ``seed + i``), the baselines and every sample.
        bars: Length of every piece measured, in bars of 4/4; real pieces are cut to as many beats
            (and measured in their own meter).
        sampling: How checkpoints compose (its own seed and variations are set from ``seed`` and ``n``).
        copy_flag_bars: A piece copying a melody at least this many bars long is flagged.
    """

    n: int = 32
    seed: int = 0
    bars: float = 8.0
    sampling: SampleConfig = field(default_factory=SampleConfig)
    copy_flag_bars: float = COPY_FLAG_BARS

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", dataclasses.replace(self.sampling, seed=self.seed, variations=1))
        checks = [
            (2 <= self.n <= MAX_PIECES, f"the number of pieces must be between 2 and {MAX_PIECES}, got {self.n}"),
            (0 < self.bars <= MAX_BARS, f"bars must be in (0, {MAX_BARS}], got {self.bars}"),
            (self.copy_flag_bars > 0, f"the copy flag must be a positive number of bars, got {self.copy_flag_bars}"),
        ]
        check_config(checks, EvaluationError, config=self)

    def steps(self, steps_per_quarter: int) -> int:
        return max(1, int(round(self.bars * BEATS_PER_BAR * steps_per_quarter)))

    def to_json(self) -> dict[str, Any]:
        return {**to_dict(self), "sampling": to_dict(self.sampling)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvaluationSettings:
        return cls(**{**data, "sampling": from_dict(SampleConfig, data["sampling"])})


@dataclass
class SystemResult:
    """One row of the comparison: a system's pieces, what they measure and how they compare.

    Attributes:
        name: The row's name: a checkpoint folder's name, a library selection's
            (:attr:`~core.evaluation.selections.LibraryPieces.name`), or one of :data:`BASELINE_NAMES`.
        kind: :data:`CHECKPOINT`, :data:`LIBRARY`, :data:`REAL`, :data:`MARKOV` or :data:`RANDOM`.
        checkpoint: The checkpoint folder, for checkpoints.
        checkpoint_sha256: Content hash of its model file.
        notes: Each piece as measured (an excerpt of ``bars`` bars), int32 shape=(n, 6).
        piece_names: A name per piece (the dataset's for real pieces, the title for library pieces).
        piece_ids: For library pieces, each piece's id in the library (what makes the row again); else empty.
        metrics: Per piece, every number of :data:`~core.evaluation.features.SCALARS` (NaN where unmeasurable).
        intervals: Per number, (mean, low, high) of its 95% interval over the pieces.
        histograms: Per histogram of :data:`~core.evaluation.features.HISTOGRAMS`, its mean over the pieces.
        comparison: Per feature, the set-against-set figures against the training pieces.
        summary: The leaderboard's figures (:data:`SUMMARY_FIGURES`); None where a system has none.
        likelihood: From the checkpoint's history at its best epoch: ``val_nll``, ``top1``, ``top5``
            (token models) or ``val_frame_nll`` (piano-roll models), ``unit``, ``epoch``; piano-roll and chords
            models also ``frame_nll`` and ``frame_nll_split`` (whole held-out pieces); None otherwise.
        copies: Per piece, its longest melody also in the training set.
        warnings: What the user should know about how the pieces were made.
        seconds: Time spent making the pieces (composing or sampling).
    """

    name: str
    kind: str
    notes: list[np.ndarray]
    piece_names: list[str]
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    piece_ids: list[str] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)
    intervals: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    histograms: dict[str, np.ndarray] = field(default_factory=dict)
    comparison: dict[str, FeatureComparison] = field(default_factory=dict)
    summary: dict[str, float | None] = field(default_factory=dict)
    likelihood: dict[str, Any] | None = None
    copies: list[Copy] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "name": self.name,
                "kind": self.kind,
                "checkpoint": self.checkpoint,
                "checkpoint_sha256": self.checkpoint_sha256,
                "notes": [notes.tolist() for notes in self.notes],
                "piece_names": self.piece_names,
                "piece_ids": self.piece_ids,
                "metrics": self.metrics,
                "intervals": {name: list(values) for name, values in self.intervals.items()},
                "histograms": {name: values.tolist() for name, values in self.histograms.items()},
                "comparison": {name: figures.to_json() for name, figures in self.comparison.items()},
                "summary": self.summary,
                "likelihood": self.likelihood,
                "copies": [copy.to_json() for copy in self.copies],
                "warnings": self.warnings,
                "seconds": self.seconds,
            }
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SystemResult:
        return cls(
            name=data["name"],
            kind=data["kind"],
            checkpoint=data["checkpoint"],
            checkpoint_sha256=data["checkpoint_sha256"],
            notes=[np.array(notes, dtype=np.int32).reshape(-1, 6) for notes in data["notes"]],
            piece_names=list(data["piece_names"]),
            piece_ids=list(data.get("piece_ids", [])),  # results stored before library rows have none
            metrics=[{name: _number(value) for name, value in piece.items()} for piece in data["metrics"]],
            intervals={name: tuple(_number(v) for v in values) for name, values in data["intervals"].items()},
            histograms={name: np.array(values, dtype=float) for name, values in data["histograms"].items()},
            comparison={name: FeatureComparison.from_json(f) for name, f in data["comparison"].items()},
            summary=dict(data["summary"]),
            likelihood=data["likelihood"],
            copies=[Copy(**copy) for copy in data["copies"]],
            warnings=list(data["warnings"]),
            seconds=float(data["seconds"]),
        )


@dataclass
class EvaluationResult:
    """A finished comparison of systems against one dataset.

    Attributes:
        dataset: The dataset's name when evaluated.
        dataset_key: Its build's cache key.
        settings: The settings, sampling included.
        systems: The checkpoints in the order asked, the library selections in the order asked, then the held-out
            real pieces, the Markov chain, random notes.
        reference_pieces: How many training pieces the systems were compared with.
        reference_histograms: Their mean histograms, to overlay on each system's.
        reference_intervals: Their per-number (mean, low, high), to draw beside each system's.
        cache_key: The key it is stored under.
        created_at: When it was computed (ISO 8601, UTC).
        timings: Seconds ``compose`` (checkpoints), ``baselines``, ``measure`` and ``total``.
        cached: True when read back from the store rather than computed now (not stored).
    """

    dataset: str
    dataset_key: str
    settings: EvaluationSettings
    systems: list[SystemResult]
    reference_pieces: int
    reference_histograms: dict[str, np.ndarray]
    reference_intervals: dict[str, tuple[float, float, float]]
    cache_key: str
    created_at: str
    timings: dict[str, float]
    version: int = RESULT_VERSION
    cached: bool = False

    def system(self, name: str) -> SystemResult:
        """The row named ``name``.

        Raises:
            EvaluationError: No such row.
        """
        for system in self.systems:
            if system.name == name:
                return system
        raise EvaluationError(f"no system '{name}' in this evaluation; rows: {', '.join(s.name for s in self.systems)}")

    def leaderboard(self) -> list[dict[str, Any]]:
        """One row per system: its name, kind and pieces, then every figure of :data:`SUMMARY_FIGURES`."""
        return [
            {"system": system.name, "kind": system.kind, "pieces": len(system.notes), **system.summary}
            for system in self.systems
        ]

    def best(self) -> dict[str, str]:
        """For each figure with a direction, the system that does best (ties: the first)."""
        best = {}
        for figure, (_, higher) in SUMMARY_FIGURES.items():
            scored = [(s.summary.get(figure), s.name) for s in self.systems if s.summary.get(figure) is not None]
            if higher is not None and scored:
                best[figure] = (max if higher else min)(scored, key=lambda pair: pair[0])[1]
        return best

    def originality(self) -> list[dict[str, Any]]:
        """Every piece's longest copied melody, longest first: system, piece number (1-based), name, library id
        (None but for library pieces) and the copy."""
        rows = [
            {
                "system": system.name,
                "piece": number,
                "piece_name": name,
                "piece_id": system.piece_ids[number - 1] if system.piece_ids else None,
                **copy.to_json(),
            }
            for system in self.systems
            for number, (name, copy) in enumerate(zip(system.piece_names, system.copies), start=1)
        ]
        return sorted(rows, key=lambda row: -row["bars"])

    def to_json(self) -> dict[str, Any]:
        return json_safe(
            {
                "version": self.version,
                "dataset": self.dataset,
                "dataset_key": self.dataset_key,
                "settings": self.settings.to_json(),
                "systems": [system.to_json() for system in self.systems],
                "reference_pieces": self.reference_pieces,
                "reference_histograms": {name: v.tolist() for name, v in self.reference_histograms.items()},
                "reference_intervals": {name: list(v) for name, v in self.reference_intervals.items()},
                "cache_key": self.cache_key,
                "created_at": self.created_at,
                "timings": self.timings,
            }
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvaluationResult:
        """Read :meth:`to_json`'s dict back.

        Raises:
            EvaluationError: A result of another layout version (compute it again).
        """
        if data.get("version") != RESULT_VERSION:
            raise EvaluationError(
                f"the stored evaluation has layout version {data.get('version')!r}, this NeuroTune reads "
                f"{RESULT_VERSION}; evaluate again"
            )
        return cls(
            dataset=data["dataset"],
            dataset_key=data["dataset_key"],
            settings=EvaluationSettings.from_json(data["settings"]),
            systems=[SystemResult.from_json(system) for system in data["systems"]],
            reference_pieces=int(data["reference_pieces"]),
            reference_histograms={name: np.array(v, dtype=float) for name, v in data["reference_histograms"].items()},
            reference_intervals={name: tuple(_number(x) for x in v) for name, v in data["reference_intervals"].items()},
            cache_key=data["cache_key"],
            created_at=data["created_at"],
            timings=dict(data["timings"]),
        )


def json_safe(value: Any) -> Any:
    """JSON-able data with NaN and infinities as None and numpy numbers as Python ones."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


# === The training pieces ===


@dataclass
class TrainingReference:
    """What a dataset's training split is compared with: its pieces, chord transitions and melody index.

    Attributes:
        pieces: The training pieces.
        transitions: Each piece's chord transitions (:func:`~core.evaluation.harmony.chord_transitions`).
        chords: For each transition, how many pieces hold it: the plausibility reference.
        index: Their melodies, for the longest copy.
    """

    pieces: list[QuantizedPiece]
    transitions: list[list]
    chords: Counter
    index: TrainingIndex

    @classmethod
    def of(cls, dataset: Dataset) -> TrainingReference:
        """Read and index the dataset's training split.

        Raises:
            EvaluationError: The dataset has no training pieces.
        """
        pieces = [dataset.piece(i) for i in dataset.split_indices("train")]
        if not pieces:
            raise EvaluationError(f"the dataset '{dataset.name}' has no training pieces to compare with")
        spq = dataset.config.steps_per_quarter
        transitions = [chord_transitions(piece.notes, spq) for piece in pieces]
        index = TrainingIndex([piece.notes for piece in pieces], [piece.name for piece in pieces])
        return cls(pieces, transitions, transition_pieces(transitions), index)


# === Likelihood ===


def checkpoint_likelihood(info: CheckpointInfo) -> dict[str, Any] | None:
    """The validation figures of a checkpoint's best epoch (lowest ``val_loss``), as its history recorded them.

    Token models: ``val_nll`` (the loss, nats per token), ``top1`` and ``top5``
    (next-token accuracies); piano-roll models: ``val_frame_nll`` (nats per
    frame, over training windows; the literature's figure is :func:`~core.evaluation.likelihood.frame_nll`).
    None before the first validation, and for a model that gives no likelihood (a GAN: :func:`_likelihood`
    says so).
    """
    if not head_for(info.codec.kind).likelihood:
        return None
    try:
        history = info.folder.read_history()
    except NeuroTuneError:
        return None
    validated = [entry for entry in history if isinstance(entry.get("val_loss"), int | float)]
    if not validated:
        return None
    best = min(validated, key=lambda entry: entry["val_loss"])
    if info.codec.kind == FrameHead.kind:
        return {
            "val_frame_nll": best.get("val_frame_nll", best["val_loss"]),
            "unit": "nats/frame",
            "epoch": best.get("epoch"),
        }
    return {
        "val_nll": best["val_loss"],
        "top1": best.get("val_accuracy"),
        "top5": best.get("val_top5_accuracy"),
        "unit": "nats/token",
        "epoch": best.get("epoch"),
    }


def _likelihood(path: str | Path, info: CheckpointInfo, dataset: Dataset) -> tuple[dict[str, Any] | None, list[str]]:
    """:func:`checkpoint_likelihood`, and for a piano-roll or chords model ``frame_nll`` and ``frame_nll_split``:
    its :func:`~core.evaluation.likelihood.frame_nll` on the dataset's held-out pieces, whole.

    Returns:
        (the figures, a warning when such a model cannot score the pieces: one longer than its positions, or a
        chords model trained with controls).
    """
    if not head_for(info.codec.kind).likelihood:
        return None, [
            f"no likelihood figures (validation NLL, next-token accuracy, frame NLL): {info.name} is a {info.model} "
            "model, which writes note features from noise without probabilities; it is compared on the musical "
            "metrics only"
        ]
    likelihood = checkpoint_likelihood(info)
    if not scores_frames(info.codec):
        return likelihood, []
    try:
        scored = frame_nll(path, dataset)
    except EvaluationError as error:
        return likelihood, [f"no held-out frame NLL: {error}"]
    return {**(likelihood or {}), "frame_nll": scored.nats_per_frame, "frame_nll_split": scored.split}, []


# === Evaluating ===


def _beats_per_bar(piece: QuantizedPiece) -> int:
    """Quarter notes per bar of a real piece's own meter (3 for 3/4, 6 for 12/8)."""
    numerator, denominator = piece.time_signature
    return max(1, int(round(numerator * 4 / denominator)))


def checkpoint_against(path: str | Path, dataset: Dataset) -> tuple[CheckpointInfo, str, list[str]]:
    """A checkpoint to measure against a dataset: its info, model file hash and warnings (trained on other data).

    Raises:
        EvaluationError: The checkpoint composes on another grid than the dataset's.
    """
    info = checkpoint_info(path)
    if info.data_config.steps_per_quarter != dataset.config.steps_per_quarter:
        raise EvaluationError(
            f"{info.name} composes on {info.data_config.steps_per_quarter} steps per quarter note, the dataset "
            f"'{dataset.name}' has {dataset.config.steps_per_quarter}: evaluate it against a dataset built "
            "on its grid"
        )
    warnings = []
    if info.config.dataset_id != dataset.id and info.config.dataset_hash != dataset.manifest["cache_key"]:
        trained_on = f"another build of '{info.dataset}'" if info.dataset == dataset.name else f"'{info.dataset}'"
        warnings.append(
            f"{info.name} was trained on {trained_on}: its validation figures are on that data's split, and "
            f"pieces held out here may have been in its training set"
        )
    return info, file_sha256(info.folder.model), warnings


def evaluation_key(
    dataset: Dataset,
    checkpoint_hashes: Sequence[str],
    settings: EvaluationSettings,
    library_pieces: Sequence[LibraryPieces] = (),
) -> str:
    """The cache key of an evaluation: what decides its result, hashed.

    Library selections count by each piece's id and MIDI file hash (:meth:`LibraryPieces.key`); without any, the
    key is what it was before they existed, so results stored then are still found.
    """
    decided = [RESULT_VERSION, dataset.manifest["cache_key"], list(checkpoint_hashes), settings.to_json()]
    if library_pieces:
        decided.append([pieces.key() for pieces in library_pieces])
    return stable_hash(decided)


def read_library(selections: Sequence[PieceSelection]) -> list[LibraryPieces]:
    """The library selections of an evaluation, read.

    Raises:
        EvaluationError: A piece or its MIDI file is missing, a selection of more than :data:`MAX_PIECES`
            pieces, or one asked twice.
    """
    if len(set(selections)) < len(selections):
        raise EvaluationError("the same library pieces are listed twice; give each selection once")
    for selection in selections:
        if len(selection.piece_ids) > MAX_PIECES:
            raise EvaluationError(
                f"a selection of library pieces may hold at most {MAX_PIECES} pieces, got {len(selection.piece_ids)}"
            )
    return [LibraryPieces.read(selection) for selection in selections]


def evaluate(
    dataset: str | Dataset,
    checkpoints: Sequence[str | Path] = (),
    n: int = 32,
    seed: int = 0,
    sampling: SampleConfig | None = None,
    *,
    bars: float = 8.0,
    copy_flag_bars: float = COPY_FLAG_BARS,
    library: Sequence[PieceSelection] = (),
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    use_cache: bool = True,
) -> EvaluationResult:
    """Compose, measure and compare: one row per checkpoint, one per library selection, the three reference rows.

    Args:
        dataset: A dataset's name, or the dataset.
        checkpoints: Checkpoint folders, each a row (in this order).
        n: Pieces per system.
        seed: Seeds everything (:class:`EvaluationSettings`).
        sampling: How checkpoints compose (strategy, temperature, top-k/p); its seed and
            variations are ignored. Default: plain sampling at temperature 1.
        bars: Length of the pieces measured, in bars of 4/4.
        copy_flag_bars: Flag pieces copying a melody this many bars long.
        library: Selections of library pieces, each a row (after the checkpoints, in this order): measured as
            saved, all of them (``n`` does not apply), on the dataset's grid.
        progress: Called as ``progress(done, total, what)`` after each step.
        cancel: A ``threading.Event`` or a callable returning True to stop between steps.
        use_cache: Return a stored result of the same key; False computes anew (and replaces it).

    Returns:
        The result, also stored in the database.

    Raises:
        EvaluationError: Bad settings, a dataset without held-out pieces, a checkpoint on
            another grid or one that cannot compose, a library piece missing, or cancelled (nothing is stored).
        DatasetError, CheckpointError: No such dataset, a damaged checkpoint.
    """
    from core.store import evaluations as store

    started = time.perf_counter()
    settings = EvaluationSettings(n, seed, bars, sampling or SampleConfig(), copy_flag_bars)
    dataset = load_dataset(dataset) if isinstance(dataset, str) else dataset
    found = [checkpoint_against(path, dataset) for path in checkpoints]
    if len({info.path for info, _, _ in found}) < len(found):
        raise EvaluationError("a checkpoint is listed twice; give each once")
    selections = read_library(library)
    cache_key = evaluation_key(dataset, [sha for _, sha, _ in found], settings, selections)
    if use_cache and (record := store.find_evaluation(cache_key)) is not None:
        result = EvaluationResult.from_json(record.result)
        result.cached = True
        return result
    validation = dataset.split_indices("validation")
    if not validation:
        raise EvaluationError(
            f"the dataset '{dataset.name}' has no held-out pieces to compare with; rebuild it with a "
            "validation fraction above 0 (and at least two pieces)"
        )
    # Steps: the training pieces, each checkpoint's composing (grown per chunk), each selection's reading, the
    # baselines, each row's measuring.
    rows = len(found) + len(selections)
    work = _Work(1 + rows + 1 + rows + 3, progress, cancel)
    spq = dataset.config.steps_per_quarter
    steps = settings.steps(spq)
    rng = np.random.default_rng(seed)

    # The training pieces: the reference set, the chord transitions, the melody index, the baselines' data.
    known = TrainingReference.of(dataset)
    training, chords = known.pieces, known.chords
    reference = sorted(rng.permutation(len(training))[:MAX_REFERENCE_PIECES])
    work.step("reading the training pieces")

    systems = []
    for (info, sha, warnings), path in zip(found, checkpoints):
        made = time.perf_counter()
        notes, more = _compose(path, info, settings, work)
        likelihood, unscored = _likelihood(path, info, dataset)
        systems.append(
            SystemResult(
                name=info.name,
                kind=CHECKPOINT,
                notes=[excerpt(piece, steps) for piece in notes],
                piece_names=[f"{info.name} #{i + 1}" for i in range(len(notes))],
                checkpoint=str(info.path),
                checkpoint_sha256=sha,
                likelihood=likelihood,
                warnings=warnings + more + unscored,
                seconds=time.perf_counter() - made,
            )
        )
    compose_seconds = sum(system.seconds for system in systems)
    names = {system.name for system in systems}
    for pieces in selections:
        made = time.perf_counter()
        name = _free_name(pieces.name, names)
        names.add(name)
        notes, warnings = pieces.notes(dataset, steps, BEATS_PER_BAR * spq)
        systems.append(
            SystemResult(
                name=name,
                kind=LIBRARY,
                notes=[excerpt(piece, steps) for piece in notes],
                piece_names=[record.title for record in pieces.records],
                piece_ids=pieces.piece_ids,
                warnings=[f"{name}: {warning}" for warning in warnings],
                seconds=time.perf_counter() - made,
            )
        )
        work.step(f"reading {name}")

    made = time.perf_counter()
    held_out = [dataset.piece(i) for i in sorted(rng.permutation(validation)[:n])]
    real = SystemResult(
        BASELINE_NAMES[REAL], REAL, [excerpt(p.notes, steps) for p in held_out], [p.name for p in held_out]
    )
    if len(held_out) < n:
        real.warnings.append(f"the dataset holds out {len(held_out)} pieces, fewer than the {n} asked")
    train_notes = [piece.notes for piece in training]
    markov = MarkovChain.fit(train_notes).sample(n, steps, seed)
    noise = RandomNotes.fit(train_notes).sample(n, steps, seed)
    systems += [
        real,
        SystemResult(BASELINE_NAMES[MARKOV], MARKOV, markov, [f"Markov #{i + 1}" for i in range(n)]),
        SystemResult(BASELINE_NAMES[RANDOM], RANDOM, noise, [f"Random #{i + 1}" for i in range(n)]),
    ]
    baseline_seconds = time.perf_counter() - made
    for system in systems[-3:]:
        system.seconds = baseline_seconds / 3
    work.step("sampling the baselines")

    measured = time.perf_counter()
    reference_table = feature_table(
        [
            piece_features(
                excerpt(training[i].notes, steps),
                spq,
                _beats_per_bar(training[i]),
                chords,
                leave_out=known.transitions[i],
            )
            for i in reference
        ]
    )
    comparison = ReferenceSet(reference_table)
    held_out_meters = [_beats_per_bar(piece) for piece in held_out]
    for system in systems:
        meters = held_out_meters if system.kind == REAL else [BEATS_PER_BAR] * len(system.notes)
        _measure(system, meters, spq, chords, comparison, known.index, settings)
        work.step(f"measuring {system.name}")
    measure_seconds = time.perf_counter() - measured

    result = EvaluationResult(
        dataset=dataset.name,
        dataset_key=dataset.manifest["cache_key"],
        settings=settings,
        systems=systems,
        reference_pieces=len(reference),
        reference_histograms={name: np.nanmean(reference_table[name], axis=0) for name in HISTOGRAMS},
        reference_intervals={name: mean_interval(reference_table[name]) for name in SCALARS},
        cache_key=cache_key,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        timings={
            "compose": round(compose_seconds, 3),
            "baselines": round(baseline_seconds, 3),
            "measure": round(measure_seconds, 3),
            "total": round(time.perf_counter() - started, 3),
        },
    )
    store.save_evaluation(cache_key, dataset.name, result.to_json())
    return result


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or the first of ``name #2``, ``name #3``... that no other row has."""
    candidates = itertools.chain([name], (f"{name} #{number}" for number in itertools.count(2)))
    return next(candidate for candidate in candidates if candidate not in taken)


class _Work:
    """Progress and cancelling over a known number of steps."""

    def __init__(self, total: int, progress: Progress | None, cancel: Cancel | None):
        self.done, self.total, self.progress, self.cancel = 0, total, progress, cancel
        self.check()

    def check(self) -> None:
        if is_cancelled(self.cancel):
            raise EvaluationError("cancelled: the evaluation stopped and nothing was stored")

    def step(self, what: str) -> None:
        self.done = min(self.done + 1, self.total)
        if self.progress:
            self.progress(self.done, self.total, what)
        self.check()

    def grow(self, steps: int) -> None:
        self.total += steps


def _compose(path, info: CheckpointInfo, settings: EvaluationSettings, work: _Work) -> tuple[list[np.ndarray], list]:
    """``settings.n`` pieces of a checkpoint, in chunks of at most 64 variations, chunk ``i`` seeded ``seed + i``."""
    from core.generation.compose import Composer, CompositionRequest

    composer = Composer.load(path)
    sampling = settings.sampling
    pieces, warnings = [], []
    if composer.head.kind not in SAMPLERS[sampling.strategy].kinds:
        # A GAN composes by noise whatever strategy the other systems use: the same seed, truncation for temperature.
        sampling = dataclasses.replace(sampling, strategy=composer.defaults["strategy"])
        warnings.append(f"{info.name} composed with {SAMPLERS[sampling.strategy].label}: it has no other strategy")
    chunk = min(
        MAX_VARIATIONS, sampling.beam_width if "beam_width" in SAMPLERS[sampling.strategy].reads else MAX_VARIATIONS
    )
    sizes = [min(chunk, settings.n - start) for start in range(0, settings.n, chunk)]
    work.grow(len(sizes) - 1)
    for number, size in enumerate(sizes):
        request = CompositionRequest(
            sampling=dataclasses.replace(sampling, seed=settings.seed + number, variations=size), bars=settings.bars
        )
        try:
            result = composer.compose(request)
        except NeuroTuneError as error:
            raise EvaluationError(f"{info.name} could not compose: {error}") from error
        pieces += [composition.notes for composition in result.compositions]
        warnings += result.warnings
        work.step(f"composing with {info.name} ({len(pieces)}/{settings.n})")
    return pieces, warnings


def _measure(
    system: SystemResult,
    meters: list[int],
    steps_per_quarter: int,
    chords,
    comparison: ReferenceSet,
    index: TrainingIndex,
    settings: EvaluationSettings,
) -> None:
    """Fill a system's metrics, intervals, histograms, comparison, copies and summary."""
    features = [piece_features(notes, steps_per_quarter, beats, chords) for notes, beats in zip(system.notes, meters)]
    table = feature_table(features)
    system.metrics = [{name: float(piece[name]) for name in SCALARS} for piece in features]
    system.intervals = {name: mean_interval(table[name]) for name in SCALARS}
    system.histograms = {name: _mean(table[name]) for name in HISTOGRAMS}
    system.comparison = comparison.compare(table)
    system.copies = [
        index.longest_copy(notes, steps_per_quarter * beats, settings.copy_flag_bars)
        for notes, beats in zip(system.notes, meters)
    ]
    system.summary = _summary(system)


def _mean(values: np.ndarray) -> np.ndarray:
    """Mean over the pieces measured (NaN rows left out); NaN everywhere without any."""
    kept = values[~np.isnan(values.reshape(len(values), -1)).any(axis=1)]
    return kept.mean(axis=0) if len(kept) else np.full(values.shape[1:], np.nan)


def _summary(system: SystemResult) -> dict[str, float | None]:
    """The leaderboard's figures of a system: mean overlap and KL over informative features, per group too."""

    def average(values: list[float]) -> float | None:
        values = [v for v in values if math.isfinite(v)]
        return float(np.mean(values)) if values else None

    informative = {name: c for name, c in system.comparison.items() if not c.constant}
    summary: dict[str, float | None] = {
        "overlap": average([c.overlap for c in informative.values()]),
        "kl": average([c.kl for c in informative.values()]),
    }
    for group in GROUPS:
        summary[f"{group}_overlap"] = average(
            [c.overlap for name, c in informative.items() if FEATURES[name].group == group]
        )
    likelihood = system.likelihood or {}
    summary.update({name: likelihood.get(name) for name in ("val_nll", "top1", "top5", "val_frame_nll", "frame_nll")})
    summary["longest_copy_bars"] = average([copy.bars for copy in system.copies])
    summary["copied_share"] = float(np.mean([copy.copied for copy in system.copies])) if system.copies else None
    return summary
