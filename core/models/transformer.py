"""Decoder-only transformer over tokens or frames, GPT-2 style with pre-norm blocks.

Input projection -> positions (``learned``) -> dropout -> ``layers`` x
:class:`core.models.layers.TransformerBlock` -> LayerNorm -> logits; generation runs
the same layers one step at a time with a key/value cache (:class:`TransformerStep`).

Positions are either ``learned``: one vector per absolute position up to
``max_length``, added to the input (inputs longer than that fail), or
``relative``: no absolute positions, and every block learns a bias per head and
per causal distance ``t - s``, added to its attention logits (distances beyond
``max_length - 1`` share the last bias, so any length runs). Causal attention
alone already tells a step how many steps precede it, and relative biases let
a model trained on short windows attend the same way further into a piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.config import check_config
from core.errors import ConfigError
from core.models.base import ModelStep

if TYPE_CHECKING:
    import keras

    from core.models.base import InputSpec

POSITIONS = ("learned", "relative")


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of the transformer.

    Attributes:
        d_model: Width of the residual stream; a multiple of ``heads``.
        heads: Attention heads per block.
        layers: Number of blocks.
        ff_dim: Width of each block's GELU feed-forward layer.
        dropout: Dropout on the embeddings and on every residual branch.
        positions: ``"learned"`` or ``"relative"`` (see the module docstring).
        max_length: Learned positions (``learned``) or relative distances (``relative``).
    """

    d_model: int = field(
        default=128,
        metadata={
            "label": "Model width",
            "help": "Width of every block: wider learns more and trains slower; a multiple of the heads",
            "min": 1,
            "max": 4096,
        },
    )
    heads: int = field(
        default=4,
        metadata={"label": "Attention heads", "help": "Ways each block looks back at the music at once", "min": 1},
    )
    layers: int = field(default=3, metadata={"label": "Blocks", "help": "Transformer blocks stacked", "min": 1})
    ff_dim: int = field(
        default=512,
        metadata={
            "label": "Feed-forward width",
            "help": "Width of each block's feed-forward layer",
            "min": 1,
            "max": 16384,
            "advanced": True,
        },
    )
    dropout: float = field(
        default=0.1,
        metadata={
            "label": "Dropout",
            "help": "Share of the embeddings and of every block's output silenced at random while training: "
            "a guard against learning the pieces by heart",
            "min": 0.0,
            "max": 0.95,
            "step": 0.05,
            "advanced": True,
        },
    )
    positions: str = field(
        default="learned",
        metadata={
            "label": "Positions",
            "help": "Learned: one vector per position up to the longest sequence; relative: a bias per distance, "
            "so any length runs",
            "choices": POSITIONS,
            "advanced": True,
        },
    )
    max_length: int = field(
        default=512,
        metadata={
            "label": "Longest sequence",
            "help": "Learned positions: the longest window it can read; relative: the farthest distance told apart",
            "min": 1,
            "advanced": True,
        },
    )

    def __post_init__(self) -> None:
        check_config(
            [
                (self.d_model >= 1, f"d_model must be positive, got {self.d_model}"),
                (self.heads >= 1, f"heads must be positive, got {self.heads}"),
                (
                    self.d_model % self.heads == 0,
                    f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})",
                ),
                (self.layers >= 1, f"layers must be at least 1, got {self.layers}"),
                (self.ff_dim >= 1, f"ff_dim must be positive, got {self.ff_dim}"),
                (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
                (
                    self.positions in POSITIONS,
                    f"positions must be one of {', '.join(POSITIONS)}, got {self.positions!r}",
                ),
                (self.max_length >= 1, f"max_length must be positive, got {self.max_length}"),
            ]
        )


def build_transformer(config: TransformerConfig, spec: InputSpec) -> keras.Model:
    """Build the transformer.

    Returns:
        A model from shape=(batch, time[, pitches]) to logits, shape=(batch, time, spec.size).

    Raises:
        ConfigError: If learned positions are fewer than ``spec.max_length``.
    """
    if config.positions == "learned" and spec.max_length > config.max_length:
        raise ConfigError(
            f"sequences of {spec.max_length} steps exceed the transformer's max_length of {config.max_length}; "
            "raise max_length or use relative positions"
        )
    import keras

    from core.models import layers
    from core.models.heads import head_for

    head = head_for(spec.kind)
    relative = config.positions == "relative"
    # === Layers ===
    projection = head.input_projection(spec, config.d_model)
    broadcast = layers.control_broadcast(spec)
    positions = None if relative else layers.PositionEmbedding(config.max_length, name="position_embedding")
    embedding_dropout = keras.layers.Dropout(config.dropout, name="embedding_dropout")
    blocks = [
        layers.TransformerBlock(
            config.d_model,
            config.heads,
            config.ff_dim,
            dropout=config.dropout,
            relative_distances=config.max_length if relative else 0,
            name=f"block_{index}",
        )
        for index in range(config.layers)
    ]
    final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
    logits = layers.output_logits(spec)
    # === Functional Model ===
    inputs = head.model_input(spec)
    hidden = projection(inputs)
    if broadcast is not None:
        hidden = broadcast(hidden)
    if positions is not None:
        hidden = positions(hidden)
    hidden = embedding_dropout(hidden)
    for block in blocks:
        hidden = block(hidden)
    return keras.Model(inputs, logits(final_norm(hidden)), name="transformer")


class TransformerStep(ModelStep):
    """:func:`build_transformer` one step at a time: each block attends over a key/value cache of the steps before.

    State: the keys and values of every block, shape=(batch, heads, capacity, head_dim):
    each head's cache contiguous, so attending to it needs no transpose
    (:meth:`core.models.layers.TransformerBlock.step`).
    """

    def __init__(self, model: keras.Model):
        import keras

        from core.models.layers import PositionEmbedding, TransformerBlock

        super().__init__(model)
        self.blocks = self._all(TransformerBlock)
        if not self.blocks:
            self._mismatch("has no transformer blocks")
        self.positions = self._optional(PositionEmbedding)
        # The blocks' own norms are their sublayers: the model's one LayerNormalization is the final one.
        self.final_norm = self._one(keras.layers.LayerNormalization)
        if self.positions is not None:
            self.max_length = int(self.positions.max_length)

    def _core_state(self, batch, capacity):
        import tensorflow as tf

        state = []
        for block in self.blocks:
            shape = (batch, block.heads, capacity, block.d_model // block.heads)
            state += [tf.zeros(shape, block.compute_dtype), tf.zeros(shape, block.compute_dtype)]
        return tuple(state)

    def _core_axes(self):
        return (0,) * (2 * len(self.blocks))

    def _core_step(self, hidden, state, position):
        import tensorflow as tf

        if self.positions is not None:
            # Cast as PositionEmbedding does: a mixed-precision model steps in float16.
            hidden = hidden + tf.cast(self.positions.position_embeddings[position], hidden.dtype)[None]
        new_state = []
        for index, block in enumerate(self.blocks):
            hidden, keys, values = block.step(hidden, state[2 * index], state[2 * index + 1], position)
            new_state += [keys, values]
        return self.logits(self.final_norm(hidden)), tuple(new_state)
