"""The output layer and the custom layers the architectures share (the input is the task head's).

Every custom layer is registered with Keras under the ``neurotune`` package on
import of this module. A saved ``model.keras`` therefore loads without
``custom_objects`` once this module is imported::

    import keras

    import core.models.layers  # noqa: F401  (registers the custom layers)

    model = keras.models.load_model("checkpoints/run/model.keras")

The layers keep their projections as named sublayers so that generation can
later call them one step at a time (a window of past outputs for
:class:`CausalAttention`, a key/value cache for :class:`TransformerBlock`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
from keras import ops

import core.models.adversarial  # noqa: F401  (registers the GAN model, so saved GANs load alike)
from core.models.base import ATTENTION_SCORES

if TYPE_CHECKING:
    from core.models.base import InputSpec

# Logit of a step that may not be attended to: exp() of it is 0 in float32, where the softmax runs.
MASKED_LOGIT = -1e9


def output_logits(spec: InputSpec) -> keras.layers.Layer:
    """Dense to shape=(batch, time, size) logits, no activation.

    The task head (:mod:`core.models.heads`) reads them: a softmax for tokens, a
    sigmoid per pitch for frames, its loss ``from_logits=True``. The layer runs in
    float32 so that losses stay stable under mixed precision.
    """
    return keras.layers.Dense(spec.size, dtype="float32", name="logits")


@keras.saving.register_keras_serializable(package="neurotune")
class CausalAttention(keras.layers.Layer):
    """Attention of each step of a sequence over its own and earlier steps.

    This is the attention of Magenta's attention RNN, computed for all steps at
    once: step ``t`` scores the inputs at steps ``s`` with ``t - window < s <= t``
    and returns their softmax-weighted sum, so it never sees the future.

    Scores are ``v . tanh(W_q x_t + W_k x_s)`` for ``"additive"`` (Bahdanau) or
    ``(W_q x_t) . (W_k x_s) / sqrt(units)`` for ``"dot"`` (Luong). Additive attention
    materializes shape=(batch, time, span, units), where span is ``window`` (the
    whole sequence when 0), so keep the window short for long sequences; dot
    attention needs only shape=(batch, time, time).

    Args:
        units: Width of the query and key projections.
        score: ``"additive"`` or ``"dot"``.
        window: Number of steps attended to, the current one included; 0 attends to all.

    Call arguments:
        inputs: shape=(batch, time, features).

    Returns:
        The attended context, shape=(batch, time, features).
    """

    def __init__(self, units: int, score: str = "additive", window: int = 0, **kwargs):
        super().__init__(**kwargs)
        if score not in ATTENTION_SCORES:
            raise ValueError(f"score must be one of {ATTENTION_SCORES}, got {score!r}")
        # === Config ===
        self.units = units
        self.score = score
        self.window = window
        # === Layers ===
        self.query_projection = keras.layers.Dense(
            units, use_bias=score == "additive", dtype=self.dtype_policy, name="query"
        )
        self.key_projection = keras.layers.Dense(units, use_bias=False, dtype=self.dtype_policy, name="key")
        self.score_vector = (
            keras.layers.Dense(1, use_bias=False, dtype=self.dtype_policy, name="score")
            if score == "additive"
            else None
        )

    def build(self, input_shape: tuple) -> None:
        self.query_projection.build(input_shape)
        self.key_projection.build(input_shape)
        if self.score_vector is not None:
            self.score_vector.build((*input_shape[:-1], self.units))

    def call(self, inputs):
        queries = self.query_projection(inputs)
        keys = self.key_projection(inputs)
        if self.score == "dot":
            return self._dot_attention(inputs, queries, keys)
        return self._additive_attention(inputs, queries, keys)

    def _dot_attention(self, inputs, queries, keys):
        length = ops.shape(inputs)[1]
        steps = ops.arange(length)
        distance = steps[:, None] - steps[None, :]
        allowed = distance >= 0
        if self.window:
            allowed = ops.logical_and(allowed, distance < self.window)
        # One head: (batch, time, 1, width); the backend runs the softmax in float32.
        context = ops.dot_product_attention(
            queries[:, :, None, :], keys[:, :, None, :], inputs[:, :, None, :], mask=allowed[None, None]
        )
        return context[:, :, 0, :]

    def _additive_attention(self, inputs, queries, keys):
        length = ops.shape(inputs)[1]
        span = length if self.window == 0 else ops.minimum(self.window, length)
        # positions[t, i] = t - span + 1 + i: the steps step t may attend to, oldest first.
        positions = ops.arange(length)[:, None] + ops.arange(span)[None, :] - span + 1
        valid = positions >= 0
        positions = ops.maximum(positions, 0)
        windowed_keys = ops.take(keys, positions, axis=1)  # (batch, time, span, units)
        windowed_values = ops.take(inputs, positions, axis=1)  # (batch, time, span, features)
        scores = self.score_vector(ops.tanh(queries[:, :, None, :] + windowed_keys))[..., 0]
        scores = ops.where(valid[None], ops.cast(scores, "float32"), MASKED_LOGIT)
        weights = ops.cast(ops.softmax(scores, axis=-1), inputs.dtype)
        return ops.einsum("bts,btsf->btf", weights, windowed_values)

    def step(self, inputs, keys, values, position):
        """Attention of one new step over a ring buffer of the last ``slots`` steps: generation's cache.

        Args:
            inputs: The new step, shape=(batch, features).
            keys: Projected keys of earlier steps, shape=(slots, batch, units); ``slots``
                is ``window`` (or, when 0, the longest sequence to be generated).
            values: Their inputs, shape=(slots, batch, features).
            position: Index of the new step in its sequence (int32 scalar).

        Returns:
            (context, shape=(batch, features), keys, values) with the new step written
            at slot ``position % slots``.
        """
        slots = ops.shape(keys)[0]
        slot = ops.mod(position, slots)
        queries = self.query_projection(inputs)
        keys = ops.scatter_update(keys, ops.reshape(slot, (1, 1)), self.key_projection(inputs)[None])
        values = ops.scatter_update(values, ops.reshape(slot, (1, 1)), inputs[None])
        if self.score == "dot":
            scores = ops.einsum("bu,sbu->bs", queries, keys) / ops.sqrt(ops.cast(self.units, queries.dtype))
        else:
            scores = ops.transpose(self.score_vector(ops.tanh(queries[None] + keys))[..., 0])
        # Before the buffer is full only the slots written so far hold steps.
        valid = ops.arange(slots) <= position
        scores = ops.where(valid[None], ops.cast(scores, "float32"), MASKED_LOGIT)
        weights = ops.cast(ops.softmax(scores, axis=-1), inputs.dtype)
        return ops.einsum("bs,sbf->bf", weights, values), keys, values

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"units": self.units, "score": self.score, "window": self.window})
        return config


def control_broadcast(spec: InputSpec) -> ControlBroadcast | None:
    """The layer that feeds a conditioned model's controls to every step; None without controls."""
    if not spec.control_prefix:
        return None
    return ControlBroadcast(spec.control_prefix, name="control_broadcast")


