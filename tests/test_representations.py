"""Tests for core.data.representations: exact values on tiny hand-made pieces."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from core.config import REPRESENTATIONS, DataConfig
from core.data.piece import NOTE_COLUMNS, PITCH, sort_notes
from core.data.preprocess import transpose_notes
from core.data.representations import (
    CHORD_STEP,
    NO_PITCH_BOUNDS,
    ChordsRepresentation,
    EventsRepresentation,
    MelodyRepresentation,
    NotesRepresentation,
    PianorollRepresentation,
    Representation,
    bin_to_velocity,
    bin_velocity,
    get_representation,
    skyline,
    trim_overlaps,
    velocity_to_bin,
)
from core.errors import ConfigError

# steps_per_quarter=1 gives the notes representation a time scale D of 16 steps.
CONFIG = DataConfig(steps_per_quarter=1, velocity_bins=4, max_time_shift_steps=4)
CASES = [
    ("melody", CONFIG),
    ("events", CONFIG),
    ("pianoroll", CONFIG),
    ("pianoroll", DataConfig(steps_per_quarter=1, pianoroll_pitches=128)),
    ("notes", CONFIG),
    ("chords", CONFIG),
]
CASE_IDS = ["melody", "events", "pianoroll88", "pianoroll128", "notes", "chords"]


def make_notes(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Notes, shape=(n, 6), from (start, end, pitch, velocity) rows; canonical order."""
    notes = np.zeros((len(rows), len(NOTE_COLUMNS)), dtype=np.int32)
    if rows:
        notes[:, :4] = rows
    return sort_notes(notes)


def representable_notes(representation: Representation) -> np.ndarray:
    """Notes that ``representation`` holds exactly, shape=(n, 6)."""
    if representation.name == "melody":
        # Leading silence, a rest, a same-pitch re-attack; monophonic, velocity 100.
        return make_notes([(1, 3, 60, 100), (3, 4, 62, 100), (6, 9, 64, 100), (9, 12, 64, 100)])
    if representation.name == "events":
        rows = [(1, 3, 60, 20), (1, 5, 64, 20), (3, 4, 60, 90), (15, 16, 67, 127), (16, 18, 67, 64)]
        notes = make_notes(rows)
        notes[:, 3] = bin_velocity(notes[:, 3], CONFIG.velocity_bins)
        return notes
    if representation.name in ("pianoroll", "chords"):
        # Chords and overlaps, a re-attack after a gap, the edges of the 88-key range.
        rows = [(0, 2, 21, 100), (0, 3, 60, 100), (1, 4, 64, 100), (5, 6, 60, 100), (2, 7, 108, 100)]
        return make_notes(rows)
    # notes: first onset at 0, durations and gaps within D = 16 steps.
    return make_notes([(0, 16, 0, 1), (0, 2, 64, 80), (16, 17, 127, 127), (20, 24, 60, 33)])


# Anything: polyphony, same-pitch overlaps, out-of-range pitches, unbinned
# velocities, adjacent re-attacks, durations and gaps beyond the notes clip.
ANY_NOTES = make_notes(
    [
        (2, 6, 60, 77),
        (2, 4, 64, 13),
        (3, 9, 60, 100),
        (3, 5, 67, 55),
        (5, 7, 10, 90),
        (6, 8, 120, 30),
        (8, 10, 64, 101),
        (10, 12, 64, 102),
        (12, 40, 71, 5),
        (70, 72, 48, 127),
        (70, 71, 48, 60),
    ]
)


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_round_trip_is_exact_for_representable_notes(name: str, config: DataConfig) -> None:
    representation = get_representation(name, config)
    notes = representable_notes(representation)
    np.testing.assert_array_equal(representation.decode(representation.encode(notes)), notes)


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_encoding_is_stable_after_one_round_trip(name: str, config: DataConfig) -> None:
    representation = get_representation(name, config)
    encoded = representation.encode(ANY_NOTES)
    again = representation.encode(representation.decode(encoded))
    assert again.dtype == encoded.dtype
    np.testing.assert_array_equal(again, encoded)


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_array_kinds_and_empty_pieces(name: str, config: DataConfig) -> None:
    representation = get_representation(name, config)
    encoded = representation.encode(ANY_NOTES)
    expected = {"tokens": (np.int32, 1), "frames": (np.uint8, 2), "features": (np.float32, 2)}
    dtype, ndim = expected[representation.kind]
    assert encoded.dtype == dtype
    assert encoded.ndim == ndim
    if representation.kind != "tokens":
        assert encoded.shape[1] == representation.size
    empty = representation.encode(make_notes([]))
    assert empty.shape[0] == 0
    assert representation.decode(empty).shape == (0, len(NOTE_COLUMNS))


