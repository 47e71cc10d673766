"""What Streamlit does after every script run, cut to what this app needs."""

from __future__ import annotations

from streamlit import config
from streamlit.runtime.scriptrunner import script_runner


def no_cleanup_after_runs() -> None:
    """Stop Streamlit's clean-up after each script run: a full garbage collection and a cleared Keras session.

    Both are meant for apps that build a new model on every run. This app builds none in a run: the models it
    composes with are cached resources. With the shipped model loaded, each costs about 0.2 s of CPU on every
    click (a composition costs 0.015 s), more once several models are loaded; and clearing the session resets
    Keras' global state under a background compile that may be using it. A model the app drops is freed when
    the next one loads (:func:`core.generation.loading.load_checkpoint`). The session clearing has no setting,
    so Streamlit's private hook is replaced (its other half closes matplotlib figures, which this app never
    opens); Streamlit is pinned, and tests/test_pages.py fails if an upgrade clears the session again.
    """
    config.set_option("runner.postScriptGC", False)
    script_runner._clean_problem_modules = _nothing_to_clean


def _nothing_to_clean() -> None:
    """This app keeps no per-run state in Keras or matplotlib for Streamlit to clear."""