@keras.saving.register_keras_serializable(package="neurotune")
class ControlBroadcast(keras.layers.Layer):
    """Performance RNN's conditioning: the controls reach every step, not only the first few.

    The first ``prefix_length`` steps of a conditioned sequence are control
    tokens (:mod:`core.data.conditioning`). Their embeddings, summed, are added
    to the embedding of every later step, so the model cannot forget them far
    into a piece. The control steps themselves pass unchanged: step ``t`` still
    sees nothing after ``t``.

    Call arguments:
        embedded: shape=(batch, time, width), the embedded tokens.

    Returns:
        Same shape.
    """

    def __init__(self, prefix_length: int, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.prefix_length = prefix_length

    def call(self, embedded):
        controls = ops.sum(embedded[:, : self.prefix_length], axis=1, keepdims=True)
        after = ops.cast(ops.arange(ops.shape(embedded)[1]) >= self.prefix_length, embedded.dtype)
        return embedded + after[None, :, None] * controls

    def step(self, embedded, controls, position):
        """One step of :meth:`call`.

        Args:
            embedded: shape=(batch, width), the step's embedded token.
            controls: shape=(batch, width), the sum of the control embeddings seen so far.
            position: Scalar index of the step.

        Returns:
            (the step's input with the controls added once past the prefix, the updated sum).
        """
        in_prefix = ops.cast(position < self.prefix_length, embedded.dtype)
        controls = controls + in_prefix * embedded
        return embedded + (1 - in_prefix) * controls, controls

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"prefix_length": self.prefix_length})
        return config


