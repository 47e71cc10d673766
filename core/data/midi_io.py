"""Read and validate MIDI, and write it back.

Reading untrusted bytes goes in two steps whose cost the limits bound before
any parser builds an object: :func:`scan_chunks` walks the chunk headers only
(how many tracks, how many events they can hold, whether a chunk claims more
bytes than the file has), then symusic, a C++ parser, reads the events (the
1,034 Nottingham files in 0.08 s where pretty_midi, one Python object per
event, takes 11.6 s). pretty_midi stays for what its API serves: writing MIDI
and the synthesis fallback.

Validation turns every way a file can be unusable into an
:class:`InvalidMidiError` whose message says what is wrong with *that* file,
so a batch can report it and go on with the others.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import numpy as np
import pretty_midi
import symusic

from core.config import ValidationLimits
from core.errors import InvalidMidiError

MIDI_SUFFIXES = (".mid", ".midi")
DEFAULT_QPM = 120.0  # what a file without a tempo event plays at (the MIDI standard's default)
# The smallest event: a one-byte delta time and one data byte under running status (e.g. a program change).
_MIN_EVENT_BYTES = 2
_CHUNK_HEADER_BYTES = 8
_CORRUPT = "corrupt or truncated MIDI"


def _format_bytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KB"


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}min" if hours else f"{minutes}min {secs:02d}s"


@dataclass(frozen=True)
class ChunkScan:
    """What a MIDI file's chunk headers say, read without parsing a single event.

    Attributes:
        tracks: Number of track (``MTrk``) chunks, as the header declares.
        max_events: An upper bound on the events they hold (track bytes / 2).
        data: The file as the parser should read it: a 6-byte header and the
            chunks up to the last declared track (trailing bytes dropped).
    """

    tracks: int
    max_events: int
    data: bytes


def scan_chunks(data: bytes, limits: ValidationLimits | None = None) -> ChunkScan:
    """Walk the header and chunk-length fields of a MIDI file and check them against ``limits``.

    Costs one step per chunk, whatever the events inside, so a file is refused
    before a parser spends anything on it.

    Raises:
        InvalidMidiError: empty, oversize, not MIDI, a header or chunk cut
            short or claiming more bytes than the file has, an unknown format,
            unsupported timing, or more tracks or events than ``limits`` allow.
    """
    limits = limits or ValidationLimits()
    if len(data) == 0:
        raise InvalidMidiError("the file is empty (0 bytes)")
    if len(data) > limits.max_file_bytes:
        raise InvalidMidiError(
            f"the file is {_format_bytes(len(data))}, over the {_format_bytes(limits.max_file_bytes)} limit"
        )
    if not data.startswith(b"MThd"):
        raise InvalidMidiError("not a MIDI file (it does not start with the 'MThd' header)")
    if len(data) < 14:
        raise InvalidMidiError(f"{_CORRUPT} (the file ends inside its header)")
    (header_bytes,) = struct.unpack_from(">I", data, 4)
    if header_bytes < 6 or 8 + header_bytes > len(data):
        raise InvalidMidiError(f"{_CORRUPT} (the header claims {header_bytes} bytes)")
    midi_format, declared_tracks, division = struct.unpack_from(">HHH", data, 8)
    if midi_format > 2:
        raise InvalidMidiError(f"{_CORRUPT} (unknown MIDI format {midi_format} in the header)")
    if division & 0x8000:
        raise InvalidMidiError("unsupported MIDI timing (SMPTE frames instead of ticks per quarter note)")
    if division == 0:
        raise InvalidMidiError(f"{_CORRUPT} (0 ticks per quarter note in the header)")
    if declared_tracks > limits.max_tracks:
        raise InvalidMidiError(f"the file declares {declared_tracks} tracks, over the limit of {limits.max_tracks}")
    offset, tracks, track_bytes = 8 + header_bytes, 0, 0
    while tracks < declared_tracks:
        remaining = len(data) - offset
        if remaining < _CHUNK_HEADER_BYTES:
            raise InvalidMidiError(
                f"{_CORRUPT} (the header declares {declared_tracks} tracks but the file ends after {tracks}: "
                "the file is truncated)"
            )
        kind = data[offset : offset + 4]
        (length,) = struct.unpack_from(">I", data, offset + 4)
        remaining -= _CHUNK_HEADER_BYTES
        if length > remaining:
            what = f"track {tracks + 1}" if kind == b"MTrk" else f"a chunk at byte {offset}"
            raise InvalidMidiError(
                f"{_CORRUPT} ({what} claims {length:,} bytes but only {remaining:,} remain: the file is truncated)"
            )
        if kind == b"MTrk":  # other chunk types are skipped, as the standard asks
            tracks += 1
            track_bytes += length
        offset += _CHUNK_HEADER_BYTES + length
    max_events = track_bytes // _MIN_EVENT_BYTES
    if max_events > limits.max_events:
        raise InvalidMidiError(
            f"the file's tracks hold up to {max_events:,} MIDI events, over the limit of {limits.max_events:,}"
        )
    # symusic reads only a 6-byte header; later MIDI versions may declare a longer one.
    return ChunkScan(tracks, max_events, b"MThd\x00\x00\x00\x06" + data[8:14] + data[8 + header_bytes : offset])


def _read(data: bytes, limits: ValidationLimits) -> tuple[ChunkScan, symusic.Score]:
    """Scan, parse and validate; the scan's bytes are what was parsed."""
    scan = scan_chunks(data, limits)
    try:
        score = symusic.Score.from_midi(scan.data)
    except MemoryError:
        raise  # the file may be fine: the caller's memory limit decides what to say
    except Exception as error:  # symusic raises RuntimeError (and others) for broken events
        detail = str(error).removeprefix("MiniMidi: ").removesuffix(": iostream error").strip()
        raise InvalidMidiError(f"{_CORRUPT} ({detail or type(error).__name__})") from None
    notes = note_table(score)
    if len(notes) == 0:
        raise InvalidMidiError("the file contains no notes")
    if notes[:, :2].min() < 0 or score.end() < 0:
        raise InvalidMidiError(f"{_CORRUPT} (event times overflow)")
    if notes[:, 5].all():
        raise InvalidMidiError("the file contains only drum tracks (no pitched notes)")
    quarters = score.end() / score.ticks_per_quarter
    if quarters > limits.max_quarter_notes:
        raise InvalidMidiError(
            f"the piece spans {quarters:,.0f} quarter notes, over the limit of {limits.max_quarter_notes:,}"
        )
    end = end_seconds(score)
    if end > limits.max_duration_seconds:
        raise InvalidMidiError(
            f"the piece lasts {_format_seconds(end)}, over the limit of {_format_seconds(limits.max_duration_seconds)}"
        )
    return scan, score


