"""The participant's side of a listening test: consent, joining, one item at a time, finishing.

A participant arrives by a link (``?survey=<id>``) and is known from then on by the token :func:`join`
hands out, which goes into the link (``&p=<token>``): a reload, or the same link opened tomorrow,
resumes where they left off, because everything worth keeping is in the database, not in this
session. What the session does keep is only what the database cannot know: which item is on screen,
when each item was first shown (for ``elapsed_ms``), and how much of each clip this browser reported
playing. Every text the organizer wrote (title, instructions, consent) is shown as text, never as
Markdown (:func:`ui.text.plain`).
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from core.audio import MIME_TYPES
from core.errors import NeuroTuneError, SurveyError
from core.store import surveys as store
from core.store.db import SurveyRecord
from core.surveys.config import SurveySettings
from core.surveys.participants import Item, Participation, finish, join, record_answer, resume
from core.surveys.questions import BACKGROUND, PAIR, ChoiceQuestion, PreferenceQuestion, Question, RatingQuestion
from ui.listening import SHARE_TOLERANCE, played_audio
from ui.text import plain, show_error

# The link's query parameters: the survey, and the participant's token once they joined.
SURVEY_PARAM = "survey"
TOKEN_PARAM = "p"
# The player needs a share in (0, 1]; a survey asking for none still shows how much was heard.
_LEAST_SHOWN_SHARE = 0.01
# Seconds of playback between the browser's progress reports while a clip plays.
_REPORT_EVERY_SECONDS = 2.0


# === Texts ===


def show_paragraphs(text: str) -> None:
    """The organizer's text as plain text, keeping its paragraphs and line breaks (``plain`` makes one line)."""
    for paragraph in text.strip().split("\n\n"):
        lines = [plain(line.strip()) for line in paragraph.splitlines() if line.strip()]
        if lines:
            st.markdown("  \n".join(lines))  # two spaces and a newline: a Markdown line break


def load_survey(survey_id: str) -> SurveyRecord | None:
    """The survey a link names, or None after saying why it cannot be taken (unknown, or not open yet).

    A closed survey is returned: a participant who finished it still gets their thank-you.
    """
    try:
        survey = store.get_survey(survey_id)
    except SurveyError as error:
        show_error(error)
        return None
    if survey.status == "draft":
        st.info("This survey is not open yet. Please try your link again later.", icon="⏳")
        return None
    return survey


def closed_notice() -> None:
    st.info("This survey is closed and takes no more answers. Thank you for your interest.", icon="🔒")


def thank_you() -> None:
    """The last screen: thanks, and nothing of the results (they would tell the next participant what to hear)."""
    st.success("Thank you for taking part! Your answers are saved; you can close this tab now.", icon="🎉")


# === Joining ===


def _agreed_key(survey_id: str) -> str:
    return f"survey-agreed-{survey_id}"


def consent_and_join(survey: SurveyRecord) -> None:
    """Instructions and consent with an "I agree" button, then the optional background question, then :func:`join`.

    Joining puts the token in the link, so the participant's browser keeps it (in its history) without cookies.
    """
    settings = SurveySettings.from_json(survey.settings)
    agreed = _agreed_key(survey.id)
    if not st.session_state.get(agreed):
        show_paragraphs(survey.instructions)
        st.subheader("Consent")
        show_paragraphs(survey.consent or "Your answers are stored without your name, for research.")
        if st.button("I agree", type="primary", key="survey-agree"):
            st.session_state[agreed] = True
            st.rerun()
        return
    background = None
    if settings.background_question:
        options = dict(BACKGROUND.options)
        background = st.radio(
            BACKGROUND.prompt, BACKGROUND.values, index=None, format_func=options.__getitem__, key="survey-background"
        )
        if not st.button("Start the listening test", type="primary", key="survey-start"):
            return
    try:
        token = join(survey.id, background)
    except NeuroTuneError as error:
        show_error(error)
        return
    st.query_params[TOKEN_PARAM] = token
    st.rerun()


