"""Tests for core.models: every registered sequence model and input kind, on tiny configs.

The sequence models predict the next step (causal, stepped by a decoder, memorizing a cycle);
the GANs generate whole sequences from noise and train themselves: tests/test_gan.py tests them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from core.checkpoints import SHIPPED_CHECKPOINTS
from core.config import DataConfig, to_dict
from core.data.conditioning import PREFIX_LENGTH
from core.errors import ConfigError
from core.generation.decoding import step_decoder
from core.models import (
    HEADS,
    MODELS,
    InputSpec,
    build_model,
    get_model_spec,
    input_spec_for,
    list_models,
    make_config,
)
from core.models.layers import CausalAttention

VOCAB = 20
PITCHES = 12
LENGTH = 16
BATCH = 8
TINY = {
    "rnn": {"embedding_dim": 16, "units": 32, "layers": 2, "dropout": 0.1},
    "lstm": {"embedding_dim": 16, "units": 32, "layers": 2, "dropout": 0.1},
    "lstm_attention": {"embedding_dim": 16, "units": 32, "layers": 1, "dropout": 0.1},
    "transformer": {"d_model": 32, "heads": 2, "layers": 2, "ff_dim": 64, "dropout": 0.1, "max_length": 32},
    "crnn_gan": {"units": 8, "layers": 1, "noise_dim": 4, "conv_filters": 8, "conv_blocks": 1},
    "rnn_gan": {"units": 8, "layers": 1, "noise_dim": 4},
}
# The models that predict the next step: those whose heads train by teacher forcing.
SEQUENCE_MODELS = {
    name: spec for name, spec in MODELS.items() if not any(HEADS[kind].own_train_step for kind in spec.kinds)
}
# Settings each model is also tested with, beyond its tiny config.
VARIANTS = {
    "lstm_attention": [
        {"attention": "additive", "attention_window": 0},
        {"attention": "dot", "attention_window": 4},
    ],
    "transformer": [{"positions": "learned"}, {"positions": "relative"}],
}


def case(name: str, variant: dict, kind: str):
    """``name``'s tiny config with ``variant`` over it, on input ``kind``, named by all three."""
    return pytest.param(name, {**TINY[name], **variant}, kind, id="-".join([name, *map(str, variant.values()), kind]))


CASES = [
    case(name, variant, kind)
    for name, spec in SEQUENCE_MODELS.items()
    for variant in VARIANTS.get(name, [{}])
    for kind in spec.kinds
]
# Learning is slow to test (each case builds and compiles a model): every architecture with every head, and every
# variant once, paired with the heads in turn, rather than every combination.
MEMORIZE_CASES = [
    case(name, VARIANTS.get(name, [{}])[index % len(VARIANTS.get(name, [{}]))], kind)
    for name, spec in SEQUENCE_MODELS.items()
    for index, kind in enumerate(spec.kinds)
]
# Every model also as a conditioned token model (control tokens first, broadcast to every step), additive attention
# over a window (as the app's default) and relative positions clipped at a distance well inside the stepped length.
SAVE_CASES = [
    *CASES,
    *(case(name, variant, "controls") for name in SEQUENCE_MODELS for variant in VARIANTS.get(name, [{}])),
    case("lstm_attention", {"attention": "additive", "attention_window": 5}, "tokens"),
    case("transformer", {"positions": "relative", "max_length": 8}, "tokens"),
]
# Beyond the attention window and the clipped relative distances: the decoder's caches must slide and clip.
STEPPED_LENGTH = 20


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)


def input_spec(kind: str) -> InputSpec:
    """``"controls"``: tokens whose first PREFIX_LENGTH steps are control tokens."""
    if kind == "controls":
        return InputSpec("tokens", VOCAB, 32, control_prefix=PREFIX_LENGTH)
    return InputSpec(kind, VOCAB if kind == "tokens" else PITCHES, 32)


