"""The Listening tests page's views (organizer only): the closed door, the survey form, the survey list, results.

The engine is :mod:`core.surveys`; here only widgets, tables and charts. Every name a user chose (a
survey's or a piece's title) reaches Markdown through :func:`ui.text.plain`; tables and select options
show text as it is. The hidden real pieces keep the engine's system name ``real`` in the data and read
:data:`REAL_LABEL` on screen, so the organizer never mistakes them for a model.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import astuple, dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data.datasets import list_datasets, load_dataset
from core.errors import NeuroTuneError
from core.evaluation.metrics import METRIC_LABELS
from core.settings import PASSWORD_VARIABLE, get_settings
from core.store import surveys as store
from core.store.db import SurveyRecord
from core.store.library import list_pieces, model_name
from core.surveys.build import (
    CreatedSurvey,
    DatasetPiece,
    clip_audio,
    close_survey,
    create_survey,
    delete_survey,
    duplicate_survey,
    open_survey,
)
from core.surveys.config import MAX_CLIP_SECONDS, REAL_SYSTEM, SurveySettings
from core.surveys.questions import QUESTIONS, RATINGS
from core.surveys.results import answer_table, clip_metrics, participant_table
from core.surveys.statistics import (
    answers_csv,
    answers_json,
    exclude,
    human_judgements,
    kruskal_wallis,
    pairwise_mann_whitney,
    preferences,
    rating_metric_correlations,
    rating_summary,
    screen_listeners,
)
from ui.auth import require_admin
from ui.charts import interval_bars_figure
from ui.library import filter_form
from ui.survey_taking import SURVEY_PARAM
from ui.text import plain, show_error

# This page's url_path in streamlit_app.py: cut from the browser's URL to get the app's base URL.
PAGE_URL_PATH = "surveys"
# How the hidden real pieces read on screen.
REAL_LABEL = "real (hidden reference)"
# How often the results of an open survey refresh themselves.
LIVE_SECONDS = 5
DEFAULT_CONSENT = (
    "I agree to take part in this listening test. My answers are stored without my name and used for research."
)
# Session-state keys.
SELECTED_KEY = "surveys-selected"
_PENDING_KEY = "surveys-select-next"  # a survey to select on the next run (the widget exists by then)
_FLASH_KEY = "surveys-flash"


# === The door ===


def admin_gate() -> bool:
    """Whether the organizer's view may be shown.

    Unlike the other pages, which are open when no password is set (the app then serves this machine
    only), surveys are meant to be shared, so without a password the view stays closed and says how to
    set one; with a password, the shared sign-in form guards it.
    """
    if not get_settings().admin_password:
        st.warning(
            f"The listening tests are closed until an admin password is set: participants reach this app "
            f"from other machines, so its organizer's view must be guarded. Set {PASSWORD_VARIABLE} (at least "
            "8 characters) and restart the app, or put it in .streamlit/secrets.toml:",
            icon="🔒",
        )
        st.code(f'{PASSWORD_VARIABLE}="choose-a-long-password" make run', language="bash")
        st.code(f'{PASSWORD_VARIABLE} = "choose-a-long-password"', language="toml")
        st.caption('The README\'s section "Sharing the app safely" says how to serve the app to others.')
        return False
    return require_admin("Organizing listening tests", "surveys")


# === Building a survey ===


@dataclass(frozen=True)
class RealChoice:
    """Real pieces of a dataset chosen as the hidden reference: some in particular, else a number at random."""

    dataset: str | None = None
    count: int = 0
    indices: tuple[int, ...] = ()
    size: int = 0

    def pieces(self, rng: random.Random | None = None) -> list[DatasetPiece]:
        """The pieces; a random draw is made here, at creation, so that reruns of the page do not redraw it."""
        if self.dataset is None:
            return []
        indices = self.indices or sorted((rng or random.Random()).sample(range(self.size), min(self.count, self.size)))
        return [DatasetPiece(self.dataset, index) for index in indices]


def pick_library_pieces() -> list[str]:
    """Generated pieces filtered by model and settings (the Library page's filters), then picked by title."""
    everything = list_pieces()
    if not everything:
        st.info("The library is empty: compose on the Generate page, and its pieces can be picked here.")
        return []
    with st.expander("Filter the library by model, data and settings"):
        shown = list_pieces(filter_form(everything))
    by_id = {piece.id: piece for piece in everything}
    key = "survey-pieces"
    kept = [piece_id for piece_id in st.session_state.get(key, []) if piece_id in by_id]  # picks outlive a filter
    if key in st.session_state:
        st.session_state[key] = kept  # without pieces deleted meanwhile (a widget refuses values not offered)
    options = list(dict.fromkeys([*kept, *(piece.id for piece in shown)]))
    return st.multiselect(
        f"Generated pieces ({len(shown)} of {len(everything)} match the filters)",
        options,
        format_func=lambda piece_id: f"{by_id[piece_id].title} · {model_name(by_id[piece_id])}",
        key=key,
        help="Each becomes a clip labelled with its model's name in the results; participants see only 'Clip n'",
    )


def pick_real_pieces() -> RealChoice:
    """A dataset's real pieces as the hidden reference: a number drawn at random, or pieces in particular."""
    names = [record.name for record in list_datasets()]
    dataset = st.selectbox(
        "Real pieces from the dataset (the hidden reference)",
        names,
        index=None,
        placeholder="none" if names else "no dataset yet: build one on the Dataset page",
        key="survey-dataset",
    )
    if dataset is None:
        return RealChoice()
    try:
        meta = load_dataset(dataset).piece_meta
    except NeuroTuneError as error:
        show_error(error)
        return RealChoice()
    left, right = st.columns([1, 3])
    count = left.number_input(
        "How many, drawn at random", 0, len(meta), min(3, len(meta)), key=f"survey-real-count-{dataset}"
    )
    indices = right.multiselect(
        "Or these pieces",
        range(len(meta)),
        format_func=lambda index: f"{index}: {meta[index]['name']}",
        key=f"survey-real-pieces-{dataset}",
    )
    return RealChoice(dataset, int(count), tuple(indices), len(meta))


def _question_boxes(defaults: SurveySettings) -> tuple[str, ...]:
    st.markdown("**Questions**")
    columns = st.columns(len(QUESTIONS))
    asked = [
        name
        for column, (name, question) in zip(columns, QUESTIONS.items())
        if column.checkbox(
            "A/B preference" if name == "preference" else question.label,
            name in defaults.questions,
            key=f"survey-ask-{name}",
            help=question.prompt,
        )
    ]
    return tuple(asked)


def survey_form(pieces: Sequence[str], real: RealChoice) -> CreatedSurvey | None:
    """Texts, clip length and questions (knobs under "Advanced"); makes the survey when submitted.

    Returns:
        The survey made on this run, else None; an error is shown in place and every field keeps its value.
    """
    defaults = SurveySettings()
    with st.form("new-survey"):
        title = st.text_input("Title", max_chars=120, key="survey-title")
        instructions = st.text_area(
            "Instructions", "Listen to each clip to its end, then answer.", key="survey-instructions"
        )
        consent = st.text_area("Consent", DEFAULT_CONSENT, key="survey-consent")
        clip_seconds = st.number_input(
            "Clip length (seconds from the start of each piece)",
            1.0,
            MAX_CLIP_SECONDS,
            defaults.clip_seconds,
            1.0,
            key="survey-clip-seconds",
        )
        questions = _question_boxes(defaults)
        with st.expander("Advanced"):
            played_percent = st.slider(
                "Share of a clip that must be played before it can be answered (%)",
                0,
                100,
                round(defaults.played_share * 100),
                key="survey-played-share",
            )
            background = st.checkbox(
                "Ask about each participant's musical background (optional to answer)",
                defaults.background_question,
                key="survey-background",
            )
            per_comparison = st.number_input(
                "A/B pairs for each two systems", 1, 10, defaults.pairs_per_comparison, key="survey-pairs"
            )
        if not st.form_submit_button("Create survey", type="primary"):
            return None
    chosen_real = real.pieces()
    try:
        settings = SurveySettings(
            clip_seconds=float(clip_seconds),
            questions=questions,
            played_share=played_percent / 100,
            background_question=background,
            pairs_per_comparison=int(per_comparison),
        )
        with st.spinner(f"Rendering {len(pieces) + len(chosen_real)} clips to audio..."):
            return create_survey(
                title, instructions=instructions, consent=consent, pieces=pieces, real=chosen_real, settings=settings
            )
    except NeuroTuneError as error:
        show_error(error)
        return None


def announce(created: CreatedSurvey) -> None:
    """Select the new survey and say so after the rerun that lists it."""
    st.session_state[_PENDING_KEY] = created.survey.id
    st.session_state[_FLASH_KEY] = (created.survey.title, len(created.clips), created.notices)
    st.rerun()


def show_flash() -> None:
    """The message left by the action of the run before (a survey made)."""
    flash = st.session_state.pop(_FLASH_KEY, None)
    if flash:
        title, clips, notices = flash
        st.success(f"Made the survey '{plain(title)}' with {clips} clips. Open it below to share its link.")
        for notice in notices:
            st.info(plain(notice))


# === Managing surveys ===


def surveys_frame(surveys: Sequence[SurveyRecord]) -> pd.DataFrame:
    """One row per survey: its title, status, clips, participants, answers and when it was made."""
    counts = store.survey_counts()
    rows = []
    for survey in surveys:
        count = counts.get(survey.id, store.SurveyCounts())
        rows.append(
            {
                "Title": survey.title,
                "Status": survey.status,
                "Clips": count.clips,
                "Participants": count.participants,
                "Answers": count.answers,
                "Created (UTC)": survey.created_at.strftime("%Y-%m-%d %H:%M"),
            }
        )
    return pd.DataFrame(rows, columns=["Title", "Status", "Clips", "Participants", "Answers", "Created (UTC)"])


def select_survey(surveys: Sequence[SurveyRecord]) -> SurveyRecord:
    """The survey chosen to manage: the one just made or copied, else the one chosen before, else the newest."""
    by_id = {survey.id: survey for survey in surveys}
    pending = st.session_state.pop(_PENDING_KEY, None)
    if pending in by_id:
        st.session_state[SELECTED_KEY] = pending
    elif st.session_state.get(SELECTED_KEY) not in by_id:
        st.session_state.pop(SELECTED_KEY, None)
    chosen = st.selectbox(
        "Survey", list(by_id), format_func=lambda i: f"{by_id[i].title} ({by_id[i].status})", key=SELECTED_KEY
    )
    return by_id[chosen]


def base_url() -> str:
    """The app's address as the organizer's browser reaches it (so behind a proxy too), else the server's own."""
    url = st.context.url
    if url:
        return url.removesuffix("/").removesuffix(f"/{PAGE_URL_PATH}")
    address = st.get_option("browser.serverAddress") or "localhost"
    port = st.get_option("browser.serverPort") or st.get_option("server.port")
    path = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{address}:{port}" + (f"/{path}" if path else "")


def share_link(survey_id: str) -> str:
    """The link participants open: the app's root with the survey's id."""
    return f"{base_url()}/?{SURVEY_PARAM}={survey_id}"


def survey_actions(survey: SurveyRecord) -> None:
    """Open, close, duplicate or delete the survey (delete after a confirmation); reruns after each change."""
    open_column, close_column, copy_column, delete_column = st.columns(4)
    try:
        if open_column.button("Open", disabled=survey.status == "open", help="Let participants join and answer"):
            open_survey(survey.id)
            st.rerun()
        if close_column.button("Close", disabled=survey.status != "open", help="Stop taking answers; results stay"):
            close_survey(survey.id)
            st.rerun()
        if copy_column.button("Duplicate", help="A new draft with the same texts, settings and clips"):
            st.session_state[_PENDING_KEY] = duplicate_survey(survey.id).id
            st.rerun()
        sure = delete_column.checkbox("I want to delete it and its answers", key=f"delete-sure-{survey.id}")
        if delete_column.button("Delete", disabled=not sure):
            delete_survey(survey.id)
            st.rerun()
    except NeuroTuneError as error:  # its audio gone, or deleted meanwhile in another tab
        show_error(error)


def system_label(system: str | None) -> str | None:
    """A system as the organizer reads it: the real pieces marked as the hidden reference."""
    return REAL_LABEL if system == REAL_SYSTEM else system


@st.fragment
def clip_preview(survey: SurveyRecord) -> None:
    """The survey's clips with where each came from, and a player; choosing a clip redraws only this."""
    clips = store.survey_clips(survey.id)
    st.dataframe(
        pd.DataFrame(
            {
                "Clip": [clip.label for clip in clips],
                "System": [system_label(clip.system) for clip in clips],
                "Piece": [clip.name for clip in clips],
                "Length (s)": [round(clip.duration_seconds, 1) for clip in clips],
            }
        ),
        hide_index=True,
    )
    by_id = {clip.id: clip for clip in clips}
    chosen = st.selectbox(
        "Listen to",
        list(by_id),
        format_func=lambda i: f"{by_id[i].label}: {system_label(by_id[i].system)} · {by_id[i].name}",
        key=f"preview-{survey.id}",
    )
    if chosen is not None:
        try:
            st.audio(clip_audio(by_id[chosen]), format="audio/wav")
        except NeuroTuneError as error:
            show_error(error)


# === Results ===


def _labelled(table: pd.DataFrame, columns: Sequence[str] = ("system",)) -> pd.DataFrame:
    """A statistics table for the screen: systems labelled, questions by their labels, numbers rounded."""
    table = table.copy()
    for column in columns:
        table[column] = table[column].map(system_label)
    if "question" in table:
        table["question"] = table["question"].map(lambda name: QUESTIONS[name].label)
    return table.round(4)


def rating_figure(summary: pd.DataFrame, question: str) -> go.Figure:
    """One rating question's mean per system with its 95% interval."""
    rows = summary[summary["question"] == question]
    figure = interval_bars_figure(
        [system_label(system) for system in rows["system"]],
        list(zip(rows["mean"], rows["low"], rows["high"])),
        QUESTIONS[question].label,
    )
    figure.update_yaxes(range=[0, QUESTIONS[question].high + 0.5])
    return figure


def human_figure(judged: pd.DataFrame) -> go.Figure:
    """The share of each system judged human, with its exact interval, against chance (50%)."""
    figure = interval_bars_figure(
        [system_label(system) for system in judged["system"]],
        list(zip(judged["share"], judged["low"], judged["high"])),
        "Judged composed by a human",
    )
    figure.add_hline(y=0.5, line_dash="dash", annotation_text="chance (50%)")
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%", title="share judged human (95% interval)")
    return figure


def _screening_frame(screening: pd.DataFrame, participants: pd.DataFrame) -> pd.DataFrame:
    backgrounds = dict(zip(participants["participant"], participants["background"]))
    table = screening.copy()
    table.insert(1, "background", table["participant"].map(backgrounds))
    table["participant"] = table["participant"].str[:8]  # enough to tell them apart, as in the exports
    return table.round(3)


def live_results(survey: SurveyRecord) -> None:
    """The results, refreshing every :data:`LIVE_SECONDS` while the survey is open (only this part reruns)."""
    st.fragment(_results, run_every=LIVE_SECONDS if survey.status == "open" else None)(survey)


def _results(survey: SurveyRecord) -> None:
    settings = SurveySettings.from_json(survey.settings)
    try:
        answers = answer_table(survey.id)
        participants = participant_table(survey.id)
    except NeuroTuneError as error:  # deleted meanwhile in another tab
        show_error(error)
        return
    if answers.empty:
        joined = len(participants)
        st.info(f"No answers yet ({joined} participant{'s' * (joined != 1)} joined). They appear here as they come.")
        return
    screening = screen_listeners(answers, listening_share=settings.played_share)
    flagged = screening.loc[screening["flagged"], "participant"].tolist()
    excluded = st.toggle(
        f"Exclude flagged listeners ({len(flagged)})",
        key=f"exclude-{survey.id}",
        help="Leave out the answers of the listeners flagged below; every table and chart is computed again",
    )
    kept = exclude(answers, flagged) if excluded else answers
    shown = participants[~participants["participant"].isin(flagged)] if excluded else participants
    columns = st.columns(4)
    columns[0].metric("Participants", len(shown))
    columns[1].metric("Finished", int(shown["finished_at"].notna().sum()))
    columns[2].metric("Answers", len(kept))
    columns[3].metric("Flagged listeners", len(flagged))

    _ratings(kept, settings)
    if "human" in settings.questions:
        st.subheader("Human or computer?")
        judged = human_judgements(kept)
        if judged.empty:
            st.info("No answer to this question yet.")
        else:
            st.caption("Share judged human with its exact 95% interval; p: two-sided binomial test against 50%.")
            st.dataframe(_labelled(judged), hide_index=True, key=f"human-table-{survey.id}")
            st.plotly_chart(human_figure(judged), key=f"human-chart-{survey.id}")
    if "preference" in settings.questions:
        st.subheader("A/B preference")
        preferred = preferences(kept)
        if preferred.empty:
            st.info("No preference given yet.")
        else:
            st.caption("Wins of each system in its pairs; p: two-sided sign test (no preference = 50%).")
            st.dataframe(_labelled(preferred, ("first", "second")), hide_index=True, key=f"prefs-{survey.id}")

    _metrics_beside_ratings(survey, kept, settings)

    st.subheader("Listener screening")
    st.caption(
        "Flagged: rated the hidden real pieces below the generated ones (reversed), or answered sooner than "
        f"{settings.played_share:.0%} of the clip lasts (fast)."
    )
    st.dataframe(_screening_frame(screening, participants), hide_index=True, key=f"screening-{survey.id}")
    st.subheader("Every raw answer")
    st.caption("All answers with their timestamps (UTC), flagged listeners included: the exports never exclude.")
    left, right = st.columns(2)
    left.download_button(
        "Download CSV", answers_csv(answers), f"survey-{survey.id[:8]}.csv", "text/csv", key=f"csv-{survey.id}"
    )
    right.download_button(
        "Download JSON",
        answers_json(answers),
        f"survey-{survey.id[:8]}.json",
        "application/json",
        key=f"json-{survey.id}",
    )


@st.cache_data(show_spinner="Measuring the clips...", max_entries=8)
def _clip_metrics(survey_id: str) -> pd.DataFrame:
    """A survey's clips never change once it is made: measured once per survey."""
    return clip_metrics(survey_id)


def _metrics_beside_ratings(survey: SurveyRecord, kept: pd.DataFrame, settings: SurveySettings) -> None:
    """The evaluation metrics of what each system's clips play, and how the overall rating follows them."""
    st.subheader("Ratings and the evaluation metrics")
    metrics = _clip_metrics(survey.id)
    by_system = metrics.drop(columns="clip").groupby("system", sort=False).mean().reset_index()
    st.caption("What each system's clips play, measured as on the Evaluate page (means over its clips).")
    st.dataframe(
        _labelled(by_system).rename(columns=metric_label_or_name), hide_index=True, key=f"clip-metrics-{survey.id}"
    )
    if "overall" not in settings.questions:
        return
    correlations = rating_metric_correlations(kept, metrics)
    correlations["metric"] = correlations["metric"].map(metric_label_or_name)
    st.caption(
        "Spearman's rank correlation, across clips, of each clip's mean overall rating with each metric "
        "(NaN: fewer than three rated clips, or all alike)."
    )
    st.dataframe(correlations, hide_index=True, key=f"metric-correlations-{survey.id}")


def metric_label_or_name(name: str) -> str:
    """A metric's label on the pages; other column names as they are."""
    return METRIC_LABELS.get(name, name)


def _ratings(kept: pd.DataFrame, settings: SurveySettings) -> None:
    """Mean ratings per system with intervals, their charts, and the tests across and between systems."""
    asked = [question for question in RATINGS if question in settings.questions]
    if not asked:
        return
    st.subheader("Ratings (1-5)")
    summary = rating_summary(kept)
    if summary.empty:
        st.info("No rating given yet.")
        return
    st.caption(
        "Mean opinion score per system with its 95% t interval; each rating counts once, as MOS studies count "
        "them. Every listener rates every system, so the ratings are not independent: read the p-values below "
        "as optimistic."
    )
    st.dataframe(_labelled(summary), hide_index=True, key="ratings-table")
    columns = st.columns(2)
    for index, question in enumerate(q for q in asked if (summary["question"] == q).any()):
        columns[index % 2].plotly_chart(rating_figure(summary, question), key=f"rating-chart-{question}")
    tests = pd.DataFrame(
        [(question, *astuple(kruskal_wallis(kept, question))) for question in asked],
        columns=["question", "H", "p_value"],
    )
    st.caption("Kruskal-Wallis: do the systems' ratings differ at all? (NaN: fewer than two systems)")
    st.dataframe(_labelled(tests, ()), hide_index=True, key="kruskal")
    pairwise = [pairwise_mann_whitney(kept, question).assign(question=question) for question in asked]
    pairwise = [table for table in pairwise if not table.empty]
    if pairwise:
        st.caption("Pairwise Mann-Whitney U tests, p-values Holm-corrected within each question.")
        table = pd.concat(pairwise, ignore_index=True)
        table = table[["question", *(column for column in table if column != "question")]]
        st.dataframe(_labelled(table, ("first", "second")), hide_index=True, key="mann-whitney")
