"""Generate page: pick a checkpoint, turn a few knobs, press Compose, listen (logic in core.generation)."""

from dataclasses import fields, replace

import pandas as pd
import pretty_midi
import streamlit as st

from core.checkpoints import list_checkpoints
from core.data.conditioning import DEFAULT_TONICS, DENSITIES, MODES, MOODS
from core.data.datasets import list_datasets, load_dataset
from core.errors import NeuroTuneError
from core.evaluation.metrics import METRIC_LABELS
from core.generation.compose import BEATS_PER_BAR, DEFAULT_GUIDANCE, Composer, CompositionRequest, save_composition
from core.generation.primer import NOTE_TEXT_EXAMPLE, first_bars, parse_note_text, primer_from_midi, rescale_grid
from core.generation.sampling import SampleConfig, form_fields_for, unused_settings
from core.music.theory import PITCH_CLASS_NAMES, SCALES, TONICS
from ui.auth import may_compose, sign_in_form
from ui.charts import piano_roll_figure
from ui.forms import dataclass_form
from ui.text import plain, show_error
from ui.widgets import audio_player, library_audio

INSTRUMENTS = [pretty_midi.program_to_instrument_name(program) for program in range(128)]
# Where the page starts: two pieces to compare, and a nucleus that keeps the unlikeliest tokens out;
# a checkpoint's measured defaults (its compose_defaults) override these.
PAGE_SAMPLING = SampleConfig(top_p=0.95, variations=2)
PRIMERS = ("None", "Dataset excerpt", "Upload MIDI", "Type notes")
SAMPLING_FIELDS = {item.name for item in fields(SampleConfig)}


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def load_composer(path: str, modified: float) -> Composer:
    """One loaded model per checkpoint file version: ``modified`` makes a retrained checkpoint reload."""
    return Composer.load(path)


st.title("🎹 Generate")
checkpoints = list_checkpoints()
if not checkpoints:
    st.info("No trained model yet: train one on the Train page (or run `make run`, which ships one).")
    st.stop()
# Chosen by folder under a fixed key: a training run's label changes with each validation, which must not
# reset the choice while the page is open.
by_path = {str(checkpoint.path): checkpoint for checkpoint in checkpoints}
info = by_path[st.selectbox("Model", list(by_path), format_func=lambda path: by_path[path].label, key="model")]
a, b, c, d, e = st.columns(5)
a.metric("Architecture", plain(info.model))
b.metric("Dataset", plain(info.dataset))
c.metric("Representation", plain(info.representation))
d.metric(info.monitor_label.capitalize(), f"{info.val_loss:.3f}" if info.val_loss is not None else "-")
e.metric("Saved", f"{info.created:%Y-%m-%d}", help=f"{info.epochs} epochs" + (", shipped" if info.shipped else ""))
if not may_compose():  # loading a model costs memory and seconds: not for visitors who cannot compose
    sign_in_form("Composing", "compose")
    st.stop()
try:
    composer = load_composer(str(info.path), info.folder.model.stat().st_mtime)
except NeuroTuneError as error:
    show_error(error)
    st.stop()

defaults = composer.defaults
head = composer.head  # a GAN composes from noise: no primer, no steering, its own strategies
# Widgets are keyed per checkpoint, so each model starts from its own measured defaults.
form_key = f"{info.path}"
sampling_col, shape_col = st.columns(2)
with sampling_col:
    st.subheader("Noise" if not head.primed else "Sampling")
    # Only this model's strategies; settings the chosen one ignores are greyed out and keep their defaults.
    skipped, overrides = form_fields_for(head.kind)
    sampling = dataclass_form(
        SampleConfig,
        f"sampling:{form_key}",
        columns=2,
        skip=skipped,
        initial=replace(PAGE_SAMPLING, **{k: v for k, v in defaults.items() if k in SAMPLING_FIELDS}),
        disabled=lambda now: unused_settings(now.get("strategy", defaults.get("strategy", "sample"))),
        overrides=overrides,
    )
    if info.config.compose_defaults:
        st.caption("Starts from the settings measured to sound closest to this model's training music.")
