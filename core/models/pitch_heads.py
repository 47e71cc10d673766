"""How the GAN (:mod:`core.models.gan`) writes a note's pitch: one strategy per head, named in its config.

A head decides three things that must agree: what the generator outputs for a note, what the
discriminator reads, and how the generator's outputs become the notes representation's four features.
Each head keeps the layer names its models were saved with, so shipped checkpoints load unchanged.

Light at import (Keras and TensorFlow load inside the methods): the config's choices come from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.data.representations.notes import PITCH_SCALE
from core.music.theory import MIDI_PITCHES

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from core.models.base import InputSpec


class ContinuousPitch:
    """One pitch number per note, rounded when decoded (C-RNN-GAN): the discriminator reads the same four
    numbers for real and generated notes."""

    def generator_outputs(self, hidden: keras.KerasTensor, spec: InputSpec, activation: str | None):
        """The generator's last layer: features, shape=(batch, notes, spec.size)."""
        import keras

        return keras.layers.Dense(spec.size, activation=activation, dtype="float32", name="features")(hidden)

    def discriminator_input(self, spec: InputSpec) -> keras.KerasTensor:
        """The discriminator reads the representation's features as they are."""
        from core.models.heads import head_for

        return head_for(spec.kind).model_input(spec)

    def features(
        self,
        generated: tf.Tensor,
        uniform: Callable[[tf.Tensor], tf.Tensor],
        logit_scale: float = 1.0,
        soft_temperature: float | None = None,
    ) -> tuple[tf.Tensor, None]:
        """The outputs are the features; there is no pitch choice (None), so nothing is drawn."""
        import tensorflow as tf

        return tf.cast(generated, tf.float32), None

    def judged(self, features: tf.Tensor, choice: tf.Tensor | None = None) -> tf.Tensor:
        """The features as they are: there is no pitch choice to show."""
        return features


class SoftmaxPitch:
    """Logits over the 128 MIDI pitches: training shows the discriminator a straight-through Gumbel-softmax
    one-hot of them (Jang et al. 2017) beside the exact one-hot of the real notes; composing draws each pitch
    from the softmax, seeded."""

    def generator_outputs(self, hidden: keras.KerasTensor, spec: InputSpec, activation: str | None):
        """shape=(batch, notes, spec.size - 1 + MIDI_PITCHES): the features but pitch (duration, gap, velocity),
        then the pitch logits."""
        import keras

        rest = keras.layers.Dense(spec.size - 1, activation=activation, dtype="float32", name="features")(hidden)
        logits = keras.layers.Dense(MIDI_PITCHES, dtype="float32", name="pitch_logits")(hidden)
        return keras.layers.Concatenate(dtype="float32", name="features_and_pitch_logits")([rest, logits])

    def discriminator_input(self, spec: InputSpec) -> keras.KerasTensor:
        """shape=(batch, notes, spec.size + MIDI_PITCHES): the features, then the pitch as a one-hot (the
        discriminator's Conv1D embeds it), so a pitch is a choice to it as it is to the generator."""
        import keras

        return keras.Input(shape=(None, spec.size + MIDI_PITCHES), dtype="float32", name="notes")

    def features(
        self,
        generated: tf.Tensor,
        uniform: Callable[[tf.Tensor], tf.Tensor],
        logit_scale: float = 1.0,
        soft_temperature: float | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """The pitch is the Gumbel-max draw ``argmax(logits * logit_scale + g)``, ``g = -log(-log(uniform))``:
        a draw from ``softmax(logits * logit_scale)``; with ``soft_temperature`` its one-hot is straight-through
        (``hard + soft - stop_gradient(soft)``, ``soft = softmax((logits + g) / soft_temperature)``), so the
        generator gets the gradient of the relaxed choice."""
        import tensorflow as tf

        generated = tf.cast(generated, tf.float32)
        rest, logits = generated[..., :-MIDI_PITCHES], generated[..., -MIDI_PITCHES:]
        gumbel = -tf.math.log(-tf.math.log(tf.clip_by_value(uniform(tf.shape(logits)), 1e-20, 1.0 - 1e-7)))
        scores = logits * logit_scale + gumbel
        choice = tf.one_hot(tf.argmax(scores, axis=-1), MIDI_PITCHES)
        if soft_temperature is not None:
            soft = tf.nn.softmax(scores / soft_temperature)
            choice = choice + soft - tf.stop_gradient(soft)
        pitch = tf.reduce_sum(choice * tf.range(MIDI_PITCHES, dtype=tf.float32), axis=-1, keepdims=True) / PITCH_SCALE
        return tf.concat([pitch, rest], axis=-1), choice

    def judged(self, features: tf.Tensor, choice: tf.Tensor | None = None) -> tf.Tensor:
        """The features, then the pitch one-hot: of ``choice``, else exact, from the features' pitch."""
        import tensorflow as tf

        if choice is None:
            choice = tf.one_hot(tf.cast(tf.round(features[..., 0] * PITCH_SCALE), tf.int32), MIDI_PITCHES)
        return tf.concat([features, choice], axis=-1)


# The heads by the name a config gives (a config saved before heads existed is ``continuous``).
PITCH_HEADS = {"continuous": ContinuousPitch(), "softmax": SoftmaxPitch()}