def test_sizes_and_token_names() -> None:
    sizes = {
        "melody": 90,
        "events": 256 + CONFIG.max_time_shift_steps + CONFIG.velocity_bins,
        "pianoroll": 88,
        "notes": 4,
        "chords": 89,
    }
    for name, size in sizes.items():
        representation = get_representation(name, CONFIG)
        assert representation.size == size
        if representation.kind == "tokens":
            assert len(representation.token_names()) == size
        else:
            with pytest.raises(TypeError):
                representation.token_names()
    melody_names = MelodyRepresentation().token_names()
    assert melody_names[:3] == ["HOLD", "REST", "NOTE_21"]
    assert melody_names[-1] == "NOTE_108"
    event_names = EventsRepresentation(max_time_shift_steps=4, velocity_bins=4).token_names()
    assert event_names[60] == "NOTE_ON_60"
    assert event_names[128 + 60] == "NOTE_OFF_60"
    assert event_names[256:260] == ["TIME_SHIFT_1", "TIME_SHIFT_2", "TIME_SHIFT_3", "TIME_SHIFT_4"]
    assert event_names[260:] == ["VELOCITY_0", "VELOCITY_1", "VELOCITY_2", "VELOCITY_3"]
    chord_names = ChordsRepresentation().token_names()
    assert chord_names[0] == "NOTE_21" and chord_names[60 - 21] == "NOTE_60" and chord_names[CHORD_STEP] == "STEP"


def test_registry_covers_every_configured_name() -> None:
    for name in REPRESENTATIONS:
        assert get_representation(name, CONFIG).name == name
    assert get_representation("pianoroll", DataConfig(pianoroll_pitches=128)).pitch_range == (0, 127)


def test_unknown_name_raises_config_error_listing_valid_ones() -> None:
    with pytest.raises(ConfigError, match="melody, events, pianoroll, notes"):
        get_representation("abc", CONFIG)


def test_import_does_not_load_tensorflow() -> None:
    code = "import sys, core.data.representations; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- melody ---


def test_melody_skyline_tokens() -> None:
    notes = make_notes(
        [
            (0, 4, 60, 90),  # under 64 at the same onset: dropped
            (0, 2, 64, 90),  # kept, ends on its own at 2
            (1, 3, 62, 90),  # starts under a sounding 64: dropped
            (2, 6, 67, 90),  # kept, cut at 4 by 72
            (3, 5, 65, 90),  # starts under a sounding 67: dropped
            (4, 8, 72, 90),  # kept; a REST follows at 8
            (10, 11, 20, 90),  # below A0: dropped
            (10, 12, 110, 90),  # above C8: dropped
            (12, 14, 55, 90),  # kept, the last note: no REST at the end
        ]
    )
    tokens = MelodyRepresentation().encode(notes)
    h, r = 0, 1
    expected = [64 - 19, h, 67 - 19, h, 72 - 19, h, h, h, r, h, h, h, 55 - 19, h]
    np.testing.assert_array_equal(tokens, expected)
    expected_melody = make_notes([(0, 2, 64, 90), (2, 4, 67, 90), (4, 8, 72, 90), (12, 14, 55, 90)])
    np.testing.assert_array_equal(skyline(notes), expected_melody)
    decoded = make_notes([(0, 2, 64, 100), (2, 4, 67, 100), (4, 8, 72, 100), (12, 14, 55, 100)])
    np.testing.assert_array_equal(MelodyRepresentation().decode(tokens), decoded)


