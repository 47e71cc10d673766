"""A listening test as a participant takes it, reached by its link (``?survey=<id>``): the router shows nothing else.

Consent, then one clip (or A/B pair) at a time with its questions, each answer stored as it is given;
the participant's token in the link brings them back to where they left off. Never any results.
"""

import streamlit as st

from ui.survey_taking import (
    SURVEY_PARAM,
    TOKEN_PARAM,
    closed_notice,
    consent_and_join,
    load_participation,
    load_survey,
    show_paragraphs,
    take_items,
    thank_you,
)
from ui.text import plain

survey = load_survey(st.query_params.get(SURVEY_PARAM, ""))
if survey is None:
    st.stop()
st.title(f"🎧 {plain(survey.title)}")

token = st.query_params.get(TOKEN_PARAM)
participation = load_participation(survey, token) if token else None
if token and participation is None:
    st.stop()
if participation is not None and participation.finished:
    thank_you()
elif survey.status != "open":
    closed_notice()
elif participation is None:
    consent_and_join(survey)
else:
    if survey.instructions.strip():
        with st.expander("Instructions"):
            show_paragraphs(survey.instructions)
    take_items(survey.id, token)
