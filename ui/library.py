"""The Library page's views: the filters, the table of pieces and one piece in full.

The tables are plain pandas built from the records (no Streamlit in them); the piano roll that plays
the piece comes from :mod:`ui.piano_roll`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import pandas as pd
import streamlit as st

from core.audio import MIME_TYPES
from core.data.piece import QuantizedPiece
from core.errors import LibraryError, NeuroTuneError
from core.evaluation.metrics import METRIC_LABELS
from core.music.score import read_midi
from core.store.db import PieceRecord
from core.store.library import (
    PieceQuery,
    file_stem,
    flat_settings,
    get_piece,
    model_name,
    piece_audio,
    piece_midi,
    setting_choices,
)
from ui.piano_roll import piano_roll_player
from ui.score import score_view
from ui.text import plain, show_error
from ui.widgets import audio_downloads, playable_audio

# The metrics the table shows; a piece shows them all.
TABLE_METRICS = ("note_density", "pitch_range", "scale_consistency", "tonal_stability")
# The query parameter naming the piece a link opens the Library page on.
PIECE_PARAM = "piece"


def piece_link(piece_id: str) -> str:
    """A link opening the Library page on one piece; relative, so it works under any base URL."""
    return f"library?{PIECE_PARAM}={piece_id}"


def linked_piece() -> PieceRecord | None:
    """The piece a link (:func:`piece_link`) opened the page on, or None; says so when it is gone."""
    piece_id = st.query_params.get(PIECE_PARAM)
    if not piece_id:
        return None
    try:
        return get_piece(piece_id)
    except LibraryError:
        st.warning(f"The linked piece '{plain(piece_id)}' is no longer in the library.")
        return None


def _saved_on(record: PieceRecord) -> date:
    return record.created_at.date()


def filter_form(pieces: Sequence[PieceRecord]) -> PieceQuery:
    """Filters offering the models, datasets, dates and settings these pieces have; returns what they keep."""
    text_column, model_column, dataset_column = st.columns(3)
    text = text_column.text_input("Title contains", key="library-text")
    names = {record.checkpoint: model_name(record) for record in pieces}
    checkpoints = model_column.multiselect("Model", sorted(names, key=names.get), format_func=names.get)
    datasets = dataset_column.multiselect("Dataset", sorted({record.dataset for record in pieces}))
    architecture_column, representation_column, date_column = st.columns(3)
    models = architecture_column.multiselect("Architecture", sorted({record.model for record in pieces}))
    representations = representation_column.multiselect(
        "Representation", sorted({record.representation for record in pieces})
    )
    days = [_saved_on(record) for record in pieces]
    chosen_days = date_column.date_input("Saved between (UTC)", (min(days), max(days)))
    since, until = (*chosen_days, None, None)[:2]  # () or (since,) while a range is being picked
    choices = [(name, value) for name, values in setting_choices(pieces).items() for value in values]
    settings = st.multiselect(
        "Settings",
        choices,
        format_func=lambda pair: f"{pair[0]} = {pair[1]}",
        help="Pieces made with these settings; of several values of one setting, any",
    )
    return PieceQuery(
        checkpoints=tuple(checkpoints),
        models=tuple(models),
        datasets=tuple(datasets),
        representations=tuple(representations),
        since=since,
        until=until,
        text=text,
        settings=tuple(settings),
    )


def _number(value) -> float:
    """A metric for a table cell: NaN (an empty cell) where the store kept null."""
    return float(value) if isinstance(value, int | float) else math.nan


def pieces_frame(pieces: Sequence[PieceRecord]) -> pd.DataFrame:
    """One row per piece: what it is, where it came from, when, how long, and its key metrics."""
    rows = []
    for record in pieces:
        settings = flat_settings(record.parameters)
        rows.append(
            {
                "Title": record.title,
                "Model": model_name(record),
                "Dataset": record.dataset,
                "Saved (UTC)": record.created_at.strftime("%Y-%m-%d %H:%M"),
                "Length (s)": round(record.duration_seconds, 1),
                "Strategy": settings.get("sampling.strategy"),
                "Temperature": _number(settings.get("sampling.temperature")),
                **{METRIC_LABELS[name]: _number(record.metrics.get(name)) for name in TABLE_METRICS},
            }
        )
    return pd.DataFrame(rows)


@st.cache_data(max_entries=64)
def _read(midi: bytes, title: str) -> QuantizedPiece:
    """The piece as its roll and its sheet music draw it (:func:`core.music.score.read_midi`), read once."""
    return read_midi(midi, title)


def show_piece(record: PieceRecord) -> None:
    """A piece in full: where it came from, its piano roll playing with its audio, downloads, settings and metrics."""
    st.subheader(plain(record.title))
    st.caption(
        f"{plain(model_name(record))} ({plain(record.model)}, {plain(record.representation)}) trained on "
        f"{plain(record.dataset)} · seed {record.seed}, variation {record.variation} · "
        f"{record.duration_seconds:.1f} s · saved {record.created_at:%Y-%m-%d %H:%M} UTC"
    )
    try:
        midi = piece_midi(record)
        piece = _read(midi, record.title)
    except NeuroTuneError as error:  # a file gone from the library folder, or damaged
        show_error(error)
        return
    audio, suffix = playable_audio(midi, piece_audio(record))
    mime = MIME_TYPES.get(suffix, "application/octet-stream")
    # The instrument of each voice, top first, tells the voices apart even when they share one.
    programs = record.parameters.get("programs")
    if not (isinstance(programs, list) and all(isinstance(p, int) and 0 <= p <= 127 for p in programs)):
        programs = None  # kept by an older version, or edited: the roll finds the voices itself
    piano_roll_player(
        piece.notes,
        piece.steps_per_quarter,
        piece.tempo_bpm,  # the tempo its audio was rendered at
        audio,
        mime,
        key="library-roll",
        programs=programs,
        time_signature=piece.time_signature,
    )
    audio_downloads(midi, audio, suffix, file_stem(record.title), key="library-piece")
    score_view(piece, record.title, key="library-score")
    settings_column, metrics_column = st.columns(2)
    settings = flat_settings(record.parameters)
    settings_column.dataframe(
        pd.DataFrame({"setting": list(settings), "value": [str(value) for value in settings.values()]}),
        hide_index=True,
    )
    metrics_column.dataframe(
        pd.DataFrame(
            {
                "metric": [METRIC_LABELS.get(name, name) for name in record.metrics],
                "value": [_number(value) for value in record.metrics.values()],
            }
        ),
        hide_index=True,
    )
