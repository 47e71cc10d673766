"""The limits composing keeps whatever the model says: note length, pitch range, polyphony with release, chords.

Each rule is run against a decoder built to break it (bigram tables that never end
a note, love the extremes of the keyboard, or start notes without end), for every
token sampler.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from core.data.piece import END, PITCH, START
from core.data.representations import (
    CHORD_STEP,
    MELODY_FIRST_NOTE,
    MELODY_HOLD,
    NOTE_OFF_OFFSET,
    PIANO_RANGE,
    TIME_SHIFT_OFFSET,
    ChordsRepresentation,
    EventsRepresentation,
    MelodyRepresentation,
)
from core.generation.sampling import (
    ChordRules,
    Limits,
    LogitBias,
    NoteGrammar,
    Notes,
    PitchRange,
    PolyphonyRelease,
    SampleConfig,
    SamplerSet,
    Settings,
    Step,
    Vocabulary,
    build_processors,
)
from tests.decoders import BigramDecoder, ConstantFrameDecoder

EVENTS = EventsRepresentation(max_time_shift_steps=4, velocity_bins=2)
MELODY = MelodyRepresentation()
FAR_FUTURE = 10_000  # target steps never reached: every run writes max_tokens tokens
STRATEGIES = [
    SampleConfig(seed=3, variations=6),
    SampleConfig(strategy="greedy"),
    SampleConfig(strategy="beam", beam_width=4, variations=2),
]
IDS = ["sample", "greedy", "beam"]


def table(codec, favour: dict[int, float], seed: int = 0) -> np.ndarray:
    """A bigram log-table over ``codec``'s tokens: noise, plus ``favour[token]`` in every row."""
    logits = np.random.default_rng(seed).normal(0.0, 0.5, (codec.size, codec.size))
    for token, weight in favour.items():
        logits[:, token] += weight
    return logits


def samplers(codec, logits: np.ndarray) -> SamplerSet:
    return SamplerSet(
        BigramDecoder(logits),
        codec.token_steps(),
        token_pitches=codec.token_pitches(),
        token_sustains=codec.token_sustains(),
    )


def composed(sampler: SamplerSet, codec, config: SampleConfig, limits: Limits, prefix, tokens: int = 160):
    """The notes of every sequence the sampler writes."""
    decoded = sampler.run(np.asarray(prefix), config, FAR_FUTURE, tokens, limits=limits)
    return [codec.decode(sequence) for sequence in decoded.sequences]


def most_voices(notes: np.ndarray) -> int:
    if len(notes) == 0:
        return 0
    change = np.zeros(int(notes[:, END].max()) + 1, int)
    np.add.at(change, notes[:, START], 1)
    np.add.at(change, notes[:, END], -1)
    return int(np.cumsum(change).max())


# === Note length ===

# Starts a few notes, never ends one, and moves time in the longest shifts it has.
HANGING = table(
    EVENTS,
    {
        **{pitch: -4.0 for pitch in range(128)},
        **{pitch: 1.5 for pitch in range(60, 65)},
        **{NOTE_OFF_OFFSET + pitch: -12.0 for pitch in range(128)},
        TIME_SHIFT_OFFSET + 3: 2.0,
    },
)
EVENTS_START = [EVENTS.velocity_offset, 60]  # a loudness, then C4 sounding from the start


@pytest.fixture(scope="module")
def hanging():
    return samplers(EVENTS, HANGING)


@pytest.mark.parametrize("config", STRATEGIES, ids=IDS)
def test_no_note_outlasts_the_longest_note(hanging, config):
    free = composed(hanging, EVENTS, config, Limits(), EVENTS_START)
    assert max(int((n[:, END] - n[:, START]).max()) for n in free) > 40  # the decoder does hold notes

    pieces = composed(hanging, EVENTS, config, Limits(max_note_steps=6), EVENTS_START)
    lengths = np.concatenate([n[:, END] - n[:, START] for n in pieces])
    assert lengths.max() <= 6
    assert all(int(n[:, END].max()) > 30 for n in pieces)  # time still moves on: music, not a stall
    assert len(lengths) > 3 * len(pieces)  # ended notes make room for new ones


