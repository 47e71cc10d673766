"""Widgets shared by several pages."""

from __future__ import annotations

import streamlit as st

from core.audio import MIME_TYPES, render_compressed, render_wav


@st.cache_data(show_spinner="Rendering audio...", max_entries=64)
def _render(midi_bytes: bytes):
    rendering = render_wav(midi_bytes)
    return rendering.wav, rendering.notice


@st.cache_data(show_spinner="Compressing audio...", max_entries=64)
def _render_compressed(midi_bytes: bytes):
    return render_compressed(midi_bytes)


def library_audio(midi_bytes: bytes) -> tuple[bytes, str]:
    """The audio a piece is kept with: compressed when FluidSynth can, else WAV; shares the player's cache."""
    return _render_compressed(midi_bytes) or (_render(midi_bytes)[0], ".wav")


def audio_player(midi_bytes: bytes, file_stem: str, key: str, compressed: bool = False) -> None:
    """An audio player for a MIDI file (FluidSynth, or a fallback with a notice) and download buttons.

    Args:
        compressed: Also offer the audio in FluidSynth's compressed format (Ogg Vorbis or FLAC) when it has one.
    """
    wav, notice = _render(midi_bytes)
    if notice:
        st.info(notice)
    st.audio(wav, format="audio/wav")
    small = _render_compressed(midi_bytes) if compressed else None
    columns = st.columns(3 if small else 2)
    columns[0].download_button("Download MIDI", midi_bytes, f"{file_stem}.mid", "audio/midi", key=f"{key}-mid")
    columns[1].download_button("Download WAV", wav, f"{file_stem}.wav", "audio/wav", key=f"{key}-wav")
    if small:
        data, suffix = small
        label = f"Download {suffix.lstrip('.').upper()}"
        columns[2].download_button(label, data, f"{file_stem}{suffix}", MIME_TYPES[suffix], key=f"{key}-small")


def kept_audio_player(midi_bytes: bytes, kept: tuple[bytes, str] | None, file_stem: str, key: str) -> None:
    """A library piece's player: its kept rendering (else a WAV rendered now) and download buttons.

    The WAV download of a piece kept compressed is rendered only when the button is pressed, so a
    visit costs no FluidSynth run; the compressed file is offered when the piece was kept that way.

    Args:
        kept: The rendering kept with the piece and its suffix (".ogg", ".flac", ".wav"), or None.
    """
    if kept is None:
        wav, notice = _render(midi_bytes)
        if notice:
            st.info(notice)
        kept = (wav, ".wav")
    data, suffix = kept
    mime = MIME_TYPES.get(suffix, "application/octet-stream")
    st.audio(data, format=mime)
    small = suffix != ".wav"
    columns = st.columns(3 if small else 2)
    columns[0].download_button("Download MIDI", midi_bytes, f"{file_stem}.mid", "audio/midi", key=f"{key}-mid")
    columns[1].download_button(
        "Download WAV",
        (lambda: render_wav(midi_bytes).wav) if small else data,
        f"{file_stem}.wav",
        "audio/wav",
        key=f"{key}-wav",
        on_click="ignore",
    )
    if small:
        label = f"Download {suffix.lstrip('.').upper()}"
        columns[2].download_button(label, data, f"{file_stem}{suffix}", mime, key=f"{key}-small")
