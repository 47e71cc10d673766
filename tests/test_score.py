"""Sheet music: exact scores of tiny hand-made pieces, a MusicXML round trip, the engraved first bars, the view."""

from __future__ import annotations

import base64
from fractions import Fraction

import numpy as np
import pytest
from music21 import chord, converter, layout, stream, tempo
from music21 import key as keys
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.data import corpora
from core.data.midi_io import midi_to_bytes
from core.data.piece import END, PITCH, START, QuantizedPiece, notes_to_midi
from core.errors import ConfigError, InvalidMidiError, ScoreError
from core.music.score import build_score, key_of, musicxml_bytes, note_values, read_midi, score_svg, spellings
from tests.conftest import make_midi_bytes, make_notes, share_corpora

C_MAJOR_SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def piece(*rows, key="C major", time_signature=(4, 4), steps_per_quarter=4, name="Test piece") -> QuantizedPiece:
    """A piece at 90 BPM from rows of (start, end, pitch[, velocity[, program[, is_drum]]])."""
    return QuantizedPiece(name, make_notes(*rows), steps_per_quarter, 90.0, time_signature, key)


def scale_in_quarters() -> QuantizedPiece:
    return piece(*[(4 * i, 4 * i + 4, p) for i, p in enumerate(C_MAJOR_SCALE)])


def written(measure: stream.Measure) -> list[tuple[str, Fraction, str | None]]:
    """(pitches or 'rest', value in quarter notes, tie type) of each note, chord and rest of a one-voice measure."""
    return [
        (
            "rest" if element.isRest else " ".join(p.nameWithOctave for p in element.pitches),
            Fraction(element.quarterLength),
            element.tie.type if element.tie else None,
        )
        for element in measure.notesAndRests
    ]


def read_back(xml: bytes, steps_per_quarter: int) -> list[tuple[int, int, int]]:
    """Every note of a MusicXML file as (start, end, pitch) on the grid, tied notes joined."""
    held: dict[int, list[int]] = {}  # pitch -> [start, end] of the note a tie continues
    found = []
    for part in converter.parseData(xml.decode(), format="musicxml").parts:
        for element in part.flatten().notes:
            start = Fraction(element.offset) * steps_per_quarter
            end = start + Fraction(element.quarterLength) * steps_per_quarter
            for note in element.notes if isinstance(element, chord.Chord) else [element]:
                tie = note.tie.type if note.tie else None
                if tie in ("stop", "continue") and held.get(note.pitch.midi, [None, None])[1] == start:
                    held[note.pitch.midi][1] = end
                else:
                    held[note.pitch.midi] = [start, end]
                    found.append((note.pitch.midi, held[note.pitch.midi]))
    return sorted((int(start), int(end), number) for number, (start, end) in found)


def as_rows(notes: np.ndarray) -> list[tuple[int, int, int]]:
    return sorted(tuple(row) for row in notes[:, [START, END, PITCH]].tolist())


# === Note values ===


@pytest.mark.parametrize(
    ("offset", "length", "beat", "steps_per_quarter", "rest", "values"),
    [
        (0, 4, 4, 4, False, ["1"]),  # a quarter on the beat
        (1, 4, 4, 4, False, ["3/4", "1/4"]),  # a quarter a 16th late: dotted 8th tied to 16th
        (2, 4, 4, 4, False, ["1/2", "1/2"]),  # an 8th late: two tied 8ths across the beat
        (0, 5, 4, 4, False, ["1", "1/4"]),
        (0, 6, 4, 4, False, ["3/2"]),  # a dotted quarter starts on a beat
        (4, 12, 4, 4, False, ["3"]),  # a dotted half from beat 2 to the bar line
        (0, 16, 4, 4, False, ["4"]),
        (4, 12, 4, 4, True, ["1", "2"]),  # rests show the middle of the bar
        (1, 15, 4, 4, True, ["1/4", "1/2", "1", "2"]),
        (0, 6, 6, 4, True, ["3/2"]),  # a beat's rest in 6/8 is dotted
        (1, 1, 3, 3, False, ["1/3"]),  # a triplet 8th on a triplet grid
        (0, 2, 1, 1, False, ["2"]),
    ],
)
def test_note_values(offset, length, beat, steps_per_quarter, rest, values):
    assert note_values(offset, length, beat, steps_per_quarter, rest) == [Fraction(v) for v in values]


