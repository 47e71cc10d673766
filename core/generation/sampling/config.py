"""How to pick each next token: :class:`SampleConfig`, checked once, with the metadata forms and flags are built from."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from core.config import check_config
from core.errors import GenerationError
from core.generation.sampling.samplers import SAMPLERS

# Temperatures outside these bounds break the banned-token rule in float32: above, BANNED_LOGIT / temperature
# comes near real logits and control tokens get sampled; below, logits / temperature overflow to infinity.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0
# Beam search runs every beam as a row of one batch through the model at each step and ranks width x vocab
# candidates: time and memory grow with the width, and wider beams find likelier sequences, not better music.
MAX_BEAM_WIDTH = 16
MAX_VARIATIONS = 64
MAX_LENGTH_PENALTY = 10.0
# Seeds and top-k go into the compiled loops as int64 / int32 tensors; the library stores seeds as 32-bit integers.
MAX_SEED = 2**31 - 1
MAX_TOP_K = 100_000


def strategy_label(name: str) -> str:
    """How a form names a strategy: its sampler's label."""
    return SAMPLERS[name].label


@dataclass(frozen=True)
class SampleConfig:
    """How to pick each next token.

    Field metadata (``label``, ``help``, ``min``, ``max``, ``step``, ``choices``,
    ``advanced``) is what the Generate page's form (:func:`ui.forms.dataclass_form`)
    and the CLI's flags (:func:`core.cli.options.add_dataclass_flags`) are built
    from; ``advanced`` fields are machine-learning knobs the page tucks away.

    Attributes:
        strategy: A name in :data:`~core.generation.sampling.samplers.SAMPLERS`: ``sample``
            (temperature, top-k, top-p), ``greedy`` (most likely token) or ``beam``
            (beam search over whole sequences).
        temperature: Divides the logits before sampling: below 1 safer, above 1 wilder.
        top_k: Sample among the k most likely tokens only; 0: all.
        top_p: Sample among the most likely tokens whose probabilities add up to p (nucleus); 1: all.
        beam_width: Sequences kept by beam search, 1 to :data:`MAX_BEAM_WIDTH`.
        length_penalty: Beam scores are log-likelihood / length ** length_penalty
            (1: mean per token, 0: the plain sum, which favours short sequences).
        seed: Same seed, same piece.
        variations: Pieces composed at once (beam search: the best distinct beams).
    """

    strategy: str = field(
        default="sample",
        metadata={
            "choices": SAMPLERS.keys(),  # a live view: a sampler added to the dict is offered too
            "format": strategy_label,
            "help": "How each next note is chosen",
            "advanced": True,
        },
    )
    temperature: float = field(
        default=1.0,
        metadata={
            "label": "Boldness (temperature)",
            "help": "Below 1 safer and more predictable, above 1 wilder",
            "min": MIN_TEMPERATURE,
            "max": MAX_TEMPERATURE,
            "step": 0.05,
        },
    )
    top_k: int = field(
        default=0,
        metadata={
            "label": "Top-k (0: off)",
            "help": "Sample among the k most likely tokens only; 0: off",
            "min": 0,
            "max": MAX_TOP_K,
            "advanced": True,
        },
    )
    top_p: float = field(
        default=1.0,
        metadata={
            "label": "Top-p (nucleus)",
            "help": "Sample among the likeliest tokens whose probabilities add up to p; 1: off",
            "min": 0.01,
            "max": 1.0,
            "step": 0.05,
            "advanced": True,
        },
    )
    beam_width: int = field(
        default=4,
        metadata={"help": "Sequences beam search keeps", "min": 1, "max": MAX_BEAM_WIDTH, "advanced": True},
    )
    length_penalty: float = field(
        default=1.0,
        metadata={
            "label": "Length normalization",
            "help": "Beam scores are log-likelihood / length ** this (1: mean per token, 0: the sum)",
            "min": 0.0,
            "max": MAX_LENGTH_PENALTY,
            "step": 0.1,
            "advanced": True,
        },
    )
    seed: int = field(
        default=0,
        metadata={"help": "Same seed and settings: same piece", "min": 0, "max": MAX_SEED, "advanced": True},
    )
    variations: int = field(
        default=1,
        metadata={
            "label": "Pieces",
            "help": "Pieces composed at once, to compare (beam search: the best distinct beams)",
            "min": 1,
            "max": MAX_VARIATIONS,
        },
    )

    def __post_init__(self) -> None:
        checks = [
            (self.strategy in SAMPLERS, f"strategy must be one of {', '.join(SAMPLERS)}, got {self.strategy!r}"),
            (
                MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE,
                f"temperature must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE:g} "
                f"(greedy picks the most likely token), got {self.temperature}",
            ),
            (
                0 <= self.top_k <= MAX_TOP_K,
                f"top-k must be 0 (off) or a number of tokens up to {MAX_TOP_K}, got {self.top_k}",
            ),
            (0 < self.top_p <= 1, f"top-p must be in (0, 1], got {self.top_p}"),
            (
                1 <= self.beam_width <= MAX_BEAM_WIDTH,
                f"beam width must be between 1 and {MAX_BEAM_WIDTH} (every beam is a row the compiled loop "
                f"runs through the model at each step), got {self.beam_width}",
            ),
            (
                0 <= self.length_penalty <= MAX_LENGTH_PENALTY,
                f"length penalty must be between 0 and {MAX_LENGTH_PENALTY:g}, got {self.length_penalty}",
            ),
            (0 <= self.seed <= MAX_SEED, f"seed must be between 0 and {MAX_SEED}, got {self.seed}"),
            (
                1 <= self.variations <= MAX_VARIATIONS,
                f"variations must be between 1 and {MAX_VARIATIONS}, got {self.variations}",
            ),
            (
                self.strategy not in SAMPLERS
                or "beam_width" not in SAMPLERS[self.strategy].reads
                or self.variations <= self.beam_width,
                f"beam search returns at most beam-width sequences: {self.variations} variations "
                f"need a beam width of at least {self.variations}",
            ),
        ]
        check_config(checks, GenerationError, config=self)


