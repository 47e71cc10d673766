"""The admin sign-in shared by every page: actions that change state or cost a lot ask for it.

With no ``NEUROTUNE_ADMIN_PASSWORD`` the app serves this machine only (see
``python -m core serve``) and everything is open; with one, a session must
sign in first. The session keeps a fingerprint of the password, not the
password, so changing it signs everybody out.
"""

from __future__ import annotations

import math
import time

import streamlit as st

from core.access import SIGN_IN_THROTTLE, password_fingerprint, password_matches
from core.settings import PASSWORD_VARIABLE, get_settings

_SESSION_KEY = "admin-fingerprint"


def _password() -> str | None:
    return get_settings().admin_password


def is_admin() -> bool:
    """Whether this session may change state: no password is set, or it signed in with the current one."""
    password = _password()
    if not password:
        return True
    remembered = st.session_state.get(_SESSION_KEY)
    return remembered is not None and password_matches(remembered, password_fingerprint(password))


def may_compose() -> bool:
    """Composing costs CPU: open to everyone only if the organizer said so (``NEUROTUNE_OPEN_COMPOSE=1``)."""
    return get_settings().open_compose or is_admin()


def sign_in_form(action: str, key: str) -> None:
    """A password box in place of the controls for ``action`` (e.g. "Building a dataset")."""
    st.info(f"{action} needs the admin password ({PASSWORD_VARIABLE}).", icon="🔒")
    with st.form(key=f"sign-in-{key}", clear_on_submit=True):
        given = st.text_input("Admin password", type="password", key=f"password-{key}")
        if st.form_submit_button("Sign in"):
            locked = SIGN_IN_THROTTLE.locked_for()
            if locked:
                st.error(f"Too many wrong passwords: sign-in is closed for {math.ceil(locked / 60)} more minutes.")
                return
            password = _password()
            if password and password_matches(given, password):
                st.session_state[_SESSION_KEY] = password_fingerprint(password)
                st.rerun()
            time.sleep(SIGN_IN_THROTTLE.record_failure())
            st.error("Wrong password.")


def require_admin(action: str, key: str) -> bool:
    """True when the session may do ``action``; otherwise shows the sign-in form and returns False."""
    if is_admin():
        return True
    sign_in_form(action, key)
    return False


def hidden_during_a_listening_test() -> bool:
    """Whether this session sees only a sign-in: a password guards the app, the session has not signed in,
    and a listening test is open (its participants could otherwise look up which piece each clip is)."""
    if not _password() or is_admin():
        return False
    # Imported here: the database layer costs half a second, and an open app never needs it for this.
    from core.store.surveys import any_survey_open

    return any_survey_open()


def sidebar_status() -> None:
    """Signed-in state and a sign-out button, in the shared sidebar (only when a password guards the app)."""
    if not _password():
        return
    if is_admin():
        st.sidebar.caption("🔓 Signed in as admin")
        if st.sidebar.button("Sign out", key="sign-out"):
            st.session_state.pop(_SESSION_KEY, None)
            st.rerun()
    else:
        st.sidebar.caption("🔒 Changes need the admin password")
