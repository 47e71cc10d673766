"""The GANs (core.models.gan): networks, their own train step, stabilizers, saving, training and composing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pretty_midi
import pytest
import tensorflow as tf

from core.checkpoints import SHIPPED_CHECKPOINTS, checkpoint_info
from core.cli import main
from core.config import DataConfig, TrainConfig
from core.data.representations import get_representation
from core.errors import GenerationError
from core.generation.sampling import Limits, NoiseSampler, SampleConfig
from core.models import InputSpec, build_model, head_for, make_config
from core.models.gan import SPREAD_FLOOR, NoiseDecoder, feature_distance, pitch_class_diversity
from core.models.heads import FeatureHead
from core.models.pitch_heads import PITCH_HEADS
from core.music.theory import MIDI_PITCHES
from core.store import runs as run_store
from core.training.trainer import compile_model
from tests.conftest import make_notes, tiny_dataset

NOTES, BATCH = 12, 4
SPEC = InputSpec("features", 4, NOTES)
TINY = {"units": 8, "layers": 1, "noise_dim": 4, "discriminator_filters": 8, "discriminator_units": 8}
TINY_CRNN = {**TINY, "conv_filters": 8, "conv_blocks": 1}
SOFTMAX = {"pitch_head": "softmax"}


def windows(batch: int = BATCH, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random feature windows, shape=(batch, NOTES, 4), and weights with the last window padded after 8 notes."""
    features = np.random.default_rng(seed).random((batch, NOTES, 4)).astype(np.float32)
    weights = np.ones((batch, NOTES), np.float32)
    weights[-1, 8:] = 0
    return features, weights


def weights_of(network: keras.Model) -> list[np.ndarray]:
    return [variable.numpy().copy() for variable in network.trainable_variables]


def changed(before: list[np.ndarray], network: keras.Model) -> bool:
    return any(not np.array_equal(old, new) for old, new in zip(before, weights_of(network)))


def compiled_crnn_gan(options: dict) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_model("crnn_gan", make_config("crnn_gan", {**TINY_CRNN, **options}), SPEC)
    compile_model(model, head_for("features"), TrainConfig(warmup_steps=0), total_steps=10)
    model.run_eagerly = True  # a step costs less than tracing it; the trainer's test traces them
    return model


@pytest.fixture(scope="module")
def crnn_gan() -> keras.Model:
    """One small compiled C-RNN-GAN, shared: building and tracing cost more than the tests."""
    return compiled_crnn_gan({})


@pytest.fixture(scope="module")
def softmax_gan() -> keras.Model:
    """The same with the softmax pitch head."""
    return compiled_crnn_gan(SOFTMAX)


@pytest.mark.parametrize(
    ("name", "options"),
    [("crnn_gan", TINY_CRNN), ("rnn_gan", TINY), ("rnn_gan", {**TINY, "sigmoid_output": True})],
    ids=["crnn_gan", "rnn_gan", "rnn_gan-sigmoid"],
)
def test_both_networks_take_and_give_note_features_of_any_length(name, options):
    model = build_model(name, make_config(name, {**options, "global_noise_dim": 2}), SPEC)
    assert model.name == name
    assert any(isinstance(layer, keras.layers.Conv1D) for layer in model.generator.layers) == (name == "crnn_gan")
    for notes in (NOTES, 20):
        noise = np.random.default_rng(notes).normal(size=(BATCH, notes, 6)).astype(np.float32)
        features = keras.ops.convert_to_numpy(model.generator(noise))
        assert features.shape == (BATCH, notes, 4) and np.isfinite(features).all()
        # The paper's sigmoid keeps them in [0, 1]; by default they are linear (decoding clips them).
        assert not options.get("sigmoid_output") or (features.min() >= 0 and features.max() <= 1)
        logits, hidden = model.discriminator(features)
        assert tuple(logits.shape) == (BATCH, notes, 1) and tuple(hidden.shape) == (BATCH, notes, 16)
    assert model.sample(3, 7, seed=1).shape == (3, 7, 4)
    activation = model.generator.get_layer("features").activation.__name__
    assert activation == ("sigmoid" if options.get("sigmoid_output") else "linear")


