"""Sampling: one sampler class per strategy (:data:`SAMPLERS`), logit rules as a list of small processors.

- :mod:`.config`: :class:`SampleConfig`, what a user sets (its field metadata builds the page's form and the CLI's flags);
- :mod:`.samplers`: :class:`Sampler` (the contract), :class:`LoopSampler` (the compiled loop plumbing),
  :class:`RandomSampler`, :class:`GreedySampler`, :class:`BeamSampler`, and :class:`SamplerSet`, the samplers
  of one decoder;
- :mod:`.processors`: :class:`LogitProcessor` and the ordered :data:`PROCESSORS` (banned tokens, guidance, pitch
  range, polyphony release, note length, note grammar) and :data:`WARPERS` (temperature, top-k, top-p) the loops apply to every step's logits.

Cheap to import: TensorFlow loads when a sampler is built.
"""

from core.generation.sampling.config import (
    MAX_BEAM_WIDTH,
    MAX_LENGTH_PENALTY,
    MAX_SEED,
    MAX_TEMPERATURE,
    MAX_TOP_K,
    MAX_VARIATIONS,
    MIN_TEMPERATURE,
    SampleConfig,
    strategy_label,
    unused_settings,
)
from core.generation.sampling.processors import (
    BANNED_LOGIT,
    PITCHES,
    PROCESSORS,
    WARPERS,
    BannedTokens,
    Limits,
    LogitBias,
    LogitProcessor,
    NoteGrammar,
    NoteLength,
    NoteRule,
    Notes,
    PitchRange,
    PolyphonyRelease,
    Settings,
    Step,
    Temperature,
    TopK,
    TopP,
    Vocabulary,
    build_processors,
    filter_logits,
)
from core.generation.sampling.samplers import (
    SAMPLERS,
    BeamSampler,
    Decoded,
    GreedySampler,
    LoopSampler,
    RandomSampler,
    Sampler,
    SamplerSet,
    capacity,
)

__all__ = [
    "BANNED_LOGIT",
    "MAX_BEAM_WIDTH",
    "MAX_LENGTH_PENALTY",
    "MAX_SEED",
    "MAX_TEMPERATURE",
    "MAX_TOP_K",
    "MAX_VARIATIONS",
    "MIN_TEMPERATURE",
    "PITCHES",
    "PROCESSORS",
    "SAMPLERS",
    "WARPERS",
    "BannedTokens",
    "BeamSampler",
    "Decoded",
    "GreedySampler",
    "Limits",
    "LogitBias",
    "LogitProcessor",
    "LoopSampler",
    "NoteGrammar",
    "NoteLength",
    "NoteRule",
    "Notes",
    "PitchRange",
    "PolyphonyRelease",
    "RandomSampler",
    "SampleConfig",
    "Sampler",
    "SamplerSet",
    "Settings",
    "Step",
    "Temperature",
    "TopK",
    "TopP",
    "Vocabulary",
    "build_processors",
    "capacity",
    "filter_logits",
    "strategy_label",
    "unused_settings",
]