def random_inputs(kind: str, length: int = LENGTH, batch: int = BATCH) -> np.ndarray:
    """Token ids, shape=(batch, length), or multi-hot frames, shape=(batch, length, PITCHES)."""
    rng = np.random.default_rng(1)
    if kind in ("tokens", "controls"):
        return rng.integers(0, VOCAB, (batch, length)).astype(np.int32)
    return (rng.random((batch, length, PITCHES)) < 0.3).astype(np.float32)


def cycle_windows(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-step targets: every window of length LENGTH of a repeated 8-step cycle."""
    rng = np.random.default_rng(2)
    if kind == "tokens":
        cycle = rng.permutation(VOCAB)[:8].astype(np.int32)
    else:
        cycle = (rng.random((8, PITCHES)) < 0.3).astype(np.float32)
    sequence = np.concatenate([cycle] * 4)
    starts = range(8)
    inputs = np.stack([sequence[start : start + LENGTH] for start in starts])
    targets = np.stack([sequence[start + 1 : start + LENGTH + 1] for start in starts])
    return inputs, targets


def build(name: str, overrides: dict, kind: str) -> keras.Model:
    return build_model(name, make_config(name, overrides), input_spec(kind))


def compile_for(model: keras.Model, kind: str, learning_rate: float) -> None:
    loss = (
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if kind == "tokens"
        else keras.losses.BinaryCrossentropy(from_logits=True)
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    model.optimizer.build(model.trainable_variables)  # as the trainer does: the step is traced once, not twice


@pytest.mark.parametrize(("name", "overrides", "kind"), CASES)
def test_output_shape_for_two_lengths(name, overrides, kind):
    model = build(name, overrides, kind)
    size = input_spec(kind).size
    for length in (LENGTH, 24):
        logits = model(random_inputs(kind, length), training=False)
        assert tuple(logits.shape) == (BATCH, length, size)
        assert logits.dtype == "float32"


@pytest.mark.parametrize(("name", "overrides", "kind"), MEMORIZE_CASES)
def test_trains_and_memorizes_a_cycle(name, overrides, kind):
    model = build(name, overrides, kind)
    compile_for(model, kind, learning_rate=0.02)
    inputs, targets = cycle_windows(kind)
    # 50 passes over the windows as 5 epochs of 10: the same steps, a tenth of the per-epoch overhead.
    inputs, targets = (
        np.tile(inputs, (10,) + (1,) * (inputs.ndim - 1)),
        np.tile(targets, (10,) + (1,) * (targets.ndim - 1)),
    )
    history = model.fit(inputs, targets, batch_size=BATCH, epochs=5, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.5 * history[0], history


@pytest.mark.parametrize(("name", "overrides", "kind"), SAVE_CASES)
def test_the_reloaded_model_gives_the_same_logits_at_once_and_step_by_step(name, overrides, kind, tmp_path):
    """The reloaded model, and its step decoder (found in the loaded file's layers, as composing finds it), give
    the original's logits: the decoder one step at a time, as composing runs it."""
    import tensorflow as tf

    model = build(name, overrides, kind)
    assert (kind == "controls") == any(layer.name == "control_broadcast" for layer in model.layers)
    for weight in model.weights:  # relative biases start at zero: a bias per distance, so that clipping shows
        if weight.path.endswith("relative_bias"):
            weight.assign(np.random.default_rng(3).normal(size=weight.shape).astype("float32"))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    inputs = random_inputs(kind, STEPPED_LENGTH)
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs, training=False)), expected, atol=1e-6)
    decoder = step_decoder(loaded)
    state = decoder.initial_state(BATCH, STEPPED_LENGTH)
    steps = []
    for position in range(STEPPED_LENGTH):
        logits, state = decoder.step(tf.constant(inputs[:, position]), state, tf.constant(position))
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, axis=1), expected, rtol=1e-4, atol=1e-5)


