"""Generation: sampling rules, beam search, composing, checkpoints (tests/test_models.py steps every decoder)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from core.checkpoints import CheckpointFolder, checkpoint_info, export_checkpoint, list_checkpoints
from core.config import DataConfig, TrainConfig
from core.data.build import build_dataset
from core.data.conditioning import PREFIX_LENGTH, Conditioning
from core.data.representations import CHORD_STEP, MELODY_FIRST_NOTE, MELODY_HOLD, get_representation
from core.data.uploads import SourceFile
from core.errors import CheckpointError, GenerationError
from core.generation import loading
from core.generation.compose import Composer, CompositionRequest, Controls, guidance_bias
from core.generation.decoding import step_decoder
from core.generation.loading import load_checkpoint
from core.generation.postprocess import PostProcessing
from core.generation.primer import parse_note_text
from core.generation.sampling import BANNED_LOGIT, Decoded, SampleConfig, SamplerSet, filter_logits
from core.models import InputSpec, build_model, make_config
from core.store import runs as run_store
from core.training import jobs
from tests.collector import LOADER_COLLECTION
from tests.conftest import scale_piece
from tests.decoders import BigramDecoder
from tests.untrained import untrained_checkpoint

TINY = {
    "rnn": {"embedding_dim": 8, "units": 16, "layers": 2, "dropout": 0.0},
    "lstm": {"embedding_dim": 8, "units": 16, "layers": 2, "dropout": 0.0},
    "lstm_attention": {"embedding_dim": 8, "units": 16, "layers": 1, "dropout": 0.0, "attention_window": 5},
    "transformer": {"d_model": 16, "heads": 2, "layers": 2, "ff_dim": 32, "dropout": 0.0, "max_length": 32},
}


def _model(name: str, kind: str = "tokens", size: int = 12):
    return build_model(name, make_config(name, TINY[name]), InputSpec(kind, size, 24))


@pytest.mark.xla  # the loop the app runs: the rest of the suite compiles plain graphs (NEUROTUNE_XLA=0)
@pytest.mark.parametrize(("name", "kind"), [(name, "tokens") for name in TINY] + [("lstm", "frames")])
def test_every_architecture_samples_in_the_xla_compiled_loop(name, kind):
    decoder = step_decoder(_model(name, kind))
    if kind == "tokens":
        samplers = SamplerSet(decoder, token_steps=np.ones(12, np.int32))
        prefix = np.array([3], np.int32)
    else:
        samplers = SamplerSet(decoder, frame_pitches=np.arange(12) + 60)
        prefix = np.zeros((1, 12), np.float32)
    config = SampleConfig(top_k=5, top_p=0.9, temperature=0.9, seed=4, variations=2)
    decoded = samplers.run(prefix, config, target_steps=10, max_tokens=20)
    assert samplers["sample"].compiled._jit_compile  # noqa: SLF001  (the tf.function compiles with XLA)
    assert [len(sequence) for sequence in decoded.sequences] == [11, 11]  # the prefix and one per step
    again = samplers.run(prefix, config, target_steps=10, max_tokens=20)
    for first, second in zip(decoded.sequences, again.sequences, strict=True):
        np.testing.assert_array_equal(first, second)


def test_an_unknown_architecture_has_no_decoder():
    import keras

    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(4, 2)], name="mystery")
    with pytest.raises(CheckpointError, match="cannot compose with a 'mystery' model"):
        step_decoder(model)


@pytest.fixture(scope="module")
def sampler():
    model = _model("lstm", size=20)
    return SamplerSet(step_decoder(model), token_steps=np.ones(20, np.int32), banned=np.array([18, 19]))


def _run(sampler, **config):
    return sampler.run(np.array([3]), SampleConfig(**config), target_steps=30, max_tokens=40).sequences


def test_top_k_of_one_is_greedy(sampler):
    greedy = _run(sampler, strategy="greedy")[0]
    assert np.array_equal(_run(sampler, top_k=1, seed=5)[0], greedy)
    assert len(greedy) == 31  # the start token and 30 one-step tokens


def test_the_same_seed_gives_the_same_piece(sampler):
    first = _run(sampler, seed=11, temperature=1.5, variations=3)
    again = _run(sampler, seed=11, temperature=1.5, variations=3)
    other = _run(sampler, seed=12, temperature=1.5, variations=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert not np.array_equal(first[0], first[1])  # variations differ from each other


def test_banned_tokens_are_never_sampled(sampler):
    sequences = _run(sampler, seed=1, temperature=2.0, variations=8)
    assert not np.isin(np.concatenate(sequences), [18, 19]).any()


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]], np.float32))
    kept = filter_logits(tf.constant(logits), 1.0, 0, 0.75).numpy() > BANNED_LOGIT / 2
    assert kept.tolist() == [[True, True, False, False], [False, False, True, True]]
    kept = filter_logits(tf.constant(logits), 1.0, 0, 0.8).numpy() > BANNED_LOGIT / 2
    assert kept.sum(axis=1).tolist() == [2, 2]  # 0.5 + 0.3 reaches 0.8
    kept = filter_logits(tf.constant(logits), 1.0, 0, 0.81).numpy() > BANNED_LOGIT / 2
    assert kept.sum(axis=1).tolist() == [3, 3]
    kept = filter_logits(tf.constant(logits), 1.0, 0, 0.1).numpy() > BANNED_LOGIT / 2
    assert kept.sum(axis=1).tolist() == [1, 1]  # the most likely token always stays


def test_sampled_tokens_stay_inside_the_nucleus(sampler):
    """Every sampled token is among the top-p set of the distribution it was drawn from."""
    model = sampler.decoder
    sequence = _run(sampler, seed=3, top_p=0.5, variations=1)[0]
    banned_bias = np.where(np.isin(np.arange(20), [18, 19]), BANNED_LOGIT, 0.0).astype(np.float32)
    state = model.initial_state(1, len(sequence))
    for position in range(len(sequence) - 1):
        logits, state = model.step(tf.constant(sequence[position : position + 1]), state, tf.constant(position))
        kept = filter_logits(logits + banned_bias, 1.0, 0, 0.5).numpy()[0] > BANNED_LOGIT / 2
        assert kept[sequence[position + 1]]


def test_beam_search_of_width_one_is_greedy(sampler):
    """Every token a beam of one keeps is a likeliest allowed one (the compiled greedy loop may break an exact tie
    of this untrained model's logits the other way, so the check is on the logits, not on greedy's tokens)."""
    beam = _run(sampler, strategy="beam", beam_width=1)[0]
    assert len(beam) == len(_run(sampler, strategy="greedy")[0])
    model = sampler.decoder
    state = model.initial_state(1, len(beam))
    for position in range(len(beam) - 1):
        logits, state = model.step(tf.constant(beam[position : position + 1]), state, tf.constant(position))
        allowed = logits.numpy()[0][:18]  # 18 and 19 are banned control tokens
        assert allowed[beam[position + 1]] >= allowed.max() - 1e-5, position


def beam_trap() -> BigramDecoder:
    """From token 0, greedy takes 1 (p=0.6) and then faces ten equally likely tokens
    (p=0.1 each); the path through 2 (p=0.4) continues with 3 at p=0.99. Greedy's
    two-token likelihood is 0.06, beam search's 0.396.
    """
    table = np.full((14, 14), 1e-6)
    table[0, 1], table[0, 2] = 0.6, 0.4
    table[1, 4:14] = 0.1
    table[2, 3] = 0.99
    table[3:, 3] = 1.0
    return BigramDecoder(np.log(table / table.sum(axis=1, keepdims=True)))


def test_beam_search_finds_a_likelier_sequence_than_greedy():
    sampler = SamplerSet(beam_trap(), token_steps=np.ones(14, np.int32))
    greedy = sampler.run(np.array([0]), SampleConfig(strategy="greedy"), 2, 10).sequences[0]
    beam = sampler.run(np.array([0]), SampleConfig(strategy="beam", beam_width=3), 2, 10)
    assert greedy[1] == 1 and beam.sequences[0].tolist() == [0, 2, 3]
    table = beam_trap().log_table.numpy()

    def likelihood(sequence):
        return sum(table[a, b] for a, b in zip(sequence[:-1], sequence[1:]))

    assert likelihood(beam.sequences[0]) > likelihood(greedy)
    assert beam.scores[0] == pytest.approx(likelihood(beam.sequences[0]) / 2, abs=1e-4)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"temperature": 0}, "temperature must be between 0.01 and 100"),
        ({"temperature": -1}, "temperature must be between 0.01 and 100"),
        ({"top_p": 0}, r"top-p must be in \(0, 1\]"),
        ({"top_p": 1.2}, r"top-p must be in \(0, 1\]"),
        ({"beam_width": 0}, "beam width must be between 1 and 16"),
        ({"top_k": -1}, "top-k must be 0"),
        ({"strategy": "beam", "beam_width": 2, "variations": 3}, "beam width of at least 3"),
        ({"strategy": "magic"}, "strategy must be one of"),
    ],
)
def test_bad_sampling_parameters_are_refused(config, message):
    with pytest.raises(GenerationError, match=message):
        SampleConfig(**config)


# === Composing with trained checkpoints ===


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny trained runs on a scale dataset: a conditioned melody LSTM and a piano-roll transformer."""
    home = tmp_path_factory.mktemp("generation-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEUROTUNE_HOME", str(home))
        patch.setenv("NEUROTUNE_CHECKPOINTS", str(home / "checkpoints"))
        files = [SourceFile(f"p{i}.mid", scale_piece(offset=i % 5, length=48)) for i in range(8)]
        build_dataset("tiny", files, DataConfig(validation_fraction=0.25))
        train = TrainConfig(epochs=1, steps_per_epoch=3, validation_steps=1, batch_size=8, seq_len=16, warmup_steps=1)
        runs = {}
        # One queued at a time: a run that finishes starts the next queued one in a background process, which
        # would train it beside this one.
        for representation, model in (("melody", "lstm"), ("pianoroll", "transformer")):
            run = jobs.create_run(model, "tiny", representation, TINY[model], train)
            assert jobs.work(run.id) == "finished", run_store.get_run(run.id).error
            runs[representation] = run
    return {name: run.checkpoint_dir for name, run in runs.items()}


