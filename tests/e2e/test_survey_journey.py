"""A listening test from end to end in a real Chromium: the organizer makes it, a stranger takes it, results move.

Two browser contexts share one server, started as ``make run`` starts it (``python -m core serve`` with an
admin password): the organizer signs in on the Listening tests page, builds a survey through its form from
two library pieces and a real piece of a dataset, opens it and reads the link off the page; a participant,
in a context of their own (no cookie, no session of the organizer's), opens that link, consents, plays every
clip to its end (the players' JavaScript unlocks the questions only then), answers and finishes; the
organizer's open results page then shows the answers without being touched (it refreshes itself).

Clips are 1 second of music, rendered by the server with sine waves (FluidSynth is kept off its PATH: see
:func:`path_without_fluidsynth`), each a 2-second WAV that plays in real time, so the journey is mostly
listening. It also shows what strangers do not see: another page, or Streamlit's "Deploy" button.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from core.store import library
from core.store import surveys as store
from core.surveys.questions import QUESTIONS
from tests.conftest import scale_piece, tiny_dataset
from tests.e2e.conftest import ADMIN_PASSWORD, DEFAULT_TIMEOUT_MS, VIEWPORT, _serve

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

TITLE = "Which is Bach?"
CONSENT = "I agree that my answers are kept."
# Two generated pieces (two systems) and one real piece: the hidden reference.
MODELS = ("bach-lstm", "bach-transformer")
CLIPS = len(MODELS) + 1
ASKED = ("overall", "human")
# Unticked in the form, so each clip asks only ASKED (by the checkboxes' labels).
NOT_ASKED = ("Musicality", "Coherence", "Creativity", "A/B preference")
# A clip plays in real time; allow for a slow, shared machine.
PLAYBACK_TIMEOUT_MS = 15_000
# The open results refresh every 5 seconds (ui.surveys.LIVE_SECONDS); one missed beat is allowed for.
RESULTS_TIMEOUT_MS = 15_000


def _home(workdir: Path) -> Path:
    return workdir / "neurotune-home"  # where conftest._serve points the server


def path_without_fluidsynth() -> str:
    """PATH less the folders holding FluidSynth, so that the server renders clips with sine waves.

    FluidSynth loads its 140 MB SoundFont for every clip and adds a release tail that makes a 1-second
    clip a 3.6-second WAV (sine waves: 2 seconds); rendering is tested in test_audio.py and
    test_surveys.py, and this journey is about the survey, which plays whatever was rendered.
    """
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(folder for folder in folders if not shutil.which("fluidsynth", path=folder))


@pytest.fixture(scope="module")
def organizer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A guarded server (``core serve``, admin password set) whose home holds library pieces and a dataset.

    Returns:
        The base URL and the server's NEUROTUNE_HOME (to read the stored answers back).
    """
    workdir = tmp_path_factory.mktemp("survey-journey")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEUROTUNE_HOME", str(_home(workdir)))
        patch.setenv("NEUROTUNE_CHECKPOINTS", str(workdir / "checkpoints"))
        patch.delenv("NEUROTUNE_DB_URL", raising=False)
        for number, model in enumerate(MODELS):
            library.save_piece(
                title=f"Etude {number + 1}",
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
            )
        tiny_dataset()  # the dataset "tiny": the real pieces
    command = [sys.executable, "-m", "core", "serve", "--port", "{port}"]
    env = {
        "NEUROTUNE_ADDRESS": "127.0.0.1",
        "NEUROTUNE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PATH": path_without_fluidsynth(),
    }
    for url in _serve(workdir, command, env):
        yield url, _home(workdir)


@pytest.fixture
def participant(browser: Browser) -> Iterator[Page]:
    """A second browser context: a stranger's browser, sharing nothing with the organizer's."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def settle(page: Page) -> None:
    """Wait for the script run under way to end: a widget redrawn by it would close a dropdown just opened."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def fresh(page: Page) -> Locator:
    """The elements of the latest run: until a run ends, Streamlit keeps the last run's (stale) ones too."""
    return page.locator('[data-testid="stElementContainer"]:not([data-stale="true"])')


def radio_group(page: Page, prompt: str) -> Locator:
    return fresh(page).get_by_test_id("stRadio").filter(has_text=prompt)


def pick(page: Page, label: str | re.Pattern[str], option: str) -> None:
    """Choose ``option`` in the select box or multiselect labelled ``label`` (its dropdown, as a user does), again
    if a late rerun closed the dropdown before the click."""
    for attempt in range(3):
        settle(page)
        page.get_by_label(label).click()
        try:
            page.get_by_role("option", name=option).click(timeout=10_000)
            return
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")


