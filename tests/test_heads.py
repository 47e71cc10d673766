"""Task heads: one object per sequence kind holds input, loss, metrics, targets, start and next-step pick."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.config import DataConfig, TrainConfig
from core.data.build import build_dataset
from core.data.conditioning import PREFIX_LENGTH
from core.data.representations import (
    CHORD_STEP,
    DEFAULT_VELOCITY,
    MELODY_REST,
    get_representation,
    velocity_to_bin,
)
from core.data.uploads import SourceFile
from core.data.windows import WindowControls, conditioning_for, window_dataset
from core.errors import ConfigError
from core.generation.decoding import step_decoder
from core.models import HEADS, MODELS, InputSpec, build_model, head_for, input_spec_for, make_config
from core.models.base import KINDS
from core.models.heads import FrameHead, TokenHead
from core.training.trainer import compile_model
from tests.conftest import scale_piece


def test_a_head_serves_every_kind_a_model_takes():
    """A new output kind is one entry in HEADS: nothing else in core/models or core/training names a kind."""
    taken = {kind for spec in MODELS.values() for kind in spec.kinds}
    assert set(HEADS) == taken and set(HEADS) <= set(KINDS)
    for kind, head in HEADS.items():
        assert head.kind == kind and head_for(kind) is head
    with pytest.raises(ConfigError, match="heads exist for tokens, frames, features"):
        head_for("audio")


# The heads of sequence models; the features head's model trains itself (tests/test_gan.py).
@pytest.mark.parametrize("kind", [kind for kind, head in HEADS.items() if not head.own_train_step])
def test_every_head_fills_the_whole_contract(kind):
    head = head_for(kind)
    spec = InputSpec(kind, 12, 16)
    assert head.model_input(spec).dtype == head.dtype
    assert isinstance(head.input_projection(spec, 8), keras.layers.Layer)
    assert isinstance(head.loss(), keras.losses.Loss)
    assert all(isinstance(metric, keras.metrics.Metric) for metric in head.metrics())
    logits = tf.zeros((2, 12))
    picked = head.pick(logits, True, tf.constant(0, tf.int64), tf.constant(0))
    assert picked.dtype == head.dtype and picked.shape[0] == 2
    assert not head.own_train_step
    model = build_model("rnn", make_config("rnn", {"units": 8, "embedding_dim": 4, "layers": 1}), spec)
    assert step_decoder(model).head is head


def test_token_targets_shift_and_weigh_out_the_controls_and_the_padding():
    windows = tf.constant([[1, 2, 3, 4, 5]], tf.int32)
    every_step = tf.ones((1, 5), tf.bool)
    inputs, targets, weights = TokenHead().targets(windows, every_step)
    assert inputs.numpy().tolist() == [[1, 2, 3, 4]] and targets.numpy().tolist() == [[2, 3, 4, 5]]
    assert weights.numpy().tolist() == [[1, 1, 1, 1]]
    _, _, weights = TokenHead().targets(windows, every_step, prefix_length=3)
    # Targets 2 and 3 are controls; 4, the first music token, is predicted from the last control.
    assert weights.numpy().tolist() == [[0, 0, 1, 1]]
    _, _, weights = TokenHead().targets(windows, tf.constant([[True, True, True, False, False]]))
    assert weights.numpy().tolist() == [[1, 1, 0, 0]]  # targets 4 and 5 are padding


def test_frame_targets_are_float_frames():
    windows = tf.constant(np.eye(4, dtype=np.uint8)[None])
    inputs, targets, weights = FrameHead().targets(windows, tf.constant([[True, True, True, False]]))
    assert inputs.dtype == tf.float32 and targets.dtype == tf.float32
    np.testing.assert_array_equal(targets.numpy()[0], np.eye(4)[1:])
    assert weights.numpy().tolist() == [[1, 1, 0]]


def test_neutral_starts_hold_no_note():
    config = DataConfig()
    melody, events, pianoroll = (get_representation(name, config) for name in ("melody", "events", "pianoroll"))
    assert head_for(melody.kind).neutral_start(melody).tolist() == [MELODY_REST]
    velocity = events.velocity_offset + int(velocity_to_bin(DEFAULT_VELOCITY, events.velocity_bins))
    assert head_for(events.kind).neutral_start(events).tolist() == [velocity]
    start = head_for(pianoroll.kind).neutral_start(pianoroll)
    assert start.shape == (1, pianoroll.size) and start.dtype == np.float32 and not start.any()
    chords = get_representation("chords", config)
    assert head_for(chords.kind).neutral_start(chords).tolist() == [CHORD_STEP]  # a silent frame's end


def test_token_picks_argmax_or_draws_from_the_softmax():
    logits = tf.math.log(tf.constant([[0.1, 0.6, 0.3]] * 4000))
    seed = tf.constant(3, tf.int64)
    assert set(TokenHead().pick(logits, True, seed, tf.constant(0)).numpy()) == {1}
    drawn = TokenHead().pick(logits, False, seed, tf.constant(0)).numpy()
    np.testing.assert_allclose(np.bincount(drawn, minlength=3) / len(drawn), [0.1, 0.6, 0.3], atol=0.03)
    np.testing.assert_array_equal(TokenHead().pick(logits, False, seed, tf.constant(0)).numpy(), drawn)
    assert not np.array_equal(TokenHead().pick(logits, False, seed, tf.constant(1)).numpy(), drawn)


def test_frame_picks_threshold_or_draw_each_pitch():
    logits = tf.constant([[-3.0, 0.5, 3.0]] * 4000)
    seed = tf.constant(3, tf.int64)
    assert FrameHead().pick(logits, True, seed, tf.constant(0)).numpy()[0].tolist() == [0, 1, 1]
    drawn = FrameHead().pick(logits, False, seed, tf.constant(0)).numpy()
    np.testing.assert_allclose(drawn.mean(axis=0), tf.sigmoid(logits[0]).numpy(), atol=0.03)


class CountingModel(keras.Model):
    """A model with its own train_step, as keras-io's GAN: it tracks what it computed itself."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)
        self.steps = keras.Variable(0, dtype="int32", trainable=False)
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.g_loss_tracker]

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        self.steps.assign_add(1)
        self.g_loss_tracker.update_state(0.5)
        return {"g_loss": self.g_loss_tracker.result()}


