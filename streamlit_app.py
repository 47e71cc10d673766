"""NeuroTune's entry point: routing and the shared sidebar only (pages live in pages/, logic in core/)."""

import streamlit as st

from ui.auth import hidden_during_a_listening_test, sidebar_status
from ui.script_runs import no_cleanup_after_runs

st.set_page_config(page_title="NeuroTune", page_icon="🎼", layout="wide")
no_cleanup_after_runs()  # here: it must run inside the server process, under `streamlit run` and AppTest alike

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/dataset.py", title="Dataset", icon="📚", url_path="dataset"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/generate.py", title="Generate", icon="🎹", url_path="generate"),
    st.Page("pages/library.py", title="Library", icon="🗂️", url_path="library"),
    st.Page("pages/evaluate.py", title="Evaluate", icon="📊", url_path="evaluate"),
    st.Page("pages/surveys.py", title="Listening tests", icon="🎧", url_path="surveys"),
]
# A participant's link (``?survey=<id>``) opens the survey and nothing else: no other page, no admin sidebar.
PARTICIPANT_PAGES = [st.Page("pages/take_survey.py", title="Listening test", icon="🎧", default=True)]

# While a listening test is open, a visitor who has not signed in sees none of the pieces it is made of.
PRIVATE_PAGES = [st.Page("pages/private.py", title="Sign in", icon="🔒", default=True)]

if "survey" in st.query_params:
    st.navigation(PARTICIPANT_PAGES, position="hidden").run()
elif hidden_during_a_listening_test():
    st.navigation(PRIVATE_PAGES, position="hidden").run()
else:
    page = st.navigation(PAGES)
    sidebar_status()
    page.run()
