"""Widgets shared by several pages."""

from __future__ import annotations

import streamlit as st

from core.audio import render_wav


@st.cache_data(show_spinner="Rendering audio...", max_entries=64)
def _render(midi_bytes: bytes):
    rendering = render_wav(midi_bytes)
    return rendering.wav, rendering.notice


def audio_player(midi_bytes: bytes, file_stem: str, key: str) -> None:
    """An audio player for a MIDI file (FluidSynth, or a fallback with a notice) and download buttons."""
    wav, notice = _render(midi_bytes)
    if notice:
        st.info(notice)
    st.audio(wav, format="audio/wav")
    left, right = st.columns(2)
    left.download_button("Download MIDI", midi_bytes, f"{file_stem}.mid", "audio/midi", key=f"{key}-mid")
    right.download_button("Download WAV", wav, f"{file_stem}.wav", "audio/wav", key=f"{key}-wav")
