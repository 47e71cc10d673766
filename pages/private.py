"""What a visitor who has not signed in sees while a listening test is open: nothing of the pieces, a sign-in.

The library, the datasets and the models would tell a participant which clip came from where.
"""

import streamlit as st

from ui.auth import sign_in_form

st.title("🎼 NeuroTune")
st.info(
    "A listening test is running on this app, so its pieces, datasets and models are hidden from visitors "
    "until it closes. Participants: open the link you were given.",
    icon="🎧",
)
sign_in_form("Seeing the rest of the app", "private")