def load_score(data: bytes, limits: ValidationLimits | None = None) -> symusic.Score:
    """Parse MIDI bytes with symusic and check them against ``limits``.

    Args:
        data: The raw file content.
        limits: Size, structure and length caps; defaults to :class:`ValidationLimits`.

    Returns:
        The parsed file in ticks, with at least one pitched (non-drum) note.

    Raises:
        InvalidMidiError: empty, oversize, not MIDI, corrupt or truncated, too
            many tracks or events, no notes, drums only, or longer than the limit.
    """
    return _read(data, limits or ValidationLimits())[1]


def load_midi(data: bytes, limits: ValidationLimits | None = None) -> pretty_midi.PrettyMIDI:
    """Validate MIDI bytes as :func:`load_score` does, then parse them with pretty_midi.

    For callers that need pretty_midi's API (the synthesis fallback); reading
    files to preprocess goes through :func:`load_score`, far cheaper.

    Raises:
        InvalidMidiError: as :func:`load_score`.
    """
    scan, _ = _read(data, limits or ValidationLimits())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi warns about odd but usable meta events
            return pretty_midi.PrettyMIDI(io.BytesIO(scan.data))
    except Exception as error:  # mido/pretty_midi raise many types for broken files
        detail = str(error).strip() or type(error).__name__
        raise InvalidMidiError(f"{_CORRUPT} ({detail})") from None


