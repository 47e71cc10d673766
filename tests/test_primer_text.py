"""Primers typed as note text: names, rests, chords, durations and the errors a user sees."""

from __future__ import annotations

import pretty_midi
import pytest

from core.data.piece import END, IS_DRUM, PITCH, PROGRAM, START, VELOCITY
from core.errors import GenerationError
from core.generation.primer import parse_note_text


def _triples(notes) -> list[list[int]]:
    return notes[:, [START, END, PITCH]].tolist()


def test_consecutive_quarter_notes_by_default():
    notes = parse_note_text("C4 E4 G4", steps_per_quarter=4)
    assert notes.dtype.name == "int32"
    assert _triples(notes) == [[0, 4, 60], [4, 8, 64], [8, 12, 67]]
    assert notes[:, VELOCITY].tolist() == [100, 100, 100]
    assert notes[:, PROGRAM].tolist() == [0, 0, 0]
    assert notes[:, IS_DRUM].tolist() == [0, 0, 0]


def test_durations_rests_commas_and_accidentals():
    notes = parse_note_text("C4:2, R:0.5 eb4:0.25,F#3   Bb5", steps_per_quarter=4)
    assert _triples(notes) == [[0, 8, 60], [10, 11, 63], [11, 15, 54], [15, 19, 82]]


def test_chords_and_dash_rests():
    notes = parse_note_text("C4+E4+G4:1.5 - B3 r:1", steps_per_quarter=2)
    assert _triples(notes) == [[0, 3, 60], [0, 3, 64], [0, 3, 67], [5, 7, 59]]


def test_a_repeated_chord_tone_is_one_note():
    assert _triples(parse_note_text("C4+C4", 4)) == [[0, 4, 60]]


@pytest.mark.parametrize("name", ["C4", "F#3", "Bb5", "eb4", "C-1", "G9", "Cb4", "B#3", "A0", "bb3"])
def test_note_names_agree_with_pretty_midi(name):
    assert parse_note_text(name, 1)[0, PITCH] == pretty_midi.note_name_to_number(name)


@pytest.mark.parametrize(
    ("duration", "steps"), [("0.3", 1), ("0.1", 1), ("0.4", 2), ("0.375", 2), ("0.125", 1), ("0.625", 3), ("3", 12)]
)
def test_off_grid_durations_round_to_the_nearest_step_but_at_least_one(duration, steps):
    notes = parse_note_text(f"C4:{duration} D4", steps_per_quarter=4)
    assert _triples(notes) == [[0, steps, 60], [steps, steps + 4, 62]]


def test_rests_only_give_no_notes():
    assert parse_note_text("R - R:2", 4).shape == (0, 6)


@pytest.mark.parametrize("text", ["", "   ", " , ,"])
def test_empty_text_is_an_error_with_an_example(text):
    with pytest.raises(GenerationError, match="empty.*C4"):
        parse_note_text(text, 4)


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("C4 H4", "H4"),
        ("C4 C", "C"),
        ("Cx4", "Cx4"),
        ("G#9", "G#9"),
        ("C-2", "C-2"),
        ("C4:0", "C4:0"),
        ("C4:-1", "C4:-1"),
        ("C4:abc", "C4:abc"),
        ("C4:inf", "C4:inf"),
        ("C4:nan", "C4:nan"),
        ("C4::2", "C4::2"),
        ("C4:", "C4:"),
        ("C4++E4", "C4++E4"),
        ("C4+", "C4+"),
        ("E4 C4+X4:2", "C4+X4:2"),
    ],
)
def test_bad_tokens_are_named_in_the_error(text, token):
    with pytest.raises(GenerationError) as error:
        parse_note_text(text, 4)
    assert repr(token) in str(error.value)
    assert "C4" in str(error.value).replace(repr(token), "")  # the example


def test_pitch_out_of_range_says_so():
    with pytest.raises(GenerationError, match="128, outside 0..127"):
        parse_note_text("G#9", 4)


def test_steps_per_quarter_must_be_positive():
    with pytest.raises(GenerationError, match="steps_per_quarter"):
        parse_note_text("C4", 0)
