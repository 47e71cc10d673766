"""Filter, quantize and normalize one parsed MIDI file into a QuantizedPiece.

Works on a symusic score in ticks, so a note's position in quarter notes is
``tick / ticks_per_quarter`` whatever the tempo map. Runs in worker
processes, so everything here is a pure function of the file and the
:class:`~core.config.DataConfig`.
"""

from __future__ import annotations

import numpy as np
import pretty_midi
import symusic

from core.config import DataConfig
from core.data.midi_io import DEFAULT_QPM, as_score, end_seconds, note_table, tempo_map, ticks_to_seconds
from core.data.piece import END, PITCH, START, VELOCITY, QuantizedPiece, empty_notes, sort_notes
from core.data.representations.base import bin_velocity, trim_overlaps
from core.errors import InvalidMidiError
from core.music.theory import estimate_key, key_name, shift_to_c


def seconds_to_beats(score: symusic.Score, times: np.ndarray) -> np.ndarray:
    """Map times in seconds to positions in quarter notes, following the tempo map.

    Args:
        times: shape=(n,), seconds.

    Returns:
        shape=(n,), quarter notes since the start.
    """
    change_ticks, change_seconds, seconds_per_tick = tempo_map(score)
    segment = np.clip(np.searchsorted(change_seconds, times, side="right") - 1, 0, len(change_seconds) - 1)
    ticks = change_ticks[segment] + (times - change_seconds[segment]) / seconds_per_tick[segment]
    return ticks / score.ticks_per_quarter


def quantize(score: symusic.Score, config: DataConfig) -> np.ndarray:
    """Snap every kept note onto the step grid, as ``config.quantize`` says (:data:`QUANTIZERS`).

    Drum tracks and unwanted programs are dropped first; same-pitch overlaps are
    resolved afterwards so that every representation can hold the result.

    Returns:
        int32, shape=(n, 6), see :data:`core.data.piece.NOTE_COLUMNS`.
    """
    table = note_table(score)
    is_drum = table[:, 5].astype(bool)
    keep = ~is_drum if config.drop_drums else np.ones(len(table), dtype=bool)
    if config.programs:
        keep &= ~is_drum & np.isin(table[:, 4], config.programs)
    table = table[keep]
    steps = QUANTIZERS[config.quantize](table[:, :2] * config.steps_per_quarter / score.ticks_per_quarter)
    kept = steps[:, 1] > steps[:, 0]
    if not kept.any():
        return empty_notes()
    notes = np.empty((int(kept.sum()), 6), dtype=np.int32)
    notes[:, [START, END]] = steps[kept]
    notes[:, 2:] = table[kept, 2:]
    return trim_overlaps(sort_notes(notes))


def _nearest_steps(spans: np.ndarray) -> np.ndarray:
    """Onsets and ends to the nearest step (exact ties to even); a note shorter than one step keeps one."""
    steps = np.rint(spans)
    steps[:, 1] = np.maximum(steps[:, 1], steps[:, 0] + 1)
    return steps


# How far (in steps) after a step's instant a note may start or end and still count as on it: a note
# played a hair late holds the step it was meant for, one ending a hair late does not spill into the next.
SOUNDING_TOLERANCE_STEPS = 0.125


def _sounding_steps(spans: np.ndarray) -> np.ndarray:
    """The steps whose instants a note sounds at: from the first instant at or after its onset to the last
    before its end. A note between two instants (an eighth off the beat on a grid of quarters) holds none and
    is dropped, so each voice sounds one pitch per step, as the JSB Chorales were sampled on the beat."""
    return np.ceil(spans - SOUNDING_TOLERANCE_STEPS)


# config.quantize -> note spans in (fractional) steps, shape=(n, 2) -> (start, end) steps; end <= start drops it.
QUANTIZERS = {"nearest": _nearest_steps, "sounding": _sounding_steps}


def transpose_notes(notes: np.ndarray, semitones: int) -> np.ndarray:
    """Shift pitched notes by ``semitones``, dropping any that leave 0..127."""
    shifted = notes.copy()
    shifted[:, PITCH] += semitones
    return shifted[(shifted[:, PITCH] >= 0) & (shifted[:, PITCH] <= 127)]


