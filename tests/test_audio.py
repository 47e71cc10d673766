"""Audio always renders: FluidSynth when it can, sine waves with a notice when it cannot."""

from __future__ import annotations

import io
import shutil
import wave

import numpy as np
import pretty_midi
import pytest

from core import audio
from core.audio import cut_wav
from core.errors import InvalidMidiError
from tests.conftest import make_midi_bytes

# Four half-second notes: the piece ends at 2 s.
NOTES = [(60 + 2 * i, 0.5 * i, 0.5 * (i + 1)) for i in range(4)]


@pytest.fixture
def debian_dir(tmp_path, monkeypatch):
    folder = tmp_path / "sf2"
    folder.mkdir()
    monkeypatch.setattr(audio, "DEBIAN_SOUNDFONT_DIR", folder)
    return folder


def read_wav(data: bytes) -> tuple[int, int, float, np.ndarray]:
    """(channels, sample rate, seconds, int16 samples) of a 16-bit WAV file."""
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getsampwidth() == 2
        frames = wav.getnframes()
        samples = np.frombuffer(wav.readframes(frames), dtype="<i2")
        return wav.getnchannels(), wav.getframerate(), frames / wav.getframerate(), samples


def test_configured_soundfont_wins(tmp_path, monkeypatch, debian_dir):
    (debian_dir / "FluidR3_GM.sf2").write_bytes(b"sf2")
    configured = tmp_path / "mine.sf2"
    configured.write_bytes(b"sf2")
    monkeypatch.setenv("NEUROTUNE_SOUNDFONT", str(configured))
    assert audio.find_soundfont() == configured


def test_debian_soundfonts_in_order_of_preference(tmp_path, monkeypatch, debian_dir):
    monkeypatch.setenv("NEUROTUNE_SOUNDFONT", str(tmp_path / "missing.sf2"))
    (debian_dir / "another.sf2").write_bytes(b"sf2")
    assert audio.find_soundfont() == debian_dir / "another.sf2"
    (debian_dir / "TimGM6mb.sf2").write_bytes(b"sf2")
    assert audio.find_soundfont() == debian_dir / "TimGM6mb.sf2"
    (debian_dir / "FluidR3_GM.sf2").write_bytes(b"sf2")
    assert audio.find_soundfont() == debian_dir / "FluidR3_GM.sf2"


def test_pretty_midi_soundfont_is_the_last_resort(tmp_path, monkeypatch, debian_dir):
    assert audio.find_soundfont() == audio.PRETTY_MIDI_SOUNDFONT
    assert audio.PRETTY_MIDI_SOUNDFONT.is_file()
    monkeypatch.setattr(audio, "PRETTY_MIDI_SOUNDFONT", tmp_path / "gone.sf2")
    assert audio.find_soundfont() is None


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="the fluidsynth binary is not installed")
def test_fluidsynth_renders_a_wav():
    midi = pretty_midi.PrettyMIDI(io.BytesIO(make_midi_bytes(NOTES)))
    rendering = audio.render_wav(midi)
    assert (rendering.engine, rendering.notice, rendering.sample_rate) == ("fluidsynth", None, 22050)
    channels, sample_rate, seconds, samples = read_wav(rendering.wav)
    assert sample_rate == 22050 and channels in (1, 2)
    assert 2.0 <= seconds <= 2.0 + 4.0  # FluidSynth renders until the last note's release dies away
    assert np.abs(samples).max() > 1000


def test_without_fluidsynth_it_falls_back_with_a_notice(monkeypatch):
    monkeypatch.setattr(audio, "fluidsynth_available", lambda: False)
    rendering = audio.render_wav(make_midi_bytes(NOTES), sample_rate=16000)
    assert rendering.engine == "pretty_midi"
    assert "FluidSynth is not installed" in rendering.notice and "make run" in rendering.notice
    channels, sample_rate, seconds, samples = read_wav(rendering.wav)
    assert (channels, sample_rate) == (1, 16000)
    assert 2.0 <= seconds <= 3.5
    assert np.abs(samples).max() == pytest.approx(audio.PEAK_AMPLITUDE * 32767, abs=2)


def test_without_a_soundfont_it_falls_back(monkeypatch):
    monkeypatch.setattr(audio, "fluidsynth_available", lambda: True)
    monkeypatch.setattr(audio, "find_soundfont", lambda: None)
    rendering = audio.render_wav(make_midi_bytes(NOTES))
    assert rendering.engine == "pretty_midi"
    assert "NEUROTUNE_SOUNDFONT" in rendering.notice


def test_a_silent_fluidsynth_failure_falls_back(monkeypatch):
    class WritesNothing:
        """Like midi2audio when fluidsynth fails: no exception, no file."""

        def __init__(self, sound_font, sample_rate):
            pass

        def midi_to_audio(self, midi_file, audio_file):
            pass

    monkeypatch.setattr(audio, "fluidsynth_available", lambda: True)
    monkeypatch.setattr(audio, "FluidSynth", WritesNothing)
    rendering = audio.render_wav(make_midi_bytes(NOTES))
    assert rendering.engine == "pretty_midi"
    assert "could not render" in rendering.notice
    assert read_wav(rendering.wav)[2] >= 2.0


def test_bytes_that_are_not_midi_raise():
    with pytest.raises(InvalidMidiError):
        audio.render_wav(b"not a midi file")


COMPRESSED_MAGIC = {".ogg": b"OggS", ".flac": b"fLaC"}


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="the fluidsynth binary is not installed")
@pytest.mark.parametrize("as_bytes", [True, False], ids=["bytes", "parsed"])
def test_fluidsynth_renders_a_compressed_file(as_bytes):
    audio_format = audio.compressed_format()
    if audio_format is None:
        pytest.skip("the installed FluidSynth writes neither Ogg Vorbis nor FLAC")
    data = make_midi_bytes(NOTES)
    midi = data if as_bytes else pretty_midi.PrettyMIDI(io.BytesIO(data))
    rendered = audio.render_compressed(midi)
    assert rendered is not None
    file_bytes, suffix = rendered
    assert suffix == f".{audio_format}" and suffix in audio.MIME_TYPES
    assert len(file_bytes) > 1000 and file_bytes.startswith(COMPRESSED_MAGIC[suffix])


def test_without_fluidsynth_there_is_no_compressed_format(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert audio.compressed_format() is None
    assert audio.render_compressed(make_midi_bytes(NOTES)) is None


def test_a_fluidsynth_without_compressed_types_gives_none(monkeypatch):
    monkeypatch.setattr(audio, "compressed_format", lambda: None)
    assert audio.render_compressed(make_midi_bytes(NOTES)) is None


def test_bytes_that_are_not_midi_raise_when_compressing():
    with pytest.raises(InvalidMidiError):
        audio.render_compressed(b"not a midi file")


def test_a_wav_is_cut_with_a_fade_and_measured():
    rate = 8000
    tone = (np.sin(np.arange(3 * rate) * 0.3) * 20000).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(tone.tobytes())
    cut, seconds = cut_wav(buffer.getvalue(), 1.0)
    assert seconds == 1.0
    with wave.open(io.BytesIO(cut)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), np.int16)
    assert len(samples) == rate and abs(int(samples[-1])) <= 1  # faded to silence
    assert np.array_equal(samples[: rate // 2], tone[: rate // 2])  # untouched before the fade
    assert cut_wav(cut, 5.0) == (cut, 1.0)  # shorter than the cut: as it was