def test_a_chords_model_composes_ascending_frames_within_the_limits(tmp_path, monkeypatch):
    """An untrained chords model, near uniform over its tokens, still writes chords the rules allow."""
    monkeypatch.setenv("NEUROTUNE_HOME", str(tmp_path))
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i, length=24)) for i in range(4)]
    dataset = build_dataset("tiny", files, DataConfig(validation_fraction=0.25)).dataset
    composer = Composer.load(untrained_checkpoint(tmp_path, dataset, "lstm", "chords"))
    post = PostProcessing(max_polyphony=3, max_note_beats=0.5)
    result = composer.compose(CompositionRequest(sampling=SampleConfig(seed=1, variations=3), bars=2, post=post))
    assert len(result.compositions) == 3
    for composition in result.compositions:
        tokens = composition.tokens
        assert tokens[0] == CHORD_STEP and int((tokens == CHORD_STEP).sum()) == 1 + 2 * 4 * 4  # start + 2 bars
        frames = np.split(tokens, np.flatnonzero(tokens == CHORD_STEP) + 1)[1:-1]
        assert all(len(frame) <= 3 + 1 and np.all(np.diff(frame[:-1]) > 0) for frame in frames)
        notes = get_representation("chords", dataset.config).decode(tokens)
        assert (notes[:, 1] - notes[:, 0]).max() <= 2  # half a beat on a grid of 4 steps per quarter