def test_melody_reattack_cuts_and_out_of_range_only_is_empty() -> None:
    melody = MelodyRepresentation()
    tokens = melody.encode(make_notes([(0, 4, 60, 100), (2, 6, 60, 100)]))
    np.testing.assert_array_equal(tokens, [41, 0, 41, 0, 0, 0])
    assert melody.encode(make_notes([(0, 4, 20, 100), (0, 4, 109, 100)])).shape == (0,)


def test_melody_decode_ends_notes_at_rests_and_sequence_end() -> None:
    tokens = np.array([0, 41, 0, 1, 0, 43, 0], dtype=np.int32)
    expected = make_notes([(1, 3, 60, 100), (5, 7, 62, 100)])
    np.testing.assert_array_equal(MelodyRepresentation().decode(tokens), expected)


# --- events ---

EVENTS = EventsRepresentation(max_time_shift_steps=4, velocity_bins=4)
ON, OFF, SHIFT, VELOCITY = 0, 128, 255, 260  # SHIFT + s is TIME_SHIFT_s


def test_events_chord_tokens() -> None:
    notes = make_notes([(0, 3, 64, 112), (0, 3, 60, 112)])
    expected = [VELOCITY + 3, ON + 60, ON + 64, SHIFT + 3, OFF + 60, OFF + 64]
    np.testing.assert_array_equal(EVENTS.encode(notes), expected)


def test_events_offs_before_ons_long_gaps_and_velocity_changes() -> None:
    notes = make_notes([(0, 3, 60, 112), (3, 5, 60, 100), (11, 12, 67, 97), (12, 13, 69, 40)])
    names = EVENTS.token_names()
    expected = [
        "VELOCITY_3",
        "NOTE_ON_60",
        "TIME_SHIFT_3",
        "NOTE_OFF_60",
        "NOTE_ON_60",  # 100 is in bin 3 too: no VELOCITY token
        "TIME_SHIFT_2",
        "NOTE_OFF_60",
        "TIME_SHIFT_4",  # a gap of 6 steps takes two shifts
        "TIME_SHIFT_2",
        "NOTE_ON_67",
        "TIME_SHIFT_1",
        "NOTE_OFF_67",
        "VELOCITY_1",
        "NOTE_ON_69",
        "TIME_SHIFT_1",
        "NOTE_OFF_69",
    ]
    assert [names[token] for token in EVENTS.encode(notes)] == expected
    decoded = make_notes([(0, 3, 60, 112), (3, 5, 60, 112), (11, 12, 67, 112), (12, 13, 69, 48)])
    np.testing.assert_array_equal(EVENTS.decode(EVENTS.encode(notes)), decoded)


def test_events_decode_overlapping_and_stray_events() -> None:
    tokens = [
        ON + 60,  # velocity of DEFAULT_VELOCITY's bin (100 -> bin 3 -> 112)
        SHIFT + 2,
        VELOCITY + 0,
        ON + 60,  # re-attack: the first 60 ends at 2
        SHIFT + 2,
        OFF + 60,
        OFF + 60,  # nothing sounding: ignored
        OFF + 61,  # never started: ignored
        ON + 65,
        OFF + 65,  # zero length: dropped
        ON + 62,  # still on at the end: ends at the last step
        SHIFT + 1,
    ]
    expected = make_notes([(0, 2, 60, 112), (2, 4, 60, 16), (4, 5, 62, 16)])
    np.testing.assert_array_equal(EVENTS.decode(np.array(tokens, dtype=np.int32)), expected)


def test_events_encode_trims_same_pitch_overlaps() -> None:
    notes = make_notes([(0, 10, 60, 112), (2, 4, 60, 112), (6, 8, 60, 112), (6, 9, 60, 112)])
    trimmed = make_notes([(0, 2, 60, 112), (2, 4, 60, 112), (6, 9, 60, 112)])
    np.testing.assert_array_equal(trim_overlaps(notes), trimmed)
    np.testing.assert_array_equal(EVENTS.encode(notes), EVENTS.encode(trimmed))