# === Keys and spelling ===


@pytest.mark.parametrize(
    ("name", "sharps", "tonic"),
    [
        ("C major", 0, "C"),
        ("D minor", -1, "D"),
        ("Eb major", -3, "E-"),
        ("F# major", 6, "F#"),
        ("Eb minor", -6, "E-"),
        ("C# minor", 4, "C#"),
        ("C# major", -5, "D-"),  # not seven sharps
        ("Ab minor", 5, "G#"),  # not seven flats
        ("bb minor", -5, "B-"),
    ],
)
def test_keys_keep_their_spelling_within_six_sharps_or_flats(name, sharps, tonic):
    key = key_of(name)
    assert (key.sharps, key.tonic.name) == (sharps, tonic)


@pytest.mark.parametrize("name", ["H minor", "C lydian", "minor", ""])
def test_a_key_that_is_not_one_is_refused(name):
    with pytest.raises(ConfigError, match="cannot read the key"):
        key_of(name)


def test_notes_are_spelled_in_the_key():
    assert spellings(key_of("D minor")) == ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")
    assert spellings(key_of("A major")) == ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    assert spellings(key_of("Db major"))[9] == "A"  # the borrowed b6, Bbb, as the note it sounds


# === Scores of tiny pieces ===


def test_a_scale_in_quarter_notes_is_eight_quarter_notes_in_two_bars():
    score = build_score(scale_in_quarters())
    (part,) = score.parts
    first, second = part.getElementsByClass(stream.Measure)
    assert written(first) == [(name, 1, None) for name in ("C4", "D4", "E4", "F4")]
    assert written(second) == [(name, 1, None) for name in ("G4", "A4", "B4", "C5")]
    assert first.clef.sign == "G" and first.keySignature.sharps == 0 and first.timeSignature.ratioString == "4/4"
    (mark,) = first.getElementsByClass(tempo.MetronomeMark)
    assert mark.number == 90 and mark.referent.quarterLength == 1
    assert score.metadata.title == "Test piece"


def test_a_half_note_is_tied_over_the_bar_line_and_rests_fill_the_bars():
    score = build_score(piece((12, 20, 67), (20, 24, 65)))
    first, second = score.parts[0].getElementsByClass(stream.Measure)
    assert written(first) == [("rest", 2, None), ("rest", 1, None), ("G4", 1, "start")]
    assert written(second) == [("G4", 1, "stop"), ("F4", 1, None), ("rest", 2, None)]


def test_syncopation_is_written_in_tied_values_that_show_the_beats():
    score = build_score(piece((0, 1, 72), (1, 5, 74), (5, 16, 76)))
    (measure,) = score.parts[0].getElementsByClass(stream.Measure)
    assert written(measure) == [
        ("C5", Fraction(1, 4), None),
        ("D5", Fraction(3, 4), "start"),
        ("D5", Fraction(1, 4), "stop"),
        ("E5", Fraction(3, 4), "start"),
        ("E5", 2, "stop"),
    ]


def test_a_four_voice_chord_goes_on_two_staves_by_voice():
    # C3 D4 G4 B4: the tenor's D4 is above middle C but, the second-lowest of four voices, in the bass staff.
    score = build_score(piece((0, 16, 48), (0, 16, 62), (0, 16, 67), (0, 16, 71)))
    treble, bass = score.parts
    assert isinstance(treble, stream.PartStaff) and isinstance(bass, stream.PartStaff)
    assert written(treble.getElementsByClass(stream.Measure).first()) == [("G4 B4", 4, None)]
    assert written(bass.getElementsByClass(stream.Measure).first()) == [("C3 D4", 4, None)]
    assert [m.clef.sign for m in (treble.measure(1), bass.measure(1))] == ["G", "F"]
    (group,) = score.getElementsByClass(layout.StaffGroup)
    assert group.symbol == "brace"


