"""Pitch names, key profiles, key finding and scales: the theory every layer shares.

Pitch classes are integers 0-11 with C = 0; MIDI pitches are integers 0-127
with C4 = 60 (scientific pitch notation, as pretty_midi reads note names).
Functions over notes take an int32 notes array, shape=(n, 6), columns
:data:`core.data.piece.NOTE_COLUMNS`. Everything here is a pure function of
numpy arrays and strings: no TensorFlow, no MIDI library, no app errors (a
name that is not a note or a scale raises ``ValueError``; callers say what the
user should type instead).
"""

from __future__ import annotations

import re

import numpy as np

from core.data.piece import END, PITCH, START

# How many MIDI pitches there are (0-127): what a piano roll, the note grammar and a pitch softmax span.
MIDI_PITCHES = 128
# How the app spells each pitch class: the spelling of the usual key names (Eb major, not D# major).
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# The key centres a user picks from, in pitch-class order.
TONICS = PITCH_CLASS_NAMES
# Pitch class of each note letter, and the semitones each accidental adds ("!" is pretty_midi's other flat).
NOTE_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
ACCIDENTALS = {"": 0, "#": 1, "b": -1, "!": -1}
_NOTE_NAME = re.compile(r"([A-Ga-g])([#b!]?)([+-]?\d+)?")

# Krumhansl-Kessler probe-tone ratings of the 12 pitch classes in C major and C minor
# (Krumhansl and Kessler 1982, Psychological Review 89(4); Krumhansl 1990, "Cognitive Foundations of Musical Pitch").
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

# Intervals above the tonic, in semitones.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic minor": (0, 2, 3, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "major pentatonic": (0, 2, 4, 7, 9),
    "minor pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}
# Other names people type for the same scales.
SCALE_ALIASES = {"natural minor": "minor", "aeolian": "minor", "ionian": "major", "pentatonic": "major pentatonic"}


# === Pitch names ===


def _read_note_name(name: str, *, octave_required: bool) -> tuple[int, int | None]:
    """(pitch class, octave or None) of a note name such as ``"C#4"``, ``"eb"`` or ``"B!3"``."""
    match = _NOTE_NAME.fullmatch(name)
    if match is None or (octave_required and match.group(3) is None):
        raise ValueError(f"{name!r} is not a note name")
    letter, accidental, octave = match.groups()
    pitch_class = NOTE_LETTERS[letter.upper()] + ACCIDENTALS[accidental]
    return pitch_class, None if octave is None else int(octave)


def note_number(name: str) -> int:
    r"""MIDI number of a note name with an octave, as ``pretty_midi.note_name_to_number`` reads it.

    A letter (either case), an optional ``#`` or flat (``b`` or ``!``) and an
    octave: ``"C4"`` is 60, ``"Cb4"`` 59, ``"B#3"`` 60, ``"C-1"`` 0. The result
    is not range-checked.

    .. math:: number = 12 (octave + 1) + letter + accidental

    Raises:
        ValueError: ``name`` is not a note name with an octave.
    """
    pitch_class, octave = _read_note_name(name, octave_required=True)
    return 12 * (octave + 1) + pitch_class


def tonic_index(name: str) -> int:
    """Pitch class 0-11 of a tonic name such as ``"F#"``, ``"Bb"`` or ``" eb "``.

    Surrounding spaces are ignored, and so is an octave (``"C4"`` is C).

    Raises:
        ValueError: ``name`` is not a note name.
    """
    pitch_class, _ = _read_note_name(name.strip(), octave_required=False)
    return pitch_class % 12


# === Keys ===


def pitch_class_histogram(notes: np.ndarray) -> np.ndarray:
    r"""Duration-weighted pitch-class histogram, shape=(12,), summing to 1 (zeros if empty).

    .. math:: h(c) = \frac{\sum_{i: p_i \bmod 12 = c} (e_i - s_i)}{\sum_i (e_i - s_i)}
    """
    histogram = np.zeros(12)
    if len(notes):
        np.add.at(histogram, notes[:, PITCH] % 12, notes[:, END] - notes[:, START])
    total = histogram.sum()
    return histogram / total if total else histogram


def estimate_key(notes: np.ndarray) -> tuple[int, str]:
    r"""The key that best fits the notes: Krumhansl-Schmuckler key finding (Krumhansl 1990, ch. 4).

    The duration-weighted pitch-class histogram is correlated with the
    Krumhansl-Kessler profile of each of the 24 major and minor keys; the best
    correlation wins, the first found (major before minor, C upwards) on ties.

    .. math:: (root, mode) = \arg\max_{root, mode} corr(h, K_{mode} \text{ rolled by } root)

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
    """The name of a key as the app shows and stores it, e.g. ``"Eb major"``."""
    return f"{PITCH_CLASS_NAMES[tonic % 12]} {mode}"


def shift_to_c(tonic: int, mode: str) -> int:
    r"""The smallest shift (-6..5 semitones) that takes the key to C major or A minor.

    .. math:: shift = ((target - tonic + 6) \bmod 12) - 6,\quad target = 0 \text{ (major) or } 9 \text{ (minor)}
    """
    target = 0 if mode == "major" else 9
    return (target - tonic + 6) % 12 - 6


# === Scales ===


def scale_name(text: str) -> str | None:
    """The key of :data:`SCALES` that ``text`` names (any case, ``-`` or ``_`` for spaces, an alias), or None."""
    name = " ".join(text.lower().replace("-", " ").replace("_", " ").split())
    name = SCALE_ALIASES.get(name, name)
    return name if name in SCALES else None


def scale_pitch_classes(tonic: int, scale: str) -> frozenset[int]:
    r"""The pitch classes (0-11) of ``scale`` on ``tonic``.

    .. math:: S_{tonic, scale} = \{(tonic + i) \bmod 12 : i \in SCALES[scale]\}

    Raises:
        ValueError: ``scale`` is not a name in :data:`SCALES` (or an alias).
    """
    name = scale_name(scale)
    if name is None:
        raise ValueError(f"unknown scale {scale!r}; scales: {', '.join(SCALES)}")
    return frozenset((int(tonic) + interval) % 12 for interval in SCALES[name])
