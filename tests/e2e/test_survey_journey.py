"""A participant takes a listening test in a real Chromium: consent, play each clip through, answer, finish.

The survey is made through core in the server's own NEUROTUNE_HOME before the server starts (making one in
the browser is the organizer's journey); its clips are 1-second tones, so playing each to its end takes a
second. This is where the players' JavaScript unlocks the questions for real; the answers are then read
back from the store.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.audio import Rendering
from core.store import library
from core.store import surveys as store
from core.surveys import build
from core.surveys.config import SurveySettings
from core.surveys.questions import QUESTIONS
from tests.conftest import scale_piece
from tests.e2e.conftest import _serve
from tests.e2e.test_listening_widget import write_wav

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CLIPS = 3
# A clip plays in real time; allow for a slow, shared machine.
PLAYBACK_TIMEOUT_MS = 15_000


def _home(workdir: Path) -> Path:
    return workdir / "neurotune-home"  # where conftest._serve points the server


@pytest.fixture(scope="module")
def survey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """An open 3-clip survey of 1-second tones and a server on its home: (base URL, survey id, home)."""
    workdir = tmp_path_factory.mktemp("survey-journey")
    write_wav(workdir / "tone.wav", seconds=1.0)
    tone = (workdir / "tone.wav").read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEUROTUNE_HOME", str(_home(workdir)))
        patch.setenv("NEUROTUNE_CHECKPOINTS", str(workdir / "checkpoints"))
        patch.delenv("NEUROTUNE_DB_URL", raising=False)
        patch.setattr(build, "render_wav", lambda midi: Rendering(tone, 8_000, "fluidsynth"))
        pieces = [
            library.save_piece(
                title=f"{model} #{number}",
                checkpoint=f"checkpoints/{model}",
                model="lstm",
                dataset="tiny",
                representation="events",
                parameters={},
                seed=number,
                variation=1,
                midi=scale_piece(offset=number, length=16),
                audio=None,
                metrics={},
                duration_seconds=4.0,
            ).id
            for number, model in enumerate(("lstm", "lstm", "transformer"))
        ]
        made = build.create_survey(
            "Which is Bach?",
            instructions="Use headphones.",
            consent="I agree that my answers are kept.",
            pieces=pieces,
            settings=SurveySettings(clip_seconds=1, questions=("overall", "human")),
        )
        build.open_survey(made.survey.id)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.port",
        "{port}",
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    for url in _serve(workdir, command, {}):
        yield url, made.survey.id, _home(workdir)


def radio_group(page: Page, prompt: str):
    return page.get_by_test_id("stRadio").filter(has_text=prompt)


def test_a_participant_plays_every_clip_through_answers_and_finishes(
    page: Page, survey_server: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, survey_id, home = survey_server
    page.goto(f"{base_url}/?survey={survey_id}")
    expect(page.get_by_role("heading", name="Which is Bach?")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # the participant sees no other page
    expect(page.get_by_text("I agree that my answers are kept.")).to_be_visible()
    page.get_by_role("button", name="I agree").click()
    page.get_by_text("No musical training").click()
    page.get_by_role("button", name="Start the listening test").click()
    expect(page).to_have_url(re.compile(r"[?&]p=[\w-]+\.[\w-]+"))

    overall, human = QUESTIONS["overall"].prompt, QUESTIONS["human"].prompt
    for number in range(1, CLIPS + 1):
        expect(page.get_by_text(f"{number} of {CLIPS}", exact=True)).to_be_visible()
        audio = page.locator("audio")
        expect(audio).to_have_count(1)
        expect(radio_group(page, overall).locator("input").first).to_be_disabled()
        audio.evaluate(
            "a => a.readyState >= 1 || new Promise(r => a.addEventListener('loadedmetadata', r, {once: true}))"
        )
        audio.focus()
        page.keyboard.press("Space")  # play it from the keyboard: the native control's own key
        expect(radio_group(page, overall).locator("input").first).to_be_enabled(timeout=PLAYBACK_TIMEOUT_MS)
        radio_group(page, overall).get_by_text("4", exact=True).click()
        expect(radio_group(page, overall).locator("input").nth(3)).to_be_checked()
        radio_group(page, human).get_by_text("A computer", exact=True).click()
        expect(radio_group(page, human).locator("input").nth(1)).to_be_checked()
        button = "Next →" if number < CLIPS else "Finish"
        expect(page.get_by_role("button", name=button)).to_be_enabled()
        page.get_by_role("button", name=button).click()

    expect(page.get_by_text(re.compile("Thank you for taking part"))).to_be_visible()
    expect(page.get_by_test_id("stRadio")).to_have_count(0)
    monkeypatch.setenv("NEUROTUNE_HOME", str(home))
    answers = store.survey_answers(survey_id)
    assert sorted((answer.question, answer.value) for answer in answers) == sorted(
        [("overall", "4"), ("human", "computer")] * CLIPS
    )
    assert all(answer.played_share >= 0.9 and answer.elapsed_ms >= 500 for answer in answers)
    (participant,) = store.survey_participants(survey_id)
    assert participant.background == "none" and participant.finished_at is not None
