"""Post-processing of generated notes: exact results on tiny hand-made note arrays."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.data.piece import END, IS_DRUM, PITCH, PROGRAM, START, VELOCITY, sort_notes
from core.errors import GenerationError
from core.generation.postprocess import (
    PostProcessing,
    assign_voices,
    limit_polyphony,
    parse_scale,
    remove_duplicate_notes,
    rests_at_phrase_ends,
    set_programs,
    snap_to_scale,
)
from core.music.theory import SCALES, scale_pitch_classes
from tests.conftest import make_notes as _notes


def _triples(notes: np.ndarray) -> list[list[int]]:
    return notes[:, [START, END, PITCH]].tolist()


def _max_sounding(notes: np.ndarray) -> int:
    if len(notes) == 0:
        return 0
    roll = np.zeros(int(notes[:, END].max()) + 1, dtype=int)
    for start, end in notes[:, [START, END]]:
        roll[start:end] += 1
    return int(roll.max())


# === Scales ===


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("D minor", (2, "minor")),
        ("C# major", (1, "major")),
        ("Bb dorian", (10, "dorian")),
        ("f# harmonic minor", (6, "harmonic minor")),
        ("E minor pentatonic", (4, "minor pentatonic")),
        ("Db major", (1, "major")),
        ("b minor", (11, "minor")),
        ("bb minor", (10, "minor")),
        ("Cb major", (11, "major")),
        ("  A   Aeolian ", (9, "minor")),
        ("G MIXOLYDIAN", (7, "mixolydian")),
        ("c chromatic", (0, "chromatic")),
    ],
)
def test_parse_scale_reads_tonic_and_scale(text, expected):
    assert parse_scale(text) == expected


@pytest.mark.parametrize("text", ["", "D", "H major", "C superlocrian", "C## major", "Cmajor", "minor"])
def test_parse_scale_rejects_unknown_text_and_lists_scales(text):
    with pytest.raises(GenerationError, match="harmonic minor"):
        parse_scale(text)


def test_scales_cover_the_required_names_and_are_well_formed():
    required = {"major", "minor", "harmonic minor", "dorian", "mixolydian", "lydian", "phrygian"}
    required |= {"major pentatonic", "minor pentatonic", "blues", "chromatic"}
    assert required <= set(SCALES)
    for intervals in SCALES.values():
        assert intervals[0] == 0
        assert list(intervals) == sorted(set(intervals))
        assert intervals[-1] < 12


def test_scale_pitch_classes():
    assert scale_pitch_classes(2, "minor") == frozenset({2, 4, 5, 7, 9, 10, 0})
    assert scale_pitch_classes(9, "major pentatonic") == frozenset({9, 11, 1, 4, 6})
    assert scale_pitch_classes(0, "chromatic") == frozenset(range(12))
    with pytest.raises(ValueError, match="unknown scale 'bogus'"):
        scale_pitch_classes(0, "bogus")
    with pytest.raises(GenerationError, match="harmonic minor"):
        snap_to_scale(_notes((0, 4, 60)), 0, "bogus")


# === Snapping ===


def test_snap_to_scale_moves_to_the_nearest_tone_and_ties_go_down():
    notes = _notes((0, 1, 60), (1, 2, 61), (2, 3, 63), (3, 4, 66), (4, 5, 70), (5, 6, 71))
    before = notes.copy()
    snapped = snap_to_scale(notes, 0, "major")
    assert snapped[:, PITCH].tolist() == [60, 60, 62, 65, 69, 71]
    assert np.array_equal(notes, before)


def test_snap_to_scale_prefers_the_nearer_tone_over_down():
    # C major pentatonic (C D E G A): F goes down to E (1 away), F# up to G (1 away vs 2).
    snapped = snap_to_scale(_notes((0, 1, 65), (1, 2, 66)), 0, "major pentatonic")
    assert snapped[:, PITCH].tolist() == [64, 67]


def test_snap_to_scale_stays_inside_the_midi_range_and_leaves_drums_alone():
    # D major holds B and C#: pitch 0 (C) would tie down to -1, so it goes up to 1.
    snapped = snap_to_scale(_notes((0, 1, 0), (0, 1, 37, 80, 0, 1)), 2, "major")
    assert snapped[:, [PITCH, IS_DRUM]].tolist() == [[1, 0], [37, 1]]


def test_snap_to_scale_chromatic_and_empty():
    notes = _notes((0, 1, 61), (0, 1, 66))
    assert np.array_equal(snap_to_scale(notes, 0, "chromatic"), notes)
    assert snap_to_scale(_notes(), 0, "major").shape == (0, 6)


# === Duplicates ===


def test_remove_duplicate_notes_merges_overlaps_and_keeps_re_attacks():
    notes = _notes(
        (0, 4, 60, 80),
        (2, 6, 60, 100),  # overlaps the first: merged to 0-6 at velocity 100
        (6, 8, 60, 50),  # only touches: a re-attack
        (0, 2, 64, 70),
        (0, 2, 64, 70),  # exact duplicate
        (1, 3, 67),
        (5, 7, 67),
        (10, 12, 72, 10),
        (11, 14, 72, 20),
        (13, 15, 72, 30),  # a chain: one note 10-15
        (20, 30, 48, 90),
        (22, 24, 48, 100),  # nested
    )
    before = notes.copy()
    merged = remove_duplicate_notes(notes)
    assert merged[:, [START, END, PITCH, VELOCITY]].tolist() == [
        [0, 6, 60, 100],
        [0, 2, 64, 70],
        [1, 3, 67, 80],
        [5, 7, 67, 80],
        [6, 8, 60, 50],
        [10, 15, 72, 30],
        [20, 30, 48, 100],
    ]
    assert np.array_equal(notes, before)
    assert remove_duplicate_notes(_notes()).shape == (0, 6)


def test_snapping_then_removing_duplicates_leaves_no_same_pitch_overlap():
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 64, 200)
    notes = _notes(*zip(starts, starts + rng.integers(1, 8, 200), rng.integers(48, 84, 200)))
    cleaned = remove_duplicate_notes(snap_to_scale(notes, 0, "minor pentatonic"))
    for pitch in np.unique(cleaned[:, PITCH]):
        same = cleaned[cleaned[:, PITCH] == pitch]
        assert (same[1:, START] >= same[:-1, END]).all()


# === Polyphony ===


def test_limit_polyphony_keeps_outer_voices_then_the_loudest():
    chord = _notes((0, 4, 48, 80), (0, 4, 55, 100), (0, 4, 60, 90), (0, 4, 64, 70), (0, 4, 67, 80))
    assert _triples(limit_polyphony(chord, 3)) == [[0, 4, 48], [0, 4, 55], [0, 4, 67]]


def test_limit_polyphony_shortens_a_sounding_note_and_drops_a_starting_one():
    shortened = limit_polyphony(_notes((0, 8, 60), (0, 8, 48), (4, 8, 72, 50)), 2)
    assert _triples(shortened) == [[0, 8, 48], [0, 4, 60], [4, 8, 72]]
    dropped = limit_polyphony(_notes((0, 8, 72), (0, 8, 48), (4, 6, 60, 127)), 2)
    assert _triples(dropped) == [[0, 8, 48], [0, 8, 72]]


def test_limit_polyphony_breaks_velocity_ties_by_earlier_start():
    notes = _notes((0, 8, 72), (0, 8, 40), (0, 8, 60), (2, 8, 55))
    assert _triples(limit_polyphony(notes, 3)) == [[0, 8, 40], [0, 8, 60], [0, 8, 72]]


def test_limit_polyphony_to_one_voice_keeps_the_top_line():
    notes = _notes((0, 4, 60), (0, 4, 64), (2, 6, 67))
    assert _triples(limit_polyphony(notes, 1)) == [[0, 2, 64], [2, 6, 67]]


def test_limit_polyphony_bounds_every_step():
    rng = np.random.default_rng(1)
    starts = rng.integers(0, 32, 100)
    notes = _notes(
        *zip(starts, starts + rng.integers(1, 12, 100), rng.integers(40, 90, 100), rng.integers(1, 127, 100))
    )
    for voices in (1, 2, 4):
        limited = limit_polyphony(notes, voices)
        assert _max_sounding(limited) <= voices
        assert np.array_equal(limited, sort_notes(limited))


def test_limit_polyphony_rejects_zero_voices_and_handles_empty():
    with pytest.raises(GenerationError, match="max_voices"):
        limit_polyphony(_notes((0, 1, 60)), 0)
    assert limit_polyphony(_notes(), 2).shape == (0, 6)


# === Phrase rests ===


def test_rests_at_phrase_ends_cuts_and_drops():
    # One-bar phrases of 16 steps; the default rest is a beat: steps 12-15 and 28-31.
    notes = _notes((0, 4, 60), (8, 14, 62), (12, 14, 64), (14, 18, 65), (10, 30, 67), (16, 20, 69), (26, 40, 71))
    rested = rests_at_phrase_ends(notes, steps_per_bar=16, phrase_bars=1)
    assert _triples(rested) == [[0, 4, 60], [8, 12, 62], [10, 12, 67], [16, 20, 69], [26, 28, 71]]


def test_rests_at_phrase_ends_with_explicit_length():
    notes = _notes((6, 8, 60), (7, 9, 62), (8, 10, 64))
    rested = rests_at_phrase_ends(notes, steps_per_bar=4, phrase_bars=2, rest_steps=1)
    assert _triples(rested) == [[6, 7, 60], [8, 10, 64]]


def test_rests_at_phrase_ends_default_rest_is_at_least_one_step():
    rested = rests_at_phrase_ends(_notes((0, 3, 60), (2, 3, 62)), steps_per_bar=3, phrase_bars=1)
    assert _triples(rested) == [[0, 2, 60]]


@pytest.mark.parametrize(
    ("steps_per_bar", "phrase_bars", "rest_steps"), [(0, 4, None), (16, 0, None), (4, 1, 4), (4, 1, 0)]
)
def test_rests_at_phrase_ends_rejects_bad_lengths(steps_per_bar, phrase_bars, rest_steps):
    with pytest.raises(GenerationError):
        rests_at_phrase_ends(_notes((0, 1, 60)), steps_per_bar, phrase_bars, rest_steps)


# === Voices and programs ===


def test_assign_voices_ranks_by_pitch_at_each_onset():
    notes = _notes((0, 4, 60), (0, 4, 64), (0, 4, 67), (2, 6, 72), (4, 8, 50), (1, 2, 90, 80, 0, 1))
    assert assign_voices(notes, 4).tolist() == [2, 1, 0, 0, 1, 0]
    assert assign_voices(notes, 2).tolist() == [1, 1, 0, 0, 1, 0]
    assert assign_voices(_notes(), 3).shape == (0,)
    with pytest.raises(GenerationError):
        assign_voices(notes, 0)


def test_set_programs_writes_one_program_per_voice():
    notes = _notes((0, 4, 72), (0, 4, 64), (0, 4, 55), (0, 4, 40), (0, 1, 36, 80, 0, 1))
    voices = assign_voices(notes, 4)
    programmed = set_programs(notes, voices, [73, 40, 32])
    assert programmed[:, [PITCH, PROGRAM]].tolist() == [[36, 0], [40, 32], [55, 32], [64, 40], [72, 73]]
    assert notes[:, PROGRAM].tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize(("voices", "programs"), [([0], []), ([0], [128]), ([0, 1], [0]), ([-1], [0])])
def test_set_programs_rejects_bad_input(voices, programs):
    with pytest.raises(GenerationError):
        set_programs(_notes((0, 1, 60)), np.array(voices), programs)


# === The bundle ===


def test_post_processing_applies_in_order():
    notes = _notes((0, 4, 61, 100), (0, 4, 60, 80), (2, 8, 64, 90), (2, 8, 67, 90))
    options = PostProcessing(scale="C major", max_polyphony=1, phrase_rests=True, phrase_bars=1)
    processed = options.apply(notes, steps_per_bar=8)
    assert processed[:, [START, END, PITCH, VELOCITY]].tolist() == [[0, 2, 60, 100], [2, 6, 67, 90]]


def test_post_processing_default_only_removes_duplicates():
    notes = _notes((4, 6, 61), (0, 2, 60), (0, 2, 60))
    assert _triples(PostProcessing().apply(notes, 16)) == [[0, 2, 60], [4, 6, 61]]
    assert PostProcessing().apply(_notes(), 16).shape == (0, 6)


@pytest.mark.parametrize(
    "options", [{"scale": "X lydian"}, {"max_polyphony": -1}, {"phrase_bars": 0}], ids=["scale", "poly", "bars"]
)
def test_post_processing_validates(options):
    with pytest.raises(GenerationError):
        PostProcessing(**options)


def test_post_processing_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PostProcessing().max_polyphony = 3  # type: ignore[misc]


def test_cap_note_length_ends_hanging_notes():
    from core.generation.postprocess import cap_note_length

    notes = np.array([[0, 64, 60, 100, 0, 0], [4, 6, 62, 100, 0, 0]], dtype=np.int32)
    assert cap_note_length(notes, 8)[:, :2].tolist() == [[0, 8], [4, 6]]
    assert PostProcessing(max_note_beats=2).apply(notes, 16)[:, :2].tolist() == [[0, 8], [4, 6]]
    with pytest.raises(GenerationError, match="at least 1 step"):
        cap_note_length(notes, 0)
    with pytest.raises(GenerationError, match="max_note_beats"):
        PostProcessing(max_note_beats=-1)
