"""Mutated MIDI files and zips: every file is accepted or rejected with a reason; nothing raises.

The mutations are those of a damaged or hostile upload: truncation, flipped bytes, chunk
lengths that lie, inserted garbage, odd header fields. Validation runs in this process for
speed; a few mutants also go through the sandboxed workers, which must agree.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
from contextlib import closing

import mido
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import DataConfig, ValidationLimits
from core.data.ingest import ingest_files, process_file
from core.data.uploads import read_uploads
from tests.conftest import make_midi_bytes, scale_piece

CONFIG = DataConfig(min_notes=1, min_duration_seconds=0.0)
LIMITS = ValidationLimits()
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _multitrack() -> bytes:
    """Type 1, a tempo map, key and time signatures, running status, two channels and a program change."""
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=500000, time=0),
            mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
            mido.MetaMessage("key_signature", key="Bm", time=0),
            mido.MetaMessage("set_tempo", tempo=700000, time=960),
        ]
    )
    voices = []
    for channel, base in ((0, 60), (1, 48)):
        events = [mido.Message("program_change", channel=channel, program=40 + channel, time=0)]
        for i in range(12):
            events.append(mido.Message("note_on", channel=channel, note=base + i % 7, velocity=70, time=0))
            events.append(mido.Message("note_on", channel=channel, note=base + i % 7, velocity=0, time=240))
        voices.append(mido.MidiTrack(events))
    buffer = io.BytesIO()
    mido.MidiFile(type=1, ticks_per_beat=480, tracks=[conductor, *voices]).save(file=buffer)
    return buffer.getvalue()


SEEDS = [
    scale_piece(),
    _multitrack(),
    make_midi_bytes([(60, 0, 1), (64, 0.5, 1.5)], drum_notes=[(36, 0, 0.5)], program=33, tempo=90),
]


def _chunk_offsets(data: bytes) -> list[int]:
    """Where each chunk's 4-byte length field starts (header first)."""
    offsets, offset = [], 0
    while offset + 8 <= len(data):
        offsets.append(offset + 4)
        offset += 8 + struct.unpack_from(">I", data, offset + 4)[0]
    return offsets


@st.composite
def mutated_midi(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "length", "insert", "delete", "header"]))
        last = max(len(data) - 1, 0)
        position = draw(st.one_of(st.integers(min(14, last), last), st.integers(0, last)))  # mostly past the header
        if kind == "truncate":
            del data[position:]
        elif kind == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "length":
            fields = _chunk_offsets(bytes(data))
            if fields:
                field = draw(st.sampled_from(fields))
                lie = draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)))
                data[field : field + 4] = struct.pack(">I", lie)
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif kind == "header" and len(data) >= 14:
            data[8 + 2 * draw(st.integers(0, 2)) : 10 + 2 * draw(st.integers(0, 2))] = struct.pack(
                ">H", draw(st.integers(0, 2**16 - 1))
            )
    return bytes(data)


def _check_result(result) -> None:
    if isinstance(result, str):
        assert result.strip(), "a rejection must say why"
        return
    meta, notes = result
    assert notes.ndim == 2 and notes.shape[1] == 6 and len(notes) > 0
    assert notes[:, 2].min() >= 0 and notes[:, 2].max() <= 127
    assert (notes[:, 1] > notes[:, 0]).all()
    assert np.isfinite(meta["duration_seconds"]) and np.isfinite(meta["tempo_bpm"])


@FUZZ
@given(mutated_midi())
def test_a_mutated_midi_file_is_accepted_or_rejected_with_a_reason(data):
    files, rejections = read_uploads([("piece.mid", data)], LIMITS)
    assert len(files) + len(rejections) == 1
    for source in files:
        _check_result(process_file(source.name, source.data, CONFIG, LIMITS))


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@FUZZ
@given(
    st.lists(mutated_midi(), min_size=1, max_size=3),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6),
    st.one_of(st.just(1.0), st.floats(0.2, 1.0)),
)
def test_a_damaged_zip_reports_each_member_and_keeps_the_readable_ones(members, method, flips, keep):
    data = bytearray(_zip({f"set/{i}.mid": member for i, member in enumerate(members)}, method))
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = bytes(data[: max(1, int(len(data) * keep))])
    files, rejections = read_uploads([("set.zip", data)], LIMITS)
    assert len(files) + len(rejections) >= 1
    assert all(r.reason.strip() for r in rejections)
    for source in files:
        _check_result(process_file(source.name, source.data, CONFIG, LIMITS))


def test_the_sandboxed_workers_agree_with_the_in_process_reading():
    rng = random.Random(7)
    mutants = []
    for seed in SEEDS:
        for _ in range(4):
            data = bytearray(seed)
            data[rng.randrange(len(data))] = rng.randrange(256)
            mutants.append(bytes(data[: rng.randrange(len(data) // 2, len(data) + 1)]))
    files = [(f"m{i}.mid", data) for i, data in enumerate([*SEEDS, *mutants])]
    expected = [process_file(name, data, CONFIG, LIMITS) for name, data in files]
    with closing(ingest_files(files, CONFIG, LIMITS, workers=2)) as outcomes:
        got = {outcome.index: outcome.result for outcome in outcomes}
    assert sorted(got) == list(range(len(files)))
    for index, result in got.items():
        if isinstance(expected[index], str):
            assert result == expected[index]
        else:
            assert result[0] == expected[index][0] and np.array_equal(result[1], expected[index][1])