with shape_col:
    st.subheader("Length and sound")
    left, right = st.columns(2)
    unit = left.radio("Length in", ["bars", "seconds"], horizontal=True)
    amount = right.number_input(
        f"Length ({unit})", 1.0, 256.0 if unit == "bars" else 600.0, 8.0 if unit == "bars" else 20.0
    )
    bpm = left.number_input("Tempo (BPM)", 20, 300, 90)
    voices = right.number_input("Voices", 1, 8, 4 if info.representation != "melody" else 1)
    programs = [
        st.selectbox(
            f"Voice {v + 1} instrument", range(128), index=0, format_func=INSTRUMENTS.__getitem__, key=f"voice-{v}"
        )
        for v in range(int(voices))
    ]

primer_kind, primer_bars, primer_source = "None", 0.0, None
if head.primed:
    primer_col, steer_col = st.columns(2)
    with primer_col:
        st.subheader("Primer")
        primer_kind = st.radio("Continue from", PRIMERS, horizontal=True)
        primer_bars = st.number_input(
            "Primer length (bars)", 0.5, 16.0, 2.0, 0.5, disabled=primer_kind in ("None", "Type notes")
        )
        primer_source = None
        if primer_kind == "Dataset excerpt":
            datasets = [r.name for r in list_datasets()]
            if datasets:
                dataset = load_dataset(st.selectbox("Dataset", datasets))
                names = [meta["name"] for meta in dataset.piece_meta]
                primer_source = (dataset, st.selectbox("Piece", range(len(names)), format_func=names.__getitem__))
            else:
                st.info("No dataset yet: build one on the Dataset page.")
        elif primer_kind == "Upload MIDI":
            primer_source = st.file_uploader("Primer MIDI", type=["mid", "midi"])
        elif primer_kind == "Type notes":
            primer_source = st.text_input(
                "Notes",
                "C4 E4 G4 C5",
                help=f"Octave numbers, R for a rest, + for chords, :beats, e.g. {NOTE_TEXT_EXAMPLE}",
            )
else:  # a GAN writes every note from noise at once: nothing to continue
    steer_col = st.container()
with steer_col:
    st.subheader("Steering and post-processing" if head.controls else "Post-processing")
    conditioning = composer.conditioning
    if conditioning is not None:
        left, right = st.columns(2)
        style = left.selectbox("Style", conditioning.styles)
        mode = right.selectbox("Mood", MODES, format_func=lambda m: f"{MOODS[m]} ({m})")
        key_tonic = left.selectbox(
            "Key centre",
            [None, *TONICS],
            format_func=lambda t: f"default ({DEFAULT_TONICS[mode]} {mode})" if t is None else f"{t} {mode}",
        )
        density = right.selectbox("Note density", DENSITIES, index=1)
        guidance = st.slider(
            "Keep to the key and density",
            0.0,
            5.0,
            float(defaults.get("guidance", DEFAULT_GUIDANCE)),
            0.5,
            key=f"guidance:{form_key}",
            help="0: the model's own reading of the controls. Higher: notes that fit the key and the density "
            "are favoured while composing (a note outside the key loses about half this many nats against one "
            "in it).",
        )
    else:
        style = mode = density = key_tonic = None
        guidance = 0.0
        if head.controls:
            st.caption("This model was trained without style, mood and density controls.")
    left, right = st.columns(2)
    snap = left.checkbox("Snap to a scale")
    tonic = left.selectbox("Key", PITCH_CLASS_NAMES, disabled=not snap)
    scale = right.selectbox("Scale", list(SCALES), disabled=not snap)
    remove_duplicates = right.checkbox(
        "Remove overlapping duplicates", value=bool(defaults.get("remove_duplicates", True)), key=f"dups:{form_key}"
    )
    bounds = composer.bounds
    max_polyphony = left.number_input(
        "Max notes at once (0: as in the training music)",
        0,
        16,
        0,
        help="Composing keeps to it: at the limit, a new note can only start once one ends"
        + (f"; 0 keeps this model's {bounds.voices} voices" if bounds else ""),
    )
    phrase_rests = right.checkbox("Rest at phrase ends (every 4 bars)")
    max_note_beats = left.number_input(
        "Longest note (beats, 0: as in the training music)",
        0.0,
        64.0,
        0.0,
        0.5,
        help="Composing ends a note once it has sounded this long"
        + (f"; 0 keeps this model's longest, {bounds.longest_note_beats:g} beats" if bounds else ""),
    )
    if bounds:
        low, high = (pretty_midi.note_number_to_name(p) for p in bounds.pitch_range)
        st.caption(
            f"This model's training music: notes {low} to {high}, up to {bounds.longest_note_beats:g} beats long, "
            f"{bounds.voices} at once. Composing stays within it unless you set otherwise."
        )


