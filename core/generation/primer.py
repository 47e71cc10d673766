"""Primers: the notes a composition continues from."""

from __future__ import annotations

import math
import re

import numpy as np
import pretty_midi

from core.config import DataConfig
from core.data.ingest import ingest_one
from core.data.piece import END, PITCH, START, VELOCITY, empty_notes, sort_notes
from core.errors import GenerationError
from core.music.theory import note_number

PRIMER_VELOCITY = 100
NOTE_TEXT_EXAMPLE = "C4 E4 G4:2 R:0.5 C4+E4+G4:1.5"
_RESTS = ("r", "-")


def _token_error(token: str, problem: str) -> GenerationError:
    return GenerationError(
        f"Cannot read {token!r} in the primer: {problem}. Write notes with an octave (C4, F#3, Bb5), rests R or -, "
        f"chords joined by + and durations in quarter notes after a colon, e.g. {NOTE_TEXT_EXAMPLE!r}."
    )


def _note_number(name: str, token: str) -> int:
    """MIDI number of a note name, read as pretty_midi reads it (C4 = 60, Cb4 = 59)."""
    try:
        pitch = note_number(name)
    except ValueError:
        raise _token_error(token, f"{name!r} is not a note name with an octave") from None
    if not 0 <= pitch <= 127:
        raise _token_error(token, f"{name!r} is MIDI pitch {pitch}, outside 0..127 (C-1..G9)")
    return pitch


def _duration_steps(text: str, token: str, steps_per_quarter: int) -> int:
    try:
        quarters = float(text)
    except ValueError:
        raise _token_error(token, f"duration {text!r} is not a number of quarter notes") from None
    if not math.isfinite(quarters) or quarters <= 0:
        raise _token_error(token, f"duration {text!r} must be a positive number of quarter notes")
    return max(1, math.floor(quarters * steps_per_quarter + 0.5))


def parse_note_text(text: str, steps_per_quarter: int) -> np.ndarray:
    """Read a primer typed as text, e.g. ``"C4 E4 G4:2 R:0.5 C4+E4+G4:1.5"``.

    Tokens are separated by spaces or commas and follow each other in time.
    A token is a note name with octave (``C4``, ``F#3``, ``Bb5``, ``eb4``; C4 is
    MIDI 60 as in pretty_midi), a rest (``R`` or ``-``) or a chord of note names
    joined by ``+`` (``C4+E4+G4``), optionally followed by ``:N``, its length in
    quarter notes (default 1). A length off the step grid is rounded to the
    nearest step (halves up), and a length under half a step still takes one
    step, so that any positive length the user types plays. Notes get velocity 100 and
    program 0. Text of rests only gives no notes.

    Args:
        text: The primer as typed.
        steps_per_quarter: Grid resolution of the model that continues it.

    Returns:
        int32, shape=(n, 6), canonical order.

    Raises:
        GenerationError: empty text, or a token that is not a note, rest or
            chord, a pitch outside 0..127, a duration that is not a positive
            number; the message names the token and shows an example.
    """
    if steps_per_quarter < 1:
        raise GenerationError(f"steps_per_quarter must be at least 1, got {steps_per_quarter}")
    tokens = [token for token in re.split(r"[\s,]+", text or "") if token]
    if not tokens:
        raise GenerationError(f"The primer is empty: type some notes, e.g. {NOTE_TEXT_EXAMPLE!r}.")
    rows: list[tuple[int, int, int]] = []
    step = 0
    for token in tokens:
        name, colon, duration = token.partition(":")
        if colon and (not duration or ":" in duration):
            raise _token_error(token, "write one duration after a single colon")
        length = _duration_steps(duration, token, steps_per_quarter) if colon else steps_per_quarter
        if name.lower() not in _RESTS:
            names = name.split("+")
            if not all(names):
                raise _token_error(token, "a chord needs a note on each side of every +")
            pitches = sorted({_note_number(note_name, token) for note_name in names})
            rows.extend((step, step + length, pitch) for pitch in pitches)
        step += length
    if not rows:
        return empty_notes()
    notes = np.zeros((len(rows), 6), dtype=np.int32)
    notes[:, [START, END, PITCH]] = rows
    notes[:, VELOCITY] = PRIMER_VELOCITY
    return sort_notes(notes)


def first_bars(notes: np.ndarray, bars: float, steps_per_bar: int) -> np.ndarray:
    """The notes starting in the first ``bars`` bars, cut at the end of the last one (an excerpt as primer).

    Leading silence is dropped first, so an excerpt starts with music.
    """
    if len(notes) == 0:
        return notes
    notes = notes.copy()
    notes[:, [START, END]] -= notes[:, START].min()
    limit = max(int(round(bars * steps_per_bar)), 1)
    notes = notes[notes[:, START] < limit]
    notes[:, END] = np.minimum(notes[:, END], limit)
    return sort_notes(notes)


def rescale_grid(notes: np.ndarray, from_steps_per_quarter: int, to_steps_per_quarter: int) -> np.ndarray:
    """Notes moved from one quantization grid to another (a dataset's to a model's); every note keeps >= 1 step."""
    if from_steps_per_quarter == to_steps_per_quarter or len(notes) == 0:
        return notes
    notes = notes.copy()
    scaled = np.rint(notes[:, [START, END]] * to_steps_per_quarter / from_steps_per_quarter).astype(np.int32)
    notes[:, START], notes[:, END] = scaled[:, 0], np.maximum(scaled[:, 1], scaled[:, 0] + 1)
    return sort_notes(notes)


def fit_pitch_range(notes: np.ndarray, low: int, high: int) -> tuple[np.ndarray, list[str]]:
    """Move primer notes outside a model's pitch range in by octaves; drop those that still do not fit.

    Returns:
        (notes, warnings): the notes that fit and, for each kind of change, a sentence for the user.
    """
    if len(notes) == 0:
        return notes, []
    notes = notes.copy()
    pitches = notes[:, PITCH]
    outside = (pitches < low) | (pitches > high)
    if not outside.any():
        return notes, []
    octaves_up = np.ceil(np.maximum(low - pitches, 0) / 12).astype(np.int32)
    octaves_down = np.ceil(np.maximum(pitches - high, 0) / 12).astype(np.int32)
    moved = pitches + 12 * octaves_up - 12 * octaves_down
    fits = (moved >= low) & (moved <= high)
    notes[:, PITCH] = moved
    warnings = [
        f"{int(outside.sum())} primer note(s) were outside the model's range "
        f"{pretty_midi.note_number_to_name(low)}..{pretty_midi.note_number_to_name(high)} "
        "and were moved by octaves into it"
    ]
    if not fits.all():
        warnings.append(f"{int((~fits).sum())} primer note(s) could not be moved into range and were dropped")
    return sort_notes(notes[fits]), warnings


def primer_from_midi(data: bytes, config: DataConfig, bars: float, beats_per_bar: int = 4) -> np.ndarray:
    """The first ``bars`` bars of an uploaded MIDI file, preprocessed as the model's training data was.

    Raises:
        InvalidMidiError: A file that is not usable MIDI (corrupt, empty, drums only, ...).
    """
    _, notes = ingest_one("primer", data, config)  # read in a sandboxed worker, as dataset uploads are
    return first_bars(notes, bars, beats_per_bar * config.steps_per_quarter)
