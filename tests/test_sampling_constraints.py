"""The rules of the sampling loops (note grammar, banned controls, polyphony caps), their registries, and no recompiles."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
import tensorflow as tf

from core.config import DataConfig
from core.data.representations import (
    MELODY_FIRST_NOTE,
    NOTE_OFF_OFFSET,
    TIME_SHIFT_OFFSET,
    EventsRepresentation,
    MelodyRepresentation,
    get_representation,
)
from core.errors import GenerationError
from core.generation.sampling import (
    BANNED_LOGIT,
    SAMPLERS,
    Limits,
    LogitProcessor,
    LoopSampler,
    NoteGrammar,
    SampleConfig,
    SamplerSet,
    filter_logits,
    processors,
    unused_settings,
)
from tests.decoders import BigramDecoder

EVENTS = EventsRepresentation(max_time_shift_steps=4, velocity_bins=2)
CONTROLS = np.arange(EVENTS.size, EVENTS.size + 3)  # three control tokens past the vocabulary, as in conditioned runs
VOCAB = EVENTS.size + len(CONTROLS)
FAR_FUTURE = 10_000  # target steps never reached: every run writes max_tokens tokens


def note_on(pitch: int) -> int:
    return pitch


def note_off(pitch: int) -> int:
    return NOTE_OFF_OFFSET + pitch


def tempting_decoder(seed: int = 0) -> BigramDecoder:
    """Favours breaking the grammar: NOTE_OFFs of 60..67 (64..67 never start) and NOTE_ONs of 60..63, with noise."""
    table = np.random.default_rng(seed).normal(0.0, 1.0, (VOCAB, VOCAB))
    table[:, [note_off(pitch) for pitch in range(60, 68)]] += 3.0
    table[:, [note_on(pitch) for pitch in range(60, 64)]] += 3.0
    return BigramDecoder(table)


def sampler_for(decoder: BigramDecoder, grammar: bool = True) -> SamplerSet:
    return SamplerSet(
        decoder, EVENTS.token_steps(), banned=CONTROLS, token_pitches=EVENTS.token_pitches() if grammar else None
    )


def has_grammar(samplers: SamplerSet) -> bool:
    return any(isinstance(processor, NoteGrammar) for processor in samplers["sample"].processors)


def grammar_report(sequence: np.ndarray) -> tuple[int, int]:
    """(events against the grammar, most pitches sounding at once) when playing ``sequence`` token by token."""
    sounding: set[int] = set()
    broken, most = 0, 0
    for token in sequence.tolist():
        if token < NOTE_OFF_OFFSET:
            broken += token in sounding
            sounding.add(token)
        elif token < TIME_SHIFT_OFFSET:
            broken += token - NOTE_OFF_OFFSET not in sounding
            sounding.discard(token - NOTE_OFF_OFFSET)
        most = max(most, len(sounding))
    return broken, most


PREFIX = np.append(CONTROLS, EVENTS.velocity_offset)  # controls, then a loudness


@pytest.fixture(scope="module")
def tempted():
    return sampler_for(tempting_decoder())


def test_token_pitches_name_the_pitch_each_event_starts_and_ends():
    starts, ends = EVENTS.token_pitches()
    assert starts.dtype == ends.dtype == np.int32 and starts.shape == ends.shape == (EVENTS.size,)
    assert starts[note_on(60)] == 60 and ends[note_on(60)] == -1
    assert ends[note_off(60)] == 60 and starts[note_off(60)] == -1
    assert starts[:NOTE_OFF_OFFSET].tolist() == list(range(128)) and (starts[NOTE_OFF_OFFSET:] == -1).all()
    assert ends[NOTE_OFF_OFFSET:TIME_SHIFT_OFFSET].tolist() == list(range(128))
    assert (ends[:NOTE_OFF_OFFSET] == -1).all() and (ends[TIME_SHIFT_OFFSET:] == -1).all()

    melody = MelodyRepresentation()
    starts, ends = melody.token_pitches()
    assert starts.shape == ends.shape == (melody.size,)
    assert starts[:MELODY_FIRST_NOTE].tolist() == [-1, -1] and starts[MELODY_FIRST_NOTE] == 21 and starts[-1] == 108
    assert (ends == -1).all()


@pytest.mark.parametrize("name", ["pianoroll", "notes"])
def test_only_token_representations_have_token_pitches(name):
    with pytest.raises(TypeError, match="has no tokens"):
        get_representation(name, DataConfig()).token_pitches()


def test_a_melody_needs_no_grammar():
    melody = MelodyRepresentation()
    sampler = SamplerSet(
        BigramDecoder(np.zeros((VOCAB, VOCAB))), melody.token_steps(), token_pitches=melody.token_pitches()
    )
    assert not has_grammar(sampler)  # re-attacks stay possible: nothing ever ends a melody note explicitly


@pytest.mark.parametrize("strategy", ["sample", "greedy"])
def test_sampled_notes_follow_the_grammar(tempted, strategy):
    config = SampleConfig(strategy=strategy, seed=4, variations=8 if strategy == "sample" else 1)
    free = sampler_for(tempting_decoder(), grammar=False).run(PREFIX, config, FAR_FUTURE, 120).sequences
    assert sum(grammar_report(sequence)[0] for sequence in free) > 0  # the decoder does tempt
    for sequence in tempted.run(PREFIX, config, FAR_FUTURE, 120).sequences:
        assert grammar_report(sequence)[0] == 0
        assert not np.isin(sequence[len(PREFIX) :], CONTROLS).any()


@pytest.mark.parametrize("limit", [1, 2])
def test_max_polyphony_caps_the_sounding_notes(tempted, limit):
    config = SampleConfig(seed=9, variations=8, top_k=20)
    most = [grammar_report(s)[1] for s in tempted.run(PREFIX, config, FAR_FUTURE, 120).sequences]
    assert max(most) > 2  # without the cap, up to the four tempting pitches sound
    capped = tempted.run(PREFIX, config, FAR_FUTURE, 120, limits=Limits(max_polyphony=limit)).sequences
    reports = [grammar_report(sequence) for sequence in capped]
    assert all(broken == 0 for broken, _ in reports)
    assert max(most for _, most in reports) == limit


def test_beam_search_follows_the_grammar_and_the_cap(tempted):
    config = SampleConfig(strategy="beam", beam_width=4, variations=4)
    free = sampler_for(tempting_decoder(), grammar=False).run(PREFIX, config, FAR_FUTURE, 60).sequences
    assert sum(grammar_report(sequence)[0] for sequence in free) > 0
    for limit, allowed in [(3, 3), (2, 2)]:
        decoded = tempted.run(PREFIX, config, FAR_FUTURE, 60, limits=Limits(max_polyphony=limit))
        assert len(decoded.sequences) == 4
        for sequence in decoded.sequences:
            broken, most = grammar_report(sequence)
            assert broken == 0 and most <= allowed


def test_a_note_the_prefix_leaves_on_can_end():
    table = np.zeros((VOCAB, VOCAB))
    table[:, note_off(70)] = 20.0  # the model only wants to end pitch 70
    sampler = sampler_for(BigramDecoder(table))
    prefix = np.append(CONTROLS, [note_on(70), TIME_SHIFT_OFFSET])  # pitch 70 has sounded for a step
    for config in (SampleConfig(strategy="greedy"), SampleConfig(strategy="beam", beam_width=2)):
        sequence = sampler.run(prefix, config, FAR_FUTURE, 20).sequences[0]
        assert sequence[len(prefix)] == note_off(70)
        assert np.count_nonzero(sequence == note_off(70)) == 1  # once ended, pitch 70 is silent
        assert grammar_report(sequence)[0] == 0


def test_changing_max_polyphony_compiles_nothing(tempted):
    config = SampleConfig(seed=1, variations=2)
    tempted.run(PREFIX, config, FAR_FUTURE, 40, limits=Limits(max_polyphony=1))
    traced = tempted["sample"].compiled.experimental_get_tracing_count()
    for limit in (0, 3, 5):
        tempted.run(PREFIX, config, FAR_FUTURE, 40, limits=Limits(max_polyphony=limit))
    assert tempted["sample"].compiled.experimental_get_tracing_count() == traced


# The strategies of token models: the tables below are bigram token models.
TOKEN_STRATEGIES = [name for name, sampler in SAMPLERS.items() if "tokens" in sampler.kinds]


@pytest.mark.parametrize("strategy", TOKEN_STRATEGIES)
def test_changing_a_setting_compiles_nothing(tempted, strategy):
    """Every value a user changes reaches the compiled loop as a tensor; only the batch and the buffer size compile."""
    base = SampleConfig(strategy=strategy, seed=1, variations=2)
    sampler = tempted[strategy]
    sampler.run(PREFIX, base, FAR_FUTURE, 40)
    traced = sampler.compiled.experimental_get_tracing_count()
    bias = np.random.default_rng(0).normal(0.0, 1.0, VOCAB).astype(np.float32)
    changes = [
        {"temperature": 0.5},
        {"top_k": 5},
        {"top_p": 0.8},
        {"top_k": 7, "top_p": 0.9},
        {"seed": 9},
        {"beam_width": 3},
        {"length_penalty": 0.5},
    ]
    for change in changes:
        sampler.run(PREFIX, replace(base, **change), FAR_FUTURE, 40)
    for options in ({"limits": Limits(max_polyphony=3)}, {"logit_bias": bias}):
        sampler.run(PREFIX, base, FAR_FUTURE, 40, **options)
    sampler.run(PREFIX, base, 12, 40)  # target steps
    sampler.run(PREFIX, base, FAR_FUTURE, 50)  # max tokens, same buffer size
    sampler.run(np.append(PREFIX, note_on(60)), base, FAR_FUTURE, 40)  # a longer prefix (a primer)
    assert sampler.compiled.experimental_get_tracing_count() == traced


class NoSeventy(LogitProcessor):
    """A rule for the test: pitch 70 never starts."""

    def __call__(self, logits, step):
        return tf.where(tf.range(VOCAB) == note_on(70), BANNED_LOGIT, logits)


def test_a_processor_added_to_the_list_is_kept_by_every_sampler(monkeypatch):
    table = np.zeros((VOCAB, VOCAB))
    table[:, note_on(70)] = 20.0  # the model wants to start pitch 70
    table[:, note_off(70)] = 19.0  # ... and to end it again
    configs = [SampleConfig(strategy=strategy, seed=2, variations=2) for strategy in TOKEN_STRATEGIES]
    free = sampler_for(BigramDecoder(table))
    assert all(note_on(70) in free.run(PREFIX, config, FAR_FUTURE, 20).sequences[0] for config in configs)
    monkeypatch.setattr(processors, "PROCESSORS", [*processors.PROCESSORS, NoSeventy])
    kept = sampler_for(BigramDecoder(table))
    for config in configs:
        for sequence in kept.run(PREFIX, config, FAR_FUTURE, 20).sequences:
            assert note_on(70) not in sequence and grammar_report(sequence)[0] == 0


class LowestSampler(LoopSampler):
    """A strategy for the test: always the allowed token with the lowest id."""

    label = "Lowest allowed token"

    def pick_tokens(self, logits, step, settings, memory):
        allowed = self._apply(logits, step, settings, memory) > BANNED_LOGIT / 2
        return tf.argmax(tf.cast(allowed, tf.int32), axis=-1, output_type=tf.int32)


def test_a_sampler_added_to_the_dict_is_a_strategy(monkeypatch):
    with pytest.raises(GenerationError, match="strategy must be one of sample, greedy, beam"):
        SampleConfig(strategy="lowest")
    monkeypatch.setitem(SAMPLERS, "lowest", LowestSampler)
    assert "lowest" in {f.name: f for f in fields(SampleConfig)}["strategy"].metadata["choices"]
    assert set(unused_settings("lowest")) == {f.name for f in fields(SampleConfig)} - {"strategy"}
    sequence = sampler_for(tempting_decoder()).run(PREFIX, SampleConfig(strategy="lowest"), FAR_FUTURE, 20).sequences[0]
    # The grammar still holds: each lowest note-on sounds, so the next lowest is one pitch up.
    assert sequence[len(PREFIX) :].tolist() == [note_on(pitch) for pitch in range(20 - len(PREFIX))]


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_polyphony": -1}, "max polyphony must be 0"),
        ({"max_note_steps": -2}, "the longest note must be 0"),
        ({"pitch_range": (70, 60)}, "the pitch range must be two MIDI pitches, low to high"),
        ({"pitch_range": (0, 128)}, "the pitch range must be two MIDI pitches"),
    ],
)
def test_impossible_limits_are_refused(limits, message):
    with pytest.raises(GenerationError, match=message):
        Limits(**limits)


@pytest.mark.xla  # the tokens recorded come from the loop the app runs, compiled by XLA
def test_without_token_pitches_sampling_is_as_before():
    """The compiled loop without a grammar draws exactly what the plain loop below does, token by token."""
    decoder = tempting_decoder(seed=3)
    sampler = sampler_for(decoder, grammar=False)
    assert not has_grammar(sampler)
    banned_bias = np.zeros(VOCAB, np.float32)
    banned_bias[CONTROLS] = BANNED_LOGIT
    seed, temperature, length, batch = 21, 0.8, 50, 3
    sequences = sampler.run(
        PREFIX, SampleConfig(seed=seed, temperature=temperature, variations=batch), FAR_FUTURE, length
    )

    @tf.function(jit_compile=True)  # XLA's stateless uniforms differ from eager ones: draw as the loop does
    def draw(filtered, step):
        uniform = tf.random.stateless_uniform(
            tf.shape(filtered),
            seed=tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)]),
            minval=1e-20,
            maxval=1.0,
        )
        return tf.argmax(filtered - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)

    current = np.full(batch, PREFIX[0], np.int32)
    state = decoder.initial_state(batch, length)
    expected = [current]
    for step in range(length - 1):
        logits, state = decoder.step(tf.constant(current), state, tf.constant(step))
        if step + 1 < len(PREFIX):
            current = np.full(batch, PREFIX[step + 1], np.int32)
        else:
            current = draw(filter_logits(logits + banned_bias, temperature, 0, 1.0), tf.constant(step)).numpy()
        expected.append(current)
    expected = np.stack(expected, axis=1)
    for row, sequence in enumerate(sequences.sequences):
        assert sequence.tolist() == expected[row].tolist()
