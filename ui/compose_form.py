"""The Generate page's choices: the music first (key, length, tempo, instruments), machine-learning knobs under
"Advanced". Each function draws its widgets and returns flat composing settings
(:meth:`core.generation.compose.CompositionRequest.from_settings` reads them)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import pretty_midi
import streamlit as st

from core.checkpoints import CheckpointInfo
from core.data.conditioning import DENSITIES
from core.data.datasets import list_datasets, load_dataset
from core.generation.compose import BEATS_PER_BAR, DEFAULT_GUIDANCE, Composer
from core.generation.key_choice import SNAP_SCALES, KeyChoice, key_choices
from core.generation.primer import NOTE_TEXT_EXAMPLE, first_bars, parse_note_text, primer_from_midi, rescale_grid
from core.generation.sampling import SampleConfig, form_fields_for, unused_settings
from ui.forms import dataclass_form

INSTRUMENTS = [pretty_midi.program_to_instrument_name(program) for program in range(128)]
# Where the page starts: two pieces to compare, and a nucleus that keeps the unlikeliest tokens out;
# a checkpoint's measured defaults (its compose_defaults) override these.
PAGE_SAMPLING = SampleConfig(top_p=0.95, variations=2)
SAMPLING_FIELDS = {item.name for item in fields(SampleConfig)}
PRIMERS = ("None", "Dataset excerpt", "Upload MIDI", "Type notes")


def musical_choices(composer: Composer, info: CheckpointInfo, key: str) -> tuple[dict[str, Any], KeyChoice]:
    """Key, style, density, length, tempo and instruments: what a musician sets, two to a row.

    Args:
        key: Widget-key prefix, one per checkpoint, so each model starts from its own defaults.

    Returns:
        The settings, and the key chosen (its scale to snap to is among the Advanced choices).
    """
    conditioning = composer.conditioning
    conditioned = conditioning is not None
    settings: dict[str, Any] = {}
    left, right = st.columns(2)
    choice = left.selectbox(
        "Key",
        key_choices(conditioned),
        format_func=lambda c: c.label,
        key=f"{key}-key",
        help="The key the model is steered to"
        if conditioned
        else "This model picks its own key; choose one and every note is moved into it after composing",
    )
    settings["bpm"] = float(right.number_input("Tempo (BPM)", 20, 300, 90, key=f"{key}-bpm"))
    if conditioned:
        left, right = st.columns(2)
        settings["style"] = left.selectbox("Style", conditioning.styles, key=f"{key}-style")
        settings["density"] = right.selectbox("Note density", DENSITIES, index=1, key=f"{key}-density")
    left, right = st.columns(2)
    unit = right.radio("Length in", ("bars", "seconds"), horizontal=True, key=f"{key}-unit")
    settings[unit] = left.number_input(
        f"Length ({unit})",
        1.0,
        256.0 if unit == "bars" else 600.0,
        8.0 if unit == "bars" else 20.0,
        key=f"{key}-length-{unit}",
    )
    settings["seconds" if unit == "bars" else "bars"] = None
    left, right = st.columns(2)
    settings["programs"] = _instruments(left, info.representation != "melody", key)
    if conditioned:
        snap = right.checkbox(
            "Snap notes into the key",
            key=f"{key}-snap",
            help="After composing, move every note outside the key into it",
        )
        choice = replace(choice, snap=snap)
    return settings, choice


def _instruments(slot, polyphonic: bool, key: str) -> list[int]:
    """Voices and an instrument per voice, in a popover: four pickers would push Compose down the page."""
    with slot.popover("Instruments", width="stretch"):
        voices = st.number_input(
            "Voices", 1, 8, 4 if polyphonic else 1, key=f"{key}-voices", help="Parts, highest first"
        )
        programs = [
            st.selectbox(
                f"Voice {v + 1} instrument", range(128), format_func=INSTRUMENTS.__getitem__, key=f"{key}-voice-{v}"
            )
            for v in range(int(voices))
        ]
    return programs


def sampling_choices(composer: Composer, key: str, advanced) -> dict[str, Any]:
    """Boldness and pieces here, the strategy and its knobs in ``advanced``: only this model's strategies, with
    settings the chosen one ignores greyed out."""
    defaults = composer.defaults
    skipped, overrides = form_fields_for(composer.head.kind)
    return dataclass_form(
        SampleConfig,
        f"sampling:{key}",
        columns=2,
        skip=skipped,
        initial=replace(PAGE_SAMPLING, **{k: v for k, v in defaults.items() if k in SAMPLING_FIELDS}),
        disabled=lambda now: unused_settings(now.get("strategy", defaults.get("strategy", "sample"))),
        overrides=overrides,
        advanced_in=advanced,
    )


def advanced_choices(composer: Composer, key: str, choice: KeyChoice) -> tuple[dict[str, Any], KeyChoice]:
    """Guidance, the scale notes snap to, and the composing rules (voices, note lengths, clean-up).

    Returns:
        The settings, and ``choice`` with the scale its notes snap to.
    """
    defaults, bounds = composer.defaults, composer.bounds
    settings: dict[str, Any] = {}
    left, right = st.columns(2)
    if composer.conditioning is not None:
        settings["guidance"] = left.slider(
            "Keep to the key and density",
            0.0,
            5.0,
            float(defaults.get("guidance", DEFAULT_GUIDANCE)),
            0.5,
            key=f"{key}-guidance",
            help="0: the model's own reading of the controls. Higher: notes that fit the key and the density "
            "are favoured while composing (a note outside the key loses about half this many nats against one "
            "in it).",
        )
    if choice.settings(composer.conditioning is not None)["scale"]:  # notes are snapped into the key
        scale = right.selectbox(
            "Scale to snap to",
            SNAP_SCALES[choice.mode],
            key=f"{key}-snap-scale-{choice.mode}",
            help="Notes outside it move to its nearest note: a minor key's harmonic or melodic minor keeps its "
            "leading note",
        )
        choice = replace(choice, snap_scale=scale)
    settings["remove_duplicates"] = left.checkbox(
        "Remove overlapping duplicates", value=bool(defaults.get("remove_duplicates", True)), key=f"{key}-dups"
    )
    settings["phrase_rests"] = right.checkbox("Rest at phrase ends (every 4 bars)", key=f"{key}-rests")
    settings["max_polyphony"] = int(
        left.number_input(
            "Max notes at once (0: as in the training music)",
            0,
            16,
            0,
            key=f"{key}-polyphony",
            help="Composing keeps to it: at the limit, a new note can only start once one ends"
            + (f"; 0 keeps this model's {bounds.voices} voices" if bounds else ""),
        )
    )
    settings["max_note_beats"] = float(
        right.number_input(
            "Longest note (beats, 0: as in the training music)",
            0.0,
            64.0,
            0.0,
            0.5,
            key=f"{key}-longest",
            help="Composing ends a note once it has sounded this long"
            + (f"; 0 keeps this model's longest, {bounds.longest_note_beats:g} beats" if bounds else ""),
        )
    )
    if bounds:
        low, high = (pretty_midi.note_number_to_name(p) for p in bounds.pitch_range)
        st.caption(
            f"This model's training music: notes {low} to {high}, up to {bounds.longest_note_beats:g} beats long, "
            f"{bounds.voices} at once. Composing stays within it unless you set otherwise."
        )
    return settings, choice


@dataclass(frozen=True)
class PrimerChoice:
    """What to continue from: ``kind`` one of :data:`PRIMERS`, its length and source (a dataset and piece
    index, an uploaded file, or typed notes)."""

    kind: str = "None"
    bars: float = 0.0
    source: Any = None

    @property
    def fingerprint(self) -> tuple:
        """What identifies it, for telling whether results on screen were composed from it."""
        source = self.source
        if self.kind == "Dataset excerpt" and source:
            source = (source[0].name, source[1])
        elif self.kind == "Upload MIDI" and source is not None:
            source = (source.name, source.size)
        return self.kind, self.bars, source

    def notes(self, composer: Composer, info: CheckpointInfo):
        """The primer on the model's grid, or None (errors surface as NeuroTuneError)."""
        steps_per_quarter = composer.steps_per_quarter
        if self.kind == "Dataset excerpt" and self.source:
            dataset, index = self.source
            piece = dataset.piece(index)
            notes = rescale_grid(piece.notes, piece.steps_per_quarter, steps_per_quarter)
            return first_bars(notes, self.bars, BEATS_PER_BAR * steps_per_quarter)
        if self.kind == "Upload MIDI" and self.source is not None:
            return primer_from_midi(self.source.getvalue(), info.data_config, self.bars)
        if self.kind == "Type notes":
            return parse_note_text(self.source or "", steps_per_quarter)
        return None


