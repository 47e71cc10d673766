"""User journeys through the app in a real browser (see conftest.py for the server and Chromium)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pretty_midi
import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import scale_piece

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# The first build converts the chorales with music21 inside the server: give it room.
BUILD_TIMEOUT_MS = 60_000
STATISTICS_CHARTS = (
    "Pitch histogram",
    "Pitch-class histogram",
    "Note durations",
    "Notes per piece",
    "Tempo",
    "Key (estimated)",
)
# Streamlit scrolls inside its own container, so a full-page screenshot is one viewport:
# make the viewport tall enough to hold what the screenshot is about.
SCREENSHOT_VIEWPORT = {"width": 1400, "height": 2400}
# The Generate page loads TensorFlow and the model before it shows its knobs, and the first
# composition traces the sampling loop: on two slow cores that takes a minute or more.
MODEL_LOAD_TIMEOUT_MS = 120_000
COMPOSE_TIMEOUT_MS = 180_000


def wait_until_idle(page: Page) -> None:
    """Wait for the script run under way to finish (Streamlit's "Running..." widget gone)."""
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=60_000)


def screenshot(page: Page, path: Path) -> None:
    wait_until_idle(page)
    viewport = page.viewport_size
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    try:
        page.screenshot(path=path)
    finally:
        page.set_viewport_size(viewport)


def open_page(page: Page, app_url: str, title: str) -> None:
    """Open the app and go to a page through the sidebar, as a newcomer would."""
    page.goto(app_url)
    expect(page.get_by_role("heading", name="NeuroTune")).to_be_visible()
    # The home page links to every page too; the sidebar's navigation is the one under test.
    page.get_by_test_id("stSidebar").get_by_role("link", name=title).click()
    expect(page).to_have_url(re.compile(rf"/{title.lower()}$"))
    expect(page.get_by_role("heading", name=title)).to_be_visible()