def strategies_for(kind: str) -> list[str]:
    """The strategies whose sampler runs a decoder of ``kind`` (``tokens``, ``frames``, ``features``), in form order.

    A selector offers only these: a token model cannot compose by noise, nor a GAN by beam search.
    """
    return [name for name, sampler in SAMPLERS.items() if kind in sampler.kinds]


def form_fields_for(kind: str) -> tuple[tuple[str, ...], dict[str, dict[str, object]]]:
    """How a :class:`SampleConfig` form looks for a model of ``kind``.

    Returns:
        (the fields no strategy of ``kind`` reads, which the form leaves out, ``strategy`` too when there is
        only one; per field, the form metadata to use instead of the field's: the strategies offered, and what
        the samplers of ``kind`` call a setting, such as a GAN's truncation).
    """
    strategies = strategies_for(kind)
    read = {name for strategy in strategies for name in SAMPLERS[strategy].reads}
    skipped = tuple(
        item.name
        for item in fields(SampleConfig)
        if (item.name == "strategy" and len(strategies) == 1) or (item.name != "strategy" and item.name not in read)
    )
    overrides: dict[str, dict[str, object]] = {"strategy": {"choices": strategies}}
    for strategy in strategies:
        for name, meaning in SAMPLERS[strategy].meanings.items():
            overrides.setdefault(name, {}).update(meaning)
    return skipped, overrides


def unused_settings(strategy: str) -> tuple[str, ...]:
    """The :class:`SampleConfig` fields the sampler of ``strategy`` ignores: forms grey them out."""
    reads = SAMPLERS[strategy].reads
    return tuple(item.name for item in fields(SampleConfig) if item.name != "strategy" and item.name not in reads)