def primer_notes():
    """The primer on the model's grid, or None (errors surface as NeuroTuneError)."""
    steps_per_quarter = composer.steps_per_quarter
    if primer_kind == "Dataset excerpt" and primer_source:
        dataset, index = primer_source
        piece = dataset.piece(index)
        notes = rescale_grid(piece.notes, piece.steps_per_quarter, steps_per_quarter)
        return first_bars(notes, primer_bars, BEATS_PER_BAR * steps_per_quarter)
    if primer_kind == "Upload MIDI" and primer_source is not None:
        return primer_from_midi(primer_source.getvalue(), info.data_config, primer_bars)
    if primer_kind == "Type notes":
        return parse_note_text(primer_source or "", steps_per_quarter)
    return None


if st.button("Compose", type="primary"):
    try:
        settings = {
            **sampling,
            unit: amount,
            "bpm": float(bpm),
            "programs": programs,
            **{"style": style, "mode": mode, "density": density, "tonic": key_tonic, "guidance": guidance},
            "scale": f"{tonic} {scale}" if snap else None,
            "remove_duplicates": remove_duplicates,
            "max_polyphony": int(max_polyphony),
            "phrase_rests": phrase_rests,
            "max_note_beats": float(max_note_beats),
        }
        request = CompositionRequest.from_settings({**defaults, **settings}, primer=primer_notes())
        with st.spinner("Composing..."):
            result = composer.compose(request)
        progress = st.progress(0.0, text="Saving to the library...")
        saved = []
        for number, composition in enumerate(result.compositions, start=1):
            title = f"{info.name} · {composition.heard_key} · seed {request.sampling.seed} · {number}"
            audio = library_audio(composition.midi)  # rendered once: the player below reuses it
            saved.append(save_composition(composer, request, composition, number, title, audio).title)
            progress.progress(number / len(result.compositions), text=f"Saved {number} of {len(result.compositions)}")
        progress.empty()
        st.session_state["composed"] = (str(info.path), result, saved)
    except NeuroTuneError as error:
        show_error(error)

# Results stay on screen across reruns, but only under the model that made them.
if st.session_state.get("composed", (None,))[0] == str(info.path):
    _, result, saved = st.session_state["composed"]
    name = info.name
    for warning in result.warnings:
        st.warning(plain(warning))
    st.caption(f"Saved to the library as {plain(', '.join(saved))}.")
    for number, composition in enumerate(result.compositions, start=1):
        with st.container(border=True):
            title = f"Variation {number}" + (
                f" (beam score {composition.score:.3f})" if composition.score is not None else ""
            )
            st.subheader(title)
            figure = piano_roll_figure(
                composition.notes, composition.steps_per_quarter, title, composition.primer_steps
            )
            st.plotly_chart(figure, key=f"roll-{number}")
            player, table = st.columns([3, 2])
            with player:
                audio_player(composition.midi, f"{name}-{number}", key=f"audio-{number}", compressed=True)
            table.dataframe(
                pd.DataFrame(
                    {
                        "metric": [METRIC_LABELS[k] for k in composition.metrics],
                        "value": list(composition.metrics.values()),
                    }
                ),
                hide_index=True,
            )
            table.caption(f"Heard key: {composition.heard_key} (Krumhansl-Schmuckler estimate)")