def create_and_open_survey(page: Page, base_url: str) -> str:
    """As the organizer: sign in, build the survey through the form, open it; returns the link to share."""
    page.goto(f"{base_url}/surveys")
    expect(page.get_by_text("Organizing listening tests needs the admin password")).to_be_visible()
    page.get_by_label("Admin password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("No survey yet")).to_be_visible()

    for number, model in enumerate(MODELS):
        pick(page, re.compile(r"^Generated pieces"), f"Etude {number + 1} · {model}")
    page.keyboard.press("Escape")  # close the multiselect's dropdown
    pick(page, "Real pieces from the dataset (the hidden reference)", "tiny")
    pick(page, "Or these pieces", "0: p0.mid")
    page.keyboard.press("Escape")
    form = page.get_by_test_id("stForm")
    form.get_by_label("Title").fill(TITLE)
    form.get_by_label("Consent").fill(CONSENT)
    form.get_by_label("Clip length (seconds from the start of each piece)").fill("1")
    for label in NOT_ASKED:
        form.get_by_test_id("stCheckbox").filter(has_text=label).click()
    form.get_by_role("button", name="Create survey").click()
    expect(page.get_by_text(f"Made the survey '{TITLE}' with {CLIPS} clips")).to_be_visible()

    # Within the app's buttons: the select boxes' own toggles are "Open" buttons too.
    settle(page)
    page.get_by_test_id("stButton").get_by_role("button", name="Open", exact=True).click()
    expect(fresh(page).get_by_text("Participants see only the survey")).to_be_visible()
    link = fresh(page).get_by_test_id("stCode").filter(has_text="?survey=").inner_text().strip()
    assert re.fullmatch(rf"{re.escape(base_url)}/\?survey=\w+", link), link
    expect(fresh(page).get_by_text("No answers yet (0 participants joined)")).to_be_visible()
    return link


def take_survey(page: Page, link: str) -> None:
    """As a participant: consent, then play every clip to its end, answer both questions, finish."""
    page.goto(link)
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no other page
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)  # no developer's toolbar (core serve)
    expect(page.get_by_text(CONSENT)).to_be_visible()
    page.get_by_role("button", name="I agree").click()
    page.get_by_text("No musical training").click()
    page.get_by_role("button", name="Start the listening test").click()
    expect(page).to_have_url(re.compile(r"[?&]p=[\w-]+\.[\w-]+"))

    overall, human = QUESTIONS["overall"].prompt, QUESTIONS["human"].prompt
    for number in range(1, CLIPS + 1):
        expect(page.get_by_text(f"{number} of {CLIPS}", exact=True)).to_be_visible()
        settle(page)
        audio = fresh(page).locator("audio")
        expect(audio).to_have_count(1)
        expect(radio_group(page, overall).locator("input").first).to_be_disabled()
        audio.evaluate(
            "a => a.readyState >= 1 || new Promise(r => a.addEventListener('loadedmetadata', r, {once: true}))"
        )
        audio.focus()
        page.keyboard.press("Space")  # play it from the keyboard: the native control's own key
        audio.evaluate(
            "a => a.ended || new Promise(r => a.addEventListener('ended', r, {once: true}))",
            timeout=PLAYBACK_TIMEOUT_MS,
        )
        expect(radio_group(page, overall).locator("input").first).to_be_enabled()
        radio_group(page, overall).get_by_text("4", exact=True).click()
        expect(radio_group(page, overall).locator("input").nth(3)).to_be_checked()
        radio_group(page, human).get_by_text("A computer", exact=True).click()
        expect(radio_group(page, human).locator("input").nth(1)).to_be_checked()
        button = "Next →" if number < CLIPS else "Finish"
        expect(fresh(page).get_by_role("button", name=button)).to_be_enabled()
        fresh(page).get_by_role("button", name=button).click()

    expect(page.get_by_text(re.compile("Thank you for taking part"))).to_be_visible()
    expect(page.get_by_test_id("stRadio")).to_have_count(0)


def metric(page: Page, label: str) -> Locator:
    return fresh(page).get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_an_organizer_makes_a_survey_a_stranger_takes_it_and_the_results_show_the_answers(
    page: Page, participant: Page, organizer_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, home = organizer_server
    link = create_and_open_survey(page, base_url)
    take_survey(participant, link)

    # The organizer's page, left open, catches up by itself: one participant, finished, two answers a clip.
    expect(metric(page, "Answers")).to_have_text(str(len(ASKED) * CLIPS), timeout=RESULTS_TIMEOUT_MS)
    expect(metric(page, "Participants")).to_have_text("1")
    expect(metric(page, "Finished")).to_have_text("1")
    expect(page.get_by_role("heading", name="Human or computer?")).to_be_visible()

    monkeypatch.setenv("NEUROTUNE_HOME", str(home))
    (survey,) = store.list_surveys()
    clips = store.survey_clips(survey.id)
    assert sorted(clip.system for clip in clips) == sorted([*MODELS, "real"])
    answers = store.survey_answers(survey.id)
    assert sorted((answer.question, answer.value) for answer in answers) == sorted(
        [("overall", "4"), ("human", "computer")] * CLIPS
    )
    assert all(answer.played_share >= 0.9 and answer.elapsed_ms >= 500 for answer in answers)
    (taker,) = store.survey_participants(survey.id)
    assert taker.background == "none" and taker.finished_at is not None
