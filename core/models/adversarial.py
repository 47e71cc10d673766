"""The Keras side of the GAN (:mod:`core.models.gan`): the model that trains itself, and its helpers.

Imported by :mod:`core.models.layers`, so that a saved GAN loads without
``custom_objects`` wherever the custom layers are registered.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from core.models.gan import DIVERSITY_SAMPLES, VALIDATION_SEED, feature_distance, pitch_class_diversity
from core.models.pitch_heads import PITCH_HEADS


class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Another schedule times a constant: the discriminator's learning rate follows the run's (TTUR).

    Never saved: :meth:`AdversarialComposer.compile` makes it again from the generator's optimizer.
    """

    def __init__(self, schedule: keras.optimizers.schedules.LearningRateSchedule, factor: float):
        self.schedule, self.factor = schedule, factor

    def __call__(self, step):
        return self.schedule(step) * self.factor

    def get_config(self) -> dict:
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "factor": self.factor}


class PretrainingSwitch(keras.callbacks.Callback):
    """Chooses the training phase at each epoch's start: generator pre-training, then adversarial.

    The phase is a Python flag of the model, so each phase compiles its own train step
    (no gradient of a network that does not train); the function is rebuilt only when it changes.
    """

    def on_epoch_begin(self, epoch, logs=None):
        pretraining = epoch < self.model.pretrain_epochs
        if pretraining != self.model.pretraining:
            self.model.pretraining = pretraining
            self.model.make_train_function(force=True)


