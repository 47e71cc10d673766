"""The Library page (AppTest): pieces saved here with tiny MIDI are listed, filtered, shown, renamed and deleted."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.store import library
from tests.conftest import scale_piece
from ui.text import plain

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
PAGE = "pages/library.py"
PASSWORD = "library secret"
GUARDED = {"Rename", "Delete piece"}


def save(title: str, checkpoint: str = "checkpoints/bach-lstm", **overrides: Any):
    fields: dict[str, Any] = {
        "title": title,
        "checkpoint": checkpoint,
        "model": "lstm",
        "dataset": "bach-chorales",
        "representation": "events",
        "parameters": {"sampling": {"strategy": "sample", "temperature": 0.9}, "bars": 2},
        "seed": 7,
        "variation": 1,
        "midi": scale_piece(length=8),
        "audio": b"OggS not decoded here",
        "audio_suffix": ".ogg",
        "metrics": {"note_density": 4.0, "pitch_range": 10},
        "duration_seconds": 2.0,
    }
    return library.save_piece(**{**fields, **overrides})


@pytest.fixture
def pieces():
    """Three pieces, newest first: two from the Bach model, one from a folk model."""
    first = save("Chorale in D minor")
    folk = save(
        "Reel in G",
        checkpoint="checkpoints/folk-transformer",
        model="transformer",
        dataset="irish",
        parameters={"sampling": {"strategy": "top_p", "temperature": 1.1}, "bars": 4},
    )
    second = save("Chorale in F major", audio=None)
    return [second, folk, first]


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def listed(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Title"])


def test_an_empty_library_points_to_the_generate_page():
    at = open_page()
    assert any("The library is empty" in info.value for info in at.info)
    assert not at.dataframe


def test_every_piece_is_listed_and_the_first_is_shown_in_full(pieces):
    at = open_page()
    assert listed(at) == [piece.title for piece in pieces]
    table = at.dataframe[0].value
    assert list(table["Model"]) == ["bach-lstm", "folk-transformer", "bach-lstm"]
    assert list(table["Strategy"]) == ["sample", "top_p", "sample"]
    assert any(c.value == "3 of 3 pieces" for c in at.caption)
    assert next(s for s in at.selectbox if s.label == "Piece").value == pieces[0].id
    assert at.subheader[0].value == plain("Chorale in F major")
    (player,) = [element for element in at.main if element.type == "bidi_component"]  # roll and audio in one
    assert player.proto.component_name == "neurotune.piano_roll_player"
    # Kept without audio: played from a WAV rendered now; no compressed download.
    downloads = {d.proto.label for d in at.get("download_button")}
    assert downloads == {"Download the 3 listed as a zip", "Download MIDI", "Download WAV"}
    next(s for s in at.selectbox if s.label == "Piece").set_value(pieces[1].id).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == plain("Reel in G")
    assert "Download OGG" in {d.proto.label for d in at.get("download_button")}  # kept as Ogg Vorbis


def test_filters_narrow_the_list(pieces):
    at = open_page()
    at.text_input(key="library-text").set_value("chorale").run()
    assert listed(at) == ["Chorale in F major", "Chorale in D minor"]
    assert any(c.value == "2 of 3 pieces" for c in at.caption)
    at.text_input(key="library-text").set_value("").run()
    next(m for m in at.multiselect if m.label == "Model").set_value(["checkpoints/folk-transformer"]).run()
    assert listed(at) == ["Reel in G"]
    next(m for m in at.multiselect if m.label == "Model").set_value([]).run()
    settings = next(m for m in at.multiselect if m.label == "Settings")
    assert "sampling.strategy = top_p" in settings.options and "bars = 4" in settings.options
    settings.set_value([("sampling.strategy", "sample")]).run()
    assert listed(at) == ["Chorale in F major", "Chorale in D minor"]
    saved = next(d for d in at.date_input if d.label == "Saved between (UTC)")
    saved.set_value((date(2020, 1, 1), date(2020, 1, 31))).run()
    assert not at.exception, at.exception
    assert any("No piece matches these filters" in info.value for info in at.info)


def test_selected_rows_are_the_zip_and_the_pieces_to_pick_from_and_a_link_opens_one(pieces):
    at = open_page()
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": [0, 2], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert "Download the 2 selected as a zip" in {d.proto.label for d in at.get("download_button")}
    assert next(s for s in at.selectbox if s.label == "Piece").options == ["Chorale in F major", "Chorale in D minor"]
    at.query_params["piece"] = pieces[1].id  # a link from the Evaluate page: shown first, selected or not
    at.run()
    assert next(s for s in at.selectbox if s.label == "Piece").options[0] == "Reel in G"
    assert at.subheader[0].value == plain("Reel in G")
    at.query_params["piece"] = "deleted"
    assert any("no longer in the library" in warning.value for warning in at.run().warning)


def test_rename_and_delete_with_a_confirmation(pieces):
    at = open_page()
    at.text_input(key=f"title-{pieces[0].id}").set_value("Reel in G").run()
    button(at, "Rename").click().run()
    assert any("another piece is already called" in error.value for error in at.error)
    at.text_input(key=f"title-{pieces[0].id}").set_value("**Sunrise** [x](https://example.com)").run()
    button(at, "Rename").click().run()
    assert not at.exception, at.exception
    assert library.get_piece(pieces[0].id).title == "**Sunrise** [x](https://example.com)"
    assert at.subheader[0].value == plain("**Sunrise** [x](https://example.com)")  # shown as text
    assert button(at, "Delete piece").disabled  # not before the box is ticked
    at.checkbox(key=f"sure-{pieces[0].id}").check().run()
    button(at, "Delete piece").click().run()
    assert not at.exception, at.exception
    assert [piece.id for piece in library.list_pieces()] == [pieces[1].id, pieces[2].id]
    assert not Path(pieces[0].midi_path).parent.exists()
    assert listed(at) == ["Reel in G", "Chorale in D minor"]


def test_with_a_password_a_visitor_browses_but_only_the_admin_renames_and_deletes(monkeypatch, pieces):
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", PASSWORD)
    at = open_page()
    assert listed(at) == [piece.title for piece in pieces]  # browsing, listening and downloading stay open
    assert GUARDED.isdisjoint(b.label for b in at.button)
    assert any("Renaming or deleting a piece needs the admin password" in info.value for info in at.info)
    at.text_input(key="password-library").set_value(PASSWORD)
    button(at, "Sign in").click().run()
    assert not at.exception, at.exception
    assert {b.label for b in at.button} >= GUARDED
    at.text_input(key=f"title-{pieces[0].id}").set_value("Renamed by the admin").run()
    button(at, "Rename").click().run()
    assert library.get_piece(pieces[0].id).title == "Renamed by the admin"