@pytest.mark.parametrize("name", ["crnn_gan", "rnn_gan"])
def test_the_softmax_pitch_head_writes_pitch_logits_and_the_judge_reads_a_one_hot(name):
    options = TINY_CRNN if name == "crnn_gan" else TINY
    model = build_model(name, make_config(name, {**options, **SOFTMAX}), SPEC)
    noise = np.random.default_rng(0).normal(size=(BATCH, NOTES, 4)).astype(np.float32)
    generated = model.generator(noise)
    # Duration, gap and velocity, then a logit per MIDI pitch.
    assert tuple(generated.shape) == (BATCH, NOTES, 3 + MIDI_PITCHES)
    features, choice = model.pitch.features(
        generated, lambda shape: tf.random.uniform(shape, seed=0), soft_temperature=1.0
    )
    assert tuple(features.shape) == (BATCH, NOTES, 4) and tuple(choice.shape) == (BATCH, NOTES, MIDI_PITCHES)
    # Straight-through: the forward value is an exact one-hot, and the pitch feature is its index / 127.
    np.testing.assert_allclose(tf.reduce_sum(choice, -1).numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(features[..., 0].numpy() * 127, tf.argmax(choice, -1).numpy(), atol=1e-4)
    np.testing.assert_array_equal(features[..., 1:].numpy(), generated[..., :3].numpy())
    logits, hidden = model.discriminator(model.pitch.judged(features, choice))
    assert tuple(logits.shape) == (BATCH, NOTES, 1) and tuple(hidden.shape) == (BATCH, NOTES, 16)
    # Real notes: their exact one-hot.
    real = model.pitch.judged(tf.constant([[[60 / 127, 0.1, 0.0, 0.5]]]))
    assert real.shape[-1] == 4 + MIDI_PITCHES and real.numpy()[0, 0, 4 + 60] == 1 and real.numpy()[0, 0, 4:].sum() == 1
    sample = model.sample(3, 7, seed=1)
    assert sample.shape == (3, 7, 4) and NoiseDecoder(model).size == 4
    pitches = sample[..., 0] * 127
    np.testing.assert_allclose(pitches, np.round(pitches), atol=1e-4)
    assert pitches.min() >= 0 and pitches.max() <= 127


def test_a_config_saved_before_the_pitch_head_loads_as_continuous(crnn_gan):
    assert make_config("crnn_gan", {**TINY_CRNN}).pitch_head == "continuous"
    config = crnn_gan.get_config()
    del config["pitch_head"], config["gumbel_temperature"]
    loaded = type(crnn_gan).from_config(config)
    assert loaded.pitch_head == "continuous" and loaded.generator.outputs[0].shape[-1] == 4


@pytest.mark.parametrize("gan", ["crnn_gan", "softmax_gan"])
def test_a_train_step_changes_both_networks_and_logs_the_curves(gan, request):
    model = request.getfixturevalue(gan)
    generator, discriminator = weights_of(model.generator), weights_of(model.discriminator)
    logs = model.train_on_batch(*windows(), return_dict=True)
    assert changed(generator, model.generator) and changed(discriminator, model.discriminator)
    assert set(logs) == {"d_loss", "g_loss", "d_real_acc", "d_fake_acc", "feature_distance"}
    assert all(math.isfinite(value) for value in logs.values())
    validation = model.test_on_batch(*windows(seed=1), return_dict=True)
    assert set(validation) == {"feature_distance", "diversity"} and 0 <= validation["diversity"] <= 1


@pytest.mark.parametrize(
    "options",
    [
        {"feature_matching": False},
        {"label_smoothing": 0.2},
        {"instance_noise": 0.1},
        {"gradient_penalty": 10.0},
        {"discriminator_lr_ratio": 4.0},
        {"distance_weight": 1.0},
        {"bidirectional": True, "layer_norm": False, "global_noise_dim": 2},
    ],
    ids=lambda options: "-".join(options),
)
@pytest.mark.parametrize("pitch_head", PITCH_HEADS)
def test_every_stabilizer_trains_a_step(options, pitch_head):
    model = build_model("rnn_gan", make_config("rnn_gan", {**TINY, **options, "pitch_head": pitch_head}), SPEC)
    model.compile(keras.optimizers.Adam(1e-3), run_eagerly=True)  # eager: one step costs less than tracing it
    generator, discriminator = weights_of(model.generator), weights_of(model.discriminator)
    logs = model.train_on_batch(*windows(), return_dict=True)
    assert all(math.isfinite(float(value)) for value in logs.values())
    assert changed(generator, model.generator) and changed(discriminator, model.discriminator)


def test_the_discriminator_learns_at_the_ratio_of_the_run_learning_rate(crnn_gan):
    generator_rate = float(crnn_gan.optimizer.learning_rate)
    assert float(crnn_gan.discriminator_optimizer.learning_rate) == pytest.approx(2.0 * generator_rate)


@pytest.mark.parametrize("pitch_head", PITCH_HEADS)
def test_pretraining_trains_the_generator_alone_then_the_gan(pitch_head):
    options = {**TINY, "pretrain_epochs": 1, "pitch_head": pitch_head}
    model = build_model("rnn_gan", make_config("rnn_gan", options), SPEC)
    model.compile(keras.optimizers.Adam(1e-3), run_eagerly=True)
    generator, discriminator = weights_of(model.generator), weights_of(model.discriminator)
    features, weights = windows()
    first = model.fit(features, weights, batch_size=BATCH, epochs=1, verbose=0).history
    assert set(first) == {"g_loss", "feature_distance"} and first["g_loss"] == first["feature_distance"]
    assert changed(generator, model.generator) and not changed(discriminator, model.discriminator)
    second = model.fit(features, weights, batch_size=BATCH, initial_epoch=1, epochs=2, verbose=0).history
    assert "d_loss" in second and changed(discriminator, model.discriminator)


@pytest.mark.parametrize("gan", ["crnn_gan", "softmax_gan"])
def test_save_then_reload_gives_the_same_samples_and_optimizer_states(gan, request, tmp_path):
    model = request.getfixturevalue(gan)
    model.train_on_batch(*windows())  # optimizer states that are not zeros
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.name == "crnn_gan" and loaded.pitch_head == model.pitch_head
    for temperature in (1.0, 0.7):
        np.testing.assert_array_equal(
            loaded.sample(3, 16, seed=5, temperature=temperature), model.sample(3, 16, seed=5, temperature=temperature)
        )
    assert not np.array_equal(model.sample(3, 16, seed=5), model.sample(3, 16, seed=6))
    for ours, theirs in (
        (model.optimizer, loaded.optimizer),
        (model.discriminator_optimizer, loaded.discriminator_optimizer),
    ):
        assert len(ours.variables) == len(theirs.variables)
        for mine, reloaded in zip(ours.variables, theirs.variables):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(reloaded))