@pytest.fixture(scope="module")
def melody_composer(trained):
    return Composer.load(trained["melody"])


def test_loading_a_model_frees_the_models_dropped_before(trained, monkeypatch):
    """A dropped model lives on in reference cycles until a full collection, which Python runs rarely beside
    TensorFlow's objects: a server switching models would grow by each. Automatic collection is off here, so
    that only the loader's own can free it (which the other tests skip, tests/collector.py)."""
    import gc
    import weakref

    monkeypatch.setattr(loading, "free_dropped_models", LOADER_COLLECTION)
    gc.disable()
    try:
        dropped = weakref.ref(load_checkpoint(trained["melody"]).model)
        assert dropped() is not None  # its reference count alone does not free it
        load_checkpoint(trained["pianoroll"])
        assert dropped() is None
    finally:
        gc.enable()


def test_a_conditioned_run_records_its_controls(trained):
    info = checkpoint_info(trained["melody"])
    conditioning = info.conditioning
    assert isinstance(conditioning, Conditioning) and conditioning.base_size == 90
    assert conditioning.styles == ("tiny",)  # uploads take the dataset name as their style
    assert info.config.tokens_per_step == info.tokens_per_step == 1.0
    assert conditioning.token_names()[-1] == "DENSITY_dense"


def test_compose_gives_pieces_of_the_asked_length_with_metrics(melody_composer):
    request = CompositionRequest(sampling=SampleConfig(seed=2, variations=2), bars=2, bpm=120, programs=(40,))
    result = melody_composer.compose(request)
    assert len(result.compositions) == 2 and result.warnings == []
    for composition in result.compositions:
        # The controls are stripped; the piece is the neutral start plus 2 bars of 4 steps per quarter.
        assert len(composition.tokens) == PREFIX_LENGTH + 32
        assert composition.midi.startswith(b"MThd")
        assert set(composition.notes[:, 4].tolist()) <= {40}
        assert {"pitch_range", "scale_consistency", "repetition_rate"} <= set(composition.metrics)
    again = melody_composer.compose(request)
    assert np.array_equal(again.compositions[0].tokens, result.compositions[0].tokens)


