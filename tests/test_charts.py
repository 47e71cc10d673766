"""The Plotly figures: voices told apart on the piano roll, bar lines, and dataset counts that read as counts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_notes
from ui.charts import (
    DRUM_COLOUR,
    VOICE_COLOURS,
    bar_figure,
    bar_lines,
    binned_counts,
    dataset_figures,
    histogram_figure,
    note_labels,
    note_voices,
    piano_roll_figure,
)

# Two bars of 4/4 at 4 steps per quarter: four voices holding half notes, C major then G major.
CHORALE = make_notes(
    *[(start, start + 8, pitch) for start, chord in ((0, (72, 67, 64, 48)), (16, (71, 67, 62, 55))) for pitch in chord],
    *[
        (start + 8, start + 16, pitch)
        for start, chord in ((0, (72, 67, 64, 48)), (16, (71, 67, 62, 55)))
        for pitch in chord
    ],
)


def voice_of(notes: np.ndarray, group: np.ndarray, names: list[str]) -> dict[int, str]:
    return {int(pitch): names[index] for pitch, index in zip(notes[:, 2], group, strict=True)}


def test_four_voices_on_one_piano_are_soprano_alto_tenor_and_bass() -> None:
    group, names = note_voices(CHORALE)
    assert names == ["Soprano", "Alto", "Tenor", "Bass"]
    assert voice_of(CHORALE, group, names) == {
        72: "Soprano", 71: "Soprano", 67: "Alto", 64: "Tenor", 62: "Tenor", 48: "Bass", 55: "Bass"
    }  # fmt: skip


def test_a_divided_voice_in_one_chord_leaves_the_texture_four_voices() -> None:
    # 60 notes of four voices, then a final chord with the bass doubled at the octave.
    notes = make_notes(
        *[(step, step + 1, pitch) for step in range(15) for pitch in (72, 67, 64, 48)],
        *[(16, 20, pitch) for pitch in (72, 67, 64, 48, 36)],
    )
    group, names = note_voices(notes)
    assert names == ["Soprano", "Alto", "Tenor", "Bass"]
    assert voice_of(notes, group, names)[36] == "Bass"


def test_a_composition_s_instruments_name_its_voices() -> None:
    group, names = note_voices(CHORALE, programs=[0, 0, 40, 42])
    assert names == [
        "Soprano (Acoustic Grand Piano)",
        "Alto (Acoustic Grand Piano)",
        "Tenor (Violin)",
        "Bass (Cello)",
    ]
    assert voice_of(CHORALE, group, names)[48] == "Bass (Cello)"
    # The same instrument for all: the voices still differ, named as voices only.
    assert note_voices(CHORALE, programs=[0, 0, 0, 0])[1] == ["Soprano", "Alto", "Tenor", "Bass"]
    # More voices asked than ever sound: only those heard are named.
    assert note_voices(make_notes((0, 4, 60)), programs=[0, 0, 0])[1] == ["Voice 1 (top)"]


def test_several_instruments_are_one_group_each_highest_first() -> None:
    notes = make_notes(
        (0, 4, 40, 80, 32), (0, 4, 72, 80, 73), (4, 8, 43, 80, 32), (4, 8, 74, 80, 73), (0, 8, 36, 80, 0, 1)
    )
    group, names = note_voices(notes)
    assert names == ["Flute", "Acoustic Bass", "Drums"]
    assert [names[index] for index in group] == ["Acoustic Bass", "Flute", "Acoustic Bass", "Flute", "Drums"]


@pytest.mark.parametrize(
    ("notes", "names"),
    [
        (make_notes((0, 4, 60), (4, 8, 62)), ["Acoustic Grand Piano"]),  # a melody
        (make_notes(*[(0, 4, pitch, 80, 40) for pitch in (48, 52, 55, 60, 64, 67)]), ["Violin"]),  # six at once
        (make_notes(), []),
    ],
)
def test_a_melody_or_a_thick_texture_is_one_instrument(notes: np.ndarray, names: list[str]) -> None:
    group, found = note_voices(notes)
    assert found == names and not group.any()


def test_bar_lines_close_every_bar_in_its_time_signature() -> None:
    assert bar_lines(32, 4).tolist() == [0, 4, 8]  # two bars of 4/4
    assert bar_lines(31, 4).tolist() == [0, 4, 8]  # a last bar not filled is still a bar
    assert bar_lines(33, 4).tolist() == [0, 4, 8, 12]
    assert bar_lines(0, 4).tolist() == [0, 4]
    assert bar_lines(24, 4, (3, 4)).tolist() == [0, 3, 6]
    assert bar_lines(12, 2, (6, 8)).tolist() == [0, 3, 6]
    with pytest.raises(ValueError, match="time signature"):
        bar_lines(8, 4, (4, 0))


def test_a_note_says_its_name_voice_and_place_in_the_bar() -> None:
    group, names = note_voices(CHORALE)
    labels = note_labels(CHORALE, names, group, 4, (4, 4))
    assert labels[0] == "C5 · Soprano · bar 1, beat 1"
    assert "G3 · Bass · bar 2, beat 3" in labels
    eighth = make_notes((6, 8, 60))
    assert note_labels(eighth, ["Piano"], np.zeros(1, dtype=int), 4, (6, 8)) == ["C4 · Piano · bar 1, beat 4"]


def test_the_piano_roll_has_a_colour_and_legend_entry_per_voice_and_a_line_per_bar() -> None:
    figure = piano_roll_figure(CHORALE, 4, "Chorale", primer_steps=8)
    assert [trace.name for trace in figure.data] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [trace.marker.color for trace in figure.data] == list(VOICE_COLOURS[:4])
    assert figure.layout.showlegend
    assert sorted(figure.data[3].y) == [48, 48, 55, 55]
    assert figure.data[0].customdata[0][0] == "C5 · Soprano · bar 1, beat 1"
    assert figure.layout.xaxis.tickvals == (0, 4, 8) and figure.layout.xaxis.ticktext == ("1", "2", "")
    assert figure.layout.xaxis.showgrid and figure.layout.xaxis.minor.dtick == 1  # bars strong, beats faint
    assert [shape.x0 for shape in figure.layout.shapes] == [2]  # the primer ends after two quarters


def test_drums_are_grey_and_one_voice_needs_no_legend() -> None:
    figure = piano_roll_figure(make_notes((0, 4, 36, 80, 0, 1), (0, 4, 60)), 4)
    assert [(trace.name, trace.marker.color) for trace in figure.data] == [
        ("Acoustic Grand Piano", VOICE_COLOURS[0]),
        ("Drums", DRUM_COLOUR),
    ]
    assert not piano_roll_figure(make_notes((0, 4, 60)), 4).layout.showlegend


def test_a_title_is_text_not_markup() -> None:
    figure = piano_roll_figure(CHORALE, 4, "<b>Bold</b> & <script>")
    assert figure.layout.title.text == "&lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;"


def tempo_figure(tempos: list[float]):
    return histogram_figure(tempos, "Tempo", "tempo", unit=" BPM")


def test_one_tempo_is_one_bar_labelled_with_it() -> None:
    figure = tempo_figure([119.6, 120.0, 120.4])
    (bars,) = figure.data
    assert list(bars.x) == ["120 BPM"] and list(bars.y) == [3]
    assert figure.layout.yaxis.dtick == 1 and figure.layout.yaxis.tickformat == ",d"
    figure = tempo_figure([90, 120, 120])
    assert list(figure.data[0].x) == ["90 BPM", "120 BPM"] and list(figure.data[0].y) == [1, 2]


def test_many_tempos_fall_in_round_bins() -> None:
    tempos = list(range(60, 200, 3))  # 47 tempos
    figure = tempo_figure(tempos)
    (bars,) = figure.data
    assert bars.customdata[0] == "60–64 BPM" and bars.width == pytest.approx(5 * 0.95)
    assert bars.x[0] == 62  # the bin of 60, 61, ... 64
    assert sum(bars.y) == len(tempos) and figure.layout.xaxis.tickformat == ",d"
    (bars,) = tempo_figure(list(range(60, 73))).data  # 13 tempos, each its own bin
    assert bars.customdata[0] == "60 BPM" and bars.x[0] == 60


def test_a_few_values_far_apart_are_binned_unless_there_are_very_few() -> None:
    notes = [124, 258, 263, 290, 300, 355, 393, 407]  # eight pieces: eight bars of one would say nothing
    (bars,) = histogram_figure(notes, "Notes per piece", "notes").data
    assert sum(bars.y) == 8 and bars.customdata[0] == "120–129"  # round bins of ten notes
    assert list(tempo_figure([60, 180]).data[0].x) == ["60 BPM", "180 BPM"]


def test_binned_counts_use_round_widths() -> None:
    edges, counts = binned_counts([10, 11, 12, 40, 200])
    assert edges[:2].tolist() == [10, 20] and len(edges) == 20
    assert counts.tolist()[:4] == [3, 0, 0, 1] and counts.sum() == 5
    edges, counts = binned_counts([48, 48, 48])
    assert edges.tolist() == [48] and counts.tolist() == [3]
    assert binned_counts([])[0].size == 0


def test_count_axes_show_whole_numbers_only() -> None:
    small = histogram_figure([48, 48, 50], "Notes per piece", "notes")
    assert small.layout.yaxis.dtick == 1 and small.layout.yaxis.tickformat == ",d"
    assert list(small.data[0].x) == ["48", "50"] and list(small.data[0].y) == [2, 1]
    assert small.layout.xaxis.type == "category"  # no axis between 48 and 49 to read 48.5 on
    large = bar_figure(["C", "D"], [0, 40], "Pitch-class histogram", "pitch class")
    assert large.layout.yaxis.dtick is None and large.layout.yaxis.tickformat == ",d"


def test_every_dataset_chart_counts_in_whole_numbers() -> None:
    stats = {
        "pitch_histogram": [0] * 60 + [2, 0, 1] + [0] * 65,
        "pitch_class_histogram": [2, 0, 1] + [0] * 9,
        "steps_per_quarter": 4,
        "duration_histogram": [1, 2] + [0] * 30,
        "notes_per_piece": [3],
        "tempos": [120.0],
        "keys": {"C major": 1},
    }
    figures = dataset_figures(stats)
    assert set(figures) == {"pitch", "pitch_class", "duration", "notes_per_piece", "tempo", "key"}
    for figure in figures.values():
        assert figure.layout.yaxis.tickformat == ",d" and figure.layout.yaxis.dtick == 1