def longest_silence_seconds(score: symusic.Score) -> float:
    """Longest stretch after the first note in which nothing sounds."""
    table = note_table(score)
    if len(table) < 2:
        return 0.0
    spans = ticks_to_seconds(score, table[:, :2].ravel()).reshape(-1, 2)
    spans = spans[np.argsort(spans[:, 0], kind="stable")]
    sounding_until = np.maximum.accumulate(spans[:, 1])
    return max(0.0, float((spans[1:, 0] - sounding_until[:-1]).max()))


def tempo_changes(score: symusic.Score) -> list[float]:
    """The tempi in quarter notes per minute, from the start on, repeats dropped.

    As pretty_midi reads them: 120 until a tempo event replaces it, tempo
    events at tick 0 replace each other, a later one counts when it changes the tempo.
    """
    columns = score.tempos.numpy()
    order = np.argsort(columns["time"], kind="stable")
    ticks, microseconds = columns["time"][order], columns["mspq"][order].astype(np.float64)
    at_start = microseconds[ticks == 0]
    sequence = np.concatenate([at_start[-1:] if len(at_start) else [6e7 / DEFAULT_QPM], microseconds[ticks > 0]])
    changed = np.concatenate([[True], sequence[1:] != sequence[:-1]])
    return (6e7 / sequence[changed]).tolist()


def preprocess_midi(midi: symusic.Score | pretty_midi.PrettyMIDI, name: str, config: DataConfig) -> QuantizedPiece:
    """Filter, quantize and normalize a validated file.

    Args:
        midi: The file as :func:`~core.data.midi_io.load_score` read it (a
            pretty_midi object is converted).

    Raises:
        InvalidMidiError: the file does not pass the config's filters; the
            message names the filter and the file's value.
    """
    score = as_score(midi)
    duration = end_seconds(score)
    if duration < config.min_duration_seconds:
        raise InvalidMidiError(
            f"filtered out: lasts {duration:.1f} s, under min_duration {config.min_duration_seconds} s"
        )
    if duration > config.max_duration_seconds:
        raise InvalidMidiError(
            f"filtered out: lasts {duration:.0f} s, over max_duration {config.max_duration_seconds} s"
        )
    silence = longest_silence_seconds(score)
    if silence > config.max_silence_seconds:
        raise InvalidMidiError(
            f"filtered out: has {silence:.1f} s of silence, over max_silence {config.max_silence_seconds} s"
        )
    notes = quantize(score, config)
    if len(notes) == 0:
        raise InvalidMidiError("filtered out: no notes left after dropping drums and unwanted programs")
    if not config.min_notes <= len(notes) <= config.max_notes:
        raise InvalidMidiError(
            f"filtered out: {len(notes)} notes, outside min_notes..max_notes = {config.min_notes}..{config.max_notes}"
        )
    numerator, denominator = 4, 4
    signatures = [change for change in score.time_signatures if change.numerator > 0 and change.denominator > 0]
    if signatures:  # a damaged one (x/0, 0/x) reads as absent
        first = min(signatures, key=lambda change: change.time)
        numerator, denominator = first.numerator, first.denominator
    # Drop leading silence in whole bars, so bar lines stay where they were.
    steps_per_bar = max(1, config.steps_per_quarter * numerator * 4 // denominator)
    notes[:, [START, END]] -= notes[:, START].min() // steps_per_bar * steps_per_bar
    tonic, mode = estimate_key(notes)
    if config.transpose_to_c:
        notes = transpose_notes(notes, shift_to_c(tonic, mode))
        tonic = 0 if mode == "major" else 9
    notes[:, VELOCITY] = bin_velocity(notes[:, VELOCITY], config.velocity_bins)
    tempi = tempo_changes(score)
    declared = _declared_key(score)
    return QuantizedPiece(
        name=name,
        notes=notes,
        steps_per_quarter=config.steps_per_quarter,
        tempo_bpm=tempi[0],
        time_signature=(numerator, denominator),
        key=key_name(tonic, mode),
        declared_key=None if declared is None else key_name(*declared),
        duration_seconds=duration,
        tempos=tempi,
    )


def _declared_key(score: symusic.Score) -> tuple[int, str] | None:
    """The first key signature as (tonic pitch class, mode), or None; a signature counts sharps (flats < 0)."""
    if not len(score.key_signatures):
        return None
    first = min(score.key_signatures, key=lambda change: change.time)
    minor = bool(first.tonality)
    return (first.key * 7 + (9 if minor else 0)) % 12, "minor" if minor else "major"
