"""The adversarial composer: a convolutional-recurrent GAN on continuous note features, after C-RNN-GAN.

Mogren's C-RNN-GAN (2016) generates real-valued note tuples with an LSTM from
noise and judges them with a bidirectional LSTM. Here the generator reads one
noise vector per note (plus an optional global one, the same at every note),
runs it through Conv1D blocks (``crnn_gan``: motifs and chord shapes span a few
neighbouring notes; ``rnn_gan`` leaves them out, for the ablation), stacked
(bi)LSTMs and a linear output per feature of the ``notes`` representation (pitch,
duration, gap, velocity, each about [0, 1], clipped when decoded; ``sigmoid_output``
squashes them as the paper does). The discriminator is Conv1D + BiLSTM
with a score per note, averaged over a window's real notes.

:class:`AdversarialComposer` is a ``keras.Model`` that overrides ``train_step``
and ``test_step`` (the keras-io DCGAN pattern), so the trainer's ``fit``,
callbacks, checkpoints and resume serve it as they serve the sequence models
(its task head is :class:`core.models.heads.FeatureHead`).

Pitch is continuous by default, as in the paper: the discriminator reads the
same four numbers for real and generated notes, and decoding rounds to the
nearest MIDI pitch. ``pitch_head="softmax"`` makes it a choice instead: the
generator writes logits over the 128 MIDI pitches, training shows the
discriminator a straight-through Gumbel-softmax one-hot of them (Jang et al.
2017) beside the exact one-hot of the real notes, and composing draws each
pitch from the softmax, seeded. Nothing ties a rounded number to a scale;
a choice among pitches can learn which ones go together. Each head is one
class of :mod:`core.models.pitch_heads`.

Pre-training: C-RNN-GAN teacher-forces its autoregressive generator. This one
reads noise only (its Conv1D looks at neighbouring steps on both sides, and its
LSTMs may be bidirectional), so there is no previous note to force; its first
``pretrain_epochs`` instead train it alone to shrink :func:`feature_distance`
to the real batch, a differentiable, non-adversarial objective (the per-feature
1-D Wasserstein distance), which is also the figure validation reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.config import check_config
from core.data.representations.notes import PITCH_SCALE
from core.models.base import StepDecoder
from core.models.pitch_heads import PITCH_HEADS

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from core.models.base import InputSpec

# Samples whose pitch-class histograms the diversity figure compares (a fixed noise batch).
DIVERSITY_SAMPLES = 16
# Seed of that batch, and of the validation noise: each epoch's figures are comparable.
VALIDATION_SEED = 1234
PITCH_CLASSES = 12
# The smallest spread a feature's distance is measured in: one grid step of a duration or gap (1/64), so a
# feature the real notes hold constant (the chorales' velocity) neither divides by zero nor dominates.
SPREAD_FLOOR = 1 / 64
# Note features of the notes representation (pitch, duration, gap, velocity): what the generator composes.
NOTE_FEATURES = 4


@dataclass(frozen=True)
class RNNGANConfig:
    """Sizes and stabilizers of the recurrent GAN (``rnn_gan``; ``crnn_gan`` adds the Conv1D front).

    Attributes:
        noise_dim: Noise values per note.
        global_noise_dim: Noise values per piece, given to every note (0: none); they can carry a mood.
        units: Width of each generator LSTM (per direction).
        layers: Stacked generator LSTMs.
        bidirectional: Generator LSTMs read the noise both ways (it is all known before generating).
        dropout: On the generator's blocks and LSTM inputs, and the discriminator's convolution.
        layer_norm: LayerNorm after every generator block and LSTM: keeps the adversarial updates stable.
        discriminator_filters: Width of the discriminator's Conv1D.
        discriminator_kernel: Notes its Conv1D sees at once (3-5).
        discriminator_units: Width of its BiLSTM, per direction.
        feature_matching: Add to the generator's loss the distance between the discriminator's mean
            hidden features on real and generated windows (Salimans et al. 2016; C-RNN-GAN).
        label_smoothing: One-sided: real windows are labelled ``1 - label_smoothing``, fakes 0.
        instance_noise: Std of Gaussian noise added to every window the discriminator sees, real or fake.
        gradient_penalty: WGAN-GP weight (Gulrajani et al. 2017): with it, Wasserstein losses and a
            penalty on the critic's gradient norm; 0: the standard (non-saturating) GAN losses.
        discriminator_lr_ratio: TTUR (Heusel et al. 2017): the discriminator's learning rate is the run's
            (the generator's) times this.
        pretrain_epochs: First epochs that train the generator alone on :func:`feature_distance`.
        sigmoid_output: Squash every feature into [0, 1] with a sigmoid, as the paper; off: linear outputs,
            clipped to [0, 1] when decoded. Most gaps of real notes are exactly 0 (the notes of a chord),
            which a sigmoid only nears as it saturates: its gradient vanishes there, and the generator ends
            up writing every gap as a sliver of a step (every note on the first beats once rounded).
        distance_weight: Keeps :func:`feature_distance` to the real batch in the generator's loss after
            pre-training, at this weight (0: off): an anchor on the note features' marginals, which
            the adversarial updates otherwise drag away while the discriminator is still learning;
            the discriminator's judgement is left to shape what the marginals cannot (the order of notes).
        pitch_head: ``continuous``: one pitch number per note, rounded when decoded (the paper);
            ``softmax``: logits over the 128 MIDI pitches, a straight-through Gumbel-softmax one-hot for the
            discriminator while training, a draw from the softmax when composing. Configs saved before
            the option existed are ``continuous``.
        gumbel_temperature: Of the Gumbel-softmax whose gradient the generator's pitch logits get (softmax
            head): lower is nearer the one-hot the discriminator sees, with noisier gradients. 0.5 measured
            closer to the chorales than 1 (README, "The adversarial composer").
    """

    noise_dim: int = field(
        default=32,
        metadata={
            "label": "Noise per note",
            "help": "Random values the generator reads for every note",
            "min": 1,
            "max": 1024,
            "advanced": True,
        },
    )
    global_noise_dim: int = field(
        default=0,
        metadata={
            "label": "Noise per piece",
            "help": "Random values shared by every note of a piece (they can carry a mood); 0: none",
            "min": 0,
            "max": 1024,
            "advanced": True,
        },
    )
    units: int = field(
        default=128,
        metadata={
            "label": "Generator units",
            "help": "Width of each generator LSTM (per direction): wider learns more, trains slower",
            "min": 1,
            "max": 4096,
        },
    )
    layers: int = field(
        default=2,
        metadata={
            "label": "Generator layers",
            "help": "Generator LSTMs stacked on one another",
            "min": 1,
            "max": 16,
        },
    )
    bidirectional: bool = field(
        default=False,
        metadata={
            "label": "Read the noise both ways",
            "help": "Generator LSTMs read the noise forwards and backwards",
            "advanced": True,
        },
    )
    dropout: float = field(
        default=0.1,
        metadata={
            "label": "Dropout",
            "help": "Share of activations silenced at random while training",
            "min": 0.0,
            "max": 0.95,
            "step": 0.05,
            "advanced": True,
        },
    )
    layer_norm: bool = field(
        default=True,
        metadata={
            "label": "Layer normalization",
            "help": "Normalize after every generator block: keeps the adversarial updates stable",
            "advanced": True,
        },
    )
    discriminator_filters: int = field(
        default=64,
        metadata={
            "label": "Judge's convolution width",
            "help": "Width of the discriminator's Conv1D",
            "min": 1,
            "max": 4096,
            "advanced": True,
        },
    )
    discriminator_kernel: int = field(
        default=5,
        metadata={
            "label": "Judge's convolution span (notes)",
            "help": "Notes the discriminator's Conv1D sees at once",
            "min": 3,
            "max": 5,
            "advanced": True,
        },
    )
    discriminator_units: int = field(
        default=64,
        metadata={
            "label": "Judge's LSTM units",
            "help": "Width of the discriminator's BiLSTM, per direction",
            "min": 1,
            "max": 4096,
            "advanced": True,
        },
    )
    feature_matching: bool = field(
        default=True,
        metadata={
            "label": "Feature matching",
            "help": "Also pull the judge's mean hidden features on generated windows towards those on real ones",
            "advanced": True,
        },
    )
    label_smoothing: float = field(
        default=0.1,
        metadata={
            "label": "Label smoothing",
            "help": "Real windows are labelled 1 minus this: a less confident judge",
            "min": 0.0,
            "max": 0.49,
            "step": 0.05,
            "advanced": True,
        },
    )
    instance_noise: float = field(
        default=0.0,
        metadata={
            "label": "Instance noise",
            "help": "Spread of the noise added to every window the judge sees",
            "min": 0.0,
            "step": 0.01,
            "advanced": True,
        },
    )
    gradient_penalty: float = field(
        default=0.0,
        metadata={
            "label": "Gradient penalty (WGAN-GP)",
            "help": "Weight of the penalty on the critic's gradient; 0: the standard GAN losses",
            "min": 0.0,
            "step": 1.0,
            "advanced": True,
        },
    )
    discriminator_lr_ratio: float = field(
        default=2.0,
        metadata={
            "label": "Judge's learning rate ratio",
            "help": "The discriminator learns at the run's learning rate times this",
            "min": 0.01,
            "max": 100.0,
            "step": 0.5,
            "advanced": True,
        },
    )
    pretrain_epochs: int = field(
        default=0,
        metadata={
            "label": "Pre-training epochs",
            "help": "First epochs that train the generator alone towards the real notes' features",
            "min": 0,
            "advanced": True,
        },
    )
    sigmoid_output: bool = field(
        default=False,
        metadata={
            "label": "Squash outputs with a sigmoid",
            "help": "As the paper; off: linear outputs, clipped when decoded",
            "advanced": True,
        },
    )
    distance_weight: float = field(
        default=0.0,
        metadata={
            "label": "Feature distance weight",
            "help": "Keeps the distance to the real notes' features in the generator's loss; 0: off",
            "min": 0.0,
            "step": 0.5,
            "advanced": True,
        },
    )

    pitch_head: str = field(
        default="continuous",
        metadata={
            "label": "Pitch output",
            "help": "continuous: one number per note, rounded (as the paper); "
            "softmax: a choice among the pitches, drawn when composing",
            "choices": tuple(PITCH_HEADS),
        },
    )
    gumbel_temperature: float = field(
        default=0.5,
        metadata={
            "label": "Gumbel-softmax temperature",
            "help": "Softmax pitch output only: lower trains on choices nearer the one-hot the judge sees",
            "min": 0.05,
            "max": 10.0,
            "step": 0.1,
            "advanced": True,
        },
    )

    def __post_init__(self) -> None:
        check_config(
            [
                (self.noise_dim >= 1, f"noise_dim must be positive, got {self.noise_dim}"),
                (self.global_noise_dim >= 0, f"global_noise_dim must be 0 or more, got {self.global_noise_dim}"),
                (self.units >= 1, f"units must be positive, got {self.units}"),
                (self.layers >= 1, f"layers must be at least 1, got {self.layers}"),
                (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
                (self.discriminator_filters >= 1, "discriminator_filters must be positive"),
                (
                    3 <= self.discriminator_kernel <= 5,
                    f"discriminator_kernel must be 3 to 5 notes, got {self.discriminator_kernel}",
                ),
                (self.discriminator_units >= 1, "discriminator_units must be positive"),
                (0 <= self.label_smoothing < 0.5, f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}"),
                (self.instance_noise >= 0, f"instance_noise must be 0 or more, got {self.instance_noise}"),
                (self.gradient_penalty >= 0, f"gradient_penalty must be 0 or more, got {self.gradient_penalty}"),
                (self.discriminator_lr_ratio > 0, "discriminator_lr_ratio must be positive"),
                (self.pretrain_epochs >= 0, f"pretrain_epochs must be 0 or more, got {self.pretrain_epochs}"),
                (self.distance_weight >= 0, f"distance_weight must be 0 or more, got {self.distance_weight}"),
                (
                    self.pitch_head in PITCH_HEADS,
                    f"pitch_head must be one of {tuple(PITCH_HEADS)}, got {self.pitch_head!r}",
                ),
                (self.gumbel_temperature > 0, f"gumbel_temperature must be positive, got {self.gumbel_temperature}"),
            ],
            config=self,
        )


@dataclass(frozen=True)
class CRNNGANConfig(RNNGANConfig):
    """:class:`RNNGANConfig` with the generator's Conv1D front:

    Attributes:
        conv_filters: Width of each Conv1D block.
        conv_kernel: Notes a block sees at once (3-5).
        conv_blocks: Conv1D blocks before the LSTMs.
    """

    conv_filters: int = field(
        default=64,
        metadata={
            "label": "Convolution width",
            "help": "Width of each of the generator's Conv1D blocks",
            "min": 1,
            "max": 4096,
        },
    )
    conv_kernel: int = field(
        default=3,
        metadata={
            "label": "Convolution span (notes)",
            "help": "Notes a generator Conv1D block sees at once",
            "min": 3,
            "max": 5,
            "advanced": True,
        },
    )
    conv_blocks: int = field(
        default=2,
        metadata={
            "label": "Convolution blocks",
            "help": "Conv1D blocks before the generator's LSTMs",
            "min": 1,
            "max": 16,
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(
            [
                (self.conv_filters >= 1, f"conv_filters must be positive, got {self.conv_filters}"),
                (3 <= self.conv_kernel <= 5, f"conv_kernel must be 3 to 5 notes, got {self.conv_kernel}"),
                (self.conv_blocks >= 1, f"conv_blocks must be at least 1 (rnn_gan has none), got {self.conv_blocks}"),
            ]
        )


# === Builders ===


def build_crnn_gan(config: CRNNGANConfig, spec: InputSpec) -> keras.Model:
    """Build the convolutional-recurrent GAN; see :class:`AdversarialComposer`."""
    return _adversarial_composer(config, spec, conv_blocks=config.conv_blocks, name="crnn_gan")


def build_rnn_gan(config: RNNGANConfig, spec: InputSpec) -> keras.Model:
    """Build the GAN without the generator's Conv1D front (the ablation of ``crnn_gan``)."""
    return _adversarial_composer(config, spec, conv_blocks=0, name="rnn_gan")


