"""The Listening tests page (organizer), driven through AppTest as an organizer would.

Clips are "rendered" by a stub (FluidSynth is tested in test_audio and test_surveys); the answers come
through :mod:`core.surveys.participants`, as the participant view gives them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataConfig
from core.data.build import build_dataset
from core.data.uploads import SourceFile
from core.store import surveys as store
from core.surveys import build
from core.surveys.participants import join, record_answer, resume
from tests.conftest import scale_piece
from tests.survey_pieces import library_piece, silent_rendering

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
PAGE = "pages/surveys.py"
PASSWORD = "listening secret"
CONTROLS = {"Create survey", "Open", "Close", "Duplicate", "Delete"}


@pytest.fixture(autouse=True)
def quick_audio(monkeypatch):
    monkeypatch.setattr(build, "render_wav", silent_rendering)


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    kinds = ("markdown", "caption", "code", "info", "warning", "error", "success")
    return " ".join(str(element.value) for kind in kinds for element in at.get(kind))


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def labelled(widgets, label: str):
    """The widget whose label is ``label``, or starts with it when it ends with "..." (a count or hint follows)."""
    if label.endswith("..."):
        return next(widget for widget in widgets if widget.label.startswith(label.removesuffix("...")))
    return next(widget for widget in widgets if widget.label == label)


def click(at: AppTest, label: str) -> AppTest:
    button(at, label).click().run()
    assert not at.exception, at.exception
    return at


def sign_in(at: AppTest) -> AppTest:
    labelled(at.text_input, "Admin password").set_value(PASSWORD)
    return click(at, "Sign in")


def save_piece(title: str, checkpoint: str, offset: int) -> str:
    parameters = {"sampling": {"strategy": "sample", "temperature": 0.9 + offset / 10}}
    return library_piece(title, checkpoint, offset, length=8, seconds=2.0, parameters=parameters)


def test_without_a_password_the_page_says_how_to_set_one_shows_nothing_else_and_imports_no_tensorflow():
    # In a fresh interpreter: other tests in this process may have imported TensorFlow.
    script = textwrap.dedent(
        f"""
        import json, sys
        import core.settings
        core.settings.SECRETS_FILES = ()  # a developer's own secrets file must not set a password here
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=30).run()
        at.switch_page({PAGE!r}).run()
        print(json.dumps({{
            "exception": [str(e.value) for e in at.exception],
            "warning": [w.value for w in at.warning],
            "code": [c.value for c in at.code],
            "caption": [c.value for c in at.caption],
            "controls": len(at.button) + len(at.text_input) + len(at.dataframe) + len(at.multiselect),
            "tensorflow": "tensorflow" in sys.modules,
        }}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout.strip().splitlines()[-1])
    assert page["exception"] == []
    assert any("admin password is set" in warning for warning in page["warning"])
    assert any("NEUROTUNE_ADMIN_PASSWORD" in code for code in page["code"])
    assert any("Sharing the app safely" in caption for caption in page["caption"])
    assert page["controls"] == 0
    assert page["tensorflow"] is False


def test_an_organizer_builds_shares_and_reads_a_survey(monkeypatch):
    had_tensorflow = "tensorflow" in sys.modules
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", PASSWORD)
    files = [SourceFile(f"real{i}.mid", scale_piece(offset=i, length=12)) for i in range(2)]
    build_dataset("tiny", files, DataConfig(validation_fraction=0.5))
    chosen = [save_piece("Chorale one", "checkpoints/bach-lstm", 0), save_piece("Reel", "checkpoints/folk-gan", 2)]

    at = open_page()
    assert CONTROLS.isdisjoint(b.label for b in at.button)  # a visitor sees the sign-in only
    assert labelled(at.text_input, "Admin password")
    sign_in(at)
    assert any("No survey yet" in info.value for info in at.info)

    # Bad input: an error in words, and the fields keep their values.
    labelled(at.multiselect, "Generated pieces...").set_value(chosen[:1]).run()
    labelled(at.text_input, "Title").set_value("Bach or not")
    for label in ("Musicality", "Coherence", "Creativity", "Overall", "Human or computer", "A/B preference"):
        labelled(at.checkbox, label).uncheck()
    click(at, "Create survey")
    assert any("choose at least one question" in error.value for error in at.error)
    assert labelled(at.text_input, "Title").value == "Bach or not"

    labelled(at.multiselect, "Generated pieces...").set_value(chosen).run()
    labelled(at.selectbox, "Real pieces from the dataset...").select("tiny").run()
    labelled(at.number_input, "How many...").set_value(1)
    labelled(at.number_input, "Clip length...").set_value(1.5)
    for name in ("Overall", "Human or computer", "A/B preference"):
        labelled(at.checkbox, name).check()
    click(at, "Create survey")
    assert any("Made the survey" in success.value for success in at.success)
    (made,) = store.list_surveys()
    clips = store.survey_clips(made.id)
    assert sorted(clip.system for clip in clips) == ["bach-lstm", "folk-gan", "real"]
    assert all(clip.duration_seconds <= 1.5 for clip in clips)
    table = at.dataframe[0].value
    assert list(table["Title"]) == ["Bach or not"] and list(table["Status"]) == ["draft"]
    assert f"?survey={made.id}" in at.code[0].value
    assert "real (hidden reference)" in set(at.dataframe[1].value["System"])  # the clips, with their systems
    assert any("No answers yet" in info.value for info in at.info)

    click(at, "Open")
    assert store.get_survey(made.id).status == "open"
    careful, hasty = join(made.id, "amateur"), join(made.id)
    for token, elapsed_ms in ((careful, 60_000), (hasty, 10)):
        for item in resume(made.id, token).items:
            for question in item.questions:
                value = {"overall": 5 if token == careful else 3, "human": "human", "preference": "A"}[question.name]
                record_answer(made.id, token, item.id, question.name, value, played_share=1.0, elapsed_ms=elapsed_ms)
    at.run()
    assert not at.exception, at.exception
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Participants"] == "2" and metrics["Flagged listeners"] == "1"
    answers = int(metrics["Answers"])
    subheaders = {header.value for header in at.subheader}
    assert {"Ratings (1-5)", "Human or computer?", "A/B preference", "Listener screening"} <= subheaders
    assert "Ratings and the evaluation metrics" in subheaders
    measured = next(frame.value for frame in at.dataframe if "Scale consistency (0-1)" in frame.value.columns)
    assert len(measured) == 3  # the two models and the real pieces
    assert len(at.get("plotly_chart")) >= 2
    assert {b.label for b in at.get("download_button")} >= {"Download CSV", "Download JSON"}
    ratings = next(frame.value for frame in at.dataframe if "mean" in frame.value)
    assert "real (hidden reference)" in set(ratings["system"])

    labelled(at.toggle, "Exclude flagged listeners...").set_value(True).run()
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Participants"] == "1" and int(metrics["Answers"]) == answers // 2

    click(at, "Duplicate")
    assert len(store.list_surveys()) == 2
    copy = next(survey for survey in store.list_surveys() if survey.id != made.id)
    assert copy.title == "Bach or not (copy)" and f"?survey={copy.id}" in at.code[0].value
    labelled(at.selectbox, "Survey").select(made.id).run()
    click(at, "Close")
    assert store.get_survey(made.id).status == "closed"
    labelled(at.checkbox, "I want to delete it...").check().run()
    click(at, "Delete")
    assert [survey.id for survey in store.list_surveys()] == [copy.id]
    if not had_tensorflow:
        assert "tensorflow" not in sys.modules