# Tokens the shipped checkpoints compose (bars=1, seed 5 sampling, and greedy), with the training music's
# bounds and key guidance of capped ratings: loading an old functional model.keras must not change them.
SHIPPED_TOKENS = {
    ("bach-lstm", "sample"): [304, 305, 330, 62, 263, 190, 62, 257, 190, 65, 257, 193, 53, 257, 60, 257],
    ("bach-lstm", "greedy"): [304, 305, 330, 294, 52, 55, 60, 67, 259, 180, 183, 188, 195, 50, 57, 62, 67, 257]
    + [178, 48, 257, 176, 185, 190, 195, 48, 55, 60, 64, 257, 176, 50, 257, 178, 183, 188, 192, 50, 55, 62, 67]
    + [257, 190, 60, 257],
    ("irish-lstm", "sample"): [90, 91, 116, 53, 0, 58, 0, 57, 0, 53, 0, 50, 53, 48, 0, 0, 0, 41, 0],
    ("irish-lstm", "greedy"): [90, 91, 116, 53, 0, 0, 0] + [53, 0] * 5 + [50, 0],
}


@pytest.mark.xla  # the tokens recorded come from the loop the app runs, compiled by XLA
@pytest.mark.parametrize("name", ["bach-lstm", "irish-lstm"])
def test_shipped_checkpoints_compose_the_same_tokens(name):
    from core.generation.compose import Composer, CompositionRequest
    from core.generation.sampling import SampleConfig

    composer = Composer.load(SHIPPED_CHECKPOINTS / name)
    for strategy, sampling in (("sample", SampleConfig(seed=5)), ("greedy", SampleConfig(strategy="greedy"))):
        [composition] = composer.compose(CompositionRequest(bars=1, sampling=sampling)).compositions
        assert composition.tokens.tolist() == SHIPPED_TOKENS[name, strategy], strategy


# Every checkpoint exported to ship (runs trained in place land in the same folder and are skipped).
SHIPPED = sorted(
    path.parent.name
    for path in SHIPPED_CHECKPOINTS.glob("*/config.json")
    if json.loads(path.read_text()).get("shipped") and (path.parent / "model.keras").is_file()
)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoints_default_output_keeps_to_the_training_music(name):
    """Their measured defaults, a few short pieces: no hanging note, no pitch the data never had, no extra voice."""
    from core.data.bounds import voices_per_step
    from core.generation.compose import Composer, CompositionRequest

    composer = Composer.load(SHIPPED_CHECKPOINTS / name)
    assert composer.bounds is not None, f"{name} ships without the bounds of its training music"
    request = CompositionRequest.from_settings({**composer.defaults, "variations": 3, "bars": 8, "seed": 11})
    limits = composer.limits(request.post)
    low, high = composer.bounds.pitch_range
    for composition in composer.compose(request).compositions:
        notes = composition.notes
        assert (notes[:, 1] - notes[:, 0]).max() <= composer.bounds.longest_note_steps
        assert low <= notes[:, 2].min() and notes[:, 2].max() <= high
        assert voices_per_step(notes).max() <= limits.max_polyphony == composer.bounds.voices


@pytest.mark.parametrize(("name", "overrides", "kind"), CASES)
def test_future_inputs_do_not_change_earlier_outputs(name, overrides, kind):
    model = build(name, overrides, kind)
    inputs = random_inputs(kind)
    changed = inputs.copy()
    step = 10
    changed[:, step] = (changed[:, step] + 1) % VOCAB if kind == "tokens" else 1 - changed[:, step]
    before = keras.ops.convert_to_numpy(model(inputs, training=False))
    after = keras.ops.convert_to_numpy(model(changed, training=False))
    np.testing.assert_allclose(after[:, :step], before[:, :step], atol=1e-6)
    assert np.abs(after[:, step] - before[:, step]).max() > 1e-4


@pytest.mark.parametrize("name", list(SEQUENCE_MODELS))
def test_mixed_precision_keeps_float32_logits(name):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build(name, TINY[name], "tokens")
        logits = model(random_inputs("tokens"), training=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert logits.dtype == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(logits)))


