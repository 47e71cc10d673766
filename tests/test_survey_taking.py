"""The participant's view of a listening test, through the router as a participant's link reaches it.

AppTest runs no JavaScript, so the clip players' reports are fed in as the browser sends them (see
``tests/test_listening_widget.py``); the real browser is ``tests/e2e/test_survey_journey.py``'s. Clips are
"rendered" by a stub: the page never synthesizes, it plays the files a survey was made with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import StoreError
from core.store import surveys as store
from core.surveys import build
from core.surveys.build import create_survey, open_survey
from core.surveys.config import SurveySettings
from core.surveys.participants import resume
from core.surveys.questions import QUESTIONS
from tests.survey_pieces import library_piece, silent_rendering

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
OVERALL = QUESTIONS["overall"].prompt
HUMAN = QUESTIONS["human"].prompt
PREFERENCE = QUESTIONS["preference"].prompt


@pytest.fixture(autouse=True)
def quick_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clips made in no time (the renderer is tested in test_audio.py and test_surveys.py)."""
    monkeypatch.setattr(build, "render_wav", silent_rendering)


def piece(model: str, number: int) -> str:
    """A library piece of ``model``, 4 s long; returns its id."""
    return library_piece(f"{model} #{number}", f"checkpoints/{model}", number)


def make_survey(
    questions: tuple[str, ...] = ("overall", "human"),
    models: tuple[str, ...] = ("lstm", "lstm", "transformer"),
    status: str = "open",
    **settings: Any,
) -> str:
    """A survey of one 1-second clip per entry of ``models``, with the organizer's texts; returns its id."""
    pieces = [piece(model, number) for number, model in enumerate(models)]
    made = create_survey(
        "Bach *or* [not](https://example.com)",
        instructions="Use headphones.\n\nRate each clip **after** listening.",
        consent="I agree that my answers are kept.",
        pieces=pieces,
        settings=SurveySettings(clip_seconds=1, questions=questions, **settings),
    )
    if status != "draft":
        build.open_survey(made.survey.id)
    if status == "closed":
        build.close_survey(made.survey.id)
    return made.survey.id


