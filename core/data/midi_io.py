"""Load and validate MIDI with pretty_midi, and write it back.

Validation turns every way a file can be unusable into an
:class:`InvalidMidiError` whose message says what is wrong with *that* file,
so a batch can report it and go on with the others.
"""

from __future__ import annotations

import io
import warnings

import pretty_midi

from core.config import ValidationLimits
from core.errors import InvalidMidiError

MIDI_SUFFIXES = (".mid", ".midi")


def _format_bytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KB"


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}min" if hours else f"{minutes}min {secs:02d}s"


def load_midi(data: bytes, limits: ValidationLimits | None = None) -> pretty_midi.PrettyMIDI:
    """Parse MIDI bytes and check them against ``limits``.

    Args:
        data: The raw file content.
        limits: Size and length caps; defaults to :class:`ValidationLimits`.

    Returns:
        The parsed file, with at least one pitched (non-drum) note.

    Raises:
        InvalidMidiError: oversize, not MIDI, corrupt or truncated, no notes,
            drums only, or longer than the limit.
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi warns about odd but usable meta events
            midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as error:  # mido/pretty_midi raise many types for broken files
        detail = str(error).strip() or type(error).__name__
        raise InvalidMidiError(f"corrupt or truncated MIDI ({detail})") from None
    notes = sum(len(inst.notes) for inst in midi.instruments)
    if notes == 0:
        raise InvalidMidiError("the file contains no notes")
    if all(inst.is_drum for inst in midi.instruments if inst.notes):
        raise InvalidMidiError("the file contains only drum tracks (no pitched notes)")
    end = midi.get_end_time()
    if end > limits.max_duration_seconds:
        raise InvalidMidiError(
            f"the piece lasts {_format_seconds(end)}, over the limit of {_format_seconds(limits.max_duration_seconds)}"
        )
    return midi


def midi_to_bytes(midi: pretty_midi.PrettyMIDI) -> bytes:
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def is_midi_name(name: str) -> bool:
    return name.lower().endswith(MIDI_SUFFIXES)
