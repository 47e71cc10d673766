"""Library pieces for the listening-test tests: what a survey's generated clips are made from."""

from __future__ import annotations

import io
import wave
from typing import Any

import pretty_midi

from core.audio import Rendering
from core.store import library
from tests.conftest import scale_piece


def library_piece(
    title: str,
    checkpoint: str,
    offset: int = 0,
    *,
    length: int = 16,
    seconds: float = 4.0,
    parameters: dict[str, Any] | None = None,
) -> str:
    """Save a scale of ``length`` steps from ``offset`` as a piece of ``checkpoint`` (an LSTM's); returns its id."""
    return library.save_piece(
        title=title,
        checkpoint=checkpoint,
        model="lstm",
        dataset="tiny",
        representation="events",
        parameters=parameters or {},
        seed=offset,
        variation=1,
        midi=scale_piece(offset=offset, length=length),
        audio=None,
        metrics={},
        duration_seconds=seconds,
    ).id


def silent_wav(seconds: float, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of ``seconds`` of silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(bytes(2 * round(seconds * rate)))
    return buffer.getvalue()


def silent_rendering(midi: pretty_midi.PrettyMIDI) -> Rendering:
    """What ``render_wav`` gives, in no time: silence as long as the clip's notes."""
    return Rendering(silent_wav(midi.get_end_time()), 8000, "fluidsynth")