def test_build_a_corpus_subset_browse_it_then_upload_a_broken_and_a_good_file(
    page: Page, app_url: str, tmp_path: Path
) -> None:
    open_page(page, app_url, "Dataset")
    build_tab = page.get_by_role("tabpanel", name="Build a dataset")
    name = build_tab.get_by_role("textbox", name="Dataset name")
    build = build_tab.get_by_role("button", name="Build dataset")

    # Three Bach chorales from the bundled corpus.
    expect(build_tab.get_by_role("radio", name="Bundled corpus")).to_be_checked()
    expect(build_tab.get_by_role("combobox", name="Corpus")).to_have_value("Bach chorales")
    pieces = build_tab.get_by_label("Use only the first N pieces (0 = all)", exact=True)
    pieces.fill("3")
    pieces.press("Enter")
    expect(name).to_have_attribute("placeholder", "bach-chorales-3")  # the server saw the new limit
    name.fill("e2e-bach")
    name.press("Enter")
    build.click()
    expect(build_tab.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "Dataset e2e-bach is ready", timeout=BUILD_TIMEOUT_MS
    )

    # Its statistics under the other tab.
    page.get_by_role("tab", name="Browse datasets").click()
    browse_tab = page.get_by_role("tabpanel", name="Browse datasets")
    expect(browse_tab.get_by_role("combobox", name="Dataset")).to_have_value("e2e-bach")
    accepted = browse_tab.get_by_test_id("stMetric").filter(has_text="Files accepted")
    expect(accepted.get_by_test_id("stMetricValue")).to_have_text("3")
    expect(browse_tab.locator(".js-plotly-plot")).to_have_count(7)  # six statistics charts and the piano roll
    for title in STATISTICS_CHARTS:
        expect(browse_tab.locator(".gtitle", has_text=re.compile(f"^{re.escape(title)}$"))).to_be_visible()
    expect(browse_tab.get_by_test_id("stAudio")).to_be_attached()
    screenshot(page, tmp_path / "dataset.png")

    # Back to building: one broken upload and one good one.
    page.get_by_role("tab", name="Build a dataset").click()
    build_tab.get_by_text("Upload MIDI files").click()
    expect(build_tab.get_by_role("radio", name="Upload MIDI files")).to_be_checked()
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"this is not a MIDI file")
    good = tmp_path / "good.mid"
    good.write_bytes(scale_piece(length=24))
    build_tab.locator("input[type=file][multiple]").set_input_files([broken, good])
    for upload in (broken, good):  # each uploaded file shows as a chip with a remove button
        expect(build_tab.get_by_role("button", name=f"Remove {upload.name}")).to_be_visible()
    name.fill("e2e-upload")
    name.press("Enter")
    build.click()
    expect(build_tab.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "Dataset e2e-upload is ready: 1 piece,", timeout=BUILD_TIMEOUT_MS
    )
    rejection = build_tab.get_by_test_id("stAlertContentError")
    expect(rejection).to_contain_text("broken.mid")
    expect(rejection).to_contain_text("not a MIDI file")
    screenshot(page, tmp_path / "end.png")


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox called ``label`` (again if a rerun closed its list before the click)."""
    combobox = page.get_by_role("combobox", name=label)
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):
        wait_until_idle(page)
        combobox.click()
        try:
            choice.click(timeout=10_000)
            break
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    expect(combobox).to_have_value(option)
    wait_until_idle(page)


def compose_and_download(page: Page, made_by: str, pieces: int = 2) -> list[pretty_midi.PrettyMIDI]:
    """Compose and download the MIDI of each of the ``pieces`` variations.

    Args:
        made_by: How the pieces' titles say they were made (``seed 5``, ``beam``): the library caption with it
            tells the new pieces from those on screen before.
    """
    saved = page.get_by_text(re.compile(rf"Saved to the library as .*{made_by} · {pieces}"))
    error = page.get_by_test_id("stAlertContentError")
    wait_until_idle(page)
    page.get_by_role("button", name="Compose").click()
    try:
        expect(saved.or_(error)).to_be_visible(timeout=COMPOSE_TIMEOUT_MS // 3)
    except AssertionError:  # a click that landed while the panel was being redrawn: press again
        wait_until_idle(page)
        page.get_by_role("button", name="Compose").click()
        expect(saved.or_(error)).to_be_visible(timeout=COMPOSE_TIMEOUT_MS)
    assert not error.is_visible(), error.inner_text()
    wait_until_idle(page)
    downloads = page.get_by_role("button", name="Download MIDI")
    expect(downloads).to_have_count(pieces)
    midis = []
    for index in range(pieces):
        with page.expect_download() as download_info:
            downloads.nth(index).click()
        assert download_info.value.suggested_filename.endswith(".mid")
        midis.append(pretty_midi.PrettyMIDI(download_info.value.path()))
    return midis


def _notes(midi: pretty_midi.PrettyMIDI) -> list[tuple[float, int]]:
    return sorted((round(note.start, 3), note.pitch) for instrument in midi.instruments for note in instrument.notes)


@pytest.mark.timeout(420)
def test_compose_with_defaults_then_in_a_snapped_key_then_by_beam_search_and_find_the_pieces_in_the_library(
    page: Page, app_url: str
) -> None:
    open_page(page, app_url, "Generate")

    # The model selector starts on the shipped Bach chords model; its choices appear once it has loaded.
    expect(page.get_by_role("combobox", name="Model")).to_have_value(re.compile("^bach-chords"))
    expect(page.get_by_role("combobox", name="Key")).to_be_visible(timeout=MODEL_LOAD_TIMEOUT_MS)
    wait_until_idle(page)

    # Defaults: the first piece shows where the eye is, without scrolling, and plays.
    page.get_by_role("button", name="Compose").click()
    first = page.get_by_text("Variation 1", exact=False).first
    expect(first).to_be_visible(timeout=COMPOSE_TIMEOUT_MS)
    expect(first).to_be_in_viewport()
    roll = page.locator(".nt-roll").first
    expect(roll.locator("rect").first).to_be_attached()
    expect(roll.locator("audio")).to_be_attached()
    wait_until_idle(page)

    # It picks its own key (it was trained without key controls): a chosen key snaps every note into it.
    length = page.get_by_label("Length (bars)", exact=True)
    length.fill("2")
    length.press("Enter")
    expect(length).to_have_value("2.00")
    choose(page, "Key", "D minor (dark)")
    page.get_by_text("Advanced").click()
    d_minor = {2, 4, 5, 7, 9, 10, 0}
    seed = page.get_by_label("Seed", exact=True)
    seed.fill("5")
    seed.press("Enter")
    expect(seed).to_have_value("5")
    wait_until_idle(page)
    for midi in compose_and_download(page, "seed 5"):
        assert _notes(midi) and {pitch % 12 for _, pitch in _notes(midi)} <= d_minor

    # Beam search's variations differ.
    choose(page, "Strategy", "Beam search")
    beams = compose_and_download(page, "beam")
    assert _notes(beams[0]) != _notes(beams[1])

    # The library lists the six pieces, plays one and deletes it.
    page.get_by_test_id("stSidebar").get_by_role("link", name="Library").click()
    expect(page.get_by_text("6 of 6 pieces")).to_be_visible()
    audio = page.locator(".nt-roll audio")
    expect(audio).to_be_attached()
    audio.evaluate("element => { element.muted = true; return element.play(); }")
    page.wait_for_function("element => element.currentTime > 0.2", arg=audio.element_handle())
    page.get_by_text("Rename or delete").click()
    page.get_by_text("I want to delete this piece and its files").click()
    page.get_by_role("button", name="Delete piece").click()
    expect(page.get_by_text("5 of 5 pieces")).to_be_visible()


def test_compose_from_noise_with_the_shipped_gan(page: Page, app_url: str) -> None:
    open_page(page, app_url, "Generate")
    model = page.get_by_role("combobox", name="Model")
    expect(model).to_be_visible()
    wait_until_idle(page)
    model.click()
    page.get_by_role("option", name=re.compile("^bach-gan")).click()
    expect(model).to_have_value(re.compile("^bach-gan"))
    # A GAN's own knobs: truncation, and under Advanced a noise seed and no strategy to choose.
    expect(page.get_by_label("Truncation", exact=True)).to_be_visible(timeout=MODEL_LOAD_TIMEOUT_MS)
    wait_until_idle(page)
    length = page.get_by_label("Length (bars)", exact=True)
    expect(length).to_have_count(1)  # the panel of the model before is gone
    length.fill("2")
    length.press("Enter")
    expect(length).to_have_value("2.00")
    page.get_by_text("Advanced").click()
    expect(page.get_by_role("combobox", name="Strategy")).to_have_count(0)
    seed = page.get_by_label("Noise seed", exact=True)
    seed.fill("3")
    seed.press("Enter")
    expect(seed).to_have_value("3")
    pieces = compose_and_download(page, "seed 3")
    for midi in pieces:
        notes = [note for instrument in midi.instruments for note in instrument.notes]
        assert len(notes) >= 8 and all(note.end > note.start for note in notes)
        assert len({note.pitch for note in notes}) >= 4  # music, not one stuck pitch
    assert _notes(pieces[0]) != _notes(pieces[1])


@pytest.mark.timeout(300)
def test_a_quick_test_run_trains_and_shows_finished_everywhere_without_a_reload(
    page: Page, app_url: str, app_workdir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "scales"
    folder.mkdir()
    for index in range(8):
        (folder / f"scale-{index}.mid").write_bytes(scale_piece(offset=index % 5, length=48))
    build = ["dataset", "build", "--midi-dir", str(folder), "--name", "e2e-tiny", "--validation-fraction", "0.25"]
    home = {"NEUROTUNE_HOME": str(app_workdir / "neurotune-home")}
    subprocess.run([sys.executable, "-m", "core", *build], env={**os.environ, **home}, check=True, capture_output=True)

    open_page(page, app_url, "Train")
    choose(page, "Dataset", "e2e-tiny")
    page.get_by_text("Quick test", exact=True).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Start training").click()
    start_tab = page.get_by_role("tabpanel", name="Start a run")
    expect(start_tab.get_by_text(re.compile(r"Run .* is (queued|running)"))).to_be_visible(timeout=30_000)
    # The live fragment redraws the run's status in every place it is shown; nothing is reloaded.
    expect(start_tab.get_by_text(re.compile(r"Run .* is finished\."))).to_be_visible(timeout=180_000)
    page.get_by_role("tab", name="Live run").click()
    live_tab = page.get_by_role("tabpanel", name="Live run")
    expect(live_tab.get_by_role("combobox", name="Run")).to_have_value(re.compile(r"\(finished\)$"))
    expect(live_tab.get_by_role("button", name="Stop")).to_be_disabled()
    expect(live_tab.get_by_text("The run has finished: nothing to stop or resume.")).to_be_visible()


def test_a_guarded_app_asks_strangers_for_the_password_and_shows_file_names_as_text(
    page: Page, guarded_app_url: str
) -> None:
    from tests.e2e.conftest import ADMIN_PASSWORD

    open_page(page, guarded_app_url, "Dataset")
    build_tab = page.get_by_role("tabpanel", name="Build a dataset")
    expect(build_tab.get_by_text("Building a dataset needs the admin password")).to_be_visible()
    expect(page.get_by_role("button", name="Build dataset")).to_have_count(0)
    password = build_tab.get_by_label("Admin password")
    password.fill("not the password")
    build_tab.get_by_role("button", name="Sign in").click()
    expect(build_tab.get_by_text("Wrong password.")).to_be_visible()
    password.fill(ADMIN_PASSWORD)
    build_tab.get_by_role("button", name="Sign in").click()
    build = build_tab.get_by_role("button", name="Build dataset")
    expect(build).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as admin")).to_be_visible()

    # A file whose name is Markdown for an image (and HTML): shown character for character, fetched never.
    probe = f"{guarded_app_url}/app/static/probe.png"
    shown_name = f"![x]({probe}) <b>bold</b>.mid"
    build_tab.get_by_text("Upload MIDI files").click()
    build_tab.locator("input[type=file][multiple]").set_input_files(
        [
            {"name": "good.mid", "mimeType": "audio/midi", "buffer": scale_piece(length=24)},
            {"name": shown_name, "mimeType": "audio/midi", "buffer": b"not midi at all"},
        ]
    )
    expect(build_tab.get_by_role("button", name="Remove good.mid")).to_be_visible()
    build_tab.get_by_role("textbox", name="Dataset name").fill("e2e-names")
    build_tab.get_by_role("textbox", name="Dataset name").press("Enter")
    build.click()
    expect(build_tab.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "Dataset e2e-names is ready", timeout=BUILD_TIMEOUT_MS
    )
    rejection = build_tab.get_by_test_id("stAlertContentError")
    expect(rejection).to_contain_text(shown_name)
    expect(page.locator(f'img[src="{probe}"]')).to_have_count(0)
    expect(rejection.locator("b")).to_have_count(0)

    # Signing out closes the controls again.
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Build dataset")).to_have_count(0)


@pytest.mark.timeout(300)
def test_evaluate_the_baselines_of_a_small_dataset_and_download_the_leaderboard(page: Page, app_url: str) -> None:
    open_page(page, app_url, "Dataset")
    build_tab = page.get_by_role("tabpanel", name="Build a dataset")
    pieces = build_tab.get_by_label("Use only the first N pieces (0 = all)", exact=True)
    pieces.fill("4")
    pieces.press("Enter")
    name = build_tab.get_by_role("textbox", name="Dataset name")
    expect(name).to_have_attribute("placeholder", "bach-chorales-4")
    name.fill("e2e-evaluate")
    name.press("Enter")
    build_tab.get_by_role("button", name="Build dataset").click()
    expect(build_tab.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        "Dataset e2e-evaluate is ready", timeout=BUILD_TIMEOUT_MS
    )

    # Baselines only (no model was trained on this dataset), two pieces of one bar each.
    page.get_by_test_id("stSidebar").get_by_role("link", name="Evaluate").click()
    expect(page.get_by_role("heading", name="Evaluate")).to_be_visible()
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name="e2e-evaluate").click()
    for label, value in (("Pieces per system", "2"), ("Length (bars)", "1")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
    wait_until_idle(page)
    page.get_by_role("button", name="Evaluate", exact=True).click()

    # The job runs in its own process; the page polls it and shows the result when it ends.
    expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Dataset e2e-evaluate, 2 pieces per system of 1 bars")).to_be_visible()
    expect(page.get_by_role("heading", name="Originality")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    board = Path(download_info.value.path()).read_text()
    for row in ("Held-out real pieces", "Markov chain (1st order)", "Random notes"):
        assert row in board