def test_velocity_bins() -> None:
    velocities = np.array([1, 32, 33, 64, 65, 96, 97, 127])
    np.testing.assert_array_equal(velocity_to_bin(velocities, 4), [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(bin_velocity(velocities, 4), [16, 16, 48, 48, 80, 80, 112, 112])
    assert int(bin_velocity(0, 4)) == 16  # clipped to 1..127
    all_velocities = np.arange(1, 128)
    np.testing.assert_array_equal(bin_velocity(all_velocities, 127), all_velocities)
    for bins in (1, 3, 4, 32, 100, 127):
        indices = np.arange(bins)
        np.testing.assert_array_equal(velocity_to_bin(bin_to_velocity(indices, bins), bins), indices)
        binned = bin_velocity(all_velocities, bins)
        np.testing.assert_array_equal(bin_velocity(binned, bins), binned)


# --- pianoroll ---


@pytest.mark.parametrize("pitches", [88, 128])
def test_pianoroll_frames(pitches: int) -> None:
    notes = make_notes([(0, 2, 60, 100), (1, 3, 21, 100), (2, 4, 108, 100), (1, 5, 0, 100), (4, 6, 127, 100)])
    representation = PianorollRepresentation(num_pitches=pitches)
    low = 21 if pitches == 88 else 0
    kept = notes if pitches == 128 else notes[(notes[:, PITCH] >= 21) & (notes[:, PITCH] <= 108)]
    expected = np.zeros((int(kept[:, 1].max()), pitches), dtype=np.uint8)
    for start, end, pitch in kept[:, :3]:
        expected[start:end, pitch - low] = 1
    assert expected.shape == ((4, 88) if pitches == 88 else (6, 128))
    frames = representation.encode(notes)
    np.testing.assert_array_equal(frames, expected)
    np.testing.assert_array_equal(representation.decode(frames), kept)


def test_pianoroll_adjacent_reattacks_merge() -> None:
    representation = PianorollRepresentation()
    frames = representation.encode(make_notes([(0, 2, 60, 100), (2, 4, 60, 100)]))
    np.testing.assert_array_equal(representation.decode(frames), make_notes([(0, 4, 60, 100)]))


# --- chords ---

CHORDS = ChordsRepresentation()


def chord_tokens(*frames: tuple[int, ...]) -> list[int]:
    """Token ids of frames given as their MIDI pitches: each frame's pitches, then STEP."""
    return [token for frame in frames for token in [pitch - 21 for pitch in frame] + [CHORD_STEP]]


def test_chords_write_the_piano_roll_frame_by_frame_low_to_high() -> None:
    # A held bass under a moving chord, a silent frame, a re-attack after it, the edges of the keyboard.
    notes = make_notes([(0, 3, 48, 100), (0, 1, 64, 100), (0, 1, 60, 100), (1, 2, 67, 100), (4, 5, 48, 100)])
    notes = np.concatenate([notes, make_notes([(5, 6, 21, 100), (5, 6, 108, 100), (5, 6, 20, 100)])])
    expected = chord_tokens((48, 60, 64), (48, 67), (48,), (), (48,), (21, 108))
    tokens = CHORDS.encode(sort_notes(notes))
    np.testing.assert_array_equal(tokens, expected)
    frames = PianorollRepresentation().encode(notes)
    assert int((tokens == CHORD_STEP).sum()) == len(frames)  # one STEP per frame of the roll
    # Back to notes: a pitch in consecutive frames is one held note; A0..C8 kept, G#0 dropped.
    kept = make_notes([(0, 3, 48, 100), (0, 1, 60, 100), (0, 1, 64, 100), (1, 2, 67, 100), (4, 5, 48, 100)])
    kept = sort_notes(np.concatenate([kept, make_notes([(5, 6, 21, 100), (5, 6, 108, 100)])]))
    np.testing.assert_array_equal(CHORDS.decode(tokens), kept)
    np.testing.assert_array_equal(CHORDS.encode(CHORDS.decode(tokens)), tokens)


def test_chords_decode_any_sequence_as_the_set_of_each_frames_pitches() -> None:
    unordered = [64 - 21, 60 - 21, 64 - 21, CHORD_STEP, CHORD_STEP, 62 - 21]  # last frame left open
    expected = make_notes([(0, 1, 60, 100), (0, 1, 64, 100), (2, 3, 62, 100)])
    np.testing.assert_array_equal(CHORDS.decode(np.array(unordered)), expected)
    np.testing.assert_array_equal(CHORDS.encode(expected), chord_tokens((60, 64), (), (62,)))
    assert CHORDS.decode(np.array(chord_tokens((), ()))).shape == (0, len(NOTE_COLUMNS))


def test_chords_token_tables() -> None:
    note_on, note_off = CHORDS.token_pitches()
    assert note_on[:CHORD_STEP].tolist() == list(range(21, 109)) and note_on[CHORD_STEP] == -1
    assert (note_off == -1).all()
    assert CHORDS.token_steps().tolist() == [0] * 88 + [1]
    assert np.flatnonzero(CHORDS.token_frame_ends()).tolist() == [CHORD_STEP]
    assert CHORDS.start_token() == CHORD_STEP
    assert not EVENTS.token_frame_ends().any() and not MelodyRepresentation().token_frame_ends().any()


def test_chords_augmentation_keeps_pitches_on_the_keyboard() -> None:
    """The window pipeline's shift rule, on a window from A0 to C8's neighbours: every shift it allows stays in range."""
    import tensorflow as tf

    tokens = np.array(chord_tokens((23, 60), (), (104,)), np.int32)
    low, high = (int(bound) for bound in CHORDS.pitch_bounds_tf(tf.constant(tokens)))
    assert (low, high) == (23, 104)
    allowed = range(21 - low, 108 - high + 1)
    assert list(allowed) == [-2, -1, 0, 1, 2, 3, 4]
    for shift in allowed:
        moved = CHORDS.transpose_tf(tf.constant(tokens), shift).numpy()
        assert moved.min() >= 0 and moved.max() <= CHORD_STEP
        np.testing.assert_array_equal(moved == CHORD_STEP, tokens == CHORD_STEP)
        decoded = CHORDS.decode(moved)
        assert decoded[:, PITCH].tolist() == sorted([23 + shift, 60 + shift, 104 + shift])


# --- notes ---


def test_notes_features() -> None:
    notes = make_notes([(0, 4, 64, 100), (2, 3, 60, 127), (2, 20, 67, 1), (40, 41, 50, 64)])
    features = NotesRepresentation(steps_per_quarter=1).encode(notes)
    expected = np.array(
        [
            [64 / 127, 4 / 16, 0.0, 100 / 127],
            [60 / 127, 1 / 16, 2 / 16, 1.0],
            [67 / 127, 1.0, 0.0, 1 / 127],  # 18 steps clipped to D = 16
            [50 / 127, 1 / 16, 1.0, 64 / 127],  # 38-step gap clipped
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(features, expected)
    decoded = make_notes([(0, 4, 64, 100), (2, 3, 60, 127), (2, 18, 67, 1), (18, 19, 50, 64)])
    np.testing.assert_array_equal(NotesRepresentation(steps_per_quarter=1).decode(features), decoded)


def test_notes_decode_keeps_durations_positive() -> None:
    features = np.array([[60 / 127, 0.0, 0.0, 0.5], [62 / 127, 0.3, 0.25, 0.0]], dtype=np.float32)
    expected = make_notes([(0, 1, 60, 64), (16, 35, 62, 1)])
    np.testing.assert_array_equal(NotesRepresentation(steps_per_quarter=4).decode(features), expected)


# --- augmentation with TensorFlow ---


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("shift", [-5, 7])
def test_transpose_tf_matches_encoding_transposed_notes(name: str, config: DataConfig, shift: int) -> None:
    representation = get_representation(name, config)
    notes = make_notes([(0, 4, 60, 100), (0, 2, 64, 100), (2, 4, 72, 50), (5, 6, 55, 100), (6, 9, 55, 30)])
    encoded = representation.encode(notes)
    low, high = representation.pitch_bounds_tf(encoded)
    range_low, range_high = representation.pitch_range
    assert range_low <= int(low) + shift and int(high) + shift <= range_high
    transposed = representation.transpose_tf(encoded, shift).numpy()
    assert transposed.dtype == encoded.dtype
    np.testing.assert_array_equal(transposed, representation.encode(transpose_notes(notes, shift)))


@pytest.mark.parametrize(("name", "config"), CASES, ids=CASE_IDS)
def test_pitch_bounds_tf(name: str, config: DataConfig) -> None:
    representation = get_representation(name, config)
    notes = make_notes([(0, 2, 60, 100), (2, 4, 72, 100), (4, 6, 55, 100)])
    low, high = representation.pitch_bounds_tf(representation.encode(notes))
    assert low.dtype.name == high.dtype.name == "int32"
    assert (int(low), int(high)) == (55, 72)
    empty = representation.encode(make_notes([]))
    assert tuple(int(bound) for bound in representation.pitch_bounds_tf(empty)) == NO_PITCH_BOUNDS


def test_pitch_bounds_tf_without_pitches() -> None:
    melody_rests = np.array([0, 1, 0], dtype=np.int32)
    assert tuple(int(b) for b in MelodyRepresentation().pitch_bounds_tf(melody_rests)) == NO_PITCH_BOUNDS
    shifts_only = np.array([SHIFT + 4, VELOCITY + 1], dtype=np.int32)
    assert tuple(int(b) for b in EVENTS.pitch_bounds_tf(shifts_only)) == NO_PITCH_BOUNDS
    silent = np.zeros((4, 88), dtype=np.uint8)
    assert tuple(int(b) for b in PianorollRepresentation().pitch_bounds_tf(silent)) == NO_PITCH_BOUNDS


def test_augmentation_runs_inside_tf_data() -> None:
    import tensorflow as tf

    notes = representable_notes(EVENTS)  # highest pitch 67
    dataset = tf.data.Dataset.from_tensors(EVENTS.encode(notes)).map(
        lambda window: EVENTS.transpose_tf(window, 72 - EVENTS.pitch_bounds_tf(window)[1])
    )
    (transposed,) = list(dataset.as_numpy_iterator())
    np.testing.assert_array_equal(transposed, EVENTS.encode(transpose_notes(notes, 5)))


@pytest.mark.parametrize("name", ["melody", "events", "pianoroll", "notes", "chords"])
def test_midi_to_representation_to_midi_round_trips(name):
    """Through real MIDI files: preprocess -> encode -> decode -> write MIDI -> preprocess gives the same notes."""
    import io

    import pretty_midi

    from core.data.midi_io import load_midi, midi_to_bytes
    from core.data.piece import notes_to_midi
    from core.data.preprocess import preprocess_midi
    from tests.conftest import make_midi_bytes

    melody = [(60, 0.0, 0.5), (64, 0.5, 0.75), (67, 1.0, 2.0), (65, 2.0, 2.25), (62, 2.5, 3.0)] * 3
    source = make_midi_bytes([(p, s + 3.0 * (i // 5), e + 3.0 * (i // 5)) for i, (p, s, e) in enumerate(melody)])
    config = DataConfig(min_notes=1)
    piece = preprocess_midi(load_midi(source), "x.mid", config)
    codec = get_representation(name, config)
    decoded = codec.decode(codec.encode(piece.notes))
    written = midi_to_bytes(notes_to_midi(decoded, piece.steps_per_quarter, piece.tempo_bpm))
    again = preprocess_midi(pretty_midi.PrettyMIDI(io.BytesIO(written)), "y.mid", config)
    assert again.notes[:, :3].tolist() == piece.notes[:, :3].tolist()