def test_feature_distance_is_the_mean_wasserstein_distance_of_the_features_and_intervals():
    real = tf.constant([[[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]]])
    fake = tf.constant([[[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 1.0]]])
    # Velocity differs by 1 on one of two notes: W1 0.5, in units of the real velocities' spread (none: the
    # floor), one of five figures.
    assert float(feature_distance(real, fake, tf.ones((1, 2)))) == pytest.approx(0.5 / SPREAD_FLOOR / 5)
    # The padded note counts for nothing: the windows agree on the one real note.
    assert float(feature_distance(real, fake, tf.constant([[1.0, 0.0]]))) == 0.0
    # In units of the spread: a feature on a scale k times larger is as far.
    real, fake = np.random.default_rng(0).random((2, 2, 32, 4)).astype(np.float32)
    narrow = feature_distance(real * 0.5, fake * 0.5, tf.ones((2, 32)))
    assert float(narrow) == pytest.approx(float(feature_distance(real, fake, tf.ones((2, 32)))), rel=1e-5)


def test_diversity_is_the_mean_pairwise_distance_of_pitch_class_histograms():
    c, g = 60 / 127, 67 / 127
    same = tf.constant([[[c, 0, 0, 0], [g, 0, 0, 0]]] * 3)
    assert float(pitch_class_diversity(same)) == 0.0
    apart = tf.constant([[[c, 0, 0, 0], [c, 0, 0, 0]], [[g, 0, 0, 0], [g, 0, 0, 0]]])
    assert float(pitch_class_diversity(apart)) == pytest.approx(1.0)


def test_the_feature_head_trains_on_the_windows_themselves():
    head = head_for("features")
    assert isinstance(head, FeatureHead) and head.own_train_step and head.monitor == "feature_distance"
    window = tf.reshape(tf.range(12, dtype=tf.float32), (1, 3, 4))
    inputs, weights = head.targets(window, tf.constant([[True, False, False]]))
    np.testing.assert_array_equal(inputs.numpy(), window.numpy()[:, :2])
    assert weights.numpy().tolist() == [[1.0, 0.0]]