def _adversarial_composer(config: RNNGANConfig, spec: InputSpec, conv_blocks: int, name: str) -> keras.Model:
    from core.models.adversarial import AdversarialComposer

    return AdversarialComposer(
        _generator(config, spec, conv_blocks),
        _discriminator(config, spec),
        noise_dim=config.noise_dim,
        global_noise_dim=config.global_noise_dim,
        feature_matching=config.feature_matching,
        label_smoothing=config.label_smoothing,
        instance_noise=config.instance_noise,
        gradient_penalty=config.gradient_penalty,
        discriminator_lr_ratio=config.discriminator_lr_ratio,
        pretrain_epochs=config.pretrain_epochs,
        distance_weight=config.distance_weight,
        pitch_head=config.pitch_head,
        gumbel_temperature=config.gumbel_temperature,
        name=name,
    )


def _generator(config: RNNGANConfig, spec: InputSpec, conv_blocks: int) -> keras.Model:
    """Noise, shape=(batch, notes, noise_dim + global_noise_dim) -> what the config's pitch head writes (its
    ``generator_outputs``, :mod:`core.models.pitch_heads`): the features but pitch are in [0, 1] with
    ``sigmoid_output``, else about there (decoding clips); pitch is a number or logits over the pitches."""
    import keras

    noise = keras.Input(shape=(None, config.noise_dim + config.global_noise_dim), name="noise")
    hidden = noise
    for index in range(conv_blocks):
        hidden = keras.layers.Conv1D(
            config.conv_filters, config.conv_kernel, padding="same", name=f"generator_conv_{index}"
        )(hidden)
        if config.layer_norm:
            hidden = keras.layers.LayerNormalization(name=f"generator_conv_norm_{index}")(hidden)
        hidden = keras.layers.LeakyReLU(0.2, name=f"generator_conv_activation_{index}")(hidden)
        hidden = keras.layers.Dropout(config.dropout, name=f"generator_conv_dropout_{index}")(hidden)
    for index in range(config.layers):
        lstm = keras.layers.LSTM(
            config.units, return_sequences=True, dropout=config.dropout, name=f"generator_lstm_{index}"
        )
        hidden = (
            keras.layers.Bidirectional(lstm, name=f"generator_bilstm_{index}")(hidden)
            if config.bidirectional
            else lstm(hidden)
        )
        if config.layer_norm:
            hidden = keras.layers.LayerNormalization(name=f"generator_lstm_norm_{index}")(hidden)
    activation = "sigmoid" if config.sigmoid_output else None
    outputs = PITCH_HEADS[config.pitch_head].generator_outputs(hidden, spec, activation)
    return keras.Model(noise, outputs, name="generator")


