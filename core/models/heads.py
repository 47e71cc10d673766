"""Task heads: what depends on the kind of sequence a model reads and writes, in one object per kind.

A token model (melody, events, chords) and a piano-roll model (frames) share every
architecture; they differ in their input, loss, metrics, training targets, the
start of a composition and how the next step is picked from the logits. Each
head holds all of that for its kind, and :data:`HEADS` maps the representation's
``kind`` to its head: a new output kind is one head class and one entry there.

Importing this module stays cheap: Keras and TensorFlow are imported by the
methods that need them, so the registry (:mod:`core.models`) can use the heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from core.errors import ConfigError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from core.data.datasets import Dataset
    from core.data.representations import Representation
    from core.generation.sampling import Limits
    from core.models.base import InputSpec


@dataclass(frozen=True)
class Curves:
    """One live chart of a training run: logged metrics that share an axis.

    The metrics a run logs depend on its kind (a GAN has two losses and no accuracy), so the
    head names its charts and the Train page draws them without knowing the kind.

    Attributes:
        title: The chart's title.
        metrics: Logged metric names (``val_`` ones once per epoch, the others every few steps).
        unit: The y axis.
    """

    title: str
    metrics: tuple[str, ...]
    unit: str


LOSS_CURVES = Curves("Loss", ("loss", "val_loss"), "loss")
SPEED_CURVES = Curves("Speed", ("tokens_per_s",), "steps/s")


class TaskHead:
    """What a model of one sequence kind trains on and how its outputs are read.

    The trainer compiles a model with :meth:`compile` and runs ``model.fit``, so
    ``fit`` calls the model's own ``train_step``: a head whose model brings its own
    (an adversarial one) sets :attr:`own_train_step`, and :meth:`compile` then
    gives the model its optimizer only.

    Attributes:
        kind: The representation kind the head serves (``Representation.kind``).
        dtype: dtype of the model input and of a composed sequence.
        monitor: Logged metric that must stay finite and whose validation value (else
            training value) picks the best checkpoint and stops early; lower is better.
        perplexity: Whether ``exp(loss)`` is logged as ``val_perplexity``/``epoch_perplexity``.
        controls: Whether a sequence may start with control tokens (conditioning).
        own_train_step: Whether the model computes its losses in its own ``train_step``.
        guarded: Further logged metrics that must stay finite (a GAN's two losses): a NaN in any stops the run.
        compose_defaults: Composing settings a model of this kind starts from (a GAN composes by noise).
        monitor_label: What the validation value of :attr:`monitor` is, for people ("validation loss").
        curves: The Train page's live charts of a run of this kind.
        primed: Whether a composition can continue a primer (a GAN writes every note from noise at once).
        likelihood: Whether the model gives its sequences a likelihood (next-step probabilities), so
            validation NLL, next-token accuracy and frame NLL mean something for it; a GAN's generator has none.
    """

    kind: ClassVar[str]
    dtype: ClassVar[str]
    monitor: ClassVar[str] = "loss"
    perplexity: ClassVar[bool] = False
    controls: ClassVar[bool] = False
    own_train_step: ClassVar[bool] = False
    guarded: ClassVar[tuple[str, ...]] = ()
    compose_defaults: ClassVar[dict[str, str]] = {}
    monitor_label: ClassVar[str] = "validation loss"
    curves: ClassVar[tuple[Curves, ...]] = (
        LOSS_CURVES,
        Curves(
            "Accuracy",
            ("accuracy", "top5_accuracy", "val_accuracy", "val_top5_accuracy", "frame_f1", "val_frame_f1"),
            "accuracy",
        ),
        SPEED_CURVES,
    )
    primed: ClassVar[bool] = True
    likelihood: ClassVar[bool] = True

    # === Model ===

    def model_input(self, spec: InputSpec) -> keras.KerasTensor:
        """The model input, of any length: shape=(batch, None[, spec.size])."""
        raise NotImplementedError

    def input_projection(self, spec: InputSpec, width: int) -> keras.layers.Layer:
        """The first layer: the input to shape=(batch, time, width)."""
        raise NotImplementedError

    # === Training ===

    def loss(self) -> keras.losses.Loss:
        """The training loss, on logits (the model's last layer has no activation).

        Reduced by ``"mean_with_sample_weight"``: a batch's loss is the mean over its
        weighted targets (:meth:`targets`), whatever padding it holds. Under several
        replicas each takes the mean over its own part of the batch and the replicas'
        losses are averaged, so a replica holding mostly padding weighs as much as one
        holding none: on one device the same batch weighs each real target alike.
        """
        raise NotImplementedError

    def metrics(self) -> list[keras.metrics.Metric]:
        """Metrics logged next to the loss, on logits."""
        return []

    def compile(self, model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
        """Compile ``model`` for ``fit``: with the head's loss and metrics, or for its own ``train_step``.

        The metrics are Keras' ``weighted_metrics``: plain ``metrics`` ignore the sample
        weights, so they would count padding and control targets (:meth:`targets`).
        """
        if self.own_train_step:
            model.compile(optimizer=optimizer)
        else:
            model.compile(optimizer=optimizer, loss=self.loss(), weighted_metrics=self.metrics())

    def targets(self, windows: tf.Tensor, real: tf.Tensor, prefix_length: int = 0) -> tuple[tf.Tensor, ...]:
        """Teacher forcing: inputs, next-step targets and their weights for a batch of windows (a tf.data map).

        Args:
            windows: shape=(batch, length + 1[, size]).
            real: bool shape=(batch, length + 1): False on the padding of a short piece's window.
            prefix_length: Leading control tokens in every window; 0 for none.

        Returns:
            ``(inputs, targets, weights)``, inputs and targets shape=(batch, length[, size]),
            weights float32 shape=(batch, length): 1 for a target that is a real step, 0 for
            padding and for the targets that are themselves control tokens (all but the last
            prefix position): the model is told the controls, it never predicts them. The
            loss is the mean over the weighted targets (:meth:`loss`), so a padded window's
            real targets count exactly as they would unpadded; a padded input changes no
            real output, since every model is causal.
        """
        import tensorflow as tf

        inputs, targets = windows[:, :-1], windows[:, 1:]
        predicted = tf.range(tf.shape(targets)[1]) >= prefix_length - 1
        return inputs, targets, tf.cast(real[:, 1:] & predicted[None, :], tf.float32)

    def tokens_per_step(self, dataset: Dataset, representation: str) -> float | None:
        """Average sequence steps per grid step over a dataset: the composer's length budget; None when always 1."""
        return None

    def length_rate(self, tokens_per_step: float) -> float:
        """Sequence steps a composition budgets per grid step, given the checkpoint's measured
        :meth:`tokens_per_step` (or its default): 1 for a kind that writes one step per grid step."""
        return 1.0

    # === Generation ===

    def keep_within(self, notes: np.ndarray, end_step: int, limits: Limits) -> np.ndarray:
        """Composed notes, int32 shape=(n, 6), kept to what the sampler could not keep to itself.

        Token and frame samplers keep ``limits`` and the length step by step: they are returned as they are.
        """
        return notes

    def neutral_start(self, codec: Representation) -> np.ndarray:
        """A one-step start for a model given neither controls nor primer, shape=(1[, size])."""
        raise NotImplementedError

    def pick(self, logits: tf.Tensor, greedy: tf.Tensor | bool, seed: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """The next step of every sequence of a batch from its logits (TensorFlow, XLA-compilable).

        Args:
            logits: shape=(batch, size), float32, after the sampler's logit rules
                (temperature, top-k, top-p, biases).
            greedy: Scalar bool: the likeliest step instead of a draw.
            seed: int64 scalar; with ``step`` it fixes the draw (stateless random).
            step: Scalar int position, so every step draws anew.

        Returns:
            The picked steps, shape=(batch[, size]), in :attr:`dtype`.
        """
        raise NotImplementedError


class TokenHead(TaskHead):
    """Token ids (melody, events, chords): a softmax over the vocabulary."""

    kind = "tokens"
    dtype = "int32"
    perplexity = True
    controls = True

    def model_input(self, spec):
        import keras

        return keras.Input(shape=(None,), dtype=self.dtype, name="tokens")

    def input_projection(self, spec, width):
        import keras

        return keras.layers.Embedding(spec.size, width, name="embedding")

    def loss(self):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")

    def metrics(self):
        import keras

        return [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"),
        ]

    def tokens_per_step(self, dataset, representation):
        """Tokens per grid step of the whole dataset: how many tokens a composed bar needs."""
        from core.data.representations import get_representation

        values, _ = dataset.encoded(representation)
        steps = int(get_representation(representation, dataset.config).token_steps()[values].sum())
        return len(values) / max(steps, 1)

    def length_rate(self, tokens_per_step):
        return tokens_per_step

    def neutral_start(self, codec):
        """The representation's start token (:meth:`~core.data.representations.Representation.start_token`)."""
        return np.array([codec.start_token()], np.int32)

    def pick(self, logits, greedy, seed, step):
        """The argmax, or a draw from ``softmax(logits)``; int32 shape=(batch,).

        Gumbel-max: ``argmax(logits + Gumbel noise)`` is a draw from the softmax, and XLA compiles it.
        """
        import tensorflow as tf

        if_greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
        uniform = tf.random.stateless_uniform(
            tf.shape(logits), seed=tf.stack([seed, tf.cast(step, tf.int64)]), minval=1e-20, maxval=1.0
        )
        drawn = tf.argmax(logits - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)
        return tf.where(greedy, if_greedy, drawn)


class FrameHead(TaskHead):
    """Multi-hot frames (piano rolls): an independent sigmoid per pitch."""

    kind = "frames"
    dtype = "float32"

    def model_input(self, spec):
        import keras

        return keras.Input(shape=(None, spec.size), dtype=self.dtype, name="frames")

    def input_projection(self, spec, width):
        import keras

        return keras.layers.Dense(width, name="frame_projection")

    def loss(self):
        import keras

        return keras.losses.BinaryCrossentropy(from_logits=True, reduction="mean_with_sample_weight")

    def metrics(self):
        from core.training.metrics import FrameF1, FrameNLL

        return [FrameNLL(), FrameF1()]

    def targets(self, windows, real, prefix_length=0):
        import tensorflow as tf

        return super().targets(tf.cast(windows, tf.float32), real, prefix_length)

    def neutral_start(self, codec):
        """A silent frame."""
        return np.zeros((1, codec.size), np.float32)

    def pick(self, logits, greedy, seed, step):
        """Every pitch on with probability ``sigmoid(logits)`` (or above 0.5 when greedy); float32 shape=(batch, size)."""
        import tensorflow as tf

        probabilities = tf.sigmoid(logits)
        uniform = tf.random.stateless_uniform(tf.shape(logits), seed=tf.stack([seed, tf.cast(step, tf.int64)]))
        threshold = tf.where(greedy, 0.5, uniform)
        return tf.cast(probabilities > threshold, tf.float32)


class FeatureHead(TaskHead):
    """Continuous note features (the ``notes`` representation), for a GAN that trains itself.

    The model's own ``train_step`` holds the losses (:class:`core.models.adversarial.AdversarialComposer`);
    its figure of merit is the distance of its samples to the validation windows
    (:func:`core.models.gan.feature_distance`), lower is better, and a NaN in either
    network's loss stops the run. It composes whole sequences from noise
    (:class:`core.generation.sampling.NoiseSampler`), not step by step.
    """

    kind = "features"
    dtype = "float32"
    monitor = "feature_distance"
    own_train_step = True
    guarded = ("d_loss", "g_loss")
    compose_defaults = {"strategy": "noise"}
    monitor_label = "feature distance to validation"
    curves = (
        Curves("Generator and discriminator loss", ("g_loss", "d_loss"), "loss"),
        Curves("Discriminator accuracy (real, fake)", ("d_real_acc", "d_fake_acc"), "share judged right"),
        # Distance falling: samples nearer the held-out notes; diversity falling: mode collapse.
        Curves("Validation: distance and diversity", ("val_feature_distance", "val_diversity"), "distance"),
        SPEED_CURVES,
    )
    primed = False
    likelihood = False

    def model_input(self, spec):
        import keras

        return keras.Input(shape=(None, spec.size), dtype=self.dtype, name="notes")

    def targets(self, windows, real, prefix_length=0):
        """The windows themselves and the weights of their real notes: ``(windows, weights)``.

        The trainer cuts windows one note longer than ``seq_len`` (teacher forcing needs the
        next step); a GAN judges ``seq_len`` notes, so the last is dropped.

        Returns:
            windows float32 shape=(batch, length, 4); weights float32 shape=(batch, length), 0 on padding.
        """
        import tensorflow as tf

        return tf.cast(windows[:, :-1], tf.float32), tf.cast(real[:, :-1], tf.float32)

    def tokens_per_step(self, dataset, representation):
        """Notes per grid step of the whole dataset (onsets summed from the gaps): how many notes a bar needs."""
        from core.data.representations import get_representation

        values, _ = dataset.encoded(representation)
        steps = (
            float(np.asarray(values)[:, 2].sum()) * get_representation(representation, dataset.config).time_scale_steps
        )
        return len(values) / max(steps, 1.0)

    def length_rate(self, tokens_per_step):
        """Four times the data's notes per step: a generator writes every note in one pass, so a generous
        budget costs little (the notes past the end are dropped), and one whose rhythm runs denser than the
        data's still fills the length asked."""
        return 4 * tokens_per_step

    def keep_within(self, notes, end_step, limits):
        """Notes up to ``end_step`` (later ones dropped, those sounding cut there), in the pitch range, no
        longer than the longest note, with no more voices than ``limits`` allow (0: any).

        A generator writes every note at once, so these are kept after decoding rather than while sampling.
        """
        from core.data.piece import END, PITCH, START, sort_notes
        from core.generation.postprocess import cap_note_length, limit_polyphony

        kept = notes[notes[:, START] < end_step].copy()
        kept[:, END] = np.minimum(kept[:, END], end_step)
        # Out-of-range pitches move by octaves (their pitch class stays), then onto the range if it is narrower.
        low, high = limits.pitch_range
        pitches = kept[:, PITCH]
        pitches = pitches + 12 * np.ceil(np.maximum(low - pitches, 0) / 12).astype(np.int32)
        pitches = pitches - 12 * np.ceil(np.maximum(pitches - high, 0) / 12).astype(np.int32)
        kept[:, PITCH] = np.clip(pitches, low, high)
        if limits.max_note_steps:
            kept = cap_note_length(kept, limits.max_note_steps)
        if limits.max_polyphony:
            kept = limit_polyphony(kept, limits.max_polyphony)
        return sort_notes(kept)

    def neutral_start(self, codec):
        """No note: a generator starts from noise alone, shape=(0, 4)."""
        return np.zeros((0, codec.size), np.float32)


HEADS: dict[str, TaskHead] = {head.kind: head for head in (TokenHead(), FrameHead(), FeatureHead())}


def head_for(kind: str) -> TaskHead:
    """The head of representation kind ``kind``.

    Raises:
        ConfigError: For a kind no head serves, listing those served.
    """
    if kind not in HEADS:
        raise ConfigError(f"no model reads or writes {kind!r} sequences; heads exist for {', '.join(HEADS)}")
    return HEADS[kind]
