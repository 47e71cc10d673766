"""The listening gate's Python side: what it sends the browser and how it reads what comes back.

AppTest runs no JavaScript, so the browser's reports are played in here in the shape the frontend sends
them (a widget state whose ``json_value`` holds ``{"playback": {...}}``); the real browser is exercised
in ``tests/e2e/test_listening_widget.py``.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from ui.listening import (
    SHARE_TOLERANCE,
    PlayState,
    clip_id,
    parse_play_state,
    played_audio,
)

CLIP = b"RIFF\x24\x00\x00\x00WAVEfmt fake clip bytes"
OTHER_CLIP = b"RIFF\x24\x00\x00\x00WAVEfmt another clip"


def player_app() -> None:
    """One gated player, what Python read from it, and how often the browser's reports called back."""
    import streamlit as st

    from tests.test_listening_widget import CLIP
    from ui.listening import played_audio

    def count_report() -> None:
        st.session_state["reports"] = st.session_state.get("reports", 0) + 1

    state = played_audio(CLIP, "audio/wav", key="clip-1", label="Clip 1 of 3", on_change=count_report)
    st.write(f"share={state.played_share}")
    st.write(f"ended={state.ended}")
    st.write(f"reached={state.reached_required}")
    st.write(f"reports={st.session_state.get('reports', 0)}")


def report(played_share: Any, ended: Any = False, audio: bytes = CLIP) -> dict[str, Any]:
    """A report as the component's JavaScript writes it."""
    return {
        "clip_id": clip_id(audio),
        "played_share": played_share,
        "ended": ended,
        "listened_s": 1.2,
        "duration_s": 2.0,
    }


def send_from_browser(at: AppTest, playback: dict[str, Any]) -> AppTest:
    """Rerun as the frontend does after ``setStateValue("playback", ...)``: the whole state as a JSON widget value.

    ``AppTest`` has no public way to set a components v2 value, so this uses its ``_run(widget_state)``.
    """
    (component,) = [element for element in at.main if element.type == "bidi_component"]
    states = WidgetStates()
    widget = states.widgets.add()
    widget.id = component.proto.id
    widget.json_value = json.dumps({"playback": playback})
    return at._run(states)


def texts(at: AppTest) -> list[str]:
    return [markdown.value for markdown in at.markdown]


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_function(player_app, default_timeout=30).run()
    assert not at.exception
    return at


def test_the_page_renders_the_player_with_the_clip_and_nothing_heard(app: AppTest) -> None:
    (component,) = [element for element in app.main if element.type == "bidi_component"]
    proto = component.proto
    assert proto.component_name == "neurotune.played_audio"
    assert "<audio" in proto.html_content and "controls" in proto.html_content
    assert 'aria-labelledby="nt-label"' in proto.html_content
    assert "export default function" in proto.js_content and "played" in proto.js_content
    data = json.loads(proto.json)
    assert base64.b64decode(data["audio_base64"]) == CLIP
    assert data["mime"] == "audio/wav"
    assert data["clip_id"] == clip_id(CLIP)
    assert data["player_key"] == "clip-1"
    assert data["label"] == "Clip 1 of 3"
    assert data["required_share"] == 0.9
    assert texts(app) == ["share=0.0", "ended=False", "reached=False", "reports=0"]


def test_a_report_from_the_browser_reaches_python_and_calls_back(app: AppTest) -> None:
    send_from_browser(app, report(0.5))
    assert texts(app) == ["share=0.5", "ended=False", "reached=False", "reports=1"]
    send_from_browser(app, report(0.95, ended=True))
    assert texts(app) == ["share=0.95", "ended=True", "reached=True", "reports=2"]
    app.run()  # a rerun for another reason keeps the state
    assert texts(app) == ["share=0.95", "ended=True", "reached=True", "reports=2"]


def test_session_state_under_the_key_holds_the_report(app: AppTest) -> None:
    app.session_state["clip-1"] = {"playback": report(1.0, ended=True)}
    app.run()
    assert texts(app)[:3] == ["share=1.0", "ended=True", "reached=True"]
    assert app.session_state["clip-1"]["playback"]["played_share"] == 1.0


def test_a_report_about_another_clip_counts_for_nothing(app: AppTest) -> None:
    send_from_browser(app, report(1.0, ended=True, audio=OTHER_CLIP))
    assert texts(app)[:3] == ["share=0.0", "ended=False", "reached=False"]


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "1.0",
        [],
        {},
        {"played_share": 1.0, "ended": True},  # no clip id
        {"clip_id": clip_id(CLIP)},  # no share
        {"clip_id": clip_id(CLIP), "played_share": "1.0"},
        {"clip_id": clip_id(CLIP), "played_share": True},
        {"clip_id": clip_id(CLIP), "played_share": math.nan},
        {"clip_id": clip_id(CLIP), "played_share": math.inf},
    ],
)
def test_anything_malformed_reads_as_nothing_played(raw: object) -> None:
    assert parse_play_state(raw, clip_id(CLIP), 0.9) == PlayState(required_share=0.9)


def test_a_report_is_read_field_by_field_and_clamped() -> None:
    raw = {"clip_id": clip_id(CLIP), "played_share": 1.3, "ended": True, "listened_s": 2.5, "duration_s": 2.0}
    assert parse_play_state(raw, clip_id(CLIP), 0.8) == PlayState(
        played_share=1.0, ended=True, required_share=0.8, listened_seconds=2.5, duration_seconds=2.0
    )
    raw = {"clip_id": clip_id(CLIP), "played_share": -0.2, "ended": "yes", "listened_s": None, "duration_s": 0}
    assert parse_play_state(raw, clip_id(CLIP), 0.8) == PlayState(required_share=0.8)


@pytest.mark.parametrize(
    ("share", "required", "reached"),
    [
        (0.0, 0.9, False),
        (0.5, 0.9, False),
        (0.9 - 2 * SHARE_TOLERANCE, 0.9, False),
        (0.9 - SHARE_TOLERANCE / 2, 0.9, True),
        (0.9, 0.9, True),
        (0.995, 1.0, True),
        (1.0, 1.0, True),
    ],
)
def test_the_required_share_is_reached_within_the_tolerance(share: float, required: float, reached: bool) -> None:
    assert PlayState(played_share=share, required_share=required).reached_required is reached


def test_ended_alone_is_not_enough() -> None:
    assert not PlayState(played_share=0.05, ended=True, required_share=0.9).reached_required


def test_clip_ids_tell_clips_apart_and_are_stable() -> None:
    assert clip_id(CLIP) == clip_id(bytes(CLIP))
    assert clip_id(CLIP) != clip_id(OTHER_CLIP)


@pytest.mark.parametrize(
    ("audio", "kwargs", "message"),
    [
        (b"", {}, "no audio bytes"),
        (CLIP, {"required_share": 0.0}, "required_share"),
        (CLIP, {"required_share": 1.5}, "required_share"),
        (CLIP, {"report_every_s": 0.0}, "report_every_s"),
    ],
)
def test_bad_arguments_are_refused_before_anything_renders(
    audio: bytes, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        played_audio(audio, "audio/wav", key="clip", **kwargs)
