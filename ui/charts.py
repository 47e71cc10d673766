"""Plotly figures for pieces and datasets (no streamlit here, so they are testable alone)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from pretty_midi import note_number_to_name, program_to_instrument_name

from core.data.piece import END, PITCH, PROGRAM, START, VELOCITY
from core.music.theory import PITCH_CLASS_NAMES

_COMPACT = {"margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "height": 300}


def piano_roll_figure(
    notes: np.ndarray, steps_per_quarter: int, title: str = "Piano roll", primer_steps: int = 0
) -> go.Figure:
    """Notes as horizontal bars (time in quarter notes against pitch), one colour per voice/program.

    Args:
        notes: shape=(n, 6) quantized notes.
        primer_steps: Steps at the start that a composition continued from; marked with a line.
    """
    figure = go.Figure()
    voices = np.unique(notes[:, PROGRAM]) if len(notes) else []
    for voice in voices:
        rows = notes[notes[:, PROGRAM] == voice]
        starts = rows[:, START] / steps_per_quarter
        lengths = (rows[:, END] - rows[:, START]) / steps_per_quarter
        figure.add_bar(
            x=lengths,
            base=starts,
            y=rows[:, PITCH],
            orientation="h",
            name=program_to_instrument_name(int(voice)),
            width=0.9,
            opacity=0.85,
            customdata=np.stack([[note_number_to_name(p) for p in rows[:, PITCH]], rows[:, VELOCITY]], axis=1),
            hovertemplate="%{customdata[0]} at beat %{base:.2f}, %{x:.2f} beats, velocity %{customdata[1]}",
        )
    figure.update_layout(
        title=html.escape(title),  # a piece's name is user text; Plotly titles render HTML tags
        xaxis_title="time (quarter notes)",
        yaxis_title="pitch",
        barmode="overlay",
        showlegend=len(voices) > 1,
        **{**_COMPACT, "height": 360},
    )
    if primer_steps:
        figure.add_vline(x=primer_steps / steps_per_quarter, line_dash="dash", annotation_text="primer ends")
    if len(notes):
        low, high = int(notes[:, PITCH].min()), int(notes[:, PITCH].max())
        ticks = [p for p in range(low - low % 12, high + 1, 12) if p >= low - 12]
        figure.update_yaxes(range=[low - 2, high + 2], tickvals=ticks, ticktext=[note_number_to_name(p) for p in ticks])
    return figure


def bar_figure(x: Sequence, y: Sequence, title: str, x_title: str, y_title: str = "notes") -> go.Figure:
    figure = go.Figure(go.Bar(x=list(x), y=list(y)))
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_COMPACT)
    return figure


def histogram_figure(values: Sequence[float], title: str, x_title: str, y_title: str = "pieces") -> go.Figure:
    figure = go.Figure(go.Histogram(x=list(values), nbinsx=30))
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_COMPACT)
    return figure


def dataset_figures(stats: dict) -> dict[str, go.Figure]:
    """Every statistics chart of the Dataset page, keyed by a short name."""
    pitches = np.asarray(stats["pitch_histogram"])
    used = np.nonzero(pitches)[0]
    low, high = (int(used.min()), int(used.max())) if len(used) else (0, 127)
    spq = stats.get("steps_per_quarter") or 4
    durations = stats["duration_histogram"]
    keys = stats["keys"]
    return {
        "pitch": bar_figure(
            [note_number_to_name(p) for p in range(low, high + 1)], pitches[low : high + 1], "Pitch histogram", "pitch"
        ),
        "pitch_class": bar_figure(
            PITCH_CLASS_NAMES, stats["pitch_class_histogram"], "Pitch-class histogram", "pitch class"
        ),
        "duration": bar_figure(
            [f"{(i + 1) / spq:g}" for i in range(len(durations))],
            durations,
            "Note durations",
            "quarter notes (last bar: longer)",
        ),
        "notes_per_piece": histogram_figure(stats["notes_per_piece"], "Notes per piece", "notes"),
        "tempo": histogram_figure(stats["tempos"], "Tempo", "BPM"),
        "key": bar_figure(list(keys), list(keys.values()), "Key (estimated)", "key", "pieces"),
    }


def metric_curves_figure(rows: list[dict], names: Sequence[str], title: str, y_title: str) -> go.Figure:
    """Curves of some metrics against the training step; one line per (run, metric).

    Args:
        rows: Metric rows as the store returns them (run_id, step, name, value).
    """
    figure = go.Figure()
    runs = sorted({r["run_id"] for r in rows})
    for run_id in runs:
        for name in names:
            points = [(r["step"], r["value"]) for r in rows if r["run_id"] == run_id and r["name"] == name]
            if points:
                steps, values = zip(*points)
                label = name if len(runs) == 1 else f"{run_id} · {name}"
                mode = "lines+markers" if name.startswith("val_") else "lines"
                figure.add_scatter(x=steps, y=values, mode=mode, name=label)
    figure.update_layout(title=title, xaxis_title="step", yaxis_title=y_title, **_COMPACT)
    return figure