@keras.saving.register_keras_serializable(package="neurotune")
class AdversarialComposer(keras.Model):
    """A generator and a discriminator trained against each other by ``fit`` (the keras-io DCGAN pattern).

    ``fit`` takes ``(windows, weights)`` batches (:meth:`core.models.heads.FeatureHead.targets`):
    windows shape=(batch, notes, 4), weights shape=(batch, notes), 0 on padding. Each
    step draws one noise sequence per window and updates both networks from one forward
    pass: the discriminator on the real and generated windows, the generator through
    the discriminator (simultaneous steps: half the cost of alternating ones). Validation
    reports :func:`~core.models.gan.feature_distance` of generated windows to the held-out
    ones and the pitch-class diversity of a fixed noise batch.

    Logged metrics (``keras.metrics.Mean``, reset each epoch): ``d_loss``, ``g_loss``,
    ``d_real_acc`` and ``d_fake_acc`` (the share of real/fake windows the discriminator
    gets right), ``feature_distance``; in validation also ``diversity``.

    Args:
        generator: Noise, shape=(batch, notes, noise_dim + global_noise_dim), to features.
        discriminator: Features to (a logit per note, hidden features per note).
        noise_dim, global_noise_dim: Noise per note and per sequence (the latter repeated at every note).
        feature_matching, label_smoothing, instance_noise, gradient_penalty, discriminator_lr_ratio,
            pretrain_epochs, distance_weight, pitch_head, gumbel_temperature: As
            :class:`core.models.gan.RNNGANConfig` (a model saved before ``pitch_head`` existed is ``continuous``).

    ``pitch`` is the head (:mod:`core.models.pitch_heads`). With the softmax head the discriminator reads every
    note as its four features then its pitch one-hot: the exact one-hot for real notes, a straight-through
    Gumbel-softmax draw for generated ones; the feature distance, validation and :meth:`sample` use drawn
    pitches, so the figures mean the same for both heads.

    Calling the model runs the generator: noise in, its raw outputs (with the softmax head, pitch logits) out.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        noise_dim: int,
        global_noise_dim: int = 0,
        feature_matching: bool = True,
        label_smoothing: float = 0.0,
        instance_noise: float = 0.0,
        gradient_penalty: float = 0.0,
        discriminator_lr_ratio: float = 1.0,
        pretrain_epochs: int = 0,
        distance_weight: float = 0.0,
        pitch_head: str = "continuous",
        gumbel_temperature: float = 0.5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Networks ===
        self.generator = generator
        self.discriminator = discriminator
        # === Config ===
        self.noise_dim = noise_dim
        self.global_noise_dim = global_noise_dim
        self.feature_matching = feature_matching
        self.label_smoothing = label_smoothing
        self.instance_noise = instance_noise
        self.gradient_penalty = gradient_penalty
        self.discriminator_lr_ratio = discriminator_lr_ratio
        self.pretrain_epochs = pretrain_epochs
        self.distance_weight = distance_weight
        self.pitch_head = pitch_head
        self.pitch = PITCH_HEADS[pitch_head]
        self.gumbel_temperature = gumbel_temperature
        # === Training state ===
        self.pretraining = False
        self.seed_generator = keras.random.SeedGenerator(0)
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("d_loss", "g_loss", "d_real_acc", "d_fake_acc", "feature_distance", "diversity")
        }
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def call(self, noise, training=None):
        return self.generator(noise, training=training)

    # === Pitch ===

    def _composed(self, noise: tf.Tensor, seed: tf.Tensor, logit_scale: float = 1.0) -> tf.Tensor:
        """Features of the generator on ``noise``, not training, pitches drawn with stateless ``seed``."""

        def uniform(shape):  # a stream of its own: the noise's parts are 0 and 1
            return tf.random.stateless_uniform(shape, seed=tf.stack([seed, 2]))

        return self.pitch.features(self.generator(noise, training=False), uniform, logit_scale)[0]

    # === Compiling ===

    def compile(self, optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        """``optimizer`` trains the generator; a copy at ``discriminator_lr_ratio`` times its rate, the discriminator.

        Both are built at once, so a checkpoint's optimizer states load into them. Under mixed
        precision both scale their losses (Keras wraps the first; the second is wrapped alike).
        """
        super().compile(optimizer=optimizer, **kwargs)
        config = optimizer.get_config()
        rate = optimizer._learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            config["learning_rate"] = ScaledSchedule(rate, self.discriminator_lr_ratio)
        else:
            config["learning_rate"] = float(keras.ops.convert_to_numpy(rate)) * self.discriminator_lr_ratio
        config["name"] = "discriminator_optimizer"
        self.discriminator_optimizer = type(optimizer).from_config(config)
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):  # compile wraps it under mixed precision
            self.discriminator_optimizer = keras.optimizers.LossScaleOptimizer(self.discriminator_optimizer)
        self.optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def compile_from_config(self, config: dict) -> None:
        """Compile a loaded model as it was saved (Keras skips models whose ``compile`` is their own)."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``, switching from pre-training to adversarial training at ``pretrain_epochs``."""
        return super().fit(*args, callbacks=[*(callbacks or []), PretrainingSwitch()], **kwargs)

    # === Noise ===

    def noise(self, batch, notes, normal) -> tf.Tensor:
        """Generator input, shape=(batch, notes, noise_dim + global_noise_dim), from ``normal(shape, part)``."""
        steps = normal((batch, notes, self.noise_dim), 0)
        if not self.global_noise_dim:
            return steps
        piece = normal((batch, 1, self.global_noise_dim), 1)
        return tf.concat([steps, tf.repeat(piece, notes, axis=1)], axis=-1)

    def _training_noise(self, batch, notes) -> tf.Tensor:
        return self.noise(batch, notes, lambda shape, part: keras.random.normal(shape, seed=self.seed_generator))

    @staticmethod
    def _seeded_noise(seed, scale=1.0):
        """``normal`` for :meth:`noise`: stateless draws of ``seed``, one stream per noise part, times ``scale``."""
        return lambda shape, part: scale * tf.random.stateless_normal(shape, seed=tf.stack([seed, part]))

    def sample(self, batch: int, notes: int, seed: int, temperature: float = 1.0) -> np.ndarray:
        """Generated features, float32 shape=(batch, notes, 4): the same for the same seed on any run.

        Args:
            temperature: Scales the noise (the truncation of the noise): below 1 nearer the
                generator's typical output, above 1 wilder; with the softmax pitch head it is also the
                temperature of the pitch draws (the logits are divided by it).
        """
        seed = tf.constant(seed, tf.int64)
        noise = self.noise(batch, notes, self._seeded_noise(seed, temperature))
        logit_scale = tf.constant(1.0 / max(temperature, 1e-6), tf.float32)
        return keras.ops.convert_to_numpy(self._compiled_generator(tf.cast(noise, tf.float32), seed, logit_scale))

    @functools.cached_property
    def _compiled_generator(self):
        """The generator and the pitch draws as one compiled graph for any batch and length: run eagerly, its
        LSTMs step note by note in Python (5 s for three 8-bar chorales against a tenth of that)."""
        width = self.noise_dim + self.global_noise_dim
        return tf.function(
            self._composed,
            input_signature=[
                tf.TensorSpec((None, None, width), tf.float32),
                tf.TensorSpec((), tf.int64),
                tf.TensorSpec((), tf.float32),
            ],
        )

    # === Training ===

    def _training_features(self, noise, weights) -> tuple[tf.Tensor, tf.Tensor]:
        """Generated features and what the discriminator reads of them, padded like the real windows (zeros
        past a short piece's end, or padding alone tells them apart); softmax pitches straight-through."""

        def uniform(shape):
            return keras.random.uniform(shape, seed=self.seed_generator)

        generated = self.generator(noise, training=True)
        features, choice = self.pitch.features(generated, uniform, soft_temperature=self.gumbel_temperature)
        mask = tf.cast(weights, tf.float32)[..., None]
        return features * mask, self.pitch.judged(features, choice) * mask

    def _judge(self, windows, weights, training):
        """The discriminator on ``windows``: a logit per window, shape=(batch,), and its mean hidden features."""
        if training and self.instance_noise:
            windows = windows + keras.random.normal(
                tf.shape(windows), stddev=self.instance_noise, seed=self.seed_generator
            )
        logits, hidden = self.discriminator(windows, training=training)
        return _pooled(logits, weights)[:, 0], _pooled(hidden, weights)

    def train_step(self, data):
        windows, weights, _ = keras.utils.unpack_x_y_sample_weight(data)
        windows = tf.cast(windows, tf.float32)
        noise = self._training_noise(tf.shape(windows)[0], tf.shape(windows)[1])
        if self.pretraining:
            return self._pretrain_step(windows, weights, noise)
        wasserstein = self.gradient_penalty > 0
        # One forward pass serves both networks: the discriminator judges real and generated windows as one
        # batch, and each network steps on its own loss against the other as it was (simultaneous updates).
        real = self.pitch.judged(windows) * tf.cast(weights, tf.float32)[..., None]  # no pitch one-hot on padding
        with tf.GradientTape(persistent=True) as tape:
            fake_notes, fake = self._training_features(noise, weights)
            logits, features = self._judge(tf.concat([real, fake], 0), tf.concat([weights, weights], 0), True)
            (real_logits, fake_logits), (real_features, fake_features) = tf.split(logits, 2), tf.split(features, 2)
            if wasserstein:
                d_loss = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
                d_loss += self.gradient_penalty * self._penalty(real, fake, weights)
                g_loss = -tf.reduce_mean(fake_logits)
            else:
                real_labels = tf.fill(tf.shape(real_logits), 1.0 - self.label_smoothing)
                d_loss = _bce(real_labels, real_logits) + _bce(tf.zeros_like(fake_logits), fake_logits)
                # Non-saturating: the generator maximizes log D(fake) rather than minimizing log(1 - D(fake)).
                g_loss = _bce(tf.ones_like(fake_logits), fake_logits)
            if self.feature_matching:
                matched = tf.reduce_mean(real_features, axis=0) - tf.reduce_mean(fake_features, axis=0)
                g_loss += tf.reduce_mean(tf.square(matched))
            distance = feature_distance(windows, fake_notes, weights)
            if self.distance_weight:
                g_loss += self.distance_weight * distance
            # Scaled on the tape: under mixed precision the loss-scale optimizers multiply the losses, and a
            # product taken after the tape closed would have no gradients.
            steps = [
                (self.discriminator_optimizer, self.discriminator, self.discriminator_optimizer.scale_loss(d_loss)),
                (self.optimizer, self.generator, self.optimizer.scale_loss(g_loss)),
            ]
        for optimizer, network, scaled in steps:
            variables = network.trainable_variables
            optimizer.apply(tape.gradient(scaled, variables), variables)
        del tape
        return self._track(
            d_loss=d_loss,
            g_loss=g_loss,
            d_real_acc=tf.reduce_mean(tf.cast(real_logits > 0, tf.float32)),
            d_fake_acc=tf.reduce_mean(tf.cast(fake_logits < 0, tf.float32)),
            feature_distance=distance,
        )

    def _pretrain_step(self, windows, weights, noise):
        """The generator alone, trained to shrink :func:`~core.models.gan.feature_distance` to the real windows."""
        with tf.GradientTape() as tape:
            distance = feature_distance(windows, self._training_features(noise, weights)[0], weights)
            scaled = self.optimizer.scale_loss(distance)  # on the tape, as in train_step
        variables = self.generator.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return self._track(g_loss=distance, feature_distance=distance)

    def _penalty(self, windows, fake, weights):
        """WGAN-GP: ``mean((||grad D(x)||_2 - 1)^2)`` at random points between real and generated windows
        (as the discriminator reads them)."""
        mix = keras.random.uniform((tf.shape(windows)[0], 1, 1), seed=self.seed_generator)
        between = mix * windows + (1 - mix) * fake
        with tf.GradientTape() as tape:
            tape.watch(between)
            logits, _ = self._judge(between, weights, True)
        gradients = tape.gradient(logits, between)
        norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2]) + 1e-12)
        return tf.reduce_mean(tf.square(norms - 1.0))

    def test_step(self, data):
        """Distance of generated windows to the validation windows, and the diversity of a fixed noise batch.

        The noise is seeded, so an epoch's figures differ from the last only by what the generator learned.
        """
        windows, weights, _ = keras.utils.unpack_x_y_sample_weight(data)
        windows = tf.cast(windows, tf.float32)
        batch, notes = tf.shape(windows)[0], tf.shape(windows)[1]
        seed = tf.constant(VALIDATION_SEED, tf.int64)
        fake = self._composed(self.noise(batch, notes, self._seeded_noise(seed)), seed)
        fixed = self.noise(DIVERSITY_SAMPLES, notes, self._seeded_noise(seed + 1))
        return self._track(
            feature_distance=feature_distance(windows, fake, weights),
            diversity=pitch_class_diversity(self._composed(fixed, seed + 1)),
        )

    def _track(self, **values) -> dict:
        """Add this step's values to their running means; the logs of the step."""
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}

    # === Config ===

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "noise_dim": self.noise_dim,
            "global_noise_dim": self.global_noise_dim,
            "feature_matching": self.feature_matching,
            "label_smoothing": self.label_smoothing,
            "instance_noise": self.instance_noise,
            "gradient_penalty": self.gradient_penalty,
            "discriminator_lr_ratio": self.discriminator_lr_ratio,
            "pretrain_epochs": self.pretrain_epochs,
            "distance_weight": self.distance_weight,
            "pitch_head": self.pitch_head,
            "gumbel_temperature": self.gumbel_temperature,
        }

    @classmethod
    def from_config(cls, config: dict) -> AdversarialComposer:
        config = dict(config)
        networks = {
            key: keras.saving.deserialize_keras_object(config.pop(key)) for key in ("generator", "discriminator")
        }
        return cls(**networks, **config)


def _bce(labels, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def _pooled(values, weights):
    """Mean of ``values``, shape=(batch, notes, width), over each window's real notes: shape=(batch, width)."""
    weights = tf.cast(weights, values.dtype)[..., None]
    return tf.reduce_sum(values * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