def as_score(midi: symusic.Score | pretty_midi.PrettyMIDI) -> symusic.Score:
    """The piece as a symusic score in ticks (a pretty_midi object is written and read back)."""
    if isinstance(midi, pretty_midi.PrettyMIDI):
        return symusic.Score.from_midi(midi_to_bytes(midi))
    return midi if midi.ttype == symusic.TimeUnit.tick else midi.to("tick")


def note_table(score: symusic.Score) -> np.ndarray:
    """Every note of every track, in ticks, as one table.

    A note ends at the first note-off of its pitch in its track after it
    starts, as pretty_midi pairs them (a note-off ends every sounding note of
    that pitch). symusic pairs them first in, first out, so one missing
    note-off would lengthen every later note of that pitch; music21 writes
    such files (112 of the first 300 Irish tunes). A note that no note-off
    follows is left out, as pretty_midi leaves it out.

    Returns:
        int64, shape=(n, 6): start tick, end tick, pitch, velocity, program, is_drum; unsorted.
    """
    parts = []
    for number, track in enumerate(score.tracks):
        columns = track.notes.numpy()
        if len(columns["time"]) == 0:
            continue
        start = columns["time"].astype(np.int64)
        part = np.empty((len(start), 7), dtype=np.int64)
        part[:, 0] = start
        part[:, 1] = start + columns["duration"]
        part[:, 2] = columns["pitch"]
        part[:, 3] = columns["velocity"]
        part[:, 4] = track.program
        part[:, 5] = track.is_drum
        part[:, 6] = number * 128 + part[:, 2]  # one group per track and pitch
        parts.append(part)
    if not parts:
        return np.zeros((0, 6), dtype=np.int64)
    table = np.concatenate(parts)
    # Both times as one sortable key per group: group * span + tick.
    span = int(np.abs(table[:, :2]).max()) + 2
    offs = np.sort(table[:, 6] * span + table[:, 1])
    after = np.searchsorted(offs, table[:, 6] * span + table[:, 0], side="right")
    found = after < len(offs)
    off = offs[np.minimum(after, len(offs) - 1)]
    found &= off // span == table[:, 6]
    table[:, 1] = off - table[:, 6] * span
    return table[found, :6]


def tempo_map(score: symusic.Score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the tempo changes, in ticks and seconds, and the seconds per tick from there.

    Before the first tempo event the file plays at 120 quarter notes per minute.

    Returns:
        (change_ticks, change_seconds, seconds_per_tick), each float64, shape=(k,), k >= 1,
        starting at tick 0.
    """
    columns = score.tempos.numpy()
    order = np.argsort(columns["time"], kind="stable")
    ticks = columns["time"][order].astype(np.float64)
    seconds_per_tick = columns["mspq"][order].astype(np.float64) / 1e6 / score.ticks_per_quarter
    if len(ticks) == 0 or ticks[0] > 0:
        ticks = np.concatenate([[0.0], ticks])
        seconds_per_tick = np.concatenate([[60.0 / DEFAULT_QPM / score.ticks_per_quarter], seconds_per_tick])
    change_seconds = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * seconds_per_tick[:-1])])
    return ticks, change_seconds, seconds_per_tick


def ticks_to_seconds(score: symusic.Score, ticks: np.ndarray) -> np.ndarray:
    """Map tick positions to seconds, following the tempo map.

    Args:
        ticks: shape=(n,).

    Returns:
        float64, shape=(n,), seconds since the start.
    """
    change_ticks, change_seconds, seconds_per_tick = tempo_map(score)
    ticks = np.asarray(ticks, dtype=np.float64)
    segment = np.clip(np.searchsorted(change_ticks, ticks, side="right") - 1, 0, len(change_ticks) - 1)
    return change_seconds[segment] + (ticks - change_ticks[segment]) * seconds_per_tick[segment]


def end_seconds(score: symusic.Score) -> float:
    """When the last event ends (a note's end, a controller, a meta event), in seconds."""
    return float(ticks_to_seconds(score, np.array([max(score.end(), 0)]))[0])


def midi_to_bytes(midi: pretty_midi.PrettyMIDI) -> bytes:
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def is_midi_name(name: str) -> bool:
    return name.lower().endswith(MIDI_SUFFIXES)
