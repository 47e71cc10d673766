"""Shared fixtures: every test runs against its own temporary NEUROTUNE_HOME."""

from __future__ import annotations

import io
import os

import numpy as np
import pretty_midi
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def neurotune_home(tmp_path, monkeypatch):
    home = tmp_path / "neurotune-home"
    monkeypatch.setenv("NEUROTUNE_HOME", str(home))
    monkeypatch.delenv("NEUROTUNE_DB_URL", raising=False)
    monkeypatch.delenv("NEUROTUNE_SOUNDFONT", raising=False)
    monkeypatch.setenv("NEUROTUNE_CHECKPOINTS", str(tmp_path / "checkpoints"))
    for access in ("NEUROTUNE_ADMIN_PASSWORD", "NEUROTUNE_ADDRESS", "NEUROTUNE_OPEN_COMPOSE"):
        monkeypatch.delenv(access, raising=False)
    monkeypatch.setattr("core.settings.SECRETS_FILES", ())  # a developer's own secrets file must not guard tests
    return home


def make_midi_bytes(
    notes: list[tuple[int, float, float]] | None = None,
    *,
    tempo: float = 120.0,
    program: int = 0,
    drum_notes: list[tuple[int, float, float]] | None = None,
    velocity: int = 80,
) -> bytes:
    """A small MIDI file: ``notes`` as (pitch, start_seconds, end_seconds)."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    if notes:
        instrument = pretty_midi.Instrument(program=program)
        instrument.notes = [pretty_midi.Note(velocity, p, s, e) for p, s, e in notes]
        midi.instruments.append(instrument)
    if drum_notes:
        drums = pretty_midi.Instrument(program=0, is_drum=True)
        drums.notes = [pretty_midi.Note(velocity, p, s, e) for p, s, e in drum_notes]
        midi.instruments.append(drums)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def scale_piece(offset: int = 0, length: int = 16, step: float = 0.25) -> bytes:
    """A monophonic run of ``length`` notes, one every ``step`` seconds (a 16th at 60 BPM... 8th at 120)."""
    pitches = [60 + offset + (i * 2) % 12 for i in range(length)]
    return make_midi_bytes([(p, i * step, (i + 1) * step) for i, p in enumerate(pitches)])


def make_notes(*rows: tuple[int, ...]) -> np.ndarray:
    """A notes array from rows of (start, end, pitch[, velocity[, program[, is_drum]]]); velocity defaults to 80."""
    notes = np.zeros((len(rows), 6), dtype=np.int32)
    notes[:, 3] = 80
    for index, row in enumerate(rows):
        notes[index, : len(row)] = row
    return notes
