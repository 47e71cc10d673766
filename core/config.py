"""Typed configuration dataclasses with a JSON round-trip.

Each config is saved as JSON next to what it configured (a dataset manifest,
later a checkpoint), so that anything built can be rebuilt or resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import ConfigError

T = TypeVar("T")

REPRESENTATIONS = ("melody", "events", "pianoroll", "notes", "chords")
# How notes land on the step grid (core.data.preprocess.QUANTIZERS): "nearest" rounds onsets and ends to the
# nearest step; "sounding" keeps what sounds at each step's instant, as the JSB Chorales were sampled.
QUANTIZATIONS = ("nearest", "sounding")
# Learning-rate schedules after warmup; cosine decays to 10% of the peak.
DECAYS = ("cosine", "constant")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a dict, ignoring unknown keys (older/newer files)."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names}
    return cls(**kwargs)


def check_config(checks: list[tuple[bool, str]], error: type[Exception] = ConfigError, config: Any = None) -> None:
    """Raise ``error`` with the message of the first failed check, as the config dataclasses' ``__post_init__`` do.

    Given the ``config`` itself, every number in its fields (tuples included) must first be finite:
    NaN fails every range check in its own way (``nan > 0`` and ``nan <= 0`` are both False)
    and infinity passes ``> 0``, so no range check below can be trusted with them.
    """
    if config is not None:
        for item in dataclasses.fields(config):
            value = getattr(config, item.name)
            for number in value if isinstance(value, tuple) else (value,):
                if isinstance(number, numbers.Real) and not math.isfinite(number):
                    raise error(f"{item.name} must be a finite number, got {number}")
    for ok, message in checks:
        if not ok:
            raise error(message)


@dataclass(frozen=True)
class ValidationLimits:
    """What an input MIDI file may be, and may cost to read, before it is rejected."""

    max_file_bytes: int = 5 * 1024 * 1024
    # One length limit: the preprocessing filter's default (DataConfig is defined below).
    max_duration_seconds: float = field(default_factory=lambda: DataConfig.max_duration_seconds)
    # Structure, read from the chunk headers before any parsing. Events are bounded by track
    # bytes / 2: the Bach chorales reach 8k, music21's largest test file 34k, a long piano
    # performance a few 100k; 1M costs a worker 0.5 s and 135 MB (bench/ingest_limits.py).
    max_tracks: int = 1024
    max_events: int = 1_000_000
    # Length in quarter notes (Bach: 265 at most): a tempo event can squeeze millions into the
    # time limit, and every representation's arrays grow with it.
    max_quarter_notes: int = 20_000
    # Each file is read in a worker process under these limits (the memory is address space
    # beyond the worker's own, so its resident peak stays under ~450 MB). Real files take
    # 2-10 ms each, so a 5000-file upload needs well under the upload's budget.
    max_file_cpu_seconds: float = 10.0
    max_file_memory_bytes: int = 384 * 1024 * 1024
    max_upload_cpu_seconds: float = 120.0
    # Zip archives: caps against zip bombs.
    max_zip_members: int = 5000
    max_zip_total_bytes: int = 500 * 1024 * 1024

    def __post_init__(self) -> None:
        values = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        check_config(
            [(value > 0, f"{name} must be positive, got {value}") for name, value in values.items()], config=self
        )


@dataclass(frozen=True)
class DataConfig:
    """How raw MIDI becomes a training set.

    Fields that change the stored arrays take part in :meth:`cache_key`;
    augmentation and windowing are applied lazily when training reads the data.
    """

    # Quantization
    steps_per_quarter: int = 4
    quantize: str = field(
        default="nearest",
        metadata={
            "keyed_when_changed": True,
            "help": "nearest: onsets and ends to the nearest step, a note shorter than a step keeping one; "
            "sounding: each step holds what sounds at its instant (as the JSB Chorales), a note between two "
            "steps is dropped",
            "choices": QUANTIZATIONS,
        },
    )
    # Filtering
    min_notes: int = 8
    max_notes: int = 20000
    min_duration_seconds: float = 2.0
    max_duration_seconds: float = 20 * 60.0
    max_silence_seconds: float = 30.0
    drop_drums: bool = True
    programs: tuple[int, ...] = ()  # keep only these GM programs (0-127); empty keeps all
    # Normalization
    transpose_to_c: bool = False  # C major / A minor, key estimated
    velocity_bins: int = 32
    # Representations
    representations: tuple[str, ...] = REPRESENTATIONS
    pianoroll_pitches: int = 88  # 88 (A0..C8) or 128
    max_time_shift_steps: int = 16  # events: longest single TIME_SHIFT token
    # Split and augmentation
    validation_fraction: float = 0.1
    seed: int = 0
    transpose_semitones: int = 0  # +-N, train split only, applied lazily

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.steps_per_quarter <= 96, "steps_per_quarter must be between 1 and 96"),
            (self.quantize in QUANTIZATIONS, f"quantize must be one of {', '.join(QUANTIZATIONS)}"),
            (0 <= self.min_notes <= self.max_notes, "min_notes must be >= 0 and <= max_notes"),
            (
                0 <= self.min_duration_seconds < self.max_duration_seconds,
                "min_duration_seconds must be >= 0 and below max_duration_seconds",
            ),
            (self.max_silence_seconds > 0, "max_silence_seconds must be positive"),
            (all(0 <= p <= 127 for p in self.programs), "programs must be GM program numbers 0-127"),
            (1 <= self.velocity_bins <= 127, "velocity_bins must be between 1 and 127"),
            (bool(self.representations), "choose at least one representation"),
            (
                all(r in REPRESENTATIONS for r in self.representations),
                f"representations must be among {', '.join(REPRESENTATIONS)}",
            ),
            (self.pianoroll_pitches in (88, 128), "pianoroll_pitches must be 88 or 128"),
            (1 <= self.max_time_shift_steps <= 1000, "max_time_shift_steps must be between 1 and 1000"),
            (0.0 <= self.validation_fraction < 1.0, "validation_fraction must be in [0, 1)"),
            (0 <= self.transpose_semitones <= 12, "transpose_semitones must be between 0 and 12"),
        ]
        check_config(checks, config=self)

    def grid(self) -> DataConfig:
        """How this data puts notes on steps, and nothing else: to read other music (generated pieces, files
        to measure) so that it compares with this data's pieces, without its filters or transposition."""
        return DataConfig(steps_per_quarter=self.steps_per_quarter, quantize=self.quantize)

    def identity_dict(self) -> dict[str, Any]:
        """Every field, as the keys of a build hash them. A field added after builds were keyed (metadata
        ``keyed_when_changed``) is left out at its default, the way those builds were made, so that they keep
        their keys (and checkpoints their ``dataset_hash``)."""
        data = to_dict(self)
        for item in dataclasses.fields(self):
            if item.metadata.get("keyed_when_changed") and data[item.name] == item.default:
                del data[item.name]
        return data

    def preprocessing_dict(self) -> dict[str, Any]:
        """The fields that decide what one file turns into (per-file cache key)."""
        data = self.identity_dict()
        for lazy in (
            "representations",
            "validation_fraction",
            "seed",
            "transpose_semitones",
            "pianoroll_pitches",
            "max_time_shift_steps",
        ):
            data.pop(lazy)
        return data

    def cache_key(self) -> str:
        return stable_hash(self.preprocessing_dict())