def participant(survey_id: str, token: str | None = None) -> AppTest:
    """A participant's browser opening the link (with their token when they come back)."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["survey"] = survey_id
    if token is not None:
        at.query_params["p"] = token
    return at.run()


def texts(at: AppTest) -> str:
    """Every message on the page, as one string."""
    parts = [*at.title, *at.markdown, *at.info, *at.error, *at.success, *at.subheader, *at.caption]
    return " | ".join(str(part.value) for part in parts)


def players(at: AppTest) -> list[Any]:
    return [element for element in at.main if element.type == "bidi_component"]


def play(at: AppTest, *shares: float) -> AppTest:
    """The players on screen report ``shares`` played (1.0 when none given), as the browser does.

    The page's other widgets keep their values: a real report carries the whole widget state.
    """
    shares = shares or (1.0,)
    states = at._tree.get_widget_states()
    for number, component in enumerate(players(at)):
        share = shares[min(number, len(shares) - 1)]
        audio_id = json.loads(component.proto.json)["clip_id"]
        report = {"clip_id": audio_id, "played_share": share, "ended": share >= 1, "listened_s": share, "duration_s": 1}
        widget = next((widget for widget in states.widgets if widget.id == component.proto.id), None)
        if widget is None:
            widget = states.widgets.add()
            widget.id = component.proto.id
        widget.json_value = json.dumps({"playback": report})
    return at._run(states)


def forge_answer(at: AppTest, prompt: str, option: str) -> AppTest:
    """A locked radio answered anyway, as an edited page could send it: the server must not take it."""
    states = at._tree.get_widget_states()
    (widget,) = [widget for widget in states.widgets if widget.id == radio(at, prompt).id]
    widget.string_value = option  # a radio sends the option as shown
    return at._run(states)


def current_label(at: AppTest) -> str:
    """The label of the clip on screen, as its player shows it."""
    (player,) = players(at)
    return json.loads(player.proto.json)["label"]


def radio(at: AppTest, prompt: str) -> Any:
    (found,) = [widget for widget in at.radio if widget.label == prompt]
    return found


def join_survey(at: AppTest, background: str | None = "amateur") -> AppTest:
    """Consent, then the background question, then start."""
    at.button(key="survey-agree").click().run()
    if background is not None:
        at.radio(key="survey-background").set_value(background).run()
    return at.button(key="survey-start").click().run()


def answer_current(at: AppTest, rating: int = 4, human: str = "human") -> AppTest:
    play(at)
    radio(at, OVERALL).set_value(rating).run()
    return radio(at, HUMAN).set_value(human).run()


def progress_text(at: AppTest) -> str:
    (bar,) = [element for element in at.main if element.type == "progress"]
    return bar.proto.text


def test_a_participant_link_shows_only_the_survey_and_no_admin_page(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", "organizer secret")  # the admin sidebar would show
    survey_id = make_survey()
    at = participant(survey_id)
    assert not at.exception
    assert at.title[0].value.startswith("🎧 Bach")
    # The organizer's texts are shown as text: the link and the emphasis stay characters.
    assert "\\[not\\]\\(https" in at.title[0].value
    assert "Use headphones\\." in texts(at) and "\\*\\*after\\*\\*" in texts(at)
    assert "I agree that my answers are kept\\." in texts(at)
    assert not at.sidebar.children  # no navigation, no admin sign-in
    assert not [element for element in at.main if element.type == "page_link"]
    # Trying to reach another page from the participant's link still shows only the survey.
    for page in ("pages/home.py", "pages/surveys.py", "pages/train.py"):
        with pytest.raises(ValueError):
            at.switch_page(page)


def test_a_participant_takes_a_three_clip_survey_from_consent_to_thanks():
    survey_id = make_survey()
    at = join_survey(participant(survey_id))
    assert not at.exception
    token = at.query_params["p"]
    (joined,) = store.survey_participants(survey_id)
    assert joined.background == "amateur"
    assert progress_text(at) == "1 of 3"
    assert len(players(at)) == 1
    # The participant's own order (core/surveys/participants.py draws it; test_surveys.py checks it differs).
    assert current_label(at) == resume(survey_id, token).items[0].label
    # Before playback the questions are locked; a forced answer is ignored and nothing is stored.
    assert radio(at, OVERALL).disabled and radio(at, HUMAN).disabled
    assert at.button(key="survey-next").disabled
    assert "Play the clip (at least 90%) to answer" in texts(at)
    forge_answer(at, OVERALL, "5")
    assert store.survey_answers(survey_id) == []
    assert radio(at, OVERALL).value is None
    # Half a clip is not enough; the whole of it unlocks the questions.
    play(at, 0.5)
    assert radio(at, OVERALL).disabled
    for number in range(3):
        answer_current(at, rating=number + 2)
        assert not at.exception and not at.error
        assert len(store.survey_answers(survey_id)) == 2 * (number + 1)  # written the moment given
        if number < 2:
            at.button(key="survey-next").click().run()
            assert progress_text(at) == f"{number + 2} of 3"
    # Back to the first clip to change an answer: it replaces, and the questions stay open without playback.
    at.button(key="survey-previous").click().run()
    at.button(key="survey-previous").click().run()
    assert progress_text(at) == "1 of 3"
    assert radio(at, OVERALL).value == 2 and not radio(at, OVERALL).disabled
    radio(at, OVERALL).set_value(1).run()
    at.button(key="survey-next").click().run()
    at.button(key="survey-next").click().run()
    at.button(key="survey-finish").click().run()
    assert not at.exception
    assert "Thank you" in texts(at)
    assert not at.radio and not players(at)
    answers = store.survey_answers(survey_id)
    assert len(answers) == 6
    items = resume(survey_id, token).items
    assert [item.answers for item in items] == [
        {"overall": "1", "human": "human"},
        {"overall": "3", "human": "human"},
        {"overall": "4", "human": "human"},
    ]
    assert all(answer.played_share == 1.0 and answer.elapsed_ms is not None for answer in answers)
    # Coming back to a finished survey shows the thanks again, never results.
    again = participant(survey_id, token)
    assert "Thank you" in texts(again) and not again.radio


def test_coming_back_by_token_continues_at_the_next_unanswered_item():
    survey_id = make_survey()
    at = join_survey(participant(survey_id), background=None)
    token = at.query_params["p"]
    assert store.survey_participants(survey_id)[0].background is None
    answer_current(at)
    at.button(key="survey-next").click().run()
    play(at)
    radio(at, OVERALL).set_value(3).run()  # half of the second item
    order = [item.label for item in resume(survey_id, token).items]

    back = participant(survey_id, token)  # a new browser session, the same link
    assert not back.exception
    assert progress_text(back) == "2 of 3"
    assert current_label(back) == order[1]
    # Answered before, so heard: open without playing again (the browser forgot what it played).
    assert radio(back, OVERALL).value == 3 and not radio(back, OVERALL).disabled
    radio(back, HUMAN).set_value("computer").run()
    assert resume(survey_id, token).items[1].answers == {"overall": "3", "human": "computer"}


def test_a_pair_shows_players_a_and_b_and_needs_both_heard():
    survey_id = make_survey(questions=("preference",), models=("lstm", "transformer"), background_question=False)
    at = participant(survey_id).button(key="survey-agree").click().run()  # no background question: joined
    assert at.query_params["p"] and not at.exception
    assert [json.loads(player.proto.json)["label"] for player in players(at)] == ["Clip A", "Clip B"]
    assert radio(at, PREFERENCE).disabled
    play(at, 1.0, 0.5)  # A heard, B half: not yet
    assert radio(at, PREFERENCE).disabled
    play(at, 0.5, 1.0)  # what A heard before counts: both heard now
    radio(at, PREFERENCE).set_value("B").run()
    at.button(key="survey-finish").click().run()
    assert "Thank you" in texts(at)
    (answer,) = store.survey_answers(survey_id)
    assert answer.value in {clip.id for clip in store.survey_clips(survey_id)}


def test_a_tampered_token_says_so_and_offers_a_fresh_start():
    survey_id = make_survey()
    at = join_survey(participant(survey_id))
    token = at.query_params["p"]
    tampered = participant(survey_id, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert "not valid" in texts(tampered)
    assert not tampered.radio and not players(tampered)
    tampered.button(key="survey-afresh").click().run()
    assert "p" not in tampered.query_params
    assert tampered.button(key="survey-agree")


@pytest.mark.parametrize(
    ("status", "message"),
    [("unknown", "there is no survey"), ("draft", "not open yet"), ("closed", "This survey is closed")],
)
def test_unknown_draft_and_closed_surveys_say_so_and_show_nothing_else(status: str, message: str):
    survey_id = "no-such-survey" if status == "unknown" else make_survey(status=status)
    at = participant(survey_id)
    assert not at.exception
    assert message in texts(at)
    assert not at.button and not at.radio and not players(at)


def test_a_participant_of_a_closed_survey_sees_it_closed_not_results():
    survey_id = make_survey()
    at = join_survey(participant(survey_id))
    answer_current(at)
    build.close_survey(survey_id)
    back = participant(survey_id, at.query_params["p"])
    assert "This survey is closed" in texts(back)
    assert not back.radio and not players(back) and not back.dataframe


def test_the_survey_page_does_not_import_tensorflow():
    survey_id = make_survey()
    # In a fresh interpreter: other tests in this process may have imported TensorFlow.
    script = textwrap.dedent(
        f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=30)
        at.query_params["survey"] = {survey_id!r}
        at.run()
        assert not at.exception, at.exception
        assert at.button(key="survey-agree")
        print("tensorflow" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_an_answer_the_store_refuses_is_shown_as_an_error_and_taken_back(monkeypatch: pytest.MonkeyPatch):
    survey_id = make_survey()
    at = join_survey(participant(survey_id))
    play(at)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise StoreError("the database cannot be written: the disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(store, "save_answer", disk_full)
        radio(at, OVERALL).set_value(4).run()
    assert not at.exception
    assert "the disk is full" in texts(at)
    assert radio(at, OVERALL).value is None  # not shown as given when it was not stored
    radio(at, OVERALL).set_value(4).run()
    assert not at.error
    assert [answer.value for answer in store.survey_answers(survey_id)] == ["4"]


def test_while_a_survey_is_open_visitors_see_nothing_of_the_app_until_they_sign_in(monkeypatch):
    """The library, datasets and models would tell a participant which clip came from where."""
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", "organizer secret")
    survey_id = make_survey(status="draft")
    visitor = AppTest.from_file(APP, default_timeout=30).run()
    assert visitor.title[0].value == "🎼 NeuroTune" and not visitor.info  # no test running: the usual Home page
    open_survey(survey_id)
    visitor = AppTest.from_file(APP, default_timeout=30).run()
    assert not visitor.exception
    assert any("A listening test is running" in info.value for info in visitor.info)
    assert not visitor.dataframe and not visitor.get("audio") and not visitor.selectbox
    with pytest.raises(ValueError, match="Known pages: .*private.py'\\]"):  # no other page, whatever the URL
        visitor.switch_page("pages/library.py")
    visitor.text_input(key="password-private").set_value("organizer secret")
    next(button for button in visitor.button if button.label == "Sign in").click().run()
    visitor.switch_page("pages/library.py").run()
    assert not visitor.exception and not visitor.info
    assert visitor.title[0].value.endswith("Library")  # signed in: the app is back
