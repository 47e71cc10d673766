"""User text (file, dataset, run and piece names, and the errors quoting them) shown as text, never as Markdown.

Streamlit renders Markdown in messages, captions and labels: a file named
``![x](https://...)`` would make every visitor's browser fetch an outside
image. Every name a user chose goes through :func:`plain` on its way to one.
"""

from __future__ import annotations

import re

import streamlit as st

# Every ASCII punctuation mark that Markdown (links, images, emphasis, lists, autolinks: the dots),
# Streamlit's directives (:red[...], :material/...:) or LaTeX ($) give a meaning; CommonMark lets a
# backslash make any of them literal. Quotes, slashes and the like mean nothing and stay readable.
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def plain(text: object) -> str:
    """``text`` escaped so that Markdown shows it character for character, on one line."""
    return _MARKUP.sub(r"\\\1", _CONTROL.sub(" ", str(text)))


def show_error(error: Exception | str) -> None:
    """An error box whose message (which may quote a user's file or dataset name) is shown as text."""
    st.error(plain(error))