def load_participation(survey: SurveyRecord, token: str) -> Participation | None:
    """The participant a token names, or None after saying the link is not valid and offering a fresh start."""
    try:
        return resume(survey.id, token)
    except SurveyError as error:
        show_error(error)
    if survey.status == "open" and st.button("Start the survey afresh", key="survey-afresh"):
        del st.query_params[TOKEN_PARAM]
        st.session_state.pop(_agreed_key(survey.id), None)
        st.rerun()
    return None


# === Taking part ===


def _keys(participation: Participation, item_id: str = "") -> dict[str, str]:
    """This participant's session-state keys (per participant: a fresh start begins afresh)."""
    prefix = f"survey-{participation.participant_id}"
    return {
        "prefix": prefix,
        "position": f"{prefix}-position",
        "error": f"{prefix}-error",
        "shown": f"{prefix}-shown-{item_id}",  # when the item was first shown, for elapsed_ms
    }


def _position(participation: Participation, key: str) -> int:
    """The item on screen: as the participant left it in this session, else the first one not fully answered."""
    if key not in st.session_state:
        upcoming = participation.next_item
        st.session_state[key] = participation.items.index(upcoming) if upcoming else participation.total - 1
    return max(0, min(st.session_state[key], participation.total - 1))


def _move(key: str, position: int) -> None:
    st.session_state[key] = position


def _heard_share(prefix: str, item: Item, number: int, reported: float) -> float:
    """The most of a clip this session heard: a player that left the screen and came back reports 0 again."""
    key = f"{prefix}-heard-{item.id}-{number}"
    st.session_state[key] = max(st.session_state.get(key, 0.0), reported)
    return st.session_state[key]


def _players(participation: Participation, item: Item, prefix: str) -> float | None:
    """The item's players (A and B side by side for a pair); the share heard of the least heard clip.

    Returns None, after saying so, when a clip's audio is gone from the server.
    """
    required = max(participation.settings.played_share, _LEAST_SHOWN_SHARE)
    columns = st.columns(len(item.clips))
    shares = []
    for number, (clip, column) in enumerate(zip(item.clips, columns)):
        label = f"Clip {PreferenceQuestion.letters[number]}" if item.kind == PAIR else clip.label
        try:
            audio = clip.audio()
        except SurveyError as error:
            show_error(error)
            return None
        with column:
            state = played_audio(
                audio,
                MIME_TYPES.get(Path(clip.audio_path).suffix, "audio/wav"),
                key=f"{prefix}-player-{item.id}-{number}",
                label=label,
                required_share=required,
                report_every_s=_REPORT_EVERY_SECONDS,
            )
        shares.append(_heard_share(prefix, item, number, state.played_share))
    return min(shares)


def _options(question: Question) -> tuple[list[object], dict[object, str], list[str] | None]:
    """A question's radio options, what each reads, and captions under them (a rating's end labels)."""
    if isinstance(question, RatingQuestion):
        values: list[object] = list(range(question.low, question.high + 1))
        captions = [question.low_label, *[""] * (len(values) - 2), question.high_label]
        return values, {value: str(value) for value in values}, captions
    if isinstance(question, ChoiceQuestion):
        return list(question.values), dict(question.options), None
    return list(question.letters), {letter: f"Clip {letter}" for letter in question.letters}, None


def _stored(question: Question, text: str | None) -> object:
    """An answer as :attr:`Item.answers` holds it ("4"), as the radio's option (4)."""
    if text is None:
        return None
    return int(text) if isinstance(question, RatingQuestion) else text


def _answer(
    survey_id: str,
    token: str,
    item_id: str,
    question: str,
    played_share: float,
    widget_key: str,
    shown_key: str,
    error_key: str,
) -> None:
    """Write an answer the moment it is given; a refused one is taken back off the screen, its reason kept to show."""
    value = st.session_state.get(widget_key)
    if value is None:
        return
    shown = st.session_state.get(shown_key)
    elapsed_ms = int((time.monotonic() - shown) * 1000) if shown is not None else None
    try:
        record_answer(survey_id, token, item_id, question, value, played_share=played_share, elapsed_ms=elapsed_ms)
    except NeuroTuneError as error:
        st.session_state[error_key] = str(error)
        del st.session_state[widget_key]  # the radio shows the stored answer again, not the refused one


