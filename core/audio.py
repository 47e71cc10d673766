"""MIDI to audio: FluidSynth with a General MIDI SoundFont, or sine waves as a fallback.

Listening must always work, so nothing here raises for a missing FluidSynth
binary or SoundFont: :func:`render_wav` falls back to pretty_midi's sine-wave
synthesis and says why in :attr:`Rendering.notice`, for the page to show.
:func:`render_compressed` (Ogg Vorbis or FLAC, for the piece library) returns None
instead, and the caller keeps WAV.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
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

# Compressed formats in order of preference, each with FluidSynth's ``-T`` file type:
# Ogg Vorbis is lossy and about ten times smaller than WAV; FLAC is lossless and about half.
COMPRESSED_FILE_TYPES = {"ogg": "oga", "flac": "flac"}
MIME_TYPES = {".wav": "audio/wav", ".ogg": "audio/ogg", ".flac": "audio/flac"}
# Long enough for a few minutes of music on a slow machine, short enough not to hang a page.
FLUIDSYNTH_TIMEOUT_SECONDS = 120


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


def cut_wav(wav: bytes, seconds: float, fade_seconds: float = 0.25) -> tuple[bytes, float]:
    """``wav`` cut to at most ``seconds``, the last ``fade_seconds`` faded out, and its length in seconds.

    FluidSynth's reverb rings on for seconds after the last note: a listening test that asks for a
    clip to be heard to its end would make listeners sit through that silence, and time them by it.

    Args:
        wav: A 16-bit PCM WAV file (what :func:`render_wav` writes); other sample widths are only measured.
    """
    with wave.open(io.BytesIO(wav)) as reader:
        params = reader.getparams()
        frames = reader.readframes(params.nframes)
    if params.sampwidth != 2 or params.nframes <= int(seconds * params.framerate):
        return wav, params.nframes / params.framerate
    kept = max(int(seconds * params.framerate), 1)
    samples = np.frombuffer(frames, np.int16).reshape(-1, params.nchannels)[:kept].astype(np.float32)
    fade = min(int(fade_seconds * params.framerate), kept)
    samples[kept - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setparams(params)
        writer.writeframes(samples.round().astype(np.int16).tobytes())
    return buffer.getvalue(), kept / params.framerate


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


@cache
def _file_types(binary: str) -> frozenset[str]:
    """The ``-T`` file types a FluidSynth binary can write (they depend on its libsndfile build)."""
    try:
        result = subprocess.run([binary, "-T", "help"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(re.findall(r"'([\w-]+)'", result.stdout + result.stderr))


def compressed_format() -> str | None:
    """The best compressed format the installed FluidSynth can write.

    Returns:
        "ogg" (Vorbis, small) or "flac" (lossless), or None when FluidSynth is missing or writes neither.
    """
    binary = shutil.which("fluidsynth")
    if binary is None:
        return None
    file_types = _file_types(binary)
    return next((name for name, file_type in COMPRESSED_FILE_TYPES.items() if file_type in file_types), None)


def _render_fluidsynth_file(data: bytes, soundfont: Path, sample_rate: int, audio_format: str) -> bytes | None:
    """Audio file bytes in ``audio_format``, or None when FluidSynth failed, timed out or wrote nothing.

    midi2audio's FluidSynth passes only ``-F``, and FluidSynth's automatic type does not know ``.ogg``
    (it writes WAV into such a file), so this calls the binary itself with an explicit ``-T``.
    """
    with tempfile.TemporaryDirectory(prefix="neurotune-audio-") as folder:
        midi_path, audio_path = Path(folder) / "piece.mid", Path(folder) / f"piece.{audio_format}"
        midi_path.write_bytes(data)
        command = ["fluidsynth", "-ni", "-F", str(audio_path), "-T", COMPRESSED_FILE_TYPES[audio_format]]
        command += ["-r", str(sample_rate), str(soundfont), str(midi_path)]
        try:
            result = subprocess.run(command, capture_output=True, timeout=FLUIDSYNTH_TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if result.returncode != 0 or not audio_path.is_file() or audio_path.stat().st_size == 0:
            return None
        return audio_path.read_bytes()


def render_compressed(midi: pretty_midi.PrettyMIDI | bytes, sample_rate: int = 22050) -> tuple[bytes, str] | None:
    """Render a piece to a compressed file with FluidSynth, for keeping in the library.

    Unlike :func:`render_wav` there is no fallback: a caller without a compressed rendering keeps WAV.

    Args:
        midi: The piece, parsed or as MIDI file bytes.
        sample_rate: Samples per second of the result.

    Returns:
        The file bytes and their suffix (".ogg" or ".flac", a key of :data:`MIME_TYPES`), or None when
        FluidSynth, a SoundFont or a compressed format is missing, or FluidSynth failed.

    Raises:
        InvalidMidiError: ``midi`` is bytes that are not a usable MIDI file.
    """
    data = midi if isinstance(midi, bytes) else midi_to_bytes(midi)
    audio_format = compressed_format()
    soundfont = find_soundfont()
    if audio_format is not None and soundfont is not None:
        rendered = _render_fluidsynth_file(data, soundfont, sample_rate, audio_format)
        if rendered is not None:
            return rendered, f".{audio_format}"
    if isinstance(midi, bytes):
        load_midi(midi)  # like render_wav: bad bytes are the caller's error, not a missing rendering
    return None


@dataclass(frozen=True)
class KeptAudio:
    """The audio a piece is played and kept with.

    Attributes:
        data: The file's bytes.
        suffix: ".ogg" or ".flac" (FluidSynth's compressed file) or ".wav"; a key of :data:`MIME_TYPES`.
        notice: Why a simple fallback rendered it, in words for the user; None otherwise.
    """

    data: bytes
    suffix: str
    notice: str | None = None


def render_for_library(midi: bytes) -> KeptAudio:
    """FluidSynth's compressed file when it can write one, else WAV (FluidSynth, or sine waves with a notice).

    Raises:
        InvalidMidiError: ``midi`` is not a usable MIDI file.
    """
    compressed = render_compressed(midi)
    if compressed is not None:
        return KeptAudio(*compressed)
    rendering = render_wav(midi)
    return KeptAudio(rendering.wav, ".wav", rendering.notice)


def render_all_for_library(midis: Sequence[bytes]) -> list[KeptAudio]:
    """:func:`render_for_library` of each, at once: FluidSynth runs as a process of its own per piece."""
    if not midis:
        return []
    with ThreadPoolExecutor(max_workers=min(len(midis), os.cpu_count() or 1)) as pool:
        return list(pool.map(render_for_library, midis))
