"""Composing defaults chosen by measurement: the settings whose music lies closest to held-out real pieces.

:func:`tune_defaults` composes with every setting of a :class:`TuningGrid`, each
from the same seed so that settings differ by themselves alone, and keeps the
one whose :class:`~core.evaluation.quality.QualityProfile` is closest to the
dataset's held-out pieces cut to the same length. Guidance pulls notes into the
asked key, and a model can reach a key by repeating its tonic: the in-key share
and the repeated-note rate are both in the distance, so the pick weighs one
against the other, and :meth:`TuningResult.along` shows the trade-off.

``python -m core runs tune CHECKPOINT --dataset NAME --write`` stores the pick
in the checkpoint's config.json (:func:`write_defaults`) as its
``compose_defaults``, which the Generate page and ``python -m core generate``
start from.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.checkpoints import CheckpointFolder, RunConfig
from core.config import check_config
from core.data.bounds import MusicBounds, dataset_bounds
from core.data.datasets import Dataset, load_dataset
from core.errors import EvaluationError, NeuroTuneError
from core.evaluation.baselines import excerpt
from core.evaluation.evaluate import checkpoint_against
from core.evaluation.quality import ProfileDistance, QualityProfile, bounds_shares, held_out_excerpts
from core.generation.postprocess import remove_duplicate_notes

if TYPE_CHECKING:
    from core.generation.compose import Composer

Progress = Callable[[int, int, str], None]
# Pieces composed per setting. With 16 the pick changed with the seed (the settings' distances differ by about
# their noise); with 64, one batch of variations, seeds 0 and 1 picked the same for bach-lstm, in ~100 s on 2 cores.
TUNING_PIECES = 64


@dataclass(frozen=True)
class TuningGrid:
    """The settings tried: every combination of the values below.

    Attributes:
        temperature: Sampling temperatures.
        top_p: Nucleus sizes (1: off).
        guidance: Control guidance strengths; tried only with a conditioned model.
        max_note_beats: Caps on a note's length in beats (0: the training music's longest, the bounds) to
            try; a model that holds notes longer than its music does is set against shorter caps.
        remove_duplicates: Also try the cleanup off and on where it changes the music; where it
            changes nothing the setting is left to its default.
    """

    temperature: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2)
    top_p: tuple[float, ...] = (0.9, 0.95, 1.0)
    guidance: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0)
    max_note_beats: tuple[float, ...] = (0.0,)
    remove_duplicates: bool = True

    def __post_init__(self) -> None:
        checks = [
            (len(values) > 0, f"give at least one {name} to try")
            for name, values in (
                ("temperature", self.temperature),
                ("top_p", self.top_p),
                ("guidance", self.guidance),
                ("max_note_beats", self.max_note_beats),
            )
        ]
        checks.append((min(self.max_note_beats, default=0) >= 0, "max_note_beats caps must be 0 or more beats"))
        check_config(checks, EvaluationError, config=self)

    def settings(self, conditioned: bool) -> list[dict[str, float]]:
        """Every combination, flat as :meth:`~core.generation.compose.CompositionRequest.from_settings` takes it."""
        guidance = self.guidance if conditioned else (None,)
        caps = (None,) if self.max_note_beats == (0.0,) else self.max_note_beats  # the default: left unsaid
        return [
            {"temperature": t, "top_p": p}
            | ({} if g is None else {"guidance": g})
            | ({} if cap is None else {"max_note_beats": cap})
            for t, p, g, cap in itertools.product(self.temperature, self.top_p, guidance, caps)
        ]


@dataclass(frozen=True)
class Trial:
    """One setting tried and what its music measured.

    Attributes:
        settings: Flat composing settings.
        profile: The measures of its pieces.
        distance: Their distance from the held-out pieces.
        bounds: Per bounds check (:data:`~core.evaluation.quality.BOUNDS_CHECKS`), the share of pieces breaking it.
        warnings: What composing said (silent variations dropped).
    """

    settings: dict[str, Any]
    profile: QualityProfile
    distance: ProfileDistance
    bounds: dict[str, float]
    warnings: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        """The trial as one flat row of a table: settings, distance, in-key share, repeated notes, polyphony."""
        return {
            **self.settings,
            "distance": self.distance.total,
            **{name: self.profile.value(name) for name in ("in_key", "repeated_notes", "polyphony")},
            "pieces": self.profile.pieces,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": dict(self.settings),
            "distance": self.distance.to_json(),
            "profile": self.profile.to_json(),
            "bounds": dict(self.bounds),
            "warnings": list(self.warnings),
        }


@dataclass
class TuningResult:
    """Every setting tried on one checkpoint against one dataset's held-out pieces, and the closest.

    Attributes:
        checkpoint: The checkpoint folder.
        dataset: The dataset's name.
        split: The held-out split measured against (``test``, else ``validation``).
        pieces: Pieces composed per setting.
        bars: Their length, in bars of 4/4; the held-out pieces are cut to as many steps.
        seed: The seed of every setting.
        reference: The held-out pieces' measures.
        bounds: The training music's bounds the pieces were checked against (the checkpoint's,
            else measured on the dataset's training split).
        trials: Every setting tried, in grid order.
        warnings: What the reader should know: a cleanup that changed nothing, a checkpoint trained on other data.
        seconds: Time taken, composing and measuring.
    """

    checkpoint: str
    dataset: str
    split: str
    pieces: int
    bars: float
    seed: int
    reference: QualityProfile
    bounds: MusicBounds
    trials: list[Trial]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best(self) -> Trial:
        """The trial closest to the held-out pieces (the first of equals); one without a distance never wins."""
        return min(self.trials, key=lambda trial: _or_infinity(trial.distance.total))

    @property
    def defaults(self) -> dict[str, Any]:
        """The composing defaults to store with the checkpoint: the best trial's settings, but a cap on note
        length of 0 (the training music's longest, the default anyway)."""
        return {
            name: value for name, value in self.best.settings.items() if not (name == "max_note_beats" and value == 0.0)
        }

    def along(self, name: str) -> list[dict[str, Any]]:
        """The trade-off of one setting: the trials that differ from the best in ``name`` alone, as rows.

        ``along("guidance")`` shows what a stronger pull into the key buys (in-key share)
        and costs (repeated notes), the rest of the best setting kept.
        """
        others = {key: value for key, value in self.best.settings.items() if key != name}
        return [
            trial.row()
            for trial in self.trials
            if name in trial.settings and all(trial.settings.get(key) == value for key, value in others.items())
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "dataset": self.dataset,
            "split": self.split,
            "pieces": self.pieces,
            "bars": self.bars,
            "seed": self.seed,
            "seconds": round(self.seconds, 1),
            "defaults": self.defaults,
            "best": self.best.to_json(),
            "real": {name: self.reference.value(name) for name in ("in_key", "repeated_notes", "polyphony")},
            "trade_off": {"guidance": self.along("guidance")},
            "trials": [trial.row() | {"measures": trial.distance.measures} for trial in self.trials],
            "bounds": self.bounds.to_json(),
            "warnings": self.warnings,
        }


def _or_infinity(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def compose_excerpts(
    composer: Composer, settings: dict[str, Any], pieces: int, bars: float, seed: int
) -> tuple[list[np.ndarray], list[str]]:
    """``pieces`` pieces composed with flat ``settings`` from ``seed``, each cut to ``bars`` bars as real pieces are.

    Returns:
        (the excerpts, int32 shape=(n, 6) each, silent variations left out; composing's warnings).

    Raises:
        EvaluationError: The settings are refused, or every variation is silent.
    """
    from core.generation.compose import CompositionRequest

    try:
        request = CompositionRequest.from_settings({**settings, "variations": pieces, "seed": seed, "bars": bars})
        result = composer.compose(request)
    except NeuroTuneError as error:
        raise EvaluationError(f"{composer.info.name} could not compose with {settings}: {error}") from error
    steps = request.target_steps(composer.steps_per_quarter)
    return [excerpt(composition.notes, steps) for composition in result.compositions], result.warnings


def tune_defaults(
    checkpoint: str | Path,
    dataset: str | Dataset,
    grid: TuningGrid = TuningGrid(),
    pieces: int = TUNING_PIECES,
    bars: float = 8.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> TuningResult:
    """Compose with every setting of ``grid`` and measure each against the dataset's held-out pieces.

    The model is loaded (and its sampler compiled) once. Each setting composes
    ``pieces`` pieces of ``bars`` bars from ``seed``, with its own cleanup off; where
    ``grid.remove_duplicates`` asks and the cleanup would change those pieces, the
    setting is composed again with it on, as another trial.

    Args:
        checkpoint: A checkpoint folder.
        dataset: The dataset's name, or the dataset (the checkpoint's training data).
        progress: Called as ``progress(done, total, what)`` after each setting.

    Raises:
        EvaluationError: A checkpoint on another grid, a dataset without held-out pieces, a setting
            that cannot compose.
        DatasetError, CheckpointError: No such dataset, a damaged checkpoint.
    """
    from core.generation.compose import Composer, CompositionRequest

    started = time.perf_counter()
    dataset = load_dataset(dataset) if isinstance(dataset, str) else dataset
    info, _, warnings = checkpoint_against(checkpoint, dataset)
    composer = Composer.load(checkpoint)
    spq = composer.steps_per_quarter
    bounds = composer.bounds or dataset_bounds(dataset, info.representation)
    if composer.bounds is None:
        warnings.append(f"{info.name} has no bounds of its training music; these are measured on '{dataset.name}'")
    split, real = held_out_excerpts(dataset, CompositionRequest(bars=bars).target_steps(spq), seed)
    reference = QualityProfile.of(real, spq)

    def trial(settings: dict[str, Any], excerpts: Sequence[np.ndarray], said: Sequence[str]) -> Trial:
        profile = QualityProfile.of(excerpts, spq)
        return Trial(settings, profile, profile.distance(reference), bounds_shares(excerpts, bounds, spq), tuple(said))

    settings = grid.settings(conditioned=composer.conditioning is not None)
    trials, cleaned = [], 0
    for done, setting in enumerate(settings, start=1):
        off = {**setting, "remove_duplicates": False}
        excerpts, said = compose_excerpts(composer, off, pieces, bars, seed)
        if grid.remove_duplicates and any(len(remove_duplicate_notes(notes)) < len(notes) for notes in excerpts):
            cleaned += 1
            on = {**setting, "remove_duplicates": True}
            trials += [trial(off, excerpts, said), trial(on, *compose_excerpts(composer, on, pieces, bars, seed))]
        else:
            trials.append(trial(setting, excerpts, said))
        if progress:
            progress(done, len(settings), f"{setting} ")
    if grid.remove_duplicates and not cleaned:
        warnings.append("remove_duplicates changed no piece of any setting: it is left at its default")
    return TuningResult(
        checkpoint=str(info.path),
        dataset=dataset.name,
        split=split,
        pieces=pieces,
        bars=bars,
        seed=seed,
        reference=reference,
        bounds=bounds,
        trials=trials,
        warnings=warnings,
        seconds=time.perf_counter() - started,
    )


def write_defaults(checkpoint: str | Path, result: TuningResult) -> RunConfig:
    """Store ``result``'s defaults in the checkpoint's config.json, and the bounds it was checked against when the
    config has none (a run of a version that did not measure them) and they were measured on its own training
    dataset, so that composing keeps to them too.

    Returns:
        The config as written.

    Raises:
        CheckpointError: The config cannot be read or written.
    """
    folder = CheckpointFolder(Path(checkpoint))
    config = folder.read_config()
    # Bounds measured on another dataset than the training data would ban notes the model learned.
    measured_here = config.dataset_id == load_dataset(result.dataset).id
    bounds = config.bounds or (result.bounds if measured_here else None)
    config = dataclasses.replace(config, compose_defaults=result.defaults, bounds=bounds)
    folder.write_config(config)
    return config