def test_composed_notes_keep_to_the_length_range_and_voices():
    notes = make_notes((0, 4, 30), (2, 40, 100), (3, 5, 64), (3, 6, 67), (20, 22, 60))
    kept = FeatureHead().keep_within(notes, 16, Limits(max_polyphony=2, max_note_steps=8, pitch_range=(48, 84)))
    # The note at 20 is past the end; 30 and 100 move by octaves into range, and no note lasts over 8 steps;
    # at step 3 four notes would sound: the highest and the lowest are kept.
    assert kept[:, :3].tolist() == [[0, 4, 54], [2, 10, 76]]


@pytest.mark.parametrize("gan", ["crnn_gan", "softmax_gan"])
def test_samples_decode_to_valid_notes(gan, request):
    """Pitches within MIDI's range, positive durations, at any truncation."""
    model = request.getfixturevalue(gan)
    representation = get_representation("notes", DataConfig())
    for temperature in (0.5, 1.0, 1.5):
        for features in model.sample(2, 24, seed=3, temperature=temperature):
            notes = representation.decode(features)
            assert len(notes) and notes[:, 2].min() >= 0 and notes[:, 2].max() <= 127
            assert (notes[:, 1] > notes[:, 0]).all()


def test_a_gan_refuses_a_primer(crnn_gan):
    sampler = NoiseSampler(NoiseDecoder(crnn_gan))
    with pytest.raises(GenerationError, match="cannot continue a primer"):
        sampler.run(np.zeros((2, 4), np.float32), SampleConfig(strategy="noise"), 16, 32)


def test_train_in_mixed_precision_then_compose_through_the_cli(tmp_path, capsys, monkeypatch):
    """A tiny run through the real trainer in mixed precision (forced on the CPU, as on a GPU by default; the
    shipped pitch head), its curves in the store, then ``generate`` with seed, variations and truncation from
    that checkpoint, as on a machine without a GPU: valid MIDI within the length asked for."""
    tiny_dataset()
    monkeypatch.setenv("NEUROTUNE_PRECISION", "mixed")
    train = ["train", "--dataset", "tiny", "--model", "crnn_gan", "--epochs", "1", "--batch-size", "8"]
    train += ["--seq-len", "16", "--steps-per-epoch", "2", "--validation-steps", "1", "--log-every-steps", "1"]
    for option, value in {**TINY_CRNN, **SOFTMAX}.items():
        train += ["--model-option", f"{option}={value}"]
    try:
        assert main(train) == 0, capsys.readouterr().err
    finally:
        keras.mixed_precision.set_global_policy("float32")  # the policy is global: leave it as other tests expect
    monkeypatch.delenv("NEUROTUNE_PRECISION")
    run_id = capsys.readouterr().out.split()[1].rstrip(":")
    run = run_store.get_run(run_id)
    assert (run.status, run.representation, run.epoch, run.precision) == ("finished", "notes", 1, "mixed_float16")
    rows = run_store.get_metrics([run_id])
    curves = {row["name"] for row in rows}
    assert {"d_loss", "g_loss", "d_real_acc", "d_fake_acc", "feature_distance"} <= curves
    assert {"val_feature_distance", "val_diversity"} <= curves and run.best_val_loss is not None
    assert np.all(np.isfinite([row["value"] for row in rows]))
    # Both networks computed in float16; what the generator gives stays float32 and finite.
    trained = keras.models.load_model(Path(run.checkpoint_dir) / "model.keras")
    assert "float16" in {layer.compute_dtype for layer in trained.generator.layers}
    features = trained.generator(tf.random.normal((2, 16, TINY_CRNN["noise_dim"])))
    assert features.dtype == "float32" and np.all(np.isfinite(features.numpy()))
    assert np.all(np.isfinite(trained.sample(2, 16, seed=0)))

    out = tmp_path / "piece.mid"
    generate = ["generate", "--checkpoint", run.checkpoint_dir, "--out", str(out), "--n", "4", "--seed", "3"]
    assert main([*generate, "--bars", "8", "--temperature", "0.8"]) == 0, capsys.readouterr().err
    for number in range(1, 5):
        midi = pretty_midi.PrettyMIDI(str(tmp_path / f"piece-{number}.mid"))
        played = [note for instrument in midi.instruments for note in instrument.notes]
        assert played and all(0 <= note.pitch <= 127 and note.end > note.start for note in played)
        # Eight bars of 4/4 at the default 100 BPM: 19.2 s.
        assert max(note.end for note in played) <= 19.2 + 1e-6

    # Evaluated on the musical metrics, composed from noise whatever the strategy asked, without likelihood.
    report = tmp_path / "evaluation.json"
    evaluate = ["evaluate", "--dataset", "tiny", "--checkpoint", run.checkpoint_dir, "--n", "2", "--bars", "8"]
    assert main([*evaluate, "--json", str(report)]) == 0, capsys.readouterr().err
    system = next(s for s in json.loads(report.read_text())["systems"] if s["kind"] == "checkpoint")
    assert system["likelihood"] is None and system["summary"]["overlap"] is not None
    assert any("no likelihood figures" in warning for warning in system["warnings"])
    assert any("composed with Noise (GAN)" in warning for warning in system["warnings"])