def _discriminator(config: RNNGANConfig, spec: InputSpec) -> keras.Model:
    """Notes as the config's pitch head shows them (its ``discriminator_input``) -> (a logit per note,
    shape=(batch, notes, 1), hidden features per note, shape=(batch, notes, 2 * discriminator_units))."""
    import keras

    notes = PITCH_HEADS[config.pitch_head].discriminator_input(spec)
    hidden = keras.layers.Conv1D(
        config.discriminator_filters, config.discriminator_kernel, padding="same", name="discriminator_conv"
    )(notes)
    hidden = keras.layers.LeakyReLU(0.2, name="discriminator_activation")(hidden)
    hidden = keras.layers.Dropout(config.dropout, name="discriminator_dropout")(hidden)
    hidden = keras.layers.Bidirectional(
        keras.layers.LSTM(config.discriminator_units, return_sequences=True), name="discriminator_bilstm"
    )(hidden)
    hidden = keras.layers.Activation("linear", dtype="float32", name="discriminator_features")(hidden)
    logits = keras.layers.Dense(1, dtype="float32", name="step_logits")(hidden)
    return keras.Model(notes, [logits, hidden], name="discriminator")


# === Figures, pure TensorFlow ===


def feature_distance(real: tf.Tensor, fake: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Mean 1-D Wasserstein-1 distance between real and generated notes, per feature and for intervals,
    each in units of the real notes' spread.

    ``W1(P, Q) / max(std(P), SPREAD_FLOOR)``, ``W1(P, Q) = mean_i |sort(p)_i - sort(q)_i|``, for equally
    many values of each feature (pitch, duration, gap, velocity, all in [0, 1]) and of the pitch step
    between consecutive notes; the figure is the mean of the five. Dividing by the spread makes rhythm
    count as much as pitch: in [0, 1] an eighth-note gap is 2/64 of a step scale, so unscaled, a generator
    writing every gap as a quarter of a step (all notes piled at the start once rounded) is barely
    farther from the chorales than one writing their rhythm. 0 when the marginals agree; it is
    differentiable (through the sort), so pre-training minimizes it, and validation reports it against
    held-out windows.

    Args:
        real, fake: shape=(batch, notes, 4).
        weights: shape=(batch, notes), 1 on real notes, 0 on padding; the same notes of ``fake`` count.

    Returns:
        float32 scalar.
    """
    import tensorflow as tf

    real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
    kept = weights > 0
    pairs = kept[:, 1:] & kept[:, :-1]
    columns = [
        (tf.boolean_mask(real[..., index], kept), tf.boolean_mask(fake[..., index], kept))
        for index in range(real.shape[-1])
    ]
    columns.append(
        (
            tf.boolean_mask(real[:, 1:, 0] - real[:, :-1, 0], pairs),
            tf.boolean_mask(fake[:, 1:, 0] - fake[:, :-1, 0], pairs),
        )
    )
    # A batch of one-note windows has no interval: the mean of nothing is NaN, counted as 0.
    distances = [
        tf.math.divide_no_nan(
            tf.reduce_sum(tf.abs(tf.sort(ours) - tf.sort(theirs))), tf.cast(tf.size(ours), tf.float32)
        )
        / _spread(ours)
        for ours, theirs in columns
    ]
    return tf.reduce_mean(tf.stack(distances))


def _spread(real: tf.Tensor) -> tf.Tensor:
    """The standard deviation of real values, at least :data:`SPREAD_FLOOR` (also with no values)."""
    import tensorflow as tf

    spread = tf.where(tf.size(real) > 0, tf.math.reduce_std(real), 0.0)
    return tf.maximum(tf.stop_gradient(spread), SPREAD_FLOOR)


def pitch_class_diversity(features: tf.Tensor) -> tf.Tensor:
    """Mean pairwise total-variation distance between the pitch-class histograms of generated samples.

    ``mean_{i<j} 0.5 * sum_c |h_i(c) - h_j(c)|`` with ``h_i`` the share of sample i's
    notes in pitch class c. 0 when every sample uses the pitch classes alike (mode
    collapse shows as it falling), at most 1.

    Args:
        features: shape=(samples, notes, 4), pitch / PITCH_SCALE first; samples >= 2.

    Returns:
        float32 scalar.
    """
    import tensorflow as tf

    pitches = tf.cast(tf.round(tf.cast(features[..., 0], tf.float32) * PITCH_SCALE), tf.int32)
    histograms = tf.reduce_mean(tf.one_hot(pitches % PITCH_CLASSES, PITCH_CLASSES), axis=1)
    distances = 0.5 * tf.reduce_sum(tf.abs(histograms[:, None] - histograms[None]), axis=-1)
    samples = tf.cast(tf.shape(features)[0], tf.float32)
    return tf.reduce_sum(distances) / (samples * (samples - 1))


# === Composing ===


class NoiseDecoder(StepDecoder):
    """A GAN's way to compose: the generator on seeded noise, the whole sequence at once.

    It keeps the :class:`~core.models.base.StepDecoder` attributes the composer reads
    (``kind``, ``size``, ``max_length``, ``head``) but has no step: a generator reads
    all its noise at once. :class:`core.generation.sampling.NoiseSampler` runs it.
    """

    kind = "features"
    size = NOTE_FEATURES  # what a sample holds per note, whatever the pitch head writes

    def __init__(self, model: keras.Model):
        self.model = model

    def generate(self, batch: int, notes: int, seed: int, temperature: float) -> np.ndarray:
        """``batch`` sequences of ``notes`` notes, float32 shape=(batch, notes, size); same seed, same notes."""
        return self.model.sample(batch, notes, seed, temperature)