def stable_hash(data: Any) -> str:
    """A short content hash of JSON-able data, independent of dict order."""
    text = json.dumps(data, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _transpose_label(semitones: int) -> str:
    """How the Train page names a ``transpose_semitones`` choice."""
    if semitones < 0:
        return "As the dataset was built"
    return "Off" if semitones == 0 else f"Up to ±{semitones} semitones"


_DECAY_LABELS = {"cosine": "Cosine, down to 10% of the peak", "constant": "Constant"}


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained; saved in the run's config.json so a run can be resumed.

    Field metadata (``label``, ``help``, ``min``, ``max``, ``choices``, ``advanced``) builds the Train
    page's form (:func:`ui.forms.dataclass_form`) and the CLI's flags; ``advanced`` fields are the
    machine-learning knobs the page tucks away. The labels say what a field does to the run, in words.
    """

    epochs: int = field(
        default=20,
        metadata={
            "label": "Epochs",
            "help": "Passes over the training music; a run may stop earlier, once it stops improving",
            "min": 1,
            "max": 10_000,
        },
    )
    batch_size: int = field(
        default=64,
        metadata={
            "label": "Batch size",
            "help": "Windows of music per training step: larger gives fewer, steadier steps and needs more memory",
            "min": 1,
            "max": 4096,
            "advanced": True,
        },
    )
    seq_len: int = field(
        default=128,
        metadata={
            "label": "Window length (steps)",
            "help": "How much music the model reads at once, in time steps (tokens for event data): "
            "longer windows teach longer phrases and train slower",
            "min": 2,
            "max": 8192,
        },
    )
    learning_rate: float = field(
        default=1e-3,
        metadata={
            "label": "Learning rate",
            "help": "Size of each update: too high and the loss jumps or turns NaN, too low and learning crawls",
            "min": 1e-6,
            "max": 1.0,
            "advanced": True,
        },
    )
    warmup_steps: int = field(
        default=100,
        metadata={
            "label": "Warm-up steps",
            "help": "Steps over which the learning rate rises from 0 to its peak",
            "min": 0,
            "advanced": True,
        },
    )
    decay: str = field(
        default="cosine",
        metadata={
            "label": "Learning rate after warm-up",
            "choices": DECAYS,
            "format": _DECAY_LABELS.get,
            "help": "Decay it along a cosine over the run, or keep it constant",
            "advanced": True,
        },
    )
    weight_decay: float = field(
        default=0.01,
        metadata={
            "label": "Weight decay",
            "help": "AdamW's pull of every weight towards zero: a guard against learning the pieces by heart",
            "min": 0.0,
            "max": 1.0,
            "advanced": True,
        },
    )
    clip_norm: float = field(
        default=1.0,
        metadata={
            "label": "Gradient clipping",
            "help": "Largest size (global norm) an update may have, against sudden jumps; 0: off",
            "min": 0.0,
            "advanced": True,
        },
    )
    early_stopping_patience: int = field(
        default=5,
        metadata={
            "label": "Stop after epochs without progress",
            "help": "End the run when the validation loss has not improved for this many epochs; 0: never stop early",
            "min": 0,
        },
    )
    transpose_semitones: int = field(
        default=-1,
        metadata={
            "label": "Random transposition",
            "help": "Move every training window up or down by a random interval, so the model hears each piece "
            "in more keys",
            "choices": tuple(range(-1, 13)),
            "format": _transpose_label,
        },
    )
    curriculum: bool = field(
        default=False,
        metadata={
            "label": "Start on short windows",
            "help": "Curriculum learning: the first epochs read short windows, growing to the full window length",
            "advanced": True,
        },
    )
    curriculum_start_len: int = field(
        default=32,
        metadata={
            "label": "First window length",
            "help": "The window length of the first epoch when starting on short windows",
            "min": 2,
            "advanced": True,
        },
    )
    curriculum_epochs: int = field(
        default=5,
        metadata={
            "label": "Epochs to the full window",
            "help": "Epochs the short windows take to grow to the full window length",
            "min": 1,
            "advanced": True,
        },
    )
    conditioning: bool = field(
        default=True,
        metadata={
            "label": "Learn style, key and density controls",
            "help": "Token models: learn control tokens, so that compositions can be steered",
        },
    )
    steps_per_epoch: int = field(
        default=0,
        metadata={
            "label": "Steps per epoch",
            "help": "Steps between two validations and checkpoints; 0: one pass over the training windows",
            "min": 0,
            "advanced": True,
        },
    )
    validation_steps: int = field(
        default=0,
        metadata={
            "label": "Validation batches",
            "help": "Batches of held-out music scored after every epoch; 0: all of them",
            "min": 0,
            "advanced": True,
        },
    )
    log_every_steps: int = field(
        default=10,
        metadata={
            "label": "Chart a point every (steps)",
            "help": "How often the curves get a point",
            "min": 1,
            "advanced": True,
        },
    )
    seed: int = field(
        default=0,
        metadata={
            "label": "Random seed",
            "help": "Same seed and settings: the same run",
            "min": 0,
            "max": 2**31 - 1,
            "advanced": True,
        },
    )

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.seq_len >= 2, "seq_len must be at least 2"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (self.decay in DECAYS, f"decay must be one of {', '.join(DECAYS)}"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.clip_norm >= 0, "clip_norm must be >= 0 (0 turns clipping off)"),
            (self.early_stopping_patience >= 0, "early_stopping_patience must be >= 0"),
            (-1 <= self.transpose_semitones <= 12, "transpose_semitones must be -1 (dataset's) or 0..12"),
            (
                not self.curriculum or 2 <= self.curriculum_start_len <= self.seq_len,
                "curriculum_start_len must be in 2..seq_len",
            ),
            (self.curriculum_epochs >= 1, "curriculum_epochs must be at least 1"),
            (self.steps_per_epoch >= 0 and self.validation_steps >= 0, "step counts must be >= 0"),
            (self.log_every_steps >= 1, "log_every_steps must be at least 1"),
        ]
        check_config(checks, config=self)

    def seq_len_for_epoch(self, epoch: int) -> int:
        """Curriculum learning: the window grows geometrically from curriculum_start_len to seq_len."""
        if not self.curriculum:
            return self.seq_len
        steps = min(epoch, self.curriculum_epochs)
        grown = self.curriculum_start_len * (self.seq_len / self.curriculum_start_len) ** (
            steps / self.curriculum_epochs
        )
        return min(self.seq_len, int(round(grown)))
