"""Plotly figures for pieces and datasets (no streamlit here, so they are testable alone)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from pretty_midi import note_number_to_name, program_to_instrument_name

from core.data.piece import END, IS_DRUM, PITCH, PROGRAM, START, VELOCITY
from core.evaluation.features import FEATURES
from core.evaluation.histograms import INTERVAL_BINS, LENGTH_BIN_NAMES
from core.generation.postprocess import assign_voices
from core.music.theory import PITCH_CLASS_NAMES

_COMPACT = {"margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "height": 300}


# === Piano roll ===

# Colour-blind-safe (Okabe-Ito, without its black and yellow, which vanish on one theme or the other),
# then Tol's olive and wine; more voices than this reuse them in order.
VOICE_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999933", "#882255")
DRUM_COLOUR = "#7F7F7F"
# A texture of at most this many simultaneous notes is read as voices, top to bottom (a chorale);
# a thicker one (a piano piece) has no voices to show and is drawn in its instrument's colour.
MAX_READ_VOICES = 4
# Share of notes that may sound above that many others (a divided voice in a final chord) and still
# leave the texture read as voices.
EXTRA_VOICE_TOLERANCE = 0.02
SATB = ("Soprano", "Alto", "Tenor", "Bass")


def _voice_names(count: int) -> list[str]:
    """Voices top to bottom, as the Generate page numbers them (voice 1 the highest)."""
    if count == len(SATB):
        return list(SATB)
    names = [f"Voice {number}" for number in range(1, count + 1)]
    if count > 1:
        names[0], names[-1] = f"{names[0]} (top)", f"{names[-1]} (bottom)"
    return names


def _instrument(program: int) -> str:
    return program_to_instrument_name(int(program))


def note_voices(notes: np.ndarray, programs: Sequence[int] | None = None) -> tuple[np.ndarray, list[str]]:
    """Group notes into the voices or instruments a musician reads in them.

    A notes array keeps each note's GM program but not its MIDI track, so four voices on one piano are
    told apart by pitch: a note's voice is how many notes sounding at its onset are higher
    (:func:`core.generation.postprocess.assign_voices`, the rule the Generate page gives voices their
    instruments by). In order of preference:

    1. ``programs`` given (a composition's instrument per voice, top voice first): that many voices by
       pitch, which recovers exactly the voices the instruments were given to.
    2. Several programs among the notes (a file of several instruments): one group per instrument,
       highest sounding first.
    3. One program and at most :data:`MAX_READ_VOICES` notes at once (all but
       :data:`EXTRA_VOICE_TOLERANCE` of the notes): that many voices by pitch, four named soprano,
       alto, tenor and bass.
    4. Otherwise one group, named by its instrument.

    Drum notes form a last group, "Drums".

    Args:
        notes: shape=(n, 6), columns :data:`core.data.piece.NOTE_COLUMNS`.
        programs: GM program per voice, highest voice first, when the piece's voices are known.

    Returns:
        The group of each note, int, shape=(n,), indexing the names; the names of the groups present,
        top to bottom.
    """
    group = np.zeros(len(notes), dtype=np.int64)
    if len(notes) == 0:
        return group, []
    drums = notes[:, IS_DRUM] != 0
    pitched = notes[~drums]
    names: list[str] = []
    if len(pitched):
        used_programs = np.unique(pitched[:, PROGRAM])
        if programs:
            voice = assign_voices(pitched, len(programs))
            names = _voice_names(len(programs)) if len(programs) > 1 else [_instrument(programs[0])]
            if len(set(programs)) > 1:
                names = [f"{name} ({_instrument(program)})" for name, program in zip(names, programs, strict=True)]
        elif len(used_programs) > 1:
            mean_pitch = [pitched[pitched[:, PROGRAM] == program, PITCH].mean() for program in used_programs]
            order = used_programs[np.argsort(mean_pitch, kind="stable")[::-1]]
            position = {int(program): index for index, program in enumerate(order)}
            voice = np.array([position[int(program)] for program in pitched[:, PROGRAM]], dtype=np.int64)
            names = [_instrument(program) for program in order]
        else:
            rank = assign_voices(pitched, MAX_READ_VOICES + 1)
            fitting = [
                count for count in range(2, MAX_READ_VOICES + 1) if np.mean(rank >= count) <= EXTRA_VOICE_TOLERANCE
            ]
            if fitting and rank.max() > 0:
                voice = np.minimum(rank, fitting[0] - 1)
                names = _voice_names(fitting[0])
            else:
                voice = np.zeros(len(pitched), dtype=np.int64)
                names = [_instrument(used_programs[0])]
        present = np.unique(voice)  # a voice that never sounds takes no colour and no legend entry
        group[~drums] = np.searchsorted(present, voice)
        names = [names[index] for index in present]
    if drums.any():
        group[drums] = len(names)
        names.append("Drums")
    return group, names


def voice_colours(names: Sequence[str]) -> list[str]:
    """A colour per group of :func:`note_voices`, grey for the drums."""
    return [
        DRUM_COLOUR if name == "Drums" else VOICE_COLOURS[index % len(VOICE_COLOURS)]
        for index, name in enumerate(names)
    ]


def quarters_per_bar(time_signature: tuple[int, int]) -> float:
    numerator, denominator = time_signature
    if numerator < 1 or denominator < 1:
        raise ValueError(f"a time signature needs a positive numerator and denominator, got {time_signature}")
    return 4 * numerator / denominator


def bar_lines(num_steps: int, steps_per_quarter: int, time_signature: tuple[int, int] = (4, 4)) -> np.ndarray:
    """Where bars start, in quarter notes, from the first to the line closing the last bar.

    Args:
        num_steps: The piece's length in steps (its last note's end).
        time_signature: (numerator, denominator); one bar lasts ``4 * numerator / denominator`` quarters.

    Returns:
        float, shape=(bars + 1,); ``[0.0, 4.0]`` for an empty or one-bar piece in 4/4.
    """
    bar = quarters_per_bar(time_signature)
    bars = max(1, math.ceil(num_steps / steps_per_quarter / bar - 1e-9))
    return bar * np.arange(bars + 1)


def bar_number_step(bars: int, most: int = 16) -> int:
    """Number every bar, or every 2nd, 4th, ... so that at most ``most`` of ``bars`` bars carry a number."""
    step = 1
    while bars / step > most:
        step *= 2
    return step


def note_labels(
    notes: np.ndarray, names: Sequence[str], group: np.ndarray, steps_per_quarter: int, time_signature: tuple[int, int]
) -> list[str]:
    """What hovering a note says: its name, its voice and where it starts, e.g. ``"C4 · Alto · bar 2, beat 3"``.

    Beats count the time signature's unit (eighths in 6/8), from 1.
    """
    bar = quarters_per_bar(time_signature)
    quarters = notes[:, START] / steps_per_quarter
    bar_index = np.floor(quarters / bar + 1e-9)
    beats = (quarters - bar_index * bar) * time_signature[1] / 4 + 1
    return [
        f"{note_number_to_name(int(pitch))} · {names[voice]} · bar {int(number) + 1}, beat {round(beat, 2):g}"
        for pitch, voice, number, beat in zip(notes[:, PITCH], group, bar_index, beats, strict=True)
    ]


def piano_roll_figure(
    notes: np.ndarray,
    steps_per_quarter: int,
    title: str = "Piano roll",
    primer_steps: int = 0,
    *,
    programs: Sequence[int] | None = None,
    time_signature: tuple[int, int] = (4, 4),
) -> go.Figure:
    """Notes as horizontal bars against pitch, one colour and legend entry per voice or instrument, a line per bar.

    Args:
        notes: shape=(n, 6) quantized notes.
        primer_steps: Steps at the start that a composition continued from; marked with a line.
        programs: GM program per voice, top voice first, when known (a composition's); see :func:`note_voices`.
        time_signature: Where the bar lines fall.
    """
    group, names = note_voices(notes, programs)
    labels = note_labels(notes, names, group, steps_per_quarter, time_signature)
    figure = go.Figure()
    for index, (name, colour) in enumerate(zip(names, voice_colours(names), strict=True)):
        rows = np.flatnonzero(group == index)
        figure.add_bar(
            x=(notes[rows, END] - notes[rows, START]) / steps_per_quarter,
            base=notes[rows, START] / steps_per_quarter,
            y=notes[rows, PITCH],
            orientation="h",
            name=name,
            marker_color=colour,
            width=0.9,
            opacity=0.9,
            customdata=np.stack([[labels[row] for row in rows], notes[rows, VELOCITY]], axis=1),
            hovertemplate="%{customdata[0]}<br>%{x:.2f} quarter notes, velocity %{customdata[1]}<extra></extra>",
        )
    bars = bar_lines(int(notes[:, END].max()) if len(notes) else 0, steps_per_quarter, time_signature)
    every = bar_number_step(len(bars) - 1)
    figure.update_layout(
        title=html.escape(title),  # a piece's name is user text; Plotly titles render HTML tags
        xaxis_title="bar",
        yaxis_title="pitch",
        barmode="overlay",
        showlegend=len(names) > 1,
        legend={"title": {"text": "voice"}},
        **{**_COMPACT, "height": 360},
    )
    # A grid line per bar, stronger than the faint one per beat: the bar lines.
    figure.update_xaxes(
        tickmode="array",
        tickvals=bars.tolist(),
        ticktext=[
            str(number + 1) if number % every == 0 and number < len(bars) - 1 else "" for number in range(len(bars))
        ],
        showgrid=True,
        gridcolor="rgba(128, 128, 128, 0.75)",
        gridwidth=1,
        minor={"tick0": 0, "dtick": 4 / time_signature[1], "showgrid": True, "gridcolor": "rgba(128, 128, 128, 0.2)"},
        range=[0, bars[-1]],
    )
    if primer_steps:
        figure.add_vline(x=primer_steps / steps_per_quarter, line_dash="dash", annotation_text="primer ends")
    if len(notes):
        low, high = int(notes[:, PITCH].min()), int(notes[:, PITCH].max())
        ticks = [p for p in range(low - low % 12, high + 1, 12) if p >= low - 12]
        figure.update_yaxes(range=[low - 2, high + 2], tickvals=ticks, ticktext=[note_number_to_name(p) for p in ticks])
    return figure


def _count_axis(counts: Sequence[float]) -> dict:
    """A y-axis of whole counts: small counts get a tick per unit, so no axis reads 0.5 notes or 1.5 pieces."""
    axis = {"tickformat": ",d", "rangemode": "tozero"}
    if max(counts, default=0) <= 10:  # above this Plotly's own steps (2, 5, 10, ...) are whole
        axis["dtick"] = 1
    return axis


def bar_figure(x: Sequence, y: Sequence, title: str, x_title: str, y_title: str = "notes") -> go.Figure:
    """Counts per category, one bar each."""
    counts = [int(count) for count in y]
    figure = go.Figure(go.Bar(x=list(x), y=counts, hovertemplate=f"%{{x}}: %{{y:,d}} {y_title}<extra></extra>"))
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, yaxis=_count_axis(counts), **_COMPACT)
    figure.update_xaxes(type="category")  # "4" and "1.5" are labels here, not positions
    return figure


def _nice_width(span: float, max_bins: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that cuts ``span`` into at most ``max_bins`` bins."""
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            if span / (mantissa * 10**exponent) <= max_bins:
                return mantissa * 10**exponent
        exponent += 1


def binned_counts(values: Sequence[float], max_bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Whole-number values counted in bins of a round width (1, 2, 5, 10, 20, ...).

    Returns:
        The bins' lower edges, float, shape=(bins,), and their counts, int, shape=(bins,); a bin holds
        values in [edge, edge + width), rounded to whole numbers first. Empty arrays for no values.
    """
    numbers = np.rint(np.asarray(values, dtype=float))
    if len(numbers) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    width = _nice_width(numbers.max() + 1 - numbers.min(), max_bins)
    low = math.floor(numbers.min() / width) * width
    index = ((numbers - low) // width).astype(np.int64)
    counts = np.bincount(index)
    return low + width * np.arange(len(counts)), counts


# Up to this many distinct (whole-number) values, spread over less than twice as many whole numbers, are shown
# as one bar each, labelled with the value; so are up to FEW_VALUES values however far apart (two tempos).
MAX_VALUE_BARS = 12
FEW_VALUES = 3


def histogram_figure(
    values: Sequence[float], title: str, x_title: str, y_title: str = "pieces", unit: str = ""
) -> go.Figure:
    """How many values there are of each, rounded to whole numbers.

    A few distinct values close together get a bar each, labelled with the value and ``unit`` (one tempo
    reads as "120 BPM", not as a bin from 119.5 to 120.5); more, or values far apart, fall in round bins
    (:func:`binned_counts`).
    """
    rounded = np.rint(np.asarray(values, dtype=float))
    distinct, counts = np.unique(rounded, return_counts=True)
    close = (
        len(distinct) <= MAX_VALUE_BARS and distinct[-1] - distinct[0] < 2 * MAX_VALUE_BARS if len(distinct) else True
    )
    if len(distinct) <= FEW_VALUES or close:  # eight pieces of 124 to 407 notes read better binned
        return bar_figure([f"{value:g}{unit}" for value in distinct], counts, title, x_title, y_title)
    edges, counts = binned_counts(rounded)
    width = float(edges[1] - edges[0])
    figure = go.Figure(
        go.Bar(
            x=edges + (width - 1) / 2,  # a bin of whole numbers a..a+width-1 is centred on them
            y=counts,
            width=width * 0.95,
            customdata=[f"{edge:g}{unit}" if width == 1 else f"{edge:g}–{edge + width - 1:g}{unit}" for edge in edges],
            hovertemplate=f"%{{customdata}}: %{{y:,d}} {y_title}<extra></extra>",
        )
    )
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, yaxis=_count_axis(counts), **_COMPACT)
    figure.update_xaxes(tickformat=",d")
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
        "tempo": histogram_figure(stats["tempos"], "Tempo", "tempo", unit=" BPM"),
        "key": bar_figure(list(keys), list(keys.values()), "Key (estimated)", "key", "pieces"),
    }


def metric_curves_figure(
    rows: list[dict], names: Sequence[str], title: str, y_title: str, x: str = "step"
) -> go.Figure:
    """Curves of some metrics against the training step or the time; one line per (run, metric).

    Args:
        rows: Metric rows as the store returns them (run_id, step, name, value, logged_at).
        x: ``"step"``, or ``"time"``: minutes since each run's first row was logged (runs of
            different lengths in time side by side; a stopped and resumed run shows its pause).
    """
    figure = go.Figure()
    runs = sorted({r["run_id"] for r in rows})
    for run_id in runs:
        own = [r for r in rows if r["run_id"] == run_id]
        start = min(r["logged_at"] for r in own) if x == "time" else None
        for name in names:
            points = [
                ((r["logged_at"] - start).total_seconds() / 60 if start is not None else r["step"], r["value"])
                for r in own
                if r["name"] == name
            ]
            if points:
                xs, values = zip(*points)
                label = name if len(runs) == 1 else f"{run_id} · {name}"
                mode = "lines+markers" if name.startswith("val_") else "lines"
                figure.add_scatter(x=xs, y=values, mode=mode, name=label)
    x_title = "minutes since the run started" if x == "time" else "step"
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_COMPACT)
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
