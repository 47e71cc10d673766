"""Parse, filter, quantize and normalize one MIDI file into a QuantizedPiece.

Runs in worker processes, so everything here is a pure function of the file
and the :class:`~core.config.DataConfig`.
"""

from __future__ import annotations

import numpy as np
import pretty_midi

from core.config import DataConfig
from core.data.piece import END, PITCH, START, VELOCITY, QuantizedPiece, empty_notes, sort_notes
from core.data.representations import bin_velocity, trim_overlaps
from core.errors import InvalidMidiError

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Krumhansl-Kessler key profiles (Krumhansl 1990, "Cognitive Foundations of Musical Pitch").
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def seconds_to_beats(midi: pretty_midi.PrettyMIDI, times: np.ndarray) -> np.ndarray:
    """Map times in seconds to positions in quarter notes, following the tempo map.

    Args:
        times: shape=(n,), seconds.

    Returns:
        shape=(n,), quarter notes since the start.
    """
    change_times, tempi = midi.get_tempo_changes()
    if len(change_times) == 0:
        change_times, tempi = np.array([0.0]), np.array([120.0])
    beats_at_change = np.concatenate([[0.0], np.cumsum(np.diff(change_times) * tempi[:-1] / 60.0)])
    segment = np.clip(np.searchsorted(change_times, times, side="right") - 1, 0, len(change_times) - 1)
    return beats_at_change[segment] + (times - change_times[segment]) * tempi[segment] / 60.0


def quantize(midi: pretty_midi.PrettyMIDI, config: DataConfig) -> np.ndarray:
    """Snap every kept note onto the step grid.

    Drum tracks and unwanted programs are dropped first; a note shorter than
    one step keeps one step; same-pitch overlaps are resolved so that every
    representation can hold the result.

    Returns:
        int32, shape=(n, 6), see :data:`core.data.piece.NOTE_COLUMNS`.
    """
    rows = []
    for instrument in midi.instruments:
        if instrument.is_drum and config.drop_drums:
            continue
        if config.programs and (instrument.is_drum or instrument.program not in config.programs):
            continue
        for note in instrument.notes:
            rows.append((note.start, note.end, note.pitch, note.velocity, instrument.program, instrument.is_drum))
    if not rows:
        return empty_notes()
    table = np.array(rows, dtype=np.float64)
    steps = np.rint(seconds_to_beats(midi, table[:, :2].ravel()) * config.steps_per_quarter).reshape(-1, 2)
    notes = np.empty((len(table), 6), dtype=np.int32)
    notes[:, START] = steps[:, 0]
    notes[:, END] = np.maximum(steps[:, 1], steps[:, 0] + 1)
    notes[:, 2:] = table[:, 2:]
    return trim_overlaps(sort_notes(notes))


def pitch_class_histogram(notes: np.ndarray) -> np.ndarray:
    """Duration-weighted pitch-class histogram, shape=(12,), summing to 1 (zeros if empty)."""
    histogram = np.zeros(12)
    if len(notes):
        np.add.at(histogram, notes[:, PITCH] % 12, notes[:, END] - notes[:, START])
    total = histogram.sum()
    return histogram / total if total else histogram


def estimate_key(notes: np.ndarray) -> tuple[int, str]:
    """Krumhansl-Schmuckler key finding: correlate the pitch-class histogram with 24 key profiles.

    Returns:
        (tonic pitch class 0-11, "major" | "minor"); ``(0, "major")`` when empty.
    """
    histogram = pitch_class_histogram(notes)
    if not histogram.any():
        return 0, "major"
    best = (-np.inf, 0, "major")
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            score = np.corrcoef(histogram, np.roll(profile, tonic))[0, 1]
            if score > best[0]:
                best = (score, tonic, mode)
    return best[1], best[2]


def key_name(tonic: int, mode: str) -> str:
    return f"{PITCH_CLASS_NAMES[tonic % 12]} {mode}"


def transpose_notes(notes: np.ndarray, semitones: int) -> np.ndarray:
    """Shift pitched notes by ``semitones``, dropping any that leave 0..127."""
    shifted = notes.copy()
    shifted[:, PITCH] += semitones
    return shifted[(shifted[:, PITCH] >= 0) & (shifted[:, PITCH] <= 127)]


def shift_to_c(tonic: int, mode: str) -> int:
    """The smallest shift (-6..5) that takes the key to C major or A minor."""
    target = 0 if mode == "major" else 9
    return (target - tonic + 6) % 12 - 6


def longest_silence_seconds(midi: pretty_midi.PrettyMIDI) -> float:
    """Longest stretch after the first note in which nothing sounds."""
    spans = sorted((n.start, n.end) for inst in midi.instruments for n in inst.notes)
    longest, sounding_until = 0.0, spans[0][1] if spans else 0.0
    for start, end in spans[1:]:
        longest = max(longest, start - sounding_until)
        sounding_until = max(sounding_until, end)
    return longest


def preprocess_midi(midi: pretty_midi.PrettyMIDI, name: str, config: DataConfig) -> QuantizedPiece:
    """Filter, quantize and normalize a validated file.

    Raises:
        InvalidMidiError: the file does not pass the config's filters; the
            message names the filter and the file's value.
    """
    duration = midi.get_end_time()
    if duration < config.min_duration_seconds:
        raise InvalidMidiError(
            f"filtered out: lasts {duration:.1f} s, under min_duration {config.min_duration_seconds} s"
        )
    if duration > config.max_duration_seconds:
        raise InvalidMidiError(
            f"filtered out: lasts {duration:.0f} s, over max_duration {config.max_duration_seconds} s"
        )
    silence = longest_silence_seconds(midi)
    if silence > config.max_silence_seconds:
        raise InvalidMidiError(
            f"filtered out: has {silence:.1f} s of silence, over max_silence {config.max_silence_seconds} s"
        )
    notes = quantize(midi, config)
    if len(notes) == 0:
        raise InvalidMidiError("filtered out: no notes left after dropping drums and unwanted programs")
    if not config.min_notes <= len(notes) <= config.max_notes:
        raise InvalidMidiError(
            f"filtered out: {len(notes)} notes, outside min_notes..max_notes = {config.min_notes}..{config.max_notes}"
        )
    numerator, denominator = 4, 4
    if midi.time_signature_changes:
        first = midi.time_signature_changes[0]
        numerator, denominator = first.numerator, first.denominator
    # Drop leading silence in whole bars, so bar lines stay where they were.
    steps_per_bar = max(1, config.steps_per_quarter * numerator * 4 // denominator)
    notes[:, [START, END]] -= notes[:, START].min() // steps_per_bar * steps_per_bar
    tonic, mode = estimate_key(notes)
    if config.transpose_to_c:
        notes = transpose_notes(notes, shift_to_c(tonic, mode))
        tonic = 0 if mode == "major" else 9
    notes[:, VELOCITY] = bin_velocity(notes[:, VELOCITY], config.velocity_bins)
    _, tempi = midi.get_tempo_changes()
    declared = midi.key_signature_changes[0].key_number if midi.key_signature_changes else None
    return QuantizedPiece(
        name=name,
        notes=notes,
        steps_per_quarter=config.steps_per_quarter,
        tempo_bpm=float(tempi[0]) if len(tempi) else 120.0,
        time_signature=(numerator, denominator),
        key=key_name(tonic, mode),
        declared_key=None if declared is None else key_name(declared % 12, "minor" if declared >= 12 else "major"),
        duration_seconds=float(duration),
        tempos=[float(t) for t in tempi] or [120.0],
    )
