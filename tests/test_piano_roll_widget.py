"""The playing piano roll's Python side: what it sends the browser to draw and play.

AppTest runs no JavaScript; the playhead itself is exercised in ``tests/e2e/test_piano_roll.py``.
"""

from __future__ import annotations

import base64
import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import make_notes
from tests.test_charts import CHORALE
from ui.charts import VOICE_COLOURS, piano_roll_figure
from ui.listening import clip_id
from ui.piano_roll import piano_roll_player, roll_data

CLIP = b"RIFF\x24\x00\x00\x00WAVEfmt fake clip bytes"
TITLE = "<b>Chorale</b> <img src=x onerror=alert(1)>"


def test_the_roll_holds_every_note_with_its_voice_colour_and_hover_name() -> None:
    data = roll_data(CHORALE, 4, 120.0, "Chorale", primer_steps=8)
    assert [voice["name"] for voice in data["voices"]] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [voice["colour"] for voice in data["voices"]] == list(VOICE_COLOURS[:4])
    assert data["notes"][0] == [0, 8, 72, 0] and data["notes"][3] == [0, 8, 48, 3]
    assert data["labels"][3] == "C3 · Bass · bar 1, beat 1"
    # The same voices and names as the Plotly figure of the same notes.
    figure = piano_roll_figure(CHORALE, 4)
    assert [voice["name"] for voice in data["voices"]] == [trace.name for trace in figure.data]
    assert data["primer_step"] == 8
    json.dumps(data)  # all of it travels as JSON


def test_bar_lines_and_time_are_in_steps_and_seconds() -> None:
    data = roll_data(CHORALE, 4, 120.0)
    assert data["bars"] == [0, 16, 32] and data["total_steps"] == 32  # two bars of 4/4
    assert data["beat_steps"] == 4
    assert data["seconds_per_step"] == pytest.approx(0.125)  # a sixteenth at 120 BPM
    waltz = roll_data(make_notes((0, 12, 60), (12, 24, 62)), 4, 90.0, time_signature=(3, 4))
    assert waltz["bars"] == [0, 12, 24] and waltz["seconds_per_step"] == pytest.approx(60 / 90 / 4)
    assert waltz["octaves"] == [[60, "C4"]] and (waltz["pitch_low"], waltz["pitch_high"]) == (59, 63)
    assert waltz["primer_step"] is None


def test_bar_numbers_thin_out_on_a_long_piece() -> None:
    long = make_notes((0, 16 * 100, 60))  # 100 bars of 16 steps
    assert roll_data(long, 4, 120.0)["bar_label_every"] == 4
    assert roll_data(CHORALE, 4, 120.0)["bar_label_every"] == 1


def test_an_empty_piece_still_draws_one_empty_bar() -> None:
    data = roll_data(make_notes(), 4, 120.0)
    assert data["notes"] == [] and data["voices"] == [] and data["bars"] == [0, 16]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [((CHORALE, 4, 0.0), "bpm"), ((CHORALE, 0, 120.0), "steps_per_quarter")],
)
def test_impossible_timing_is_refused(arguments: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        roll_data(*arguments)


def test_a_player_needs_audio() -> None:
    with pytest.raises(ValueError, match="no audio bytes"):
        piano_roll_player(CHORALE, 4, 120.0, b"", "audio/wav", key="roll")


def player_app() -> None:
    from tests.test_charts import CHORALE
    from tests.test_piano_roll_widget import CLIP, TITLE
    from ui.piano_roll import piano_roll_player

    piano_roll_player(CHORALE, 4, 120.0, CLIP, "audio/wav", key="roll", title=TITLE, programs=[0, 0, 40, 42])


def test_the_page_sends_the_roll_and_the_audio_and_keeps_the_title_text() -> None:
    at = AppTest.from_function(player_app, default_timeout=30).run()
    assert not at.exception
    (component,) = [element for element in at.main if element.type == "bidi_component"]
    proto = component.proto
    assert proto.component_name == "neurotune.piano_roll_player"
    assert "<audio" in proto.html_content and "<svg" in proto.html_content
    assert "requestAnimationFrame" in proto.js_content and "currentTime" in proto.js_content
    # The title goes as data and is set as text in the browser; it is never part of the markup.
    assert "Chorale" not in proto.html_content and "innerHTML" not in proto.js_content
    data = json.loads(proto.json)
    assert data["title"] == TITLE
    assert base64.b64decode(data["audio_base64"]) == CLIP
    assert data["mime"] == "audio/wav" and data["clip_id"] == clip_id(CLIP)
    assert data["voices"][3]["name"] == "Bass (Cello)"
    assert data["seconds_per_step"] == pytest.approx(0.125)
