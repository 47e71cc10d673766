"""The Generate page's results: each variation drawn as soon as its notes exist, its audio after, the library last.

Results stay on screen across reruns under the model and settings that made them; once the
settings change they are marked as composed with the earlier ones, and an error clears them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from core.audio import MIME_TYPES
from core.data.piece import QuantizedPiece
from core.evaluation.metrics import METRIC_LABELS
from core.generation.compose import Composer, CompositionRequest, CompositionResult, save_composition
from core.generation.sampling import SAMPLERS
from ui.piano_roll import piano_roll_player
from ui.score import score_view
from ui.text import plain
from ui.widgets import audio_downloads, library_audio, playable_audio

_STATE = "composed"


@dataclass
class Composed:
    """What the last Compose made, and under which model and settings (``fingerprint``)."""

    checkpoint: str
    fingerprint: tuple
    request: CompositionRequest
    result: CompositionResult
    saved: list[str] = field(default_factory=list)


def fingerprint(settings: dict[str, Any], primer: tuple) -> tuple:
    """The inputs of a request as a comparable value: results are current while it is unchanged."""
    return tuple(sorted((name, repr(value)) for name, value in settings.items())), primer


def remember(composed: Composed) -> None:
    st.session_state[_STATE] = composed


def forget() -> None:
    """Clear the results: shown under an error, they would look like the answer to the failed request."""
    st.session_state.pop(_STATE, None)


def current(checkpoint: str) -> Composed | None:
    """The results composed with ``checkpoint``; another model's are not shown under this one."""
    composed = st.session_state.get(_STATE)
    return composed if composed is not None and composed.checkpoint == checkpoint else None


def show(composed: Composed, name: str, stale: bool) -> None:
    """Every variation, one after the other: its piano roll playing with its audio, downloads, metrics.

    Args:
        name: The model's name, for download file names.
        stale: The settings changed since: say these pieces are from the earlier ones.
    """
    if stale:
        st.info("Composed with earlier settings: press Compose to hear the new ones.", icon="🕰️")
    for warning in composed.result.warnings:
        st.warning(plain(warning))
    if composed.saved:
        st.caption(f"Saved to the library as {plain(', '.join(composed.saved))}.")
    for number, composition in enumerate(composed.result.compositions, start=1):
        with st.container(border=True):
            score = f" · beam score {composition.score:.3f}" if composition.score is not None else ""
            title = f"Variation {number}{score}"
            st.markdown(f"**{title}** · heard key {composition.heard_key}")
            audio, suffix = playable_audio(composition.midi)
            piano_roll_player(
                composition.notes,
                composition.steps_per_quarter,
                composition.bpm,
                audio,
                MIME_TYPES[suffix],
                key=f"roll-{number}",
                title=title,
                primer_steps=composition.primer_steps,
                programs=composed.request.programs,
            )
            stem = f"{name}-{number}"
            audio_downloads(composition.midi, audio, suffix, stem, key=f"audio-{number}", offer_compressed=True)
            piece = QuantizedPiece(
                stem, composition.notes, composition.steps_per_quarter, composition.bpm, key=composition.heard_key
            )
            score_view(piece, f"{name} variation {number}", key=f"score-{number}")
            with st.expander("Metrics"):
                metrics = pd.DataFrame(
                    {
                        "metric": [METRIC_LABELS[k] for k in composition.metrics],
                        "value": list(composition.metrics.values()),
                    }
                )
                st.dataframe(metrics, hide_index=True)
                st.caption("Heard key: Krumhansl-Schmuckler estimate of the notes.")


def save(composer: Composer, composed: Composed, name: str) -> None:
    """Keep every variation in the library with compressed audio, once, after all of them are on screen."""
    if composed.saved:
        return
    compositions = composed.result.compositions
    sampling = composed.request.sampling
    # The seed where it makes the piece (sampling, noise); beam search and greedy decoding need none.
    made_by = f"seed {sampling.seed}" if "seed" in SAMPLERS[sampling.strategy].reads else sampling.strategy
    progress = st.progress(0.0, text="Saving to the library...")
    for number, composition in enumerate(compositions, start=1):
        title = f"{name} · {composition.heard_key} · {made_by} · {number}"
        audio = library_audio(composition.midi)  # the download button's cache serves it later
        record = save_composition(composer, composed.request, composition, number, title, audio)
        composed.saved.append(record.title)
        progress.progress(number / len(compositions), text=f"Saved {number} of {len(compositions)}")
    progress.empty()
    st.caption(f"Saved to the library as {plain(', '.join(composed.saved))}.")
