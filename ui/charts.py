"""Plotly figures for pieces and datasets (no streamlit here, so they are testable alone)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from pretty_midi import note_number_to_name, program_to_instrument_name

from core.data.piece import END, PITCH, PROGRAM, START, VELOCITY
from core.evaluation.features import FEATURES
from core.evaluation.histograms import INTERVAL_BINS, LENGTH_BIN_NAMES
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


# === Evaluation ===

# Scale degrees as semitones above the estimated tonic (the evaluation's pitch-class histograms are key-relative).
SCALE_DEGREES = ("1", "♭2", "2", "♭3", "3", "4", "♯4", "5", "♭6", "6", "♭7", "7")
# The evaluation's histograms drawn generated-against-real: name -> (bin labels, x-axis title).
EVALUATION_HISTOGRAMS: dict[str, tuple[Sequence[str], str]] = {
    "pitch_class_histogram": (SCALE_DEGREES, "scale degree"),
    "pitch_interval_histogram": (
        [f"{step:+d}" for step in INTERVAL_BINS],
        "melodic interval (semitones; ±12: an octave or more)",
    ),
    "note_length_histogram": (LENGTH_BIN_NAMES, "note length (whole note = 1)"),
    "ioi_histogram": (LENGTH_BIN_NAMES, "time to the next onset (whole note = 1)"),
}
REAL_COLOUR, SYSTEM_COLOUR = "#7f7f7f", "#1f77b4"


def _finite_or_none(values: Sequence[float]) -> list[float | None]:
    """Plotly draws None as a gap; NaN from JSON would be drawn as zero by some traces."""
    return [float(v) if v is not None and np.isfinite(v) else None for v in values]


def interval_bars_figure(
    systems: Sequence[str],
    intervals: Sequence[tuple[float, float, float]],
    title: str,
    reference: tuple[float, float, float] | None = None,
) -> go.Figure:
    """One bar per system at its mean, with its 95% interval as an error bar; the real pieces' mean as a band.

    Args:
        systems: Row names (user text: escaped).
        intervals: Per system, (mean, low, high); NaN where nothing was measured.
        reference: The training pieces' (mean, low, high), drawn as a dashed line in a shaded band.
    """
    means = _finite_or_none([mean for mean, _, _ in intervals])
    above = _finite_or_none([high - mean for mean, _, high in intervals])
    below = _finite_or_none([mean - low for mean, low, _ in intervals])
    figure = go.Figure(
        go.Bar(
            x=[html.escape(name) for name in systems],
            y=means,
            marker_color=SYSTEM_COLOUR,
            error_y={"type": "data", "symmetric": False, "array": above, "arrayminus": below},
            hovertemplate="%{x}: %{y:.3g}<extra></extra>",
        )
    )
    if reference is not None and np.isfinite(reference[0]):
        mean, low, high = reference
        figure.add_hrect(y0=low, y1=high, fillcolor=REAL_COLOUR, opacity=0.15, line_width=0)
        figure.add_hline(y=mean, line_dash="dash", line_color=REAL_COLOUR, annotation_text="training pieces")
    figure.update_layout(title=html.escape(title), yaxis_title="mean (95% interval)", **_COMPACT)
    return figure


def histogram_overlay_figure(name: str, system: str, generated: np.ndarray, real: np.ndarray) -> go.Figure:
    """A system's mean histogram beside the real pieces' one.

    Args:
        name: A key of :data:`EVALUATION_HISTOGRAMS`.
        system: The system's name (user text: escaped).
        generated: Its mean histogram, shape=(bins,).
        real: The training pieces' mean histogram, shape=(bins,).
    """
    labels, x_title = EVALUATION_HISTOGRAMS[name]
    figure = go.Figure()
    figure.add_bar(x=list(labels), y=_finite_or_none(real), name="training pieces", marker_color=REAL_COLOUR)
    figure.add_bar(x=list(labels), y=_finite_or_none(generated), name=html.escape(system), marker_color=SYSTEM_COLOUR)
    figure.update_layout(
        title=FEATURES[name].label,
        xaxis_title=x_title,
        yaxis_title="share",
        barmode="group",
        legend={"orientation": "h", "y": -0.3},
        **{**_COMPACT, "height": 340},
    )
    figure.update_xaxes(type="category")
    return figure


def transition_heatmap_figure(matrix: np.ndarray, title: str) -> go.Figure:
    """Scale-degree transitions of a melody's top line: share of steps from a row's degree to a column's.

    Args:
        matrix: shape=(12, 12), rows the degree left, columns the degree reached; NaN: not measured.
        title: The system's name (user text: escaped).
    """
    values = np.asarray(matrix, dtype=float)
    figure = go.Figure(
        go.Heatmap(
            z=np.where(np.isfinite(values), values, None),
            x=list(SCALE_DEGREES),
            y=list(SCALE_DEGREES),
            zmin=0,
            colorscale="Blues",
            showscale=False,
            hovertemplate="%{y} to %{x}: %{z:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        title=html.escape(title),
        xaxis_title="to",
        yaxis_title="from",
        **{**_COMPACT, "height": 320},
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(type="category", autorange="reversed")
    return figure
