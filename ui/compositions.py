"""The Generate page's results: each variation a piano roll playing with its audio, downloads, sheet music and
metrics; the library keeps them once they are on screen.

Results stay on screen across reruns under the model and settings that made them, with their audio (rendered
once, all variations at once); once the settings change they are marked as composed with the earlier ones,
and an error clears them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from core.audio import MIME_TYPES, KeptAudio, render_all_for_library
from core.data.piece import QuantizedPiece
from core.errors import NeuroTuneError
from core.evaluation.metrics import METRIC_LABELS
from core.generation.compose import Composer, CompositionRequest, CompositionResult, save_composition
from core.generation.sampling import SAMPLERS
from ui.piano_roll import piano_roll_player
from ui.score import score_view
from ui.text import plain, show_error
from ui.widgets import audio_downloads

_STATE = "composed"


@dataclass
class Composed:
    """What the last Compose made, under which model and settings (``fingerprint``), its audio, one per
    variation, and the library titles of those saved so far."""

    checkpoint: str
    fingerprint: tuple
    request: CompositionRequest
    result: CompositionResult
    audio: list[KeptAudio]
    saved: list[str] = field(default_factory=list)
    save_error: str | None = None

    @classmethod
    def of(cls, checkpoint: str, fingerprint: tuple, request: CompositionRequest, result: CompositionResult):
        """The results with their audio rendered, every variation at once."""
        return cls(
            checkpoint, fingerprint, request, result, render_all_for_library([c.midi for c in result.compositions])
        )


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


def show(composed: Composed, name: str, stale: bool):
    """Every variation: its piano roll playing with its audio, downloads, sheet music and metrics.

    Args:
        name: The model's name, for download file names.
        stale: The settings changed since: say these pieces are from the earlier ones.

    Returns:
        The place above the variations where :func:`save` says what the library keeps.
    """
    if stale:
        st.info("Composed with earlier settings: press Compose to hear the new ones.", icon="🕰️")
    for warning in composed.result.warnings:
        st.warning(plain(warning))
    library = st.empty()
    for number, (composition, audio) in enumerate(zip(composed.result.compositions, composed.audio), start=1):
        with st.container(border=True):
            score = f" · beam score {composition.score:.3f}" if composition.score is not None else ""
            title = f"Variation {number}{score}"
            st.markdown(f"**{title}** · heard key {composition.heard_key}")
            if audio.notice:
                st.info(audio.notice)
            piano_roll_player(
                composition.notes,
                composition.steps_per_quarter,
                composition.bpm,
                audio.data,
                MIME_TYPES[audio.suffix],
                key=f"roll-{number}",  # titled by the line above
                primer_steps=composition.primer_steps,
                programs=composed.request.programs,
            )
            stem = f"{name}-{number}"
            audio_downloads(composition.midi, audio.data, audio.suffix, stem, key=f"audio-{number}")
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
    return library


def save(composer: Composer, composed: Composed, name: str, library) -> None:
    """Keep the variations not kept yet in the library, with their audio, and say so in ``library``.

    Once saving failed it is not tried again on every rerun: the error stays said.
    """
    compositions = composed.result.compositions
    sampling = composed.request.sampling
    # The seed where it makes the piece (sampling, noise); beam search and greedy decoding need none.
    made_by = f"seed {sampling.seed}" if "seed" in SAMPLERS[sampling.strategy].reads else sampling.strategy
    with library.container():
        if len(composed.saved) < len(compositions) and composed.save_error is None:
            progress = st.progress(0.0, text="Saving to the library...")
            try:
                for number in range(len(composed.saved) + 1, len(compositions) + 1):
                    composition, audio = compositions[number - 1], composed.audio[number - 1]
                    title = f"{name} · {composition.heard_key} · {made_by} · {number}"
                    record = save_composition(
                        composer, composed.request, composition, number, title, (audio.data, audio.suffix)
                    )
                    composed.saved.append(record.title)
                    progress.progress(number / len(compositions), text=f"Saved {number} of {len(compositions)}")
            except NeuroTuneError as error:
                composed.save_error = f"Not saved to the library: {error}"
            progress.empty()
        if composed.save_error:
            show_error(composed.save_error)
        if composed.saved:
            st.caption(f"Saved to the library as {plain(', '.join(composed.saved))}.")