def _questions(survey_id: str, token: str, item: Item, keys: dict[str, str], heard: bool, played_share: float) -> None:
    """The item's questions as radio buttons, showing the answers stored; locked until the clips were heard."""
    prefix = keys["prefix"]
    for question in item.questions:
        values, texts, captions = _options(question)
        stored = _stored(question, item.answers.get(question.name))
        widget_key = f"{prefix}-answer-{item.id}-{question.name}"
        st.radio(
            question.prompt,
            values,
            index=values.index(stored) if stored in values else None,
            format_func=texts.__getitem__,
            captions=captions,
            horizontal=True,
            disabled=not heard,
            key=widget_key,
            on_change=_answer,
            args=(survey_id, token, item.id, question.name, played_share, widget_key, keys["shown"], keys["error"]),
        )


def _navigation(participation: Participation, token: str, item: Item, position: int, keys: dict[str, str]) -> None:
    """Back to change an earlier answer; on once this item is answered; Finish after the last one."""
    position_key = keys["position"]
    back, forward = st.columns(2)
    back.button(
        "← Previous",
        key="survey-previous",
        disabled=position == 0,
        on_click=_move,
        args=(position_key, position - 1),
    )
    if position < participation.total - 1:
        forward.button(
            "Next →",
            key="survey-next",
            type="primary",
            disabled=not item.complete,
            on_click=_move,
            args=(position_key, position + 1),
            help=None if item.complete else "Answer every question first",
        )
        return
    done = participation.next_item is None
    if forward.button("Finish", key="survey-finish", type="primary", disabled=not done):
        try:
            finish(participation.survey.id, token)
        except NeuroTuneError as error:
            st.session_state[keys["error"]] = str(error)
        st.rerun()  # the whole page: it shows the thank-you now
    if not done:
        upcoming = participation.next_item
        forward.caption(f"Still to answer: {plain(upcoming.label if upcoming else '')}")


@st.fragment
def take_items(survey_id: str, token: str) -> None:
    """One item at a time: its players, its questions (locked until the clips were heard), the way on.

    A fragment, so that each progress report of a player reruns this and not the page; it reads the
    participation afresh each time, so the progress and the buttons follow every answer written.
    """
    try:
        participation = resume(survey_id, token)
    except SurveyError as error:
        show_error(error)
        return
    if participation.finished or not participation.is_open:
        st.rerun()  # the page says thanks, or that the survey closed meanwhile
    keys = _keys(participation)
    error = st.session_state.pop(keys["error"], None)
    if error:
        show_error(error)
    if not participation.items:  # nothing to answer (cannot be built, but a page must not crash on it)
        _navigation(participation, token, Item("", "", "", (), (), {}), 0, keys)
        return
    position = _position(participation, keys["position"])
    item = participation.items[position]
    keys = _keys(participation, item.id)
    st.progress(participation.answered / participation.total, text=f"{position + 1} of {participation.total}")
    if item.kind == PAIR:  # a clip's label is its player's; a pair's players are "A" and "B"
        st.subheader(plain(item.label))
    st.session_state.setdefault(keys["shown"], time.monotonic())
    share = _players(participation, item, keys["prefix"])
    if share is None:
        return
    required = participation.settings.played_share
    # Answers already stored were accepted after playback (a reload forgets what the browser played); the
    # engine takes the same view and stores the share as the browser reported it.
    heard = bool(item.answers) or share + SHARE_TOLERANCE >= required
    if not heard:
        what = "the clip" if item.kind != PAIR else "both clips"
        enough = "to the end" if required >= 1 else f"(at least {required:.0%})"
        st.info(f"Play {what} {enough} to answer.", icon="🎧")
    _questions(survey_id, token, item, keys, heard, share)
    _navigation(participation, token, item, position, keys)
