"""What every architecture shares without importing Keras: the input spec and config checks."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import check_config

KINDS = ("tokens", "frames", "features")
# How core.models.layers.CausalAttention scores a step against another.
ATTENTION_SCORES = ("additive", "dot")


@dataclass(frozen=True)
class InputSpec:
    """What the data gives a model.

    Attributes:
        kind: ``"tokens"`` (int ids, shape=(batch, time)), ``"frames"`` (multi-hot
            floats, shape=(batch, time, pitches)) or ``"features"`` (no model here takes them).
        size: Vocabulary size (tokens) or number of pitches (frames); also the
            width of the model's output logits.
        max_length: Longest sequence the model will see; it bounds the transformer's
            learned positions. Recurrent models ignore it.
        control_prefix: Number of leading control tokens (tokens only; 0: none); their
            embeddings reach every later step (:class:`core.models.layers.ControlBroadcast`).
    """

    kind: str
    size: int
    max_length: int
    control_prefix: int = 0

    def __post_init__(self) -> None:
        check_config(
            [
                (self.kind in KINDS, f"input kind must be one of {', '.join(KINDS)}, got {self.kind!r}"),
                (self.size >= 1, f"input size must be positive, got {self.size}"),
                (self.max_length >= 1, f"max_length must be positive, got {self.max_length}"),
                (
                    self.control_prefix == 0 or (self.kind == "tokens" and 0 < self.control_prefix < self.max_length),
                    f"control prefix must be 0 or, for tokens, shorter than max_length; got {self.control_prefix}",
                ),
            ]
        )