def test_overlapping_chords_go_to_voices_and_a_melody_keeps_one_staff():
    # Soprano in quarters over an alto half note: two voices on one staff; a low line alone gets the bass clef.
    score = build_score(piece((0, 4, 72), (4, 8, 71), (0, 8, 64), (8, 16, 67)))
    (part,) = score.parts
    first = part.getElementsByClass(stream.Measure).first()
    upper, lower = first.voices
    assert [(n.nameWithOctave, n.quarterLength) for n in upper.notes] == [("C5", 1), ("B4", 1), ("G4", 2)]
    assert [(n.nameWithOctave, n.quarterLength) for n in lower.notes] == [("E4", 2)]
    assert all(rest.style.hideObjectOnPrint for rest in lower.getElementsByClass("Rest"))
    low = build_score(piece(*[(4 * i, 4 * i + 4, p - 24) for i, p in enumerate(C_MAJOR_SCALE)]))
    assert low.parts[0].measure(1).clef.sign == "F"


def test_drums_are_left_out_and_a_piece_of_drums_only_is_refused():
    score = build_score(piece((0, 4, 60), (0, 4, 36, 80, 0, 1)))
    assert [n.nameWithOctave for n in score.flatten().notes] == ["C4"]
    with pytest.raises(ScoreError, match="no pitched notes"):
        build_score(piece((0, 4, 36, 80, 0, 1)))
    with pytest.raises(ScoreError, match="no pitched notes"):
        build_score(piece())


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"time_signature": (4, 3)}, ConfigError, "cannot write the time signature 4/3"),
        ({"time_signature": (0, 4)}, ConfigError, "cannot write the time signature 0/4"),
        ({"time_signature": (3, 8), "steps_per_quarter": 1}, ScoreError, "not a whole number of steps"),
        ({"key": "Q major"}, ConfigError, "cannot read the key 'Q major'"),
    ],
)
def test_what_cannot_be_written_says_why(change, error, message):
    with pytest.raises(error, match=message):
        build_score(piece((0, 4, 60), **change))


def test_the_first_bars_end_at_their_last_bar_line():
    long = piece(*[(16 * bar + 8, 16 * bar + 24, 60 + bar) for bar in range(12)])  # half notes over bar lines
    measures = build_score(long, bars=8).parts[0].getElementsByClass(stream.Measure)
    assert len(measures) == 8
    assert written(measures[7]) == [("F#4", 2, "stop"), ("G4", 2, None)]  # held on past bar 8: ends there
    assert len(build_score(long).parts[0].getElementsByClass(stream.Measure)) == 13
    with pytest.raises(ConfigError, match="bars must be at least 1"):
        build_score(long, bars=0)


# === MusicXML ===


def test_musicxml_reimports_with_the_same_notes():
    notes = piece(
        (0, 6, 74), (6, 8, 73), (8, 20, 77),  # dotted quarter, 8th, a note tied over the bar line
        (0, 12, 50), (0, 12, 57), (12, 13, 58), (13, 24, 62),  # a chord, then a 16th and a long syncopation
        key="D minor", time_signature=(3, 4),
    )  # fmt: skip
    xml = musicxml_bytes(notes)
    assert read_back(xml, 4) == as_rows(notes.notes)
    score = converter.parseData(xml.decode(), format="musicxml")
    assert score.metadata.bestTitle == "Test piece" and score.metadata.composer == "NeuroTune"
    assert score.recurse().getElementsByClass(keys.KeySignature).first().sharps == -1
    assert {p.name for p in score.pitches} >= {"C#", "B-"}


