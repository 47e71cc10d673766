"""The listening gate in a real Chromium: playing a clip through counts, skipping to its end does not.

A tiny app (written into the test's folder) shows :func:`ui.listening.played_audio` and prints what
Python received; the browser plays a short generated WAV. This is the only place the component's
JavaScript runs, so it is what proves that the union of played ranges reaches Python and that a seek
adds nothing to it. The server and browser come from ``conftest.py``.
"""

from __future__ import annotations

import math
import re
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import serve_test_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CLIP_SECONDS = 1.5
SAMPLE_RATE = 8_000
# The clip plays in real time; allow for a slow, shared machine.
PLAYBACK_TIMEOUT_MS = 15_000

APP_TEMPLATE = """
from pathlib import Path

import streamlit as st

from ui.listening import played_audio

audio = Path({wav_path!r}).read_bytes()
state = played_audio(audio, "audio/wav", key="clip", label="Test clip", required_share=0.9, report_every_s=0.5)
st.write(f"played_share={{state.played_share:.3f}}")
st.write(f"ended={{state.ended}}")
st.write(f"reached={{state.reached_required}}")
st.session_state["runs"] = st.session_state.get("runs", 0) + 1
st.write(f"runs={{st.session_state['runs']}}")
"""


def write_wav(path: Path, seconds: float = CLIP_SECONDS, sample_rate: int = SAMPLE_RATE) -> None:
    """A quiet 440 Hz sine, 16-bit mono PCM."""
    times = np.arange(int(seconds * sample_rate)) / sample_rate
    samples = (0.2 * np.sin(2 * math.pi * 440.0 * times) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())


@pytest.fixture(scope="module")
def listening_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Streamlit server running only the player test app."""
    workdir = tmp_path_factory.mktemp("listening-widget")
    wav_path = workdir / "clip.wav"
    write_wav(wav_path)
    yield from serve_test_app(workdir, APP_TEMPLATE, wav_path)


def open_player(page: Page, url: str) -> Locator:
    """Open the app and return its <audio> element once the browser knows the clip's duration."""
    page.goto(url)
    audio = page.get_by_label("Test clip")  # the accessible name given through aria-labelledby
    expect(audio).to_have_count(1)
    expect(page.get_by_text("played_share=0.000")).to_be_visible()
    audio.evaluate(
        "a => a.readyState >= 1 || new Promise(resolve => a.addEventListener('loadedmetadata', resolve, {once: true}))"
    )
    assert audio.evaluate("a => a.duration") == pytest.approx(CLIP_SECONDS, abs=0.05)
    return audio


def reported_share(page: Page) -> float:
    text = page.get_by_text(re.compile(r"^played_share=")).inner_text()
    return float(text.split("=", 1)[1])


def test_playing_the_clip_through_reports_it_heard(page: Page, listening_app_url: str) -> None:
    audio = open_player(page, listening_app_url)
    expect(page.get_by_text("reached=False")).to_be_visible()
    # Count reloads of the clip: the reruns its reports cause must not restart it.
    audio.evaluate("a => { window.clipLoads = 0; a.addEventListener('loadstart', () => window.clipLoads++); }")
    # Play it from the keyboard, as a participant without a mouse would: the native control's Space.
    audio.focus()
    page.keyboard.press("Space")
    expect(page.get_by_text("ended=True")).to_be_visible(timeout=PLAYBACK_TIMEOUT_MS)
    expect(page.get_by_text("reached=True")).to_be_visible()
    assert reported_share(page) == pytest.approx(1.0, abs=0.02)
    expect(page.get_by_text(re.compile(r"You can rate it now"))).to_be_visible()
    runs = int(page.get_by_text(re.compile(r"^runs=")).inner_text().split("=", 1)[1])
    assert runs >= 3  # the first run, at least one report while playing, the end
    assert page.evaluate("window.clipLoads") == 0


def test_seeking_to_the_end_counts_for_nothing(page: Page, listening_app_url: str) -> None:
    audio = open_player(page, listening_app_url)
    page.get_by_text("Test clip").click()  # a user gesture, so the page may start playback
    # Drag the playhead to just before the end and let the last moment play: the clip "ends".
    audio.evaluate("a => { a.currentTime = a.duration - 0.1; return a.play(); }")
    expect(page.get_by_text("ended=True")).to_be_visible(timeout=PLAYBACK_TIMEOUT_MS)
    assert reported_share(page) < 0.2
    expect(page.get_by_text("reached=False")).to_be_visible()
    # A seek of a paused player to the end adds nothing either.
    audio.evaluate("a => { a.pause(); a.currentTime = 0.05; a.currentTime = a.duration; }")
    page.wait_for_timeout(300)
    assert audio.evaluate("a => a.playbackRate") == 1
    assert reported_share(page) < 0.2
    assert "needed before rating" in page.get_by_text(re.compile(r"^Listened: ")).inner_text()