def test_controls_and_a_typed_primer_start_the_sequence(melody_composer):
    primer = parse_note_text("C4 E4 G4", melody_composer.steps_per_quarter)
    request = CompositionRequest(
        sampling=SampleConfig(strategy="beam", beam_width=3, variations=2),
        bars=1,
        primer=primer,
        controls=Controls(mode="minor", density="dense"),
        post=PostProcessing(scale="C major"),
    )
    result = melody_composer.compose(request)
    conditioning = melody_composer.conditioning
    expected_prefix = conditioning.prefix("tiny", "minor", "dense", "A")  # a mood alone: A minor
    for composition in result.compositions:
        assert composition.tokens[:PREFIX_LENGTH].tolist() == expected_prefix.tolist()
        assert composition.primer_steps == 12 and composition.score is not None
        assert composition.notes[0, 2] == 60
        assert set((composition.notes[:, 2] % 12).tolist()) <= {0, 2, 4, 5, 7, 9, 11}
    assert result.compositions[0].score >= result.compositions[1].score


def test_guidance_keeps_the_asked_key(melody_composer):
    f_sharp_major = {6, 8, 10, 11, 1, 3, 5}

    def in_key(guidance: float) -> float:
        controls = Controls(mode="major", tonic="F#", guidance=guidance)
        request = CompositionRequest(sampling=SampleConfig(seed=4, variations=4), bars=4, controls=controls)
        notes = np.concatenate([c.notes for c in melody_composer.compose(request).compositions])
        return float(np.isin(notes[:, 2] % 12, list(f_sharp_major)).mean())

    assert in_key(10.0) > 0.95 > in_key(0.0)


def test_guidance_favours_the_tonic_and_the_asked_density():
    events = get_representation("events", DataConfig())
    steps = events.token_steps()
    shifts = np.flatnonzero(steps > 0)
    sparse = guidance_bias(events, events.size + 5, tonic=2, mode="minor", density="sparse", strength=2.0)
    dense = guidance_bias(events, events.size + 5, tonic=2, mode="minor", density="dense", strength=2.0)
    medium = guidance_bias(events, events.size + 5, tonic=2, mode="minor", density="medium", strength=2.0)
    d4, f4, f_sharp4 = 62, 65, 66
    # D minor: the tonic and F fit alike (ratings capped: no pull to the tonic), E less, F# not at all.
    assert medium[d4] == medium[f4] > medium[d4 + 2] > 0 > medium[f_sharp4]
    assert np.mean(np.exp(medium[60:72])) == pytest.approx(1.0)  # onsets as a whole keep their weight
    assert (medium[shifts] == 0).all() and (medium[events.size :] == 0).all()
    assert dense[d4] > medium[d4] > sparse[d4]
    longest = shifts[np.argmax(steps[shifts])]
    assert dense[longest] < 0 < sparse[longest] and dense[shifts[0]] == sparse[shifts[0]] == 0


