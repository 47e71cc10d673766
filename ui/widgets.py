"""Widgets shared by several pages."""

from __future__ import annotations

import streamlit as st

from core.audio import MIME_TYPES, render_wav


@st.cache_data(show_spinner="Rendering audio...", max_entries=64)
def _render(midi_bytes: bytes):
    rendering = render_wav(midi_bytes)
    return rendering.wav, rendering.notice


def playable_audio(midi_bytes: bytes, kept: tuple[bytes, str] | None = None) -> tuple[bytes, str]:
    """What a player plays: ``kept`` (a library piece's rendering and its suffix) when it holds audio, else a WAV
    rendered now (FluidSynth, or a fallback with a notice saying so)."""
    if kept is not None and kept[0]:  # an empty file is no rendering
        return kept
    wav, notice = _render(midi_bytes)
    if notice:
        st.info(notice)
    return wav, ".wav"


def audio_downloads(midi_bytes: bytes, audio: bytes, suffix: str, file_stem: str, key: str) -> None:
    """MIDI, WAV and (for compressed ``audio``) compressed downloads of a piece whose ``audio`` is rendered.

    The WAV of compressed ``audio`` is rendered only when its button is pressed, so a visit costs no
    FluidSynth run.
    """
    compressed = suffix != ".wav"
    columns = st.columns(3 if compressed else 2)
    columns[0].download_button("Download MIDI", midi_bytes, f"{file_stem}.mid", "audio/midi", key=f"{key}-mid")
    columns[1].download_button(
        "Download WAV",
        (lambda: render_wav(midi_bytes).wav) if compressed else audio,
        f"{file_stem}.wav",
        "audio/wav",
        key=f"{key}-wav",
        on_click="ignore",
    )
    if compressed:
        label = f"Download {suffix.lstrip('.').upper()}"
        columns[2].download_button(label, audio, f"{file_stem}{suffix}", MIME_TYPES[suffix], key=f"{key}-small")


def audio_player(midi_bytes: bytes, file_stem: str, key: str) -> None:
    """An audio player for a MIDI file (FluidSynth, or a fallback with a notice) and download buttons."""
    audio, suffix = playable_audio(midi_bytes)
    st.audio(audio, format="audio/wav")
    audio_downloads(midi_bytes, audio, suffix, file_stem, key)