class OwnStepHead(TokenHead):
    own_train_step = True


def test_a_model_with_its_own_train_step_trains_through_the_trainer():
    model = CountingModel()
    compile_model(model, OwnStepHead(), TrainConfig(warmup_steps=0), total_steps=4)
    history = model.fit(np.zeros((8, 2), np.float32), np.zeros((8, 1)), batch_size=2, epochs=1, verbose=0)
    assert int(model.steps.numpy()) == 4 and history.history == {"g_loss": [0.5]}


@pytest.mark.parametrize("kind", [kind for kind, head in HEADS.items() if not head.own_train_step])
def test_the_trainer_compiles_with_the_heads_loss_and_metrics(kind):
    model = build_model("rnn", make_config("rnn", {"units": 8, "embedding_dim": 4, "layers": 1}), InputSpec(kind, 6, 8))
    compile_model(model, head_for(kind), TrainConfig(), total_steps=10)
    head = head_for(kind)
    assert type(model.loss) is type(head.loss())
    expected = {metric.name for metric in head.metrics()}
    inputs = np.zeros((2, 8), np.int32) if kind == "tokens" else np.zeros((2, 8, 6), np.float32)
    targets = np.zeros((2, 8), np.int32) if kind == "tokens" else np.zeros((2, 8, 6), np.float32)
    logs = model.train_on_batch(inputs, targets, return_dict=True)
    assert expected <= set(logs)


@pytest.mark.parametrize(
    ("model", "options", "representation", "conditioned"),
    [
        ("lstm", {"embedding_dim": 8, "units": 16, "layers": 1}, "melody", True),
        ("transformer", {"d_model": 16, "heads": 2, "layers": 1, "ff_dim": 32, "max_length": 64}, "events", False),
        ("rnn", {"embedding_dim": 8, "units": 16, "layers": 1}, "pianoroll", False),
    ],
)
def test_a_padded_window_has_the_loss_and_metrics_of_its_unpadded_steps(model, options, representation, conditioned):
    files = [SourceFile("long.mid", scale_piece(length=24)), SourceFile("short.mid", scale_piece(offset=3, length=5))]
    config = DataConfig(validation_fraction=0.0, min_notes=2, min_duration_seconds=0.1)
    dataset = build_dataset("padded", files, config).dataset
    codec = get_representation(representation, dataset.config)
    head, length = head_for(codec.kind), 33
    spec, controls, prefix = input_spec_for(representation, dataset.config, length), None, 0
    if conditioned:
        conditioning = conditioning_for(dataset, codec, length)
        controls, prefix = WindowControls(conditioning, dataset, codec), PREFIX_LENGTH
        spec = InputSpec(spec.kind, conditioning.vocab_size, length + prefix, control_prefix=prefix)
    network = build_model(model, make_config(model, options), spec)
    compile_model(network, head, TrainConfig(), total_steps=10)
    pipeline = window_dataset(dataset, representation, "train", length + 1, 64, shuffle=False, controls=controls)
    windows, real = next(iter(pipeline))
    assert not real.numpy()[-1].all()  # the short piece's window is padded
    inputs, targets, weights = head.targets(windows, real, prefix)
    logs = network.evaluate(inputs, targets, sample_weight=weights, return_dict=True, verbose=0)

    # The same windows without their padding, one at a time, then their targets pooled in one row.
    pooled = [[], [], []]
    for window, mask in zip(windows.numpy(), real.numpy()):
        steps = tf.constant(window[mask][None])
        inputs, targets, weights = head.targets(steps, tf.ones(steps.shape[:2], tf.bool), prefix)
        for found, value in zip(pooled, (targets, network(inputs), weights)):
            found.append(value)
    targets, logits, weights = (tf.concat(found, axis=1) for found in pooled)
    assert logs["loss"] == pytest.approx(float(head.loss()(targets, logits, sample_weight=weights)), rel=1e-5)
    for metric in head.metrics():
        metric.update_state(targets, logits, sample_weight=weights)
        assert logs[metric.name] == pytest.approx(float(metric.result()), rel=1e-5, abs=1e-6)
