"""Each way a file can be unusable gets its own message."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from core.config import DataConfig, ValidationLimits
from core.data.midi_io import end_seconds, load_midi, load_score, note_table, scan_chunks, ticks_to_seconds
from core.errors import InvalidMidiError
from tests.conftest import make_midi_bytes, scale_piece


def _header(tracks: int = 1, division: int = 480, midi_format: int = 1) -> bytes:
    return b"MThd" + struct.pack(">IHHH", 6, midi_format, tracks, division)


def _track(body: bytes, claimed: int | None = None) -> bytes:
    return b"MTrk" + struct.pack(">I", len(body) if claimed is None else claimed) + body


def _varlen(value: int) -> bytes:
    """A MIDI variable-length quantity (delta times)."""
    out = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        out.insert(0, 0x80 | (value & 0x7F))
    return bytes(out)


NOTE = bytes([0x00, 0x90, 60, 80, 0x83, 0x60, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00])  # one quarter note


def test_valid_file_loads():
    midi = load_midi(scale_piece())
    assert sum(len(i.notes) for i in midi.instruments) == 16


def test_oversize_file_is_rejected_before_parsing():
    data = scale_piece()
    with pytest.raises(InvalidMidiError, match="over the .* limit"):
        load_midi(data, ValidationLimits(max_file_bytes=len(data) - 1))


def test_absurdly_long_piece_is_rejected():
    data = make_midi_bytes([(60, 0, 1), (62, 3000, 3001)])
    with pytest.raises(InvalidMidiError, match="over the limit of 30min"):
        load_midi(data, ValidationLimits(max_duration_seconds=1800))


@pytest.mark.parametrize("loader", [load_score, load_midi])
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, I am a text file", "not a MIDI file"),
        (make_midi_bytes([(60, 0, 1)] * 4)[:30], "corrupt or truncated"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\xff\xff\x00", "corrupt or truncated"),
        (make_midi_bytes([]), "no notes"),
        (make_midi_bytes(drum_notes=[(36, 0, 0.5), (38, 0.5, 1)]), "only drum tracks"),
        (
            _header() + _track(NOTE, claimed=len(NOTE) + 1),
            "track 1 claims 14 bytes but only 13 remain: the file is truncated",
        ),
        (_header(tracks=3) + _track(NOTE), "declares 3 tracks but the file ends after 1"),
        (_header(midi_format=7) + _track(NOTE), "unknown MIDI format 7"),
        (_header(division=0) + _track(NOTE), "0 ticks per quarter note"),
        (_header(division=0xE728) + _track(NOTE), "SMPTE"),
        (_header() + _track(NOTE.replace(bytes([60, 80]), bytes([200, 80]))), "corrupt or truncated"),
    ],
    ids=[
        "empty",
        "not-midi",
        "truncated",
        "corrupt-track",
        "zero-notes",
        "drums-only",
        "length-lie",
        "missing-track",
        "format",
        "division",
        "smpte",
        "data-byte",
    ],
)
def test_bad_files_are_rejected_with_a_specific_reason_by_both_loaders(loader, data, message):
    with pytest.raises(InvalidMidiError, match=message):
        loader(data)


def test_the_pre_scan_rejects_too_many_events_and_tracks_before_parsing():
    data = scale_piece()
    scan = scan_chunks(data)
    assert scan.tracks == 2 and 32 <= scan.max_events <= len(data) // 2  # pretty_midi writes a tempo track first
    with pytest.raises(InvalidMidiError, match=r"hold up to [\d,]+ MIDI events, over the limit of 10"):
        load_score(data, ValidationLimits(max_events=10))
    with pytest.raises(InvalidMidiError, match="declares 3 tracks, over the limit of 2"):
        scan_chunks(_header(tracks=3) + _track(NOTE) * 3, ValidationLimits(max_tracks=2))


def test_a_later_header_size_alien_chunks_and_trailing_bytes_are_read_past():
    longer_header = b"MThd" + struct.pack(">IHHHH", 8, 1, 1, 480, 0)
    data = longer_header + b"XFIH" + struct.pack(">I", 3) + b"abc" + _track(NOTE) + b"\0\0junk"
    score = load_score(data, ValidationLimits())
    assert [(n.time, n.duration, n.pitch) for n in score.tracks[0].notes] == [(0, 480, 60)]


def test_score_and_pretty_midi_agree_on_notes_and_timing():
    data = make_midi_bytes([(60, 0.0, 0.5), (64, 0.5, 1.25), (67, 1.25, 3.0)], tempo=90)
    score, midi = load_score(data), load_midi(data)
    ticks = note_table(score)
    seconds = ticks_to_seconds(score, ticks[:, :2].ravel()).reshape(-1, 2)
    expected = [(n.start, n.end) for n in midi.instruments[0].notes]
    assert np.allclose(seconds, expected) and end_seconds(score) == pytest.approx(midi.get_end_time())


def test_a_tempo_that_squeezes_too_many_quarter_notes_into_the_time_limit_is_rejected():
    fast = bytes([0x00, 0xFF, 0x51, 0x03, 0x00, 0x00, 0x01])  # 1 microsecond a quarter note
    later = _varlen(48_000) + bytes([0x90, 62, 80, 0x10, 0x80, 62, 0])  # a note 100 quarters (48,000 ticks) on
    data = _header() + _track(fast + NOTE[:-4] + later + NOTE[-4:])
    assert end_seconds(load_score(data)) < 0.001
    with pytest.raises(InvalidMidiError, match="spans 101 quarter notes, over the limit of 50"):
        load_score(data, ValidationLimits(max_quarter_notes=50))


def test_uploads_and_preprocessing_share_one_length_limit_by_default():
    assert ValidationLimits().max_duration_seconds == DataConfig().max_duration_seconds


def test_a_note_off_ends_every_sounding_note_of_its_pitch_as_pretty_midi_reads_it():
    # Two note-ons of C4, then two note-offs: pretty_midi ends both at the first note-off (960);
    # first-in-first-out pairing would hold the second until 1200, and shift every later note.
    events = [(0, 0x90, 80), (480, 0x90, 80), (960, 0x80, 0), (1200, 0x80, 0), (1440, 0x90, 80), (1920, 0x80, 0)]
    body = b"".join(
        _varlen(tick - last) + bytes([status, 60, velocity])
        for (last, _, _), (tick, status, velocity) in zip([(0, 0, 0), *events], events)
    )
    data = _header() + _track(body + b"\x00\xff\x2f\x00")
    expected = sorted((round(n.start * 960), round(n.end * 960)) for n in load_midi(data).instruments[0].notes)
    assert expected == [(0, 960), (480, 960), (1440, 1920)]  # 120 BPM and 480 ticks a quarter: 960 ticks a second
    assert sorted(map(tuple, note_table(load_score(data))[:, :2].tolist())) == expected
