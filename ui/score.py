"""The sheet-music view of a piece: its first bars engraved, and the whole score as MusicXML to download.

The view sits in a collapsed expander that tracks its state, so a page listing
several pieces engraves only those a visitor opens; each engraving is cached by
the notes' bytes. The title never enters the SVG (it is engraved without a
header), and the SVG is shown through ``st.image``, an ``<img>`` that runs nothing.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from core.data.piece import NOTE_COLUMNS, QuantizedPiece
from core.errors import NeuroTuneError
from core.music.score import MUSICXML_MIME, MUSICXML_SUFFIX, PREVIEW_BARS, musicxml_bytes, read_midi, score_svg
from core.store.library import file_stem
from ui.text import plain, show_error


@st.cache_data(max_entries=64, show_spinner=False)
def _midi_piece(midi: bytes, title: str) -> QuantizedPiece:
    return read_midi(midi, title)


@st.cache_data(max_entries=64, show_spinner="Engraving the first bars...")
def _first_bars_svg(
    notes: bytes, steps_per_quarter: int, tempo_bpm: float, time_signature: tuple[int, int], key: str, bars: int
) -> str:
    array = np.frombuffer(notes, dtype=np.int32).reshape(-1, len(NOTE_COLUMNS))
    return score_svg(QuantizedPiece("", array, steps_per_quarter, tempo_bpm, time_signature, key), bars)


def score_view(music: QuantizedPiece | bytes, title: str, *, key: str, bars: int = PREVIEW_BARS) -> None:
    """An expander 'Sheet music': the first ``bars`` bars as a score, and a 'Download MusicXML' button.

    Args:
        music: A piece, written as it is: its ``notes`` on its ``steps_per_quarter``, its ``tempo_bpm``,
            ``time_signature`` and ``key`` (``"D minor"``); or a MIDI file, read on the default grid with
            its own tempo and time signature and the key estimated from its notes.
        title: The score's title and the download's file name.
        key: Widget key prefix, unique on the page.
        bars: How many bars the view shows; the download holds the whole piece.
    """
    expander = st.expander("Sheet music", key=f"{key}-sheet-music", on_change="rerun")
    with expander:
        if not expander.open:  # engraving costs a tenth of a second or more: only for an open view
            return
        try:
            piece = _midi_piece(music, title) if isinstance(music, bytes) else replace(music, name=title)
            notes = np.ascontiguousarray(piece.notes, dtype=np.int32).tobytes()
            time_signature = tuple(piece.time_signature)
            svg = _first_bars_svg(notes, piece.steps_per_quarter, piece.tempo_bpm, time_signature, piece.key, bars)
        except NeuroTuneError as error:
            show_error(error)
            return
        st.image(svg, width="stretch")
        st.caption(f"The first {bars} bars, in {plain(piece.key)}; the MusicXML file holds the whole piece.")
        st.download_button(
            "Download MusicXML",
            lambda: musicxml_bytes(piece),  # made when pressed, on Streamlit's own thread
            f"{file_stem(title)}{MUSICXML_SUFFIX}",
            MUSICXML_MIME,
            key=f"{key}-musicxml",
            on_click="ignore",
        )
