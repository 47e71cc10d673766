"""Composing: a request in musical terms in, finished pieces out.

The one function the Generate page, the CLI and the benchmark call:
:meth:`Composer.compose` turns bars or seconds, tempo, controls and a primer
into a prefix and a step budget, runs the compiled sampler once for every
variation, decodes, post-processes, gives each voice its GM instrument and
writes MIDI with its metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from core.config import check_config, from_dict, to_dict
from core.data.conditioning import DEFAULT_TONICS, DENSITIES, MODES, MOODS
from core.data.midi_io import midi_to_bytes
from core.data.piece import END, notes_to_midi
from core.data.representations import (
    Representation,
)
from core.errors import CheckpointError, ConfigError, GenerationError
from core.evaluation.metrics import piece_metrics
from core.generation.loading import LoadedCheckpoint, load_checkpoint
from core.generation.postprocess import PostProcessing, assign_voices, set_programs
from core.generation.primer import fit_pitch_range
from core.generation.sampling import SAMPLERS, Limits, SampleConfig, SamplerSet
from core.models.heads import head_for
from core.music.theory import MAJOR_PROFILE, MINOR_PROFILE, TONICS, estimate_key, key_name, tonic_index

BEATS_PER_BAR = 4
# Control guidance: the strength the page and CLI start at, and the most they take.
DEFAULT_GUIDANCE = 2.0
MAX_GUIDANCE = 10.0
# Per unit of guidance: logit added to (dense) or taken from (sparse) every note onset, and taken from
# (dense) or added to (sparse) the longest time shift, shorter shifts by log2 of their length.
ONSET_GUIDANCE = 0.25
SHIFT_GUIDANCE = 0.5
# Key guidance counts a probe-tone rating above this as this: the tonic (6.35), dominant and third are no more
# welcome than any other note of the key, so guidance keeps the key without pulling every voice to the tonic.
# Uncapped, the Bach model bought its key with repeated notes (guidance 2: in key 0.937, repeated top-line
# notes 0.294 against the chorales' 0.171); capped at 4, guidance 3 gives 0.944 in key (the chorales' own) and
# 0.237 repeated (64 pieces, tuning grid of `python -m core runs tune`; caps 3 and 3.5 kept the key less well).
GUIDANCE_RATING_CAP = 4.0
MAX_BARS = 256
# Token budget: the training data's tokens per step times this, so dense passages still fit.
TOKEN_BUDGET_FACTOR = 3.0
# GM program of every voice unless the user picks: Acoustic Grand Piano.
DEFAULT_PROGRAMS = (0,)
# The longest note of a checkpoint whose training music was not measured (runs of older versions): two bars.
UNMEASURED_LONGEST_NOTE_BEATS = 8
# Lengths (bars) a warmed-up composer has composed once, the page's default first: each compiles the sampler
# for its buffer size, so a user who changes the length among these finds the loop compiled.
WARM_UP_BARS = (8.0, 4.0, 16.0, 32.0)


@dataclass(frozen=True)
class Controls:
    """Steering of a conditioned model; None picks the model's default (its first style, major, medium density).

    Attributes:
        mode: ``major`` or ``minor``, or the mood naming it (:data:`~core.data.conditioning.MOODS`: bright, dark).
        density: One of :data:`~core.data.conditioning.DENSITIES`.
        tonic: A note name; with ``mode`` it picks the key. None: C major or A minor.
        guidance: How strongly the key and density are kept while composing, on top of
            the control tokens (:func:`guidance_bias`; twice the nats a note outside the key
            loses against one in it); 0 leaves them to the model.
    """

    style: str | None = None
    mode: str | None = None
    density: str | None = None
    tonic: str | None = None
    guidance: float = DEFAULT_GUIDANCE

    def __post_init__(self) -> None:
        # A mood names its mode (dark: minor); case does not matter.
        if isinstance(self.mode, str):
            typed = self.mode.strip().lower()
            object.__setattr__(self, "mode", next((m for m, mood in MOODS.items() if mood == typed), typed))
        if isinstance(self.density, str):
            object.__setattr__(self, "density", self.density.strip().lower())
        moods = ", ".join(f"{mood} ({mode})" for mode, mood in MOODS.items())
        checks = [
            (
                0 <= self.guidance <= MAX_GUIDANCE,
                f"guidance must be between 0 and {MAX_GUIDANCE:g}, got {self.guidance}",
            ),
            (
                self.mode is None or self.mode in MODES,
                f"unknown mode {self.mode!r}; use {' or '.join(MODES)}, or a mood: {moods}",
            ),
            (
                self.density is None or self.density in DENSITIES,
                f"unknown density {self.density!r}; use {', '.join(DENSITIES)}",
            ),
        ]
        check_config(checks, GenerationError, config=self)
        if self.tonic is not None:
            try:
                tonic_index(self.tonic)
            except ValueError:
                raise GenerationError(
                    f"unknown tonic {self.tonic!r}; use a note name: {', '.join(TONICS)} (or another spelling, e.g. Gb)"
                ) from None


def guidance_bias(
    codec: Representation, vocab_size: int, tonic: int, mode: str, density: str, strength: float
) -> np.ndarray:
    """Logit bias of control guidance, shape=(vocab_size,), added to every step while composing.

    Key: every note onset is weighted by how well it fits the key, its
    Krumhansl-Kessler probe-tone rating (how well listeners hear it fit), capped at
    :data:`GUIDANCE_RATING_CAP`, as ``strength * log(rating)``, centred so that onsets
    as a whole keep their weight under a uniform spread of pitch classes: a note
    outside the scale ends up about ``strength / 2`` nats below the notes of the key.
    Multiplying the model's probabilities by the ratings to a power keeps the model's
    choices among fitting notes; the cap keeps it from pulling every voice to the
    tonic. Only the density term moves notes against silence.

    Density, for sparse (-1), medium (0) or dense (+1): every note onset gets
    ``level * ONSET_GUIDANCE * strength`` and a time shift of ``s`` steps
    ``-level * SHIFT_GUIDANCE * strength * log2(s) / log2(longest shift)``, so notes
    start more or less often and long gaps get rarer or likelier.
    """
    profile = np.minimum(np.roll(MAJOR_PROFILE if mode == "major" else MINOR_PROFILE, tonic), GUIDANCE_RATING_CAP)
    weight = strength * np.log(profile)
    weight -= np.log(np.mean(np.exp(weight)))
    level = DENSITIES.index(density) - 1
    note_on_pitch, _ = codec.token_pitches()
    steps = codec.token_steps()
    bias = np.zeros(vocab_size, np.float32)
    onsets = np.flatnonzero(note_on_pitch >= 0)
    bias[onsets] = weight[note_on_pitch[onsets] % 12] + level * ONSET_GUIDANCE * strength
    if steps.max() > 1:  # time shifts of several lengths (events); melody tokens all take one step
        shifts = np.flatnonzero(steps > 0)
        bias[shifts] -= level * SHIFT_GUIDANCE * strength * np.log2(steps[shifts]) / np.log2(steps.max())
    return bias


@dataclass(frozen=True)
class CompositionRequest:
    """Everything a user sets before pressing Compose.

    Attributes:
        sampling: Strategy, temperature, top-k/p, beams, seed, variations.
        bars: Length of new music in bars of 4/4 (used when ``seconds`` is None).
        seconds: Length of new music in seconds at ``bpm``; overrides ``bars``.
        bpm: Tempo of the result.
        primer: Notes to continue from, int32 shape=(n, 6) on the model's grid; None or empty: none.
        controls: Style, mode and density, for models trained with them.
        post: Post-processing.
        programs: GM program per voice, highest voice first; the lowest voices share the last.
    """

    sampling: SampleConfig = field(default_factory=SampleConfig)
    bars: float = 8
    seconds: float | None = None
    bpm: float = 100.0
    primer: np.ndarray | None = None
    controls: Controls = field(default_factory=Controls)
    post: PostProcessing = field(default_factory=PostProcessing)
    programs: tuple[int, ...] = DEFAULT_PROGRAMS

    def __post_init__(self) -> None:
        checks = [
            (20 <= self.bpm <= 300, f"tempo must be between 20 and 300 BPM, got {self.bpm}"),
            (
                self.seconds is not None or 0 < self.bars <= MAX_BARS,
                f"bars must be in (0, {MAX_BARS}], got {self.bars}",
            ),
            (self.seconds is None or 0 < self.seconds <= 600, f"seconds must be in (0, 600], got {self.seconds}"),
            (len(self.programs) >= 1, "give at least one instrument"),
            (all(0 <= p <= 127 for p in self.programs), "instruments must be GM programs 0-127"),
        ]
        check_config(checks, GenerationError, config=self)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], primer: np.ndarray | None = None) -> CompositionRequest:
        """The request for flat settings named after the fields of this class and of its configs.

        The one way the Generate page (its widgets) and the CLI (its flags) ask for
        music: ``{"temperature": 0.9, "bars": 16, "mode": "minor", "scale": "D minor", ...}``
        fills :class:`SampleConfig`, :class:`Controls`, :class:`PostProcessing` and
        the request's own fields by name. A setting that is None or missing takes its
        default; names no config has are ignored.

        Raises:
            GenerationError: A value out of range, with the message of the config that refused it.
        """
        given = {name: value for name, value in settings.items() if value is not None}
        nested = {"sampling": SampleConfig, "controls": Controls, "post": PostProcessing}
        own = {item.name for item in fields(cls)} - set(nested) - {"primer"}
        return cls(
            **{name: from_dict(config_class, given) for name, config_class in nested.items()},
            **{
                name: tuple(value) if isinstance(value, list) else value for name, value in given.items() if name in own
            },
            primer=primer,
        )

    @classmethod
    def setting_names(cls) -> set[str]:
        """Every flat setting :meth:`from_settings` takes: the fields of the request and of its configs."""
        nested = (SampleConfig, Controls, PostProcessing)
        own = {item.name for item in fields(cls)} - {"sampling", "controls", "post", "primer"}
        return own | {item.name for config in nested for item in fields(config)}

    def target_steps(self, steps_per_quarter: int) -> int:
        """Length of the new music in grid steps."""
        quarters = self.seconds * self.bpm / 60 if self.seconds is not None else self.bars * BEATS_PER_BAR
        return max(int(round(quarters * steps_per_quarter)), 1)


@dataclass
class Composition:
    """One finished variation.

    Attributes:
        notes: int32 shape=(n, 6), post-processed, with programs set per voice.
        midi: The Standard MIDI File.
        metrics: :func:`core.evaluation.metrics.piece_metrics` of ``notes``.
        primer_steps: Grid steps at the start that came from the primer.
        steps_per_quarter: The grid.
        bpm: Tempo.
        score: Beam search's length-normalized log-likelihood, else None.
        tokens: The raw sequence the model wrote, prefix included.
    """

    notes: np.ndarray
    midi: bytes
    metrics: dict[str, float]
    primer_steps: int
    steps_per_quarter: int
    bpm: float
    score: float | None
    tokens: np.ndarray

    @property
    def duration_seconds(self) -> float:
        last = int(self.notes[:, END].max()) if len(self.notes) else 0
        return last / self.steps_per_quarter * 60 / self.bpm

    @property
    def heard_key(self) -> str:
        """The key a listener would likely hear (Krumhansl-Schmuckler), e.g. ``"D minor"``: did the mood get through?"""
        return key_name(*estimate_key(self.notes)) if len(self.notes) else "none"


@dataclass
class CompositionResult:
    """The variations of one request, and what the user should know about how they were made."""

    compositions: list[Composition]
    warnings: list[str]


class Composer:
    """A loaded checkpoint with its compiled sampler: build once (the page caches it), compose many times."""

    def __init__(self, checkpoint: LoadedCheckpoint):
        self.checkpoint = checkpoint
        self.info = checkpoint.info
        self.codec = self.info.codec
        self.conditioning = self.info.conditioning
        self.head = head_for(self.codec.kind)
        tokens = self.codec.kind == "tokens"
        banned = np.arange(self.conditioning.base_size, self.conditioning.vocab_size) if self.conditioning else None
        self.bounds = self.info.config.bounds
        self._check_defaults()
        self.sampler = SamplerSet(
            checkpoint.decoder,
            self.codec.token_steps() if tokens else None,
            banned,
            token_pitches=self.codec.token_pitches() if tokens else None,
            token_sustains=self.codec.token_sustains() if tokens else None,
            token_frame_ends=self.codec.token_frame_ends() if tokens else None,
            frame_pitches=None if tokens else np.arange(self.codec.size) + self.codec.pitch_range[0],
        )

    @classmethod
    def load(cls, path) -> Composer:
        """Load a checkpoint folder (raises CheckpointError when it is damaged or mismatched)."""
        return cls(load_checkpoint(path))

    @property
    def steps_per_quarter(self) -> int:
        return self.info.data_config.steps_per_quarter

    def _check_defaults(self) -> None:
        """Measured defaults a request cannot take are a damaged checkpoint, said at load, not a user's error at Compose.

        Raises:
            CheckpointError: A setting no request has (misspelled, or from a newer version), or a value out of range.
        """
        defaults = self.info.config.compose_defaults
        unknown = sorted(set(defaults) - CompositionRequest.setting_names())
        try:
            if unknown:
                raise GenerationError(f"no composing setting is called {', '.join(map(repr, unknown))}")
            CompositionRequest.from_settings(defaults)
        except GenerationError as error:
            raise CheckpointError(
                f"the measured composing defaults of {self.info.name} are damaged ({error}); "
                "measure them again with python -m core runs tune --write"
            ) from None

    @property
    def defaults(self) -> dict[str, Any]:
        """The composing settings this checkpoint starts from (flat, as the page and CLI give them): its kind's
        (a GAN composes by noise), then those chosen for it by measurement."""
        return {**self.head.compose_defaults, **self.info.config.compose_defaults}

    def limits(self, post: PostProcessing) -> Limits:
        """What composing keeps to: the training music's bounds, unless the request sets its own.

        The longest note is ``post.max_note_beats`` (0: the training music's
        longest), the most voices ``post.max_polyphony`` (0: as many as the training
        music has), and notes start only within the training music's pitch range.
        """
        bounds, steps = self.bounds, self.steps_per_quarter
        if post.max_note_beats:
            longest = max(int(round(post.max_note_beats * steps)), 1)
        elif bounds is not None:
            longest = max(int(round(bounds.longest_note_beats * steps)), 1)
        else:
            longest = UNMEASURED_LONGEST_NOTE_BEATS * steps
        low, high = self.codec.pitch_range
        if bounds is not None:
            low, high = max(low, bounds.pitch_low), min(high, bounds.pitch_high)
        voices = post.max_polyphony or (bounds.voices if bounds is not None else 0)
        return Limits(max_polyphony=voices, max_note_steps=longest, pitch_range=(low, high))

    def warm_up(
        self,
        settings: Mapping[str, Any],
        bars: tuple[float, ...] | None = None,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> list[float]:
        """Compose once at each length of ``bars`` with ``settings`` (the page's), so that Compose finds its loop
        compiled: the sampler compiles one loop per buffer size and number of variations, a second or more each.

        Args:
            bars: The lengths to compose; None: :data:`WARM_UP_BARS`.
            keep_going: Asked before each length: False stops (a server shutting down waits for one length at most).

        Returns:
            The lengths composed; a length this model cannot write (a transformer's limit) is skipped.
        """
        done = []
        for length in bars or WARM_UP_BARS:
            if not keep_going():
                break
            try:
                self.compose(CompositionRequest.from_settings({**settings, "bars": length, "seconds": None}))
            except GenerationError:
                continue
            done.append(length)
        return done

    @property
    def max_tokens(self) -> int | None:
        """The longest sequence the model can write (transformers with learned positions), or None."""
        return self.checkpoint.decoder.max_length

    def _steering(self, controls: Controls) -> tuple[np.ndarray, np.ndarray | None]:
        """The control tokens and the guidance bias of a request: the model's defaults filled in once.

        Raises:
            GenerationError: Controls for a model trained without them, or controls it does not know.
        """
        if self.conditioning is None:
            if any(value is not None for value in (controls.style, controls.mode, controls.density, controls.tonic)):
                raise GenerationError("this model was trained without style, mood, key and density controls")
            return np.zeros(0, np.int32), None
        mode = controls.mode or MODES[0]
        density = controls.density or DENSITIES[1]
        tonic = controls.tonic or DEFAULT_TONICS[mode]
        try:
            prefix = self.conditioning.prefix(controls.style or self.conditioning.styles[0], mode, density, tonic)
        except ConfigError as error:  # a control this model was not trained with
            raise GenerationError(str(error)) from None
        if not controls.guidance:
            return prefix, None
        vocab = self.conditioning.vocab_size
        return prefix, guidance_bias(self.codec, vocab, tonic_index(tonic), mode, density, controls.guidance)

    def compose(self, request: CompositionRequest) -> CompositionResult:
        """Compose ``request.sampling.variations`` pieces.

        Raises:
            GenerationError: A length beyond the model's limit, a primer that leaves
                no room, controls the model does not know, a strategy the
                representation cannot use, or no variation with a single note
                (silent variations among others are dropped with a warning).
        """
        warnings: list[str] = []
        limits = self.limits(request.post)
        primer = request.primer if request.primer is not None else np.zeros((0, 6), np.int32)
        primer, moved = fit_pitch_range(primer, *limits.pitch_range)
        warnings += moved
        primer_steps = int(primer[:, END].max()) if len(primer) else 0
        controls, guidance = self._steering(request.controls)
        music = self.codec.encode(primer) if len(primer) else np.zeros((0,), np.int32)
        if len(music) == 0 and len(controls) == 0:
            music = self.head.neutral_start(self.codec)
        prefix = np.concatenate([controls, music]) if self.head.controls else music
        target_steps = request.target_steps(self.steps_per_quarter)
        max_tokens = self._token_budget(len(prefix), target_steps)
        decoded = self.sampler.run(
            prefix,
            request.sampling,
            target_steps,
            max_tokens,
            limits=limits,
            logit_bias=guidance,
        )
        compositions, written = [], []
        for index, sequence in enumerate(decoded.sequences):
            body = sequence[len(controls) :]
            notes = self.codec.decode(body)
            covered = int(notes[:, END].max()) if len(notes) else 0
            if len(sequence) >= max_tokens and covered < primer_steps + target_steps:
                warnings.append(
                    f"variation {index + 1} reached the token limit after {covered / self.steps_per_quarter / BEATS_PER_BAR:.1f} bars"
                )
            notes = self.head.keep_within(notes, primer_steps + target_steps, limits)
            compositions.append(
                self._finish(
                    notes,
                    request,
                    primer_steps,
                    sequence,
                    decoded.scores[index] if decoded.scores else None,
                )
            )
            written.append(len(notes))
        silent = [number for number, composition in enumerate(compositions, start=1) if len(composition.notes) == 0]
        if silent:
            error = self._silence_error(
                request, silent, len(compositions), post_emptied=any(written[n - 1] for n in silent)
            )
            if len(silent) == len(compositions):
                raise error
            # The others are music: keep them, and say which were dropped and why.
            warnings.append(f"{error}; the other variations are kept")
            compositions = [c for number, c in enumerate(compositions, start=1) if number not in silent]
        return CompositionResult(compositions, warnings)

    def _silence_error(
        self, request: CompositionRequest, silent: list[int], count: int, post_emptied: bool
    ) -> GenerationError:
        """Why a request gave pieces without a note, and what to change: never a silent success."""
        plural = len(silent) > 1
        which = (
            "the piece has"
            if count == 1
            else f"variation{'s' * plural} {', '.join(map(str, silent))} of {count} {'have' if plural else 'has'}"
        )
        if post_emptied:
            return GenerationError(f"{which} no notes: post-processing removed every note; turn phrase rests off")
        strategy = request.sampling.strategy
        draws = "seed" in SAMPLERS[strategy].reads
        remedies = ["another seed"] + (["a higher temperature"] if strategy == "sample" else ["sampling"])
        remedies = remedies if draws else ["sampling"]
        remedies += ["a primer"] + (["stronger guidance"] if self.conditioning is not None else [])
        advice = f"try {', '.join(remedies[:-1])} or {remedies[-1]}"
        if not draws:
            search = "beam search" if strategy == "beam" else "greedy decoding"
            advice = f"{search} follows the likeliest tokens, and this model finds silence likeliest; {advice}"
        return GenerationError(f"{which} no notes: the model wrote only rests and held silence; {advice}")

    def _token_budget(self, prefix_length: int, target_steps: int) -> int:
        rate = self.head.length_rate(self.info.tokens_per_step)
        expected = prefix_length + math.ceil(target_steps * rate)
        limit = self.max_tokens
        if limit is not None and expected > limit:
            room = max(limit - prefix_length, 0) / rate / self.steps_per_quarter / BEATS_PER_BAR
            raise GenerationError(
                f"this model can write at most {limit} tokens; the request needs about {expected}. "
                f"Ask for at most {room:.1f} bars (or a shorter primer)"
            )
        budget = prefix_length + math.ceil(target_steps * rate * TOKEN_BUDGET_FACTOR) + 16
        return min(budget, limit) if limit is not None else budget

    def _finish(self, notes, request, primer_steps, sequence, score) -> Composition:
        steps_per_bar = BEATS_PER_BAR * self.steps_per_quarter
        notes = request.post.apply(notes, steps_per_bar)
        voices = assign_voices(notes, len(request.programs))
        notes = set_programs(notes, voices, request.programs)
        return Composition(
            notes=notes,
            midi=midi_to_bytes(notes_to_midi(notes, self.steps_per_quarter, tempo_bpm=request.bpm)),
            metrics=piece_metrics(notes, self.steps_per_quarter, BEATS_PER_BAR),
            primer_steps=primer_steps,
            steps_per_quarter=self.steps_per_quarter,
            bpm=request.bpm,
            score=score,
            tokens=np.asarray(sequence),
        )


def request_parameters(request: CompositionRequest) -> dict:
    """The settings of a request as JSON-able data, for the library (the primer by its size only)."""
    primer_notes = 0 if request.primer is None else len(request.primer)
    return {
        "sampling": to_dict(request.sampling),
        "bars": request.bars,
        "seconds": request.seconds,
        "bpm": request.bpm,
        "primer_notes": primer_notes,
        "controls": to_dict(request.controls),
        "post": to_dict(request.post),
        "programs": list(request.programs),
    }


def save_composition(
    composer: Composer,
    request: CompositionRequest,
    composition: Composition,
    variation: int,
    title: str,
    audio: tuple[bytes, str] | None = None,
):
    """Save a composition to the library with its audio.

    Args:
        audio: Already rendered audio and its suffix (the page renders it to play it); by default it is
            rendered here (:func:`core.audio.render_for_library`).

    Returns:
        The new :class:`core.store.db.PieceRecord`.
    """
    from core.audio import render_for_library
    from core.store import library

    if audio is None:
        kept = render_for_library(composition.midi)
        audio = (kept.data, kept.suffix)
    info = composer.info
    return library.save_piece(
        title=library.fitting_title(title),
        checkpoint=str(info.path),
        model=info.model,
        dataset=info.dataset,
        representation=info.representation,
        parameters=request_parameters(request),
        seed=request.sampling.seed,
        variation=variation,
        midi=composition.midi,
        audio=audio[0],
        audio_suffix=audio[1],
        metrics=composition.metrics,
        duration_seconds=composition.duration_seconds,
    )
