"""MIDI to audio: FluidSynth with a General MIDI SoundFont, or sine waves as a fallback.

Listening must always work, so nothing here raises for a missing FluidSynth
binary or SoundFont: :func:`render_wav` falls back to pretty_midi's sine-wave
synthesis and says why in :attr:`Rendering.notice`, for the page to show.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
from midi2audio import FluidSynth

from core.data.midi_io import load_midi, midi_to_bytes
from core.settings import get_settings

# Where Debian's fluid-soundfont-gm and timgm6mb-soundfont packages install.
DEBIAN_SOUNDFONT_DIR = Path("/usr/share/sounds/sf2")
PREFERRED_SOUNDFONTS = ("FluidR3_GM.sf2", "TimGM6mb.sf2")
# A small General MIDI SoundFont shipped inside the pretty_midi package.
PRETTY_MIDI_SOUNDFONT = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
# Peak level of the fallback synthesis, below full scale to leave headroom.
PEAK_AMPLITUDE = 0.9

SINE_FALLBACK = "so this preview uses simple sine-wave synthesis"


@dataclass
class Rendering:
    """Audio of a piece, ready for ``st.audio(rendering.wav)``.

    Attributes:
        wav: A complete 16-bit PCM WAV file.
        sample_rate: Samples per second.
        engine: "fluidsynth" or "pretty_midi" (sine waves).
        notice: Why the fallback was used, in words for the user; None otherwise.
    """

    wav: bytes
    sample_rate: int
    engine: str
    notice: str | None = None


def find_soundfont() -> Path | None:
    """The SoundFont to render with: NEUROTUNE_SOUNDFONT, Debian's, then pretty_midi's own.

    Returns:
        An existing ``.sf2`` file, or None when there is none anywhere.
    """
    configured = get_settings().soundfont
    candidates = [configured] if configured else []
    candidates += [DEBIAN_SOUNDFONT_DIR / name for name in PREFERRED_SOUNDFONTS]
    if DEBIAN_SOUNDFONT_DIR.is_dir():
        candidates += sorted(DEBIAN_SOUNDFONT_DIR.glob("*.sf2"))
    candidates.append(PRETTY_MIDI_SOUNDFONT)
    return next((path for path in candidates if path.is_file()), None)


def fluidsynth_available() -> bool:
    return shutil.which("fluidsynth") is not None


def _render_fluidsynth(data: bytes, soundfont: Path, sample_rate: int) -> bytes | None:
    """WAV bytes, or None when FluidSynth wrote nothing (midi2audio does not report failures)."""
    with tempfile.TemporaryDirectory(prefix="neurotune-audio-") as folder:
        midi_path, wav_path = Path(folder) / "piece.mid", Path(folder) / "piece.wav"
        midi_path.write_bytes(data)
        FluidSynth(str(soundfont), sample_rate).midi_to_audio(str(midi_path), str(wav_path))
        if not wav_path.is_file() or wav_path.stat().st_size <= 44:  # 44 bytes: a bare WAV header
            return None
        return wav_path.read_bytes()


def _render_sine(midi: pretty_midi.PrettyMIDI, sample_rate: int) -> bytes:
    """Mono 16-bit WAV of pretty_midi's sine-wave synthesis, normalized to :data:`PEAK_AMPLITUDE`."""
    audio = midi.synthesize(fs=sample_rate)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0:
        audio = audio / peak * PEAK_AMPLITUDE
    samples = (audio * np.iinfo(np.int16).max).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def render_wav(midi: pretty_midi.PrettyMIDI | bytes, sample_rate: int = 22050) -> Rendering:
    """Render a piece to WAV with FluidSynth, falling back to sine waves.

    Args:
        midi: The piece, parsed or as MIDI file bytes.
        sample_rate: Samples per second of the result.

    Returns:
        The audio, the engine that made it and, after a fallback, a notice saying why.

    Raises:
        InvalidMidiError: ``midi`` is bytes that are not a usable MIDI file.
    """
    data = midi if isinstance(midi, bytes) else midi_to_bytes(midi)
    soundfont = find_soundfont()
    if not fluidsynth_available():
        notice = f"FluidSynth is not installed, {SINE_FALLBACK}; run `make run` to install it."
    elif soundfont is None:
        notice = (
            f"No SoundFont (.sf2 file) was found, {SINE_FALLBACK}; "
            "set NEUROTUNE_SOUNDFONT to one or install fluid-soundfont-gm."
        )
    else:
        wav = _render_fluidsynth(data, soundfont, sample_rate)
        if wav is not None:
            return Rendering(wav=wav, sample_rate=sample_rate, engine="fluidsynth")
        notice = f"FluidSynth could not render this piece with {soundfont.name}, {SINE_FALLBACK}."
    parsed = load_midi(midi) if isinstance(midi, bytes) else midi  # only the fallback needs it parsed
    wav = _render_sine(parsed, sample_rate)
    return Rendering(wav=wav, sample_rate=sample_rate, engine="pretty_midi", notice=notice)
