"""The Evaluate page's result view: leaderboard, the papers' words, charts, originality and downloads.

Everything here reads a finished :class:`~core.evaluation.evaluate.EvaluationResult`; the
figures come from :mod:`ui.charts`, the tables are plain pandas (built by functions that
need no Streamlit, so they are tested alone).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import streamlit as st

from core.data.midi_io import midi_to_bytes
from core.data.piece import notes_to_midi
from core.evaluation.evaluate import PAPER_TERMS, SUMMARY_FIGURES, EvaluationResult
from core.evaluation.features import FEATURES, GROUPS, SCALARS
from core.evaluation.jobs import leaderboard_csv
from core.evaluation.likelihood import PUBLISHED_JSB_FRAME_NLL
from ui.charts import (
    EVALUATION_HISTOGRAMS,
    histogram_overlay_figure,
    interval_bars_figure,
    transition_heatmap_figure,
)
from ui.library import piece_link
from ui.text import plain
from ui.widgets import audio_player

BEST_STYLE = "background-color: rgba(46, 160, 67, 0.25); font-weight: bold"
_ARROWS = {True: " ↑", False: " ↓", None: ""}


def figure_label(name: str) -> str:
    """A leaderboard figure's or a feature's name for people, with ↑ (higher is better) or ↓ for ranked ones."""
    if name in SUMMARY_FIGURES:
        label, higher = SUMMARY_FIGURES[name]
        return label + _ARROWS[higher]
    return FEATURES[name].label


def leaderboard_frame(result: EvaluationResult) -> pd.DataFrame:
    """One row per system, one column per summary figure (columns no system has are left out)."""
    frame = pd.DataFrame(result.leaderboard()).set_index("system")
    frame = frame.drop(columns=[name for name in SUMMARY_FIGURES if frame[name].isna().all()])
    frame.index.name = "System"
    frame = frame.rename(columns={"kind": "Kind", "pieces": "Pieces"})
    return frame.rename(columns={name: figure_label(name) for name in SUMMARY_FIGURES})


def styled_leaderboard(result: EvaluationResult):
    """:func:`leaderboard_frame` with the best system of each ranked column highlighted."""
    frame = leaderboard_frame(result)
    best = {figure_label(name): system for name, system in result.best().items()}

    def highlight(column: pd.Series) -> list[str]:
        return [BEST_STYLE if best.get(column.name) == system else "" for system in column.index]

    numbers = [column for column in frame.columns if column not in ("Kind", "Pieces")]
    return frame.style.apply(highlight, axis=0).format("{:.3f}", subset=numbers, na_rep="–")


def paper_terms_frame() -> pd.DataFrame:
    """Which figures stand for each of the design papers' words, and what they measure."""
    return pd.DataFrame(
        [
            {
                "The papers' words": term,
                "Figures": ", ".join(figure_label(name) for name in entry["figures"]),
                "What they measure": entry["meaning"],
            }
            for term, entry in PAPER_TERMS.items()
        ]
    )


def frame_nll_frame(result: EvaluationResult) -> pd.DataFrame:
    """Every checkpoint's held-out frame NLL (whole pieces), then the published figures; empty without a checkpoint's."""
    ours = [
        {
            "Model": system.name,
            "Frame NLL (nats/frame)": system.likelihood["frame_nll"],
            "Source": f"this dataset, {system.likelihood['frame_nll_split']} split",
        }
        for system in result.systems
        if (system.likelihood or {}).get("frame_nll") is not None
    ]
    if not ours:
        return pd.DataFrame()
    published = [
        {"Model": name, "Frame NLL (nats/frame)": value, "Source": "published, JSB Chorales"}
        for name, value in PUBLISHED_JSB_FRAME_NLL.items()
    ]
    return pd.DataFrame(ours + published)


def originality_frame(result: EvaluationResult) -> pd.DataFrame:
    """Every piece's longest melody also in the training set, longest first; library pieces link to the Library.

    The ``Library`` column (a link opening the piece there, None for pieces not in it) is there only when
    some row is a library selection.
    """
    rows = [
        {
            "System": row["system"],
            "Piece": row["piece"],
            "Name": row["piece_name"],
            "Copied (bars)": row["bars"],
            "Notes": row["notes"],
            "Found in": row["source"],
            "Copies": "⚠ yes" if row["copied"] else "",
            "Library": piece_link(row["piece_id"]) if row["piece_id"] else None,
        }
        for row in result.originality()
    ]
    frame = pd.DataFrame(rows)
    if "Library" in frame and frame["Library"].isna().all():
        frame = frame.drop(columns="Library")
    return frame


def piece_midi(result: EvaluationResult, system: str, piece: int, steps_per_quarter: int) -> bytes:
    """A measured piece (1-based ``piece`` of ``system``) as a MIDI file."""
    notes = result.system(system).notes[piece - 1]
    return midi_to_bytes(notes_to_midi(notes, steps_per_quarter))


