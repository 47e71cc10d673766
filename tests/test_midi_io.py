"""Each way a file can be unusable gets its own message."""

from __future__ import annotations

import pytest

from core.config import ValidationLimits
from core.data.midi_io import load_midi
from core.errors import InvalidMidiError
from tests.conftest import make_midi_bytes, scale_piece


def test_valid_file_loads():
    midi = load_midi(scale_piece())
    assert sum(len(i.notes) for i in midi.instruments) == 16


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, I am a text file", "not a MIDI file"),
        (make_midi_bytes([(60, 0, 1)] * 4)[:30], "corrupt or truncated"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\xff\xff\x00", "corrupt or truncated"),
        (make_midi_bytes([]), "no notes"),
        (make_midi_bytes(drum_notes=[(36, 0, 0.5), (38, 0.5, 1)]), "only drum tracks"),
    ],
    ids=["empty", "not-midi", "truncated", "corrupt-track", "zero-notes", "drums-only"],
)
def test_bad_files_are_rejected_with_a_specific_reason(data, message):
    with pytest.raises(InvalidMidiError, match=message):
        load_midi(data)


def test_oversize_file_is_rejected_before_parsing():
    data = scale_piece()
    with pytest.raises(InvalidMidiError, match="over the .* limit"):
        load_midi(data, ValidationLimits(max_file_bytes=len(data) - 1))


def test_absurdly_long_piece_is_rejected():
    data = make_midi_bytes([(60, 0, 1), (62, 3000, 3001)])
    with pytest.raises(InvalidMidiError, match="over the limit of 30min"):
        load_midi(data, ValidationLimits(max_duration_seconds=1800))
