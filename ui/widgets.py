"""Widgets shared by several pages."""

from __future__ import annotations

import streamlit as st

from core.audio import MIME_TYPES, compressed_format, find_soundfont, render_compressed, render_wav


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


def playable_audio(midi_bytes: bytes, kept: tuple[bytes, str] | None = None) -> tuple[bytes, str]:
    """What a player plays: ``kept`` (a library piece's rendering and its suffix) when it holds audio, else a WAV
    rendered now (FluidSynth, or a fallback with a notice saying so)."""
    if kept is not None and kept[0]:  # an empty file is no rendering
        return kept
    wav, notice = _render(midi_bytes)
    if notice:
        st.info(notice)
    return wav, ".wav"


def audio_downloads(
    midi_bytes: bytes, audio: bytes, suffix: str, file_stem: str, key: str, offer_compressed: bool = False
) -> None:
    """MIDI, WAV and compressed downloads of a piece whose ``audio`` (of ``suffix``) is already rendered.

    A WAV for compressed ``audio`` is rendered only when its button is pressed, so a visit costs no FluidSynth
    run; so is the compressed file of WAV ``audio`` when ``offer_compressed`` (FluidSynth's Ogg Vorbis or FLAC).
    """
    compressed = suffix != ".wav"
    audio_format = compressed_format() if offer_compressed and find_soundfont() is not None else None
    extra = suffix if compressed else f".{audio_format}" if audio_format else None
    columns = st.columns(3 if extra else 2)
    columns[0].download_button("Download MIDI", midi_bytes, f"{file_stem}.mid", "audio/midi", key=f"{key}-mid")
    columns[1].download_button(
        "Download WAV",
        (lambda: render_wav(midi_bytes).wav) if compressed else audio,
        f"{file_stem}.wav",
        "audio/wav",
        key=f"{key}-wav",
        on_click="ignore",
    )
    if extra:
        columns[2].download_button(
            f"Download {extra.lstrip('.').upper()}",
            audio if compressed else lambda: (_render_compressed(midi_bytes) or (audio,))[0],
            f"{file_stem}{extra}",
            MIME_TYPES[extra],
            key=f"{key}-small",
            on_click="ignore",
        )


def audio_player(midi_bytes: bytes, file_stem: str, key: str, compressed: bool = False) -> None:
    """An audio player for a MIDI file (FluidSynth, or a fallback with a notice) and download buttons.

    Args:
        compressed: Also offer the audio in FluidSynth's compressed format, rendered when the button is pressed.
    """
    audio, suffix = playable_audio(midi_bytes)
    st.audio(audio, format="audio/wav")
    audio_downloads(midi_bytes, audio, suffix, file_stem, key, offer_compressed=compressed)