def test_primer_notes_outside_the_trained_range_are_moved_with_a_warning(melody_composer):
    low, high = melody_composer.limits(PostProcessing()).pitch_range
    assert (low, high) == melody_composer.bounds.pitch_range  # the training music's, narrower than the vocabulary
    primer = parse_note_text("A0", melody_composer.steps_per_quarter)
    primer[0, 2] = 9  # below A0: even the melody vocabulary starts at 21
    result = melody_composer.compose(CompositionRequest(bars=1, primer=primer))
    assert any("moved by octaves" in warning for warning in result.warnings)
    first = result.compositions[0].notes[0, 2]
    assert low <= first <= high and first % 12 == 9


@pytest.mark.parametrize(
    ("request_options", "message"),
    [
        ({"controls": Controls(style="jazz")}, "unknown style 'jazz'; this model knows tiny"),
        ({"bpm": 5}, "tempo must be between"),
        ({"bars": 0}, "bars must be in"),
        ({"programs": (200,)}, "GM programs"),
    ],
)
def test_bad_requests_are_refused(melody_composer, request_options, message):
    with pytest.raises(GenerationError, match=message):
        melody_composer.compose(CompositionRequest(**request_options))


def _silent_decoder(composer, monkeypatch, music: list[int]):
    """The composer's sampler writes the controls and then ``music`` (melody tokens), whatever it is asked."""
    controls = composer.conditioning.prefix("tiny", "major", "medium", "C")
    written = np.concatenate([controls, np.array(music, np.int32)])
    monkeypatch.setattr(
        composer.sampler, "run", lambda prefix, config, *rest, **options: Decoded([written] * config.variations)
    )


def test_a_composition_without_notes_is_an_error_that_says_why(melody_composer, monkeypatch):
    _silent_decoder(melody_composer, monkeypatch, [MELODY_HOLD] * 16)
    with pytest.raises(
        GenerationError, match="the piece has no notes: the model wrote only rests and held silence; beam"
    ):
        melody_composer.compose(CompositionRequest(sampling=SampleConfig(strategy="beam", beam_width=2), bars=1))
    with pytest.raises(GenerationError, match="variations 1, 2 of 2 have no notes: .* try another seed"):
        melody_composer.compose(CompositionRequest(sampling=SampleConfig(variations=2), bars=1))
    # One note in the last beat: phrase rests of one bar drop it.
    _silent_decoder(melody_composer, monkeypatch, [MELODY_HOLD] * 12 + [MELODY_FIRST_NOTE + 39] + [MELODY_HOLD] * 3)
    post = PostProcessing(phrase_rests=True, phrase_bars=1)
    with pytest.raises(GenerationError, match="post-processing removed every note; turn phrase rests off"):
        melody_composer.compose(CompositionRequest(sampling=SampleConfig(variations=2), bars=1, post=post))
    assert len(melody_composer.compose(CompositionRequest(bars=1)).compositions[0].notes) == 1


def test_a_silent_variation_among_others_is_dropped_with_a_warning(melody_composer, monkeypatch):
    controls = melody_composer.conditioning.prefix("tiny", "major", "medium", "C")
    silent = np.concatenate([controls, [MELODY_HOLD] * 16]).astype(np.int32)
    music = np.concatenate([controls, [MELODY_FIRST_NOTE + 39] + [MELODY_HOLD] * 15]).astype(np.int32)
    monkeypatch.setattr(melody_composer.sampler, "run", lambda *args, **options: Decoded([silent, music]))
    result = melody_composer.compose(CompositionRequest(sampling=SampleConfig(variations=2), bars=1))
    assert [len(c.notes) for c in result.compositions] == [1]
    assert any(
        w.startswith("variation 1 of 2 has no notes") and "the other variations are kept" in w for w in result.warnings
    )


def test_a_piano_roll_transformer_composes_frames_within_its_limit(trained):
    composer = Composer.load(trained["pianoroll"])
    assert composer.max_tokens == 32
    result = composer.compose(CompositionRequest(sampling=SampleConfig(temperature=0.8), bars=1))
    assert len(result.compositions[0].tokens) == 17  # a silent start frame and 16 sampled frames
    with pytest.raises(GenerationError, match="at most 32 tokens"):
        composer.compose(CompositionRequest(bars=4))
    with pytest.raises(GenerationError, match="beam search needs a token model"):
        composer.compose(CompositionRequest(sampling=SampleConfig(strategy="beam"), bars=1))
    with pytest.raises(GenerationError, match="trained without style, mood, key and density controls"):
        composer.compose(CompositionRequest(bars=1, controls=Controls(mode="minor")))