def test_a_bach_chorale_reimports_with_the_same_notes(request, neurotune_home):
    neurotune_home.mkdir(parents=True, exist_ok=True)
    share_corpora(request, neurotune_home)  # converted once for the whole test suite
    (path,) = corpora.build_corpus("bach-chorales", limit=1).files
    chorale = read_midi(path.read_bytes(), path.stem)
    assert (chorale.key, chorale.time_signature) == ("G major", (3, 4))
    xml = musicxml_bytes(chorale)
    assert read_back(xml, chorale.steps_per_quarter) == as_rows(chorale.notes)
    svg = score_svg(chorale)
    assert svg.count('class="measure"') == 8 and svg.count('class="staff"') == 16  # a grand staff, 8 bars


# === MIDI and SVG ===


def test_a_midi_file_is_read_with_its_tempo_and_the_key_heard():
    notes = make_notes(*[(4 * i, 4 * i + 4, p) for i, p in enumerate(C_MAJOR_SCALE)])
    midi = read_midi(midi_to_bytes(notes_to_midi(notes, 4, tempo_bpm=90.0)), "scale")
    assert as_rows(midi.notes) == as_rows(notes)
    assert (midi.key, midi.tempo_bpm, midi.time_signature) == ("C major", pytest.approx(90.0, abs=0.01), (4, 4))
    with pytest.raises(InvalidMidiError):
        read_midi(make_midi_bytes(drum_notes=[(36, 0.0, 0.5)]), "drums")


def test_the_engraving_shows_the_notes_and_bars_without_the_title():
    svg = score_svg(piece(*[(4 * i, 4 * i + 4, p) for i, p in enumerate(C_MAJOR_SCALE)], name="<script>Evil</script>"))
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert svg.count('class="note"') == 8 and svg.count('class="measure"') == 2 and svg.count('class="staff"') == 2
    assert 'fill="white"' in svg
    assert "Evil" not in svg and "<script" not in svg


# === The view and the command line ===


def _two_views():
    import numpy as np

    from core.data.piece import QuantizedPiece
    from ui.score import score_view

    notes = np.array([[4 * i, 4 * i + 4, 60 + 2 * i, 80, 0, 0] for i in range(4)], dtype=np.int32)
    score_view(QuantizedPiece("x", notes, 4, 90.0, key="C major"), "My **piece**", key="made")
    score_view(b"not a MIDI file", "Broken", key="broken")


def test_the_view_engraves_only_when_opened_and_offers_the_musicxml():
    app = AppTest.from_function(_two_views, default_timeout=30).run()
    assert not app.exception and len(app.expander) == 2
    assert [len(expander.children) for expander in app.expander] == [0, 0]  # closed: nothing engraved
    app.session_state["made-sheet-music"] = app.session_state["broken-sheet-music"] = True
    app.run()
    assert not app.exception
    image, caption, button = (app.expander[0][index] for index in range(3))
    svg = base64.b64decode(image.proto.imgs[0].url.removeprefix("data:image/svg+xml;base64,")).decode()
    assert svg.count('class="note"') == 4 and "piece" not in svg
    assert caption.value.startswith("The first 8 bars, in C major")
    assert (button.proto.label, button.proto.ignore_rerun) == ("Download MusicXML", True)
    assert "not a MIDI file" in app.expander[1].error[0].value


def test_the_score_command_writes_musicxml(tmp_path, capsys):
    midi = tmp_path / "tune.mid"
    notes = make_notes(*[(4 * i, 4 * i + 4, p) for i, p in enumerate(C_MAJOR_SCALE)])
    midi.write_bytes(midi_to_bytes(notes_to_midi(notes, 4, tempo_bpm=90.0)))
    out = tmp_path / "sheets" / "tune.musicxml"
    assert main(["score", str(midi), "--out", str(out), "--key", "A minor"]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: 8 notes in A minor, 4/4, 90 BPM"
    assert read_back(out.read_bytes(), 4) == as_rows(notes)
    assert main(["score", str(midi), "--out", str(tmp_path / "x.musicxml"), "--key", "A lydian"]) == 2
    assert "cannot read the key 'A lydian'" in capsys.readouterr().err
    assert not (tmp_path / "x.musicxml").exists()