def test_a_primer_note_already_too_long_is_ended_first(hanging):
    # The prefix holds C4 for 8 steps: past the limit of 5 before the loop takes over.
    prefix = [EVENTS.velocity_offset, 60, TIME_SHIFT_OFFSET + 3, TIME_SHIFT_OFFSET + 3]
    decoded = hanging.run(
        np.asarray(prefix), SampleConfig(strategy="greedy"), FAR_FUTURE, 40, limits=Limits(max_note_steps=5)
    )
    assert decoded.sequences[0][len(prefix)] == NOTE_OFF_OFFSET + 60


# Holds every note it starts.
HOLDING = table(MELODY, {MELODY_HOLD: 6.0, **{MELODY_FIRST_NOTE + k: 1.0 for k in range(30, 50)}})


@pytest.mark.parametrize("config", STRATEGIES, ids=IDS)
def test_a_melody_note_is_not_held_past_the_longest_note(config):
    sampler = samplers(MELODY, HOLDING)
    start = [MELODY_FIRST_NOTE + 39]  # C4
    assert (
        max(int((n[:, END] - n[:, START]).max()) for n in composed(sampler, MELODY, config, Limits(), start, 80)) > 10
    )
    pieces = composed(sampler, MELODY, config, Limits(max_note_steps=4), start, 80)
    assert max(int((n[:, END] - n[:, START]).max()) for n in pieces) <= 4
    assert all(len(n) >= 80 // 4 for n in pieces)


# === Pitch range ===


def extremes() -> np.ndarray:
    """After a time shift, loves the extremes of the keyboard (and the middle less); after a note, moves on."""
    logits = table(EVENTS, {NOTE_OFF_OFFSET + p: 1.0 for p in range(128)})
    moves = np.r_[TIME_SHIFT_OFFSET : EVENTS.size]
    logits[np.ix_(moves, [*range(5, 20), *range(100, 120)])] += 5.0
    logits[np.ix_(moves, range(50, 70))] += 3.0
    logits[np.ix_(np.r_[:128], range(TIME_SHIFT_OFFSET, TIME_SHIFT_OFFSET + 4))] += 4.0
    return logits


EXTREMES = extremes()


@pytest.mark.parametrize("config", STRATEGIES, ids=IDS)
def test_no_note_starts_outside_the_pitch_range(config):
    sampler = samplers(EVENTS, EXTREMES)
    free = np.concatenate(composed(sampler, EVENTS, config, Limits(), [EVENTS.velocity_offset]))
    assert ((free[:, PITCH] < 40) | (free[:, PITCH] > 80)).any()
    pieces = composed(sampler, EVENTS, config, Limits(pitch_range=(40, 80)), [EVENTS.velocity_offset])
    pitches = np.concatenate([n[:, PITCH] for n in pieces])
    assert len(pitches) and pitches.min() >= 40 and pitches.max() <= 80


def test_a_melody_keeps_to_the_pitch_range_too():
    sampler = samplers(MELODY, table(MELODY, {MELODY_FIRST_NOTE + k: 3.0 for k in range(0, 10)}))
    pieces = composed(
        sampler, MELODY, SampleConfig(seed=1, variations=4), Limits(pitch_range=(60, 72)), [MELODY_HOLD], 60
    )
    pitches = np.concatenate([n[:, PITCH] for n in pieces])
    assert len(pitches) and pitches.min() >= 60 and pitches.max() <= 72


# === Polyphony, with release ===

# Wants to start notes and keep them: NOTE_ONs of a two-octave span are likely, NOTE_OFFs rare.
CROWDING = table(
    EVENTS,
    {
        **{pitch: 3.0 for pitch in range(48, 72)},
        **{NOTE_OFF_OFFSET + pitch: -4.0 for pitch in range(128)},
        TIME_SHIFT_OFFSET: 1.0,
    },
)


def without_release(sampler: SamplerSet, strategy: str) -> SamplerSet:
    """The sampler with the release rule taken out (before its loop is first traced)."""
    built = sampler[strategy]
    built.processors = [p for p in built.processors if not isinstance(p, PolyphonyRelease)]
    return sampler


@pytest.mark.parametrize("config", STRATEGIES, ids=IDS)
def test_at_the_cap_the_music_releases_instead_of_stalling(config):
    limits = Limits(max_polyphony=3)
    released = composed(samplers(EVENTS, CROWDING), EVENTS, config, limits, [EVENTS.velocity_offset], 200)
    stalled = composed(
        without_release(samplers(EVENTS, CROWDING), config.strategy),
        EVENTS,
        config,
        limits,
        [EVENTS.velocity_offset],
        200,
    )
    assert all(most_voices(n) <= 3 for n in released + stalled)
    # Without release the first three notes are held on and on; with it, notes keep coming.
    assert np.mean([len(n) for n in stalled]) < 10
    assert min(len(n) for n in released) > 30


def test_release_gives_the_note_ons_mass_to_the_note_offs_of_sounding_pitches():
    vocabulary = Vocabulary.of(
        BigramDecoder(np.zeros((1, EVENTS.size))), EVENTS.token_steps(), None, EVENTS.token_pitches()
    )
    release, grammar = PolyphonyRelease(vocabulary), NoteGrammar(vocabulary)
    logits = tf.constant(np.random.default_rng(5).normal(0, 2, (1, EVENTS.size)), tf.float32)
    sounding = np.zeros((1, 128), bool)
    sounding[0, [60, 64]] = True
    notes = Notes(tf.constant(sounding), tf.zeros((1, 128), tf.int32), tf.fill((1,), 2))  # sounding two steps

    def rules(max_polyphony: int) -> np.ndarray:
        settings = Settings.of(SampleConfig(), Limits(max_polyphony=max_polyphony), np.zeros(EVENTS.size, np.float32))
        step = Step(tf.constant(0), settings, notes)
        return tf.nn.softmax(grammar(release(logits, step), step)).numpy()[0]

    before = tf.nn.softmax(logits).numpy()[0]
    offs = NOTE_OFF_OFFSET + np.array([60, 64])
    silent_ons = np.setdiff1d(np.arange(128), [60, 64])
    kept = 1 - before[[60, 64]].sum() - before[NOTE_OFF_OFFSET:TIME_SHIFT_OFFSET].sum() + before[offs].sum()
    at_cap = rules(2)
    # At the cap the grammar bans every NOTE_ON; what they had goes to ending C4 or E4, in the model's
    # proportions, and every other token keeps its odds.
    assert at_cap[:128].sum() < 1e-6
    assert at_cap[offs].sum() == pytest.approx((before[offs].sum() + before[silent_ons].sum()) / kept, rel=1e-4)
    assert at_cap[offs[0]] / at_cap[offs[1]] == pytest.approx(before[offs[0]] / before[offs[1]], rel=1e-4)
    others = np.arange(TIME_SHIFT_OFFSET, EVENTS.size)
    np.testing.assert_allclose(at_cap[others], before[others] / kept, rtol=1e-4)
    # Below the cap nothing moves: NOTE_ONs of silent pitches keep their own chances.
    below = rules(3)
    np.testing.assert_allclose(below[silent_ons], before[silent_ons] / kept, rtol=1e-4)


# === Piano-roll frames ===

PIANO_LOW = 21  # column 0 of an 88-key roll


def frame_sampler(logits: np.ndarray) -> SamplerSet:
    return SamplerSet(ConstantFrameDecoder(logits), frame_pitches=np.arange(len(logits)) + PIANO_LOW)


@pytest.mark.parametrize("config", STRATEGIES[:2], ids=IDS[:2])
def test_frames_keep_to_the_range_the_note_length_and_the_voices(config):
    everything_on = frame_sampler(np.full(88, 6.0))  # wants every key held down for ever
    start = np.zeros((1, 88), np.float32)
    free = everything_on.run(start, config, 24, 40).sequences[0]
    assert free[1:].sum(axis=1).min() > 80  # the decoder does hold everything

    limits = Limits(max_polyphony=4, max_note_steps=3, pitch_range=(60, 72))
    for frames in everything_on.run(start, config, 24, 40, limits=limits).sequences:
        frames = frames[1:]
        on = np.flatnonzero(frames.any(axis=0)) + PIANO_LOW
        assert on.min() >= 60 and on.max() <= 72
        assert frames.sum(axis=1).max() <= 4 and frames.sum(axis=1).min() >= 1
        runs = np.zeros(88, int)
        for frame in frames:  # no column on for more than 3 frames in a row
            runs = np.where(frame > 0, runs + 1, 0)
            assert runs.max() <= 3


# === Chords: frames written as tokens ===

CHORDS = ChordsRepresentation()
CHORD_PITCH_LOW = PIANO_RANGE[0]
C4 = 60 - CHORD_PITCH_LOW


def unruly_chords() -> np.ndarray:
    """After a STEP, loves C4 and the keyboard's ends; after a pitch, loves every pitch below it (and itself)."""
    logits = table(CHORDS, {})
    logits[CHORD_STEP, [C4, 0, CHORD_STEP - 1]] += [5.0, 3.0, 3.0]
    logits[CHORD_STEP, CHORD_STEP] -= 2.0
    for token in range(CHORD_STEP):
        logits[token, :token] += 2.5
        logits[token, token] += 1.0
        logits[token, CHORD_STEP] += 3.5
    return logits


def chord_frames(tokens: np.ndarray) -> list[list[int]]:
    """The pitches of each frame as written, STEPs dropped; a last frame left open included."""
    frames, frame = [], []
    for token in tokens.tolist():
        if token == CHORD_STEP:
            frames.append(frame)
            frame = []
        else:
            frame.append(token + CHORD_PITCH_LOW)
    return frames + ([frame] if frame else [])


def broken_rules(tokens: np.ndarray, limits: Limits) -> set[str]:
    """Which of the chord rules a written sequence breaks."""
    frames = chord_frames(tokens)
    low, high = limits.pitch_range
    broken = set()
    if any(np.any(np.diff(frame) <= 0) for frame in frames):
        broken.add("ascending")
    if any(len(frame) > limits.max_polyphony for frame in frames):
        broken.add("polyphony")
    if any(pitch < low or pitch > high for frame in frames for pitch in frame):
        broken.add("range")
    notes = CHORDS.decode(tokens)
    if len(notes) and (notes[:, END] - notes[:, START]).max() > limits.max_note_steps:
        broken.add("length")
    return broken


CHORD_LIMITS = Limits(max_polyphony=4, max_note_steps=3, pitch_range=(36, 96))


def unruly_sampler() -> SamplerSet:
    return SamplerSet(
        BigramDecoder(unruly_chords()),
        CHORDS.token_steps(),
        token_pitches=CHORDS.token_pitches(),
        token_sustains=CHORDS.token_sustains(),
        token_frame_ends=CHORDS.token_frame_ends(),
    )


@pytest.fixture(scope="module")
def unruly():
    return unruly_sampler()


def test_chords_build_their_own_rules_and_no_note_event_rules():
    vocabulary = Vocabulary.of(
        BigramDecoder(np.zeros((1, CHORDS.size))),
        CHORDS.token_steps(),
        None,
        CHORDS.token_pitches(),
        CHORDS.token_sustains(),
        CHORDS.token_frame_ends(),
    )
    rules = [type(processor) for processor in build_processors(vocabulary, warp=False)]
    assert rules == [LogitBias, PitchRange, ChordRules]


def test_without_the_chord_rules_the_decoder_writes_descending_frames():
    sampler = unruly_sampler()
    greedy = sampler["greedy"]
    greedy.processors = [p for p in greedy.processors if not isinstance(p, ChordRules)]
    (tokens,) = sampler.run(np.array([CHORD_STEP]), SampleConfig(strategy="greedy"), FAR_FUTURE, 40).sequences
    assert "ascending" in broken_rules(tokens, CHORD_LIMITS)


@pytest.mark.parametrize("config", STRATEGIES, ids=IDS)
def test_chords_keep_ascending_frames_the_voices_the_note_length_and_the_range(unruly, config):
    start = np.array([CHORD_STEP])
    free = set.union(
        *(broken_rules(tokens, CHORD_LIMITS) for tokens in unruly.run(start, config, FAR_FUTURE, 120).sequences)
    )
    # The decoder breaks the limits (sampling shows every one; the ascending order is kept unasked, see above).
    assert free == {"polyphony", "range", "length"} if config.strategy == "sample" else free
    for tokens in unruly.run(start, config, FAR_FUTURE, 120, limits=CHORD_LIMITS).sequences:
        assert broken_rules(tokens, CHORD_LIMITS) == set()
        assert int((tokens == CHORD_STEP).sum()) >= 120 // 5  # every frame ends: time moves on
        assert len(CHORDS.decode(tokens)) >= 10  # and there is music in it
