"""Benchmark: what one upload can cost within the default limits, and how fast real files go in.

Prints one JSON object:

- ``adversarial``: hostile files generated here (dense notes just under the event limit and just
  under the size limit, many tiny tracks, a channel/program churn that makes thousands of
  symusic tracks, huge running-status runs, a tempo map of a quarter of a million changes, one
  giant meta event), each read as its own upload through the sandboxed workers with the default
  :class:`~core.config.ValidationLimits`: outcome, worker CPU seconds, worker peak RSS (MB);
- ``zip_of_100_dense``: a zip of 100 dense members (each just under the event limit) through
  ``read_uploads`` and the workers: zip size, parent + worker CPU seconds, wall seconds;
- ``worst_file``: the largest CPU seconds and peak RSS over those files;
- ``bach``: files per second on the Bach chorales' MIDI: the old path's pretty_midi parse, the
  symusic parse, validation + preprocessing in this process, and the whole sandboxed ingest
  (spawning workers included), all in this run.

Targets: any single file under 10 s of CPU and 500 MB of worker memory, whatever its content.

    .venv/bin/python bench/ingest_limits.py [--workers N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import struct
import sys
import time
import warnings
import zipfile
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"file_cpu_s": 10, "file_peak_rss_mb": 500}


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack(">I", len(body)) + body


def _midi(tracks: list[bytes], division: int = 480) -> bytes:
    header = _chunk(b"MThd", struct.pack(">HHH", 1, len(tracks), division))
    return header + b"".join(_chunk(b"MTrk", body + b"\x00\xff\x2f\x00") for body in tracks)


def _dense_notes(track_bytes: int) -> bytes:
    """Notes under running status: 6 bytes a note (on, then on with velocity 0), one tick apart."""
    notes = max(1, (track_bytes - 8) // 6)
    body = bytearray(b"\x00\x90")
    for i in range(notes):
        pitch = 21 + i % 88
        body += bytes((pitch, 64, 1, pitch, 0, 0))
    return bytes(body[:-1])  # the last note needs no next delta time


def _melody(notes: int = 64, ticks: int = 480) -> bytes:
    """One note a quarter: what makes a file pass the preprocessing filters."""
    body = bytearray()
    for i in range(notes):
        body += bytes((0, 0x90, 60 + i % 12, 80)) + _varlen(ticks) + bytes((0x80, 60 + i % 12, 0))
    return bytes(body)


def _chords(notes: int) -> bytes:
    """Four-note chords every sixteenth (120 ticks): ``notes`` notes, all kept by the filters."""
    body = bytearray()
    for onset in range(notes // 4):
        pitches = [48 + (onset + 3 * k) % 36 for k in range(4)]
        body += b"".join(bytes((0, 0x90, pitch, 80)) for pitch in pitches)
        body += _varlen(120) + bytes((0x80, pitches[0], 0)) + b"".join(bytes((0, 0x80, p, 0)) for p in pitches[1:])
    return bytes(body)


def adversarial_files(max_events: int, max_tracks: int, max_file_bytes: int, max_notes: int) -> dict[str, bytes]:
    at_limit = 2 * max_events - 64  # the pre-scan's bound is track bytes / 2
    churn = bytearray()
    for i in range(at_limit // 11):
        channel, program, pitch = i % 16, (i // 16) % 128, 36 + i % 60
        churn += bytes((0, 0xC0 | channel, program, 0, 0x90 | channel, pitch, 64, 1, 0x80 | channel, pitch, 0))
    melody = _melody()
    room = at_limit - len(melody) - 16  # beside the melody, in a second track
    pressure = b"\x00\xd0\x40" + b"\x01\x40" * (room // 2)
    bends = b"\x00\xe0\x00\x40" + b"\x01\x00\x40" * (room // 3)
    tempo = bytearray()
    for i in range(room // 7):
        tempo += b"\x01\xff\x51\x03" + (400_000 + (i % 2) * 100_000).to_bytes(3, "big")
    text = b"\x00\xff\x01" + _varlen(room) + b"x" * room
    per_track = at_limit // max_tracks - 16
    return {
        "max_notes_accepted": _midi([_chords(max_notes)]),
        "dense_just_under_event_limit": _midi([_dense_notes(at_limit)]),
        "dense_just_under_size_limit": _midi([_dense_notes(max_file_bytes - 64)]),
        "many_tiny_tracks": _midi([_dense_notes(per_track) for _ in range(max_tracks)]),
        "channel_program_churn": _midi([bytes(churn)]),
        "running_status_pressure": _midi([melody, pressure]),
        "running_status_pitch_bends": _midi([melody, bends]),
        "tempo_map_churn": _midi([melody, bytes(tempo)]),
        "giant_meta_event": _midi([melody, text]),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_one(name: str, data: bytes) -> dict:
    """One file as its own upload, through a fresh sandboxed worker, under the default limits."""
    from core.config import DataConfig, ValidationLimits
    from core.data.ingest import ingest_files

    with closing(ingest_files([(name, data)], DataConfig(), ValidationLimits(), workers=1)) as outcomes:
        (outcome,) = list(outcomes)
    result = outcome.result
    return {
        "size_kb": round(len(data) / 1024),
        "outcome": result if isinstance(result, str) else f"accepted ({len(result[1])} notes)",
        "worker_cpu_s": round(outcome.cpu_seconds, 3),
        "worker_peak_rss_mb": round(outcome.peak_rss_mb, 1),
    }


def zip_upload(member: bytes, count: int, workers: int) -> dict:
    from core.config import DataConfig, ValidationLimits
    from core.data.ingest import ingest_files
    from core.data.uploads import read_uploads

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(count):
            archive.writestr(f"dense/{i:03d}.mid", member)
    upload = buffer.getvalue()
    wall, parent_cpu, children_cpu = time.perf_counter(), time.process_time(), _children_cpu()
    files, rejections = read_uploads([("dense.zip", upload)])
    limits = ValidationLimits()
    outcomes_list = []
    with closing(ingest_files([(f.name, f.data) for f in files], DataConfig(), limits, workers=workers)) as outcomes:
        outcomes_list = list(outcomes)
    reasons = sorted({o.result if isinstance(o.result, str) else "accepted" for o in outcomes_list})
    return {
        "zip_kb": round(len(upload) / 1024),
        "members": count,
        "member_kb": round(len(member) / 1024),
        "rejected_before_reading": len(rejections),
        "outcomes": reasons,
        "total_cpu_s": round(time.process_time() - parent_cpu + _children_cpu() - children_cpu, 2),
        "wall_s": round(time.perf_counter() - wall, 2),
        "max_worker_peak_rss_mb": round(max(o.peak_rss_mb for o in outcomes_list), 1),
    }


def bach_throughput(workers: int) -> dict:
    """Files per second on the Bach chorales: old parse, new parse, new in-process, new sandboxed ingest."""
    import pretty_midi  # the old path's parser, kept here only as the reference

    from core.config import DataConfig, ValidationLimits
    from core.data.corpora import build_corpus
    from core.data.ingest import ingest_files, process_file
    from core.data.midi_io import load_score

    files = [(path.name, path.read_bytes()) for path in build_corpus("bach-chorales").files]
    config, limits = DataConfig(), ValidationLimits()

    def rate(run) -> float:
        started = time.perf_counter()
        run()
        return round(len(files) / (time.perf_counter() - started), 1)

    def old_parse() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _, data in files:
                pretty_midi.PrettyMIDI(io.BytesIO(data))

    def new_parse() -> None:
        for _, data in files:
            load_score(data, limits)

    def new_in_process() -> None:
        for name, data in files:
            process_file(name, data, config, limits)

    accepted = 0

    def new_ingest() -> None:
        nonlocal accepted
        with closing(ingest_files(files, config, limits, workers=workers)) as outcomes:
            accepted = sum(not isinstance(o.result, str) for o in outcomes)

    figures = {
        "files": len(files),
        "old_pretty_midi_parse_files_per_s": rate(old_parse),
        "new_symusic_parse_and_validate_files_per_s": rate(new_parse),
        "new_validate_and_preprocess_in_process_files_per_s": rate(new_in_process),
        "new_sandboxed_ingest_files_per_s": rate(new_ingest),
    }
    figures["accepted"] = accepted
    figures["parse_speedup"] = round(
        figures["new_symusic_parse_and_validate_files_per_s"] / figures["old_pretty_midi_parse_files_per_s"], 1
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from core.config import DataConfig, ValidationLimits
    from core.data import ingest

    # Every reader ends with its upload, so that RUSAGE_CHILDREN counts its CPU and each file has a fresh one.
    ingest.SPARE_READERS = 0
    limits = ValidationLimits()
    files = adversarial_files(limits.max_events, limits.max_tracks, limits.max_file_bytes, DataConfig().max_notes)
    adversarial = {name: read_one(name, data) for name, data in files.items()}
    zipped = zip_upload(files["dense_just_under_event_limit"], 100, args.workers)
    print(
        json.dumps(
            {
                "benchmark": "ingest-limits",
                "cores": os.cpu_count(),
                "workers": args.workers,
                "limits": {
                    "max_file_bytes": limits.max_file_bytes,
                    "max_events": limits.max_events,
                    "max_tracks": limits.max_tracks,
                    "max_file_cpu_seconds": limits.max_file_cpu_seconds,
                    "max_file_memory_mb": limits.max_file_memory_bytes // 2**20,
                    "max_upload_cpu_seconds": limits.max_upload_cpu_seconds,
                },
                "adversarial": adversarial,
                "worst_file": {
                    "cpu_s": max(f["worker_cpu_s"] for f in adversarial.values()),
                    "peak_rss_mb": max(f["worker_peak_rss_mb"] for f in adversarial.values()),
                },
                "zip_of_100_dense": zipped,
                "bach": bach_throughput(args.workers),
                "targets": TARGETS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