@pytest.mark.parametrize("pitch_head", PITCH_HEADS)
def test_a_mixed_precision_step_of_either_pitch_head_changes_both_networks(pitch_head):
    """Both networks in float16 with their losses scaled, as on a GPU: one eager step of each head (the whole
    trainer in mixed precision: test_train_in_mixed_precision_then_compose_through_the_cli)."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = compiled_crnn_gan({"pitch_head": pitch_head})
        assert isinstance(model.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
        generator, discriminator = weights_of(model.generator), weights_of(model.discriminator)
        logs = model.train_on_batch(*windows(), return_dict=True)
        features = model.generator(tf.random.normal((2, NOTES, TINY["noise_dim"])))
    finally:
        keras.mixed_precision.set_global_policy("float32")  # the policy is global: leave it as other tests expect
    assert changed(generator, model.generator) and changed(discriminator, model.discriminator)
    assert all(math.isfinite(float(value)) for value in logs.values())
    assert features.dtype == "float32" and np.all(np.isfinite(features.numpy()))


def test_a_non_finite_gan_loss_fails_the_run_with_the_reason(tmp_path):
    from types import SimpleNamespace

    from core.checkpoints import CheckpointFolder
    from core.training.callbacks import RunRecorder

    recorder = RunRecorder("run", CheckpointFolder(tmp_path), TrainConfig(), FeatureHead(), 0, None, SimpleNamespace())
    recorder.set_model(SimpleNamespace(stop_training=False))
    recorder.on_train_batch_end(0, {"feature_distance": 0.1, "d_loss": 0.7, "g_loss": math.nan})
    assert recorder.model.stop_training and recorder.failure.startswith("the g_loss became nan at step 1")


@pytest.mark.skipif(not (SHIPPED_CHECKPOINTS / "bach-gan").is_dir(), reason="checkpoints/bach-gan is not shipped")
def test_a_gan_checkpoint_is_labelled_by_its_monitor_and_has_no_likelihood_to_score():
    from core.errors import EvaluationError
    from core.evaluation.evaluate import _likelihood, checkpoint_likelihood
    from core.evaluation.likelihood import frame_nll, scores_frames

    info = checkpoint_info(SHIPPED_CHECKPOINTS / "bach-gan")
    assert info.val_loss is not None and "val feature distance" in info.label
    assert info.monitor_label == "feature distance to validation"
    assert checkpoint_likelihood(info) is None and not scores_frames(info.codec)
    likelihood, notes = _likelihood(info.path, info, None)
    assert likelihood is None and "no likelihood figures" in notes[0] and "musical metrics" in notes[0]
    with pytest.raises(EvaluationError, match="gives no likelihood"):
        frame_nll(info.path, "bach")


def test_set_diversity_is_the_mean_pairwise_distance_of_pitch_class_histograms():
    from core.evaluation.comparison import set_diversity

    c_d, c_c_sharp = make_notes((0, 1, 60), (1, 2, 62)), make_notes((0, 1, 60), (1, 2, 61))
    c_d_again = make_notes((0, 1, 72), (1, 2, 74))  # an octave up: the same pitch classes
    # Pairs: (c_d, c_c_sharp) 0.5, (c_d, c_d_again) 0, (c_c_sharp, c_d_again) 0.5.
    assert set_diversity([c_d, c_c_sharp, c_d_again]) == pytest.approx(1 / 3)
    assert math.isnan(set_diversity([c_d])) and math.isnan(set_diversity([c_d, make_notes()[:0]]))