@pytest.mark.parametrize("score", ["additive", "dot"])
def test_attention_window_sees_only_recent_steps(score):
    attention = CausalAttention(8, score=score, window=3)
    inputs = np.random.default_rng(3).normal(size=(2, 10, 6)).astype(np.float32)
    changed = inputs.copy()
    changed[:, 2] += 1.0
    difference = np.abs(keras.ops.convert_to_numpy(attention(changed) - attention(inputs))).max(axis=(0, 2))
    # Step 2 is seen by steps 2, 3 and 4 only.
    assert np.all(difference[2:5] > 1e-4)
    np.testing.assert_allclose(difference[[0, 1, 5, 6, 7, 8, 9]], 0, atol=1e-6)


def test_relative_transformer_runs_past_max_length():
    model = build("transformer", {**TINY["transformer"], "positions": "relative"}, "tokens")
    assert tuple(model(random_inputs("tokens", length=40, batch=2)).shape) == (2, 40, VOCAB)


def test_learned_positions_must_cover_the_input_length():
    config = make_config("transformer", {"max_length": 16})
    with pytest.raises(ConfigError, match="max_length"):
        build_model("transformer", config, InputSpec("tokens", VOCAB, 64))


def test_registry_lists_every_model():
    names = ["rnn", "lstm", "lstm_attention", "transformer", "crnn_gan", "rnn_gan"]
    assert [spec.name for spec in list_models()] == names
    for spec in list_models():
        assert spec.kinds == (("tokens", "frames") if spec.name in SEQUENCE_MODELS else ("features",))
        assert make_config(spec.name) == spec.config_class()


@pytest.mark.parametrize("name", list(MODELS))
def test_make_config_round_trips_through_a_dict(name):
    config = make_config(name, TINY[name])
    assert make_config(name, to_dict(config)) == config


def test_make_config_accepts_ints_for_floats():
    assert make_config("rnn", {"dropout": 0}).dropout == 0.0


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("rnn", {"hidden": 3}, "unknown rnn setting"),
        ("rnn", {"units": 0}, "units must be positive"),
        ("rnn", {"units": "many"}, "units must be int"),
        ("rnn", {"layers": 2.5}, "layers must be int"),
        ("lstm", {"dropout": 1.0}, "dropout must be in"),
        ("lstm", {"recurrent_dropout": -0.1}, "recurrent_dropout must be in"),
        ("lstm_attention", {"attention": "luong"}, "attention must be one of"),
        ("lstm_attention", {"attention_window": -1}, "attention_window must be"),
        ("transformer", {"d_model": 30}, "multiple of heads"),
        ("transformer", {"positions": "rotary"}, "positions must be one of"),
        ("transformer", {"dropout": True}, "dropout must be float"),
    ],
)
def test_make_config_rejects_bad_settings(name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        make_config(name, overrides)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError, match="rnn, lstm, lstm_attention, transformer"):
        get_model_spec("nope")


def test_build_model_rejects_features_and_foreign_configs():
    with pytest.raises(ConfigError, match="the transformer model takes tokens or frames, not features"):
        build_model("transformer", make_config("transformer"), InputSpec("features", 4, 64))
    with pytest.raises(ConfigError, match="needs a RNNConfig"):
        build_model("rnn", make_config("transformer"), InputSpec("tokens", VOCAB, 64))


def test_input_spec_for_representations():
    config = DataConfig(pianoroll_pitches=128)
    assert input_spec_for("melody", config, 64) == InputSpec("tokens", 90, 64)
    assert input_spec_for("pianoroll", config, 64) == InputSpec("frames", 128, 64)
    assert input_spec_for("notes", config, 64) == InputSpec("features", 4, 64)


def test_registry_import_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from core.config import DataConfig\n"
        "import core.models as models\n"
        "models.list_models()\n"
        "models.make_config('transformer', {'layers': 2})\n"
        "models.input_spec_for('melody', DataConfig(), 64)\n"
        "heavy = sorted({'tensorflow', 'keras'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