@keras.saving.register_keras_serializable(package="neurotune")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per absolute position to a sequence.

    Args:
        max_length: Number of positions learned; longer inputs fail.

    Call arguments:
        inputs: shape=(batch, time, width), time <= max_length.

    Returns:
        ``inputs`` plus the first ``time`` position vectors, same shape.
    """

    def __init__(self, max_length: int, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.max_length = max_length

    def build(self, input_shape: tuple) -> None:
        self.position_embeddings = self.add_weight(
            shape=(self.max_length, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embeddings",
        )

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        positions = ops.slice(self.position_embeddings, (0, 0), (length, ops.shape(self.position_embeddings)[1]))
        return inputs + ops.cast(positions, inputs.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"max_length": self.max_length})
        return config


@keras.saving.register_keras_serializable(package="neurotune")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm decoder block: ``x + Attention(LayerNorm(x))``, then ``x + FeedForward(LayerNorm(x))``.

    Self-attention is causal and multi-head. With ``relative_distances > 0`` each
    head adds a learned bias to its attention logits for every distance
    ``t - s`` in ``[0, relative_distances)``; longer distances share the last bias,
    so the block runs on sequences of any length. The biases start at zero.

    Args:
        d_model: Width of the residual stream; a multiple of ``heads``.
        heads: Number of attention heads.
        ff_dim: Width of the GELU feed-forward layer.
        dropout: Dropout rate on both residual branches.
        relative_distances: Number of learned relative-position biases per head; 0 for none.

    Call arguments:
        inputs: shape=(batch, time, d_model).

    Returns:
        shape=(batch, time, d_model).
    """

    def __init__(
        self, d_model: int, heads: int, ff_dim: int, dropout: float = 0.0, relative_distances: int = 0, **kwargs
    ):
        super().__init__(**kwargs)
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of heads ({heads})")
        # === Config ===
        self.d_model = d_model
        self.heads = heads
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.relative_distances = relative_distances
        head_dim = d_model // heads
        # === Layers ===
        policy = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, dtype=policy, name="attention_norm")
        self.query = keras.layers.EinsumDense(
            "btd,dnh->btnh", (None, heads, head_dim), bias_axes="nh", dtype=policy, name="query"
        )
        self.key = keras.layers.EinsumDense(
            "btd,dnh->btnh", (None, heads, head_dim), bias_axes="nh", dtype=policy, name="key"
        )
        self.value = keras.layers.EinsumDense(
            "btd,dnh->btnh", (None, heads, head_dim), bias_axes="nh", dtype=policy, name="value"
        )
        self.attention_output = keras.layers.EinsumDense(
            "btnh,nhd->btd", (None, d_model), bias_axes="d", dtype=policy, name="attention_output"
        )
        self.attention_dropout = keras.layers.Dropout(dropout, dtype=policy, name="attention_dropout")
        self.feed_forward_norm = keras.layers.LayerNormalization(epsilon=1e-5, dtype=policy, name="feed_forward_norm")
        self.feed_forward_in = keras.layers.Dense(ff_dim, activation="gelu", dtype=policy, name="feed_forward_in")
        self.feed_forward_out = keras.layers.Dense(d_model, dtype=policy, name="feed_forward_out")
        self.feed_forward_dropout = keras.layers.Dropout(dropout, dtype=policy, name="feed_forward_dropout")

    def build(self, input_shape: tuple) -> None:
        heads_shape = (*input_shape[:-1], self.heads, self.d_model // self.heads)
        self.attention_norm.build(input_shape)
        for projection in (self.query, self.key, self.value):
            projection.build(input_shape)
        self.attention_output.build(heads_shape)
        self.feed_forward_norm.build(input_shape)
        self.feed_forward_in.build(input_shape)
        self.feed_forward_out.build((*input_shape[:-1], self.ff_dim))
        if self.relative_distances:
            self.relative_bias = self.add_weight(
                shape=(self.heads, self.relative_distances), initializer="zeros", name="relative_bias"
            )

    def call(self, inputs, training=None):
        normed = self.attention_norm(inputs)
        attended = ops.dot_product_attention(
            self.query(normed),
            self.key(normed),
            self.value(normed),
            bias=self._relative_bias(ops.shape(inputs)[1]) if self.relative_distances else None,
            is_causal=True,
        )
        residual = inputs + self.attention_dropout(self.attention_output(attended), training=training)
        feed_forward = self.feed_forward_out(self.feed_forward_in(self.feed_forward_norm(residual)))
        return residual + self.feed_forward_dropout(feed_forward, training=training)

    def step(self, inputs, keys, values, position):
        """The block on one new step, with a key/value cache of the steps before it: generation's path.

        The step attends to the cache as it was plus its own key and value, and only
        then writes them to the cache, in place. Inside the compiled sampling loop
        this costs one read of the cache per step, not a copy of it (see
        :meth:`_write_slot`).

        Args:
            inputs: The new step, shape=(batch, d_model).
            keys: Cached keys, shape=(batch, heads, capacity, head_dim); slots from
                ``position`` on are ignored.
            values: Cached values, same shape.
            position: Index of the new step in its sequence (int32 scalar), < capacity.

        Returns:
            (output, shape=(batch, d_model), keys, values) with the new step's key and
            value written at ``position``.
        """
        capacity = ops.shape(keys)[2]
        query, key, value = self._step_projections(self.attention_norm(inputs))
        query = query / ops.sqrt(ops.cast(self.d_model // self.heads, query.dtype))
        cached_scores = ops.cast(ops.einsum("bnh,bnth->bnt", query, keys), "float32")
        own_score = ops.cast(ops.sum(query * key, axis=-1, keepdims=True), "float32")
        steps = ops.arange(capacity)
        if self.relative_distances:
            distance = ops.clip(position - steps, 0, self.relative_distances - 1)
            cached_scores = cached_scores + ops.cast(ops.take(self.relative_bias, distance, axis=1), "float32")[None]
            own_score = own_score + ops.cast(self.relative_bias[:, :1], "float32")[None]
        cached_scores = ops.where((steps < position)[None, None], cached_scores, MASKED_LOGIT)
        weights = ops.cast(ops.softmax(ops.concatenate([cached_scores, own_score], axis=-1), axis=-1), inputs.dtype)
        attended = ops.einsum("bnt,bnth->bnh", weights[..., :-1], values) + weights[..., -1:] * value
        slot = self._write_slot(position, capacity, attended)
        keys = ops.slice_update(keys, (0, 0, slot, 0), key[:, :, None])
        values = ops.slice_update(values, (0, 0, slot, 0), value[:, :, None])
        residual = inputs + self.attention_output(attended[:, None])[:, 0]
        feed_forward = self.feed_forward_out(self.feed_forward_in(self.feed_forward_norm(residual)))
        return residual + feed_forward, keys, values

    def _step_projections(self, normed):
        """Query, key and value of one step, each shape=(batch, heads, head_dim), from shape=(batch, d_model).

        One matmul with the three kernels side by side. In the compiled sampling loop
        XLA builds the joined kernel once, outside the loop (the weights do not
        change in it), and runs one well-vectorized matrix-vector product; the three
        EinsumDense calls instead compile into loops fused with the layer norm that
        are several times slower. The weights stay the layers' own.
        """
        projections = (self.query, self.key, self.value)
        kernel = ops.concatenate([ops.reshape(p.kernel, (self.d_model, self.d_model)) for p in projections], axis=1)
        bias = ops.concatenate([ops.reshape(p.bias, (self.d_model,)) for p in projections], axis=0)
        joined = ops.matmul(normed, ops.cast(kernel, normed.dtype)) + ops.cast(bias, normed.dtype)
        shape = (ops.shape(normed)[0], self.heads, self.d_model // self.heads)
        return [ops.reshape(part, shape) for part in ops.split(joined, 3, axis=-1)]

    @staticmethod
    def _write_slot(position, capacity, attended):
        """``position``, computed from ``attended`` so that XLA writes the cache after reading it.

        XLA updates the cache in place only when it can tell that every read of the
        old cache comes first; with nothing ordering the reads and the write it copies
        the whole cache, twice, every step. ``attended`` needs both reads, and the
        minimum is always ``position`` (< capacity), but XLA cannot know that.
        """
        return ops.minimum(position, capacity - 1 + ops.cast(ops.isnan(attended[0, 0, 0]), "int32"))

    def _relative_bias(self, length):
        """Bias added to the attention logits, shape=(heads, time, time); future entries are masked anyway."""
        steps = ops.arange(length)
        distance = ops.clip(steps[:, None] - steps[None, :], 0, self.relative_distances - 1)
        return ops.take(self.relative_bias, distance, axis=1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "d_model": self.d_model,
                "heads": self.heads,
                "ff_dim": self.ff_dim,
                "dropout": self.dropout,
                "relative_distances": self.relative_distances,
            }
        )
        return config
