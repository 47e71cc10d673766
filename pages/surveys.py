"""Listening tests (organizer): build blind surveys from library and real pieces, share them, read the results."""

import streamlit as st

from core.store import surveys as store
from core.surveys.config import SurveySettings
from core.surveys.questions import QUESTIONS
from ui.surveys import (
    admin_gate,
    announce,
    clip_preview,
    live_results,
    pick_library_pieces,
    pick_real_pieces,
    select_survey,
    share_link,
    show_flash,
    survey_actions,
    survey_form,
    surveys_frame,
)
from ui.text import plain

st.title("🎧 Listening tests")
st.markdown(
    "Blind listening tests on the pieces in the library, with real pieces of a dataset hidden among them as "
    "the reference. Participants open a link, hear the clips in their own random order without knowing what "
    "made them, and rate them; the results below give the means, intervals and tests a paper would print."
)
if not admin_gate():
    st.stop()

show_flash()
surveys = store.list_surveys()

with st.expander("New survey", expanded=not surveys):
    st.markdown("**Clips**: generated pieces from the library, and real pieces as the hidden reference")
    pieces = pick_library_pieces()
    real = pick_real_pieces()
    created = survey_form(pieces, real)
    if created is not None:
        announce(created)  # reruns, so the list below holds the new survey, selected

if not surveys:
    st.info("No survey yet: pick some clips above and create one.")
    st.stop()

st.subheader("Surveys")
st.dataframe(surveys_frame(surveys), hide_index=True)
survey = select_survey(surveys)
settings = SurveySettings.from_json(survey.settings)
st.caption(
    f"{plain(survey.title)}: {survey.status} · clips of {settings.clip_seconds:g} s · "
    f"asks {', '.join(QUESTIONS[name].label.lower() for name in settings.questions)}"
)
survey_actions(survey)

st.markdown("**Link for participants**")
st.code(share_link(survey.id), language=None)
if survey.status == "draft":
    st.caption("Participants can join once the survey is open.")
elif survey.status == "closed":
    st.caption("The survey is closed: the link shows participants that it takes no more answers.")
else:
    st.caption("Participants see only the survey; the labels of the clips say nothing of where they came from.")

with st.expander("Clips (as the organizer sees them: with their systems)"):
    clip_preview(survey)

st.subheader("Results")
if survey.status == "open":
    st.caption("Live: updated every few seconds while the survey is open.")
live_results(survey)