def _settings_caption(result: EvaluationResult) -> str:
    settings, sampling = result.settings, result.settings.sampling
    cached = " (stored result)" if result.cached else ""
    return (
        f"Dataset {plain(result.dataset)}, {settings.n} pieces per system of {settings.bars:g} bars, seed "
        f"{settings.seed}, sampling {plain(sampling.strategy)} at temperature {sampling.temperature:g}; compared "
        f"with {result.reference_pieces} training pieces. Computed {plain(result.created_at)} in "
        f"{result.timings.get('total', math.nan):.1f} s{cached}."
    )


def show_result(result: EvaluationResult, steps_per_quarter: int) -> None:
    """Every section of a finished evaluation.

    Args:
        steps_per_quarter: The dataset's grid, to play its pieces.
    """
    st.subheader("Leaderboard")
    st.caption(_settings_caption(result))
    for system in result.systems:
        for warning in system.warnings:
            st.warning(plain(warning))
    st.dataframe(styled_leaderboard(result), key="leaderboard")
    st.caption(
        "Each figure sets a system's pieces against the training pieces (Yang and Lerch 2018): ↑ higher is "
        "better, ↓ lower is better; the best of each is highlighted. The held-out real pieces are the ceiling, "
        "random notes the floor. Click a column to sort."
    )
    left, right = st.columns(2)
    left.download_button("Download CSV", leaderboard_csv(result.leaderboard()), "leaderboard.csv", "text/csv")
    right.download_button(
        "Download JSON", json.dumps(result.to_json()), "evaluation.json", "application/json", key="json"
    )
    frame_nll = frame_nll_frame(result)
    if len(frame_nll):
        st.caption(
            "Frame NLL beside published figures on JSB Chorales (Boulanger-Lewandowski et al. 2012, Bai et al. "
            "2018): theirs on the chorales' test split at one frame per quarter note, ours on this dataset's "
            f"held-out pieces at {steps_per_quarter} per quarter. Comparable only on that grid, and then for "
            "the order of magnitude: the splits differ."
        )
        st.dataframe(frame_nll, hide_index=True, key="frame-nll")

    st.subheader("What the papers' words mean here")
    st.table(paper_terms_frame().set_index("The papers' words"))

    st.subheader("Metrics, with 95% intervals")
    names = [system.name for system in result.systems]
    for group, tab in zip(GROUPS, st.tabs([group.capitalize() for group in GROUPS])):
        with tab:
            columns = st.columns(2)
            group_features = [name for name in SCALARS if FEATURES[name].group == group]
            for index, name in enumerate(group_features):
                figure = interval_bars_figure(
                    names,
                    [result.system(system).intervals[name] for system in names],
                    FEATURES[name].label,
                    reference=result.reference_intervals.get(name),
                )
                columns[index % 2].plotly_chart(figure, key=f"metric-{name}")

    st.subheader("Generated against real")
    _histograms(result)
    st.caption("Scale-degree transitions of each system's top line (share of steps from a row's degree to a column's)")
    heatmaps = [("Training pieces", result.reference_histograms["pitch_class_transitions"])]
    heatmaps += [(s.name, s.histograms["pitch_class_transitions"]) for s in result.systems]
    columns = st.columns(3)
    for index, (title, matrix) in enumerate(heatmaps):
        columns[index % 3].plotly_chart(transition_heatmap_figure(matrix, title), key=f"transitions-{index}")

    st.subheader("Originality")
    flag = result.settings.copy_flag_bars
    table = originality_frame(result)
    copies = table[table["Copies"] != ""]
    st.caption(
        f"Each piece's longest melody (as intervals, so in any key) that also occurs in a training piece; "
        f"{len(copies)} of {len(table)} pieces copy {flag:g} bars or more."
    )
    library = st.column_config.LinkColumn("Library", help="Open the piece on the Library page", display_text="Open")
    st.dataframe(table, hide_index=True, key="originality", column_config={"Library": library})
    _listen(result, copies if len(copies) else table.head(10), bool(len(copies)), steps_per_quarter)


@st.fragment
def _histograms(result: EvaluationResult) -> None:
    """A system's histograms over the real pieces'; choosing another system redraws only these."""
    names = [system.name for system in result.systems]
    system = st.selectbox("System", names, key="histogram-system")  # options show as text, not Markdown
    columns = st.columns(2)
    for index, name in enumerate(EVALUATION_HISTOGRAMS):
        figure = histogram_overlay_figure(
            name, system, result.system(system).histograms[name], result.reference_histograms[name]
        )
        columns[index % 2].plotly_chart(figure, key=f"histogram-{name}")


@st.fragment
def _listen(result: EvaluationResult, listen: pd.DataFrame, copying: bool, steps_per_quarter: int) -> None:
    """A player for one of the pieces of the originality table; choosing another redraws only this."""
    choice = st.selectbox(
        "Listen to a piece that copies" if copying else "Listen to a piece (none copies; longest runs first)",
        range(len(listen)),
        format_func=lambda i: f"{listen.iloc[i]['Name']} ({listen.iloc[i]['Copied (bars)']:g} bars copied)",
        key="listen-piece",
    )
    if choice is not None:
        row = listen.iloc[choice]
        midi = piece_midi(result, row["System"], int(row["Piece"]), steps_per_quarter)
        audio_player(midi, f"evaluation-piece-{int(row['Piece'])}", key="listen")