@pytest.mark.parametrize(
    ("defaults", "message"),
    [({"temprature": 0.9}, "no composing setting is called 'temprature'"), ({"top_p": 0}, "top-p must be in")],
)
def test_damaged_measured_defaults_are_a_damaged_checkpoint_at_load(trained, tmp_path, defaults, message):
    copy = tmp_path / "tuned"
    shutil.copytree(trained["melody"], copy)
    folder = CheckpointFolder(copy)
    folder.write_config(dataclasses.replace(folder.read_config(), compose_defaults=defaults))
    with pytest.raises(CheckpointError, match=rf"measured composing defaults of tuned are damaged \({message}"):
        Composer.load(copy)


def test_broken_and_mismatched_checkpoints_are_reported(trained, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained["melody"], broken)
    (broken / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a Keras model file"):
        load_checkpoint(broken)
    mismatched = tmp_path / "mismatched"
    shutil.copytree(trained["melody"], mismatched)
    shutil.copy(trained["pianoroll"] + "/model.keras", mismatched / "model.keras")
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_checkpoint(mismatched)
    (mismatched / "config.json").write_text("{")
    with pytest.raises(CheckpointError, match="config.json .* is damaged"):
        load_checkpoint(mismatched)
    with pytest.raises(CheckpointError, match="has no model.keras"):
        load_checkpoint(tmp_path)


def test_exported_checkpoints_are_listed_as_shipped(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROTUNE_CHECKPOINTS", str(tmp_path))
    exported = export_checkpoint(Path(trained["melody"]), tmp_path / "shipped-melody")
    assert not (exported / "last.keras").exists()
    listed = {info.name: info for info in list_checkpoints()}
    assert listed["shipped-melody"].shipped and listed["shipped-melody"].model == "lstm"
    composer = Composer.load(exported)
    assert len(composer.compose(CompositionRequest(bars=1)).compositions) == 1


def test_cli_generate_writes_numbered_files_and_saves_to_the_library(trained, tmp_path, capsys):
    from core.cli import main
    from core.store import library

    out = tmp_path / "out" / "piece.mid"
    arguments = ["generate", "--checkpoint", trained["melody"], "--out", str(out), "--n", "2", "--bars", "1"]
    code = main(
        [*arguments, "--primer-notes", "C4 E4", "--scale", "D minor", "--mode", "dark", "--tonic", "D", "--save"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for number in (1, 2):
        path = out.with_name(f"piece-{number}.mid")
        assert path.read_bytes().startswith(b"MThd") and str(path) in printed
    assert printed.count("heard key ") == 2
    assert library.count_pieces() == 2
    controls = {(p.parameters["controls"]["mode"], p.parameters["controls"]["tonic"]) for p in library.list_pieces()}
    assert controls == {("minor", "D")}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--top-p", "1.5"], "top-p must be in (0, 1]"),
        (["--temperature", "0"], "temperature must be between 0.01 and 100"),
        (["--beam", "0"], "beam width must be between 1 and 16"),  # not quietly sampling instead
        (["--greedy", "--n", "1"], None),
        pytest.param(
            ["--out", "/dev/full"],
            "cannot write /dev/full: the disk is full",
            marks=pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full"),
        ),
        (["--primer-notes", "C4 Q4"], "Cannot read 'Q4'"),
        (["--scale", "C funky"], "unknown scale"),
        (["--tonic", "H"], "unknown tonic 'H'"),
        (["--guidance", "-1"], "guidance must be between 0 and 10"),
    ],
)
def test_cli_generate_refuses_bad_parameters_with_a_message(trained, tmp_path, capsys, options, message):
    from core.cli import main

    code = main(
        ["generate", "--checkpoint", trained["melody"], "--out", str(tmp_path / "p.mid"), "--bars", "1", *options]
    )
    if message is None:
        assert code == 0
        return
    assert code == 2
    assert message.lower() in capsys.readouterr().err.lower()


def test_cli_generate_reports_a_missing_checkpoint(tmp_path, capsys):
    from core.cli import main

    assert main(["generate", "--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "p.mid")]) == 2
    assert "is not a checkpoint folder" in capsys.readouterr().err