def primer_choice(key: str) -> PrimerChoice:
    """The primer widgets: none, a dataset excerpt, an uploaded MIDI file or typed notes."""
    kind = st.radio("Continue from", PRIMERS, horizontal=True, key=f"{key}-primer")
    bars = st.number_input(
        "Primer length (bars)", 0.5, 16.0, 2.0, 0.5, disabled=kind in ("None", "Type notes"), key=f"{key}-primer-bars"
    )
    source = None
    if kind == "Dataset excerpt":
        datasets = [r.name for r in list_datasets()]
        if datasets:
            dataset = load_dataset(st.selectbox("Dataset", datasets, key=f"{key}-primer-dataset"))
            names = [meta["name"] for meta in dataset.piece_meta]
            index = st.selectbox("Piece", range(len(names)), format_func=names.__getitem__, key=f"{key}-primer-piece")
            source = (dataset, index)
        else:
            st.info("No dataset yet: build one on the Dataset page.")
    elif kind == "Upload MIDI":
        source = st.file_uploader("Primer MIDI", type=["mid", "midi"], key=f"{key}-primer-file")
    elif kind == "Type notes":
        source = st.text_input(
            "Notes",
            "C4 E4 G4 C5",
            help=f"Octave numbers, R for a rest, + for chords, :beats, e.g. {NOTE_TEXT_EXAMPLE}",
            key=f"{key}-primer-text",
        )
    return PrimerChoice(kind, float(bars), source)
