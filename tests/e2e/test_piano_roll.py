"""The playing piano roll in a real Chromium: hovering names a note, a click seeks, the playhead follows playback.

A tiny app (written into the test's folder) shows :func:`ui.piano_roll.piano_roll_player` over a short
generated WAV as long as its notes (12 sixteenths at 120 BPM: 1.5 s). This is the only place the
component's JavaScript runs. The server and browser come from ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import serve_test_app
from tests.e2e.test_listening_widget import write_wav

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

GUTTER_PX = 34  # the JavaScript's GUTTER: the octave labels left of step 0
TOTAL_STEPS = 16  # one bar of 4/4 at 4 steps per quarter
SECONDS_PER_STEP = 0.125

APP_TEMPLATE = """
from pathlib import Path

from tests.conftest import make_notes
from ui.piano_roll import piano_roll_player

notes = make_notes(*[(step, step + 2, 72 - step) for step in range(0, 12, 2)], (0, 12, 48))
audio = Path({wav_path!r}).read_bytes()
piano_roll_player(notes, 4, 120.0, audio, "audio/wav", key="roll", title="<b>Test piece</b>")
"""


@pytest.fixture(scope="module")
def roll_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Streamlit server running only the player test app."""
    workdir = tmp_path_factory.mktemp("piano-roll")
    wav_path = workdir / "clip.wav"
    write_wav(wav_path)
    yield from serve_test_app(workdir, APP_TEMPLATE, wav_path)


def playhead_step(page: Page) -> float:
    return float(page.locator(".nt-playhead").get_attribute("data-step"))


def test_the_playhead_follows_the_audio_and_a_click_seeks(page: Page, roll_app_url: str) -> None:
    page.goto(roll_app_url)
    expect(page.get_by_text("<b>Test piece</b>", exact=True)).to_be_visible()  # the title as text
    legend = page.get_by_role("list", name="Voices")
    expect(legend.get_by_role("listitem")).to_have_text(["Voice 1 (top)", "Voice 2 (bottom)"])
    audio = page.get_by_label("Audio of <b>Test piece</b>")
    audio.evaluate(
        "a => a.readyState >= 1 || new Promise(resolve => a.addEventListener('loadedmetadata', resolve, {once: true}))"
    )
    expect(page.locator("svg .nt-bar")).to_have_count(2)  # the bar's two lines
    page.locator(".nt-note").first.hover()
    expect(page.locator(".nt-hover")).to_have_text("C5 · Voice 1 (top) · bar 1, beat 1")

    # A click at step 6 moves the audio there (a user gesture, so the page may then play).
    svg = page.locator("svg.nt-svg")
    px_per_step = (float(svg.get_attribute("width")) - GUTTER_PX) / TOTAL_STEPS
    box = svg.bounding_box()
    page.mouse.click(box["x"] + GUTTER_PX + 6 * px_per_step, box["y"] + box["height"] - 2)
    assert audio.evaluate("a => a.currentTime") == pytest.approx(6 * SECONDS_PER_STEP, abs=0.02)
    assert playhead_step(page) == pytest.approx(6, abs=0.1)

    # Playing from the start, the playhead moves on with the audio, frame by frame.
    audio.evaluate("a => { a.currentTime = 0; return a.play(); }")
    page.wait_for_timeout(500)
    during = playhead_step(page)
    position = audio.evaluate("a => a.currentTime") / SECONDS_PER_STEP
    assert during > 1 and abs(position - during) < 2  # within a few frames of the audio
    audio.evaluate("a => a.ended || new Promise(resolve => a.addEventListener('ended', resolve, {once: true}))")
    assert playhead_step(page) == pytest.approx(12, abs=0.5)  # the clip's end: step 12
