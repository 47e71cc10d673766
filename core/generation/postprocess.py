"""Post-processing of generated notes: scale snapping, clean-up, voice limits, phrase rests.

A model's raw output is rarely what a listener wants to hear first: stray
out-of-key notes, same-pitch notes stacked on each other, more voices than a
pianist has fingers. Every function here takes an int32 notes array,
shape=(n, 6), columns :data:`core.data.piece.NOTE_COLUMNS`, returns a new one in
canonical order (:func:`core.data.piece.sort_notes`), never mutates its input and
accepts empty input. :class:`PostProcessing` bundles the options the Compose page
offers and applies them in a fixed order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.config import check_config
from core.data.piece import END, IS_DRUM, PITCH, PROGRAM, START, VELOCITY, empty_notes, sort_notes
from core.errors import GenerationError
from core.music.theory import SCALES, scale_name, scale_pitch_classes, tonic_index

_TONIC_PATTERN = re.compile(r"^([a-g])([#b]?)\s+(.+)$")
# Bounds of the options: every MIDI pitch at once; the longest composition (256 bars of 4 beats).
MAX_POLYPHONY = 128
MAX_BEATS = 1024


def _scale_error(text: str) -> GenerationError:
    return GenerationError(
        f"Unknown scale {text!r}: write a tonic and a scale, e.g. 'D minor', 'F# dorian' or 'Bb major pentatonic'. "
        f"Scales: {', '.join(SCALES)}."
    )


def parse_scale(text: str) -> tuple[int, str]:
    """Read a scale as a user types it: ``"D minor"``, ``"f# harmonic minor"``, ``"Db major"``.

    Case-insensitive; the tonic takes one sharp ``#`` or flat ``b`` (so ``"Cb"``
    is pitch class 11); a few aliases are accepted (``"aeolian"`` is ``"minor"``).

    Returns:
        (tonic pitch class 0-11, scale name as a key of :data:`~core.music.theory.SCALES`).

    Raises:
        GenerationError: the text is not a tonic followed by a known scale; the
            message lists the scale names.
    """
    match = _TONIC_PATTERN.match(" ".join(str(text).lower().split()))
    scale = scale_name(match.group(3)) if match else None
    if match is None or scale is None:
        raise _scale_error(text)
    return tonic_index(match.group(1) + match.group(2)), scale


def snap_to_scale(notes: np.ndarray, tonic: int, scale: str) -> np.ndarray:
    """Move every out-of-scale pitch to the nearest in-scale pitch.

    A pitch halfway between two scale tones (C# in C major) goes down, so that
    snapping is a fixed table and does not depend on the notes around it; a
    pitch that cannot go down inside 0..127 goes up. Drum notes are left alone:
    their pitch picks an instrument, not a tone. Snapping can stack two notes on
    one pitch; :func:`remove_duplicate_notes` merges them.

    Args:
        notes: int32, shape=(n, 6).
        tonic: Pitch class 0-11.
        scale: A name in :data:`~core.music.theory.SCALES`.

    Returns:
        int32, shape=(n, 6), canonical order.

    Raises:
        GenerationError: unknown scale.
    """
    if scale_name(scale) is None:
        raise _scale_error(scale)
    classes = scale_pitch_classes(tonic, scale)
    if len(notes) == 0:
        return empty_notes()
    in_scale = np.array([pitch for pitch in range(128) if pitch % 12 in classes])
    pitches = np.arange(128)
    distance = np.abs(pitches[:, None] - in_scale[None, :])
    # argmin takes the first of equal distances: the lower candidate, since in_scale is ascending.
    nearest = in_scale[np.argmin(distance, axis=1)]
    snapped = notes.copy()
    pitched = snapped[:, IS_DRUM] == 0
    snapped[pitched, PITCH] = nearest[np.clip(snapped[pitched, PITCH], 0, 127)]
    return sort_notes(snapped)


def remove_duplicate_notes(notes: np.ndarray) -> np.ndarray:
    """Merge same-pitch notes that overlap in time, whatever their program.

    Overlapping notes of one pitch become one note from the earliest start to
    the latest end, at the loudest velocity, keeping the program and drum flag
    of the note that starts first; exact duplicates thus collapse to one.
    Notes that only touch (one ends where the next starts) are a re-attack and
    stay separate. Afterwards no two notes of a pitch overlap, which is what
    every representation and a MIDI channel can hold.

    Args:
        notes: int32, shape=(n, 6).

    Returns:
        int32, shape=(m, 6), m <= n, canonical order.
    """
    if len(notes) == 0:
        return empty_notes()
    by_pitch = notes[np.lexsort((notes[:, END], notes[:, START], notes[:, PITCH]))]
    pitch, start, end = (by_pitch[:, column].astype(np.int64) for column in (PITCH, START, END))
    # A running maximum of the end within each pitch: offsetting by pitch keeps pitches apart.
    offset = int(np.abs(by_pitch[:, [START, END]]).max()) * 2 + 1
    reach = np.maximum.accumulate(pitch * offset + end) - pitch * offset
    new_group = np.ones(len(by_pitch), dtype=bool)
    new_group[1:] = (pitch[1:] != pitch[:-1]) | (start[1:] >= reach[:-1])
    first = np.flatnonzero(new_group)
    merged = by_pitch[first].copy()
    merged[:, END] = np.maximum.reduceat(by_pitch[:, END], first)
    merged[:, VELOCITY] = np.maximum.reduceat(by_pitch[:, VELOCITY], first)
    return sort_notes(merged)


def limit_polyphony(notes: np.ndarray, max_voices: int) -> np.ndarray:
    """Keep at most ``max_voices`` notes sounding at any step.

    Onsets are visited in time order. Where the notes sounding at an onset
    (those starting there included) number more than ``max_voices``, they are
    ranked and the first ``max_voices`` kept: the highest note, then the lowest
    (the outer voices carry melody and bass), then the rest by velocity
    (loudest first), then earlier start, then higher pitch. A note ranked out
    is dropped if it starts at that onset, otherwise it is shortened to end
    there. Voices only increase at onsets, so this bounds every step. With
    ``max_voices=1`` the highest note wins, a melody line.

    Args:
        notes: int32, shape=(n, 6).
        max_voices: At least 1.

    Returns:
        int32, shape=(m, 6), m <= n, canonical order.

    Raises:
        GenerationError: ``max_voices`` < 1.
    """
    if max_voices < 1:
        raise GenerationError(f"max_voices must be at least 1, got {max_voices}")
    if len(notes) == 0:
        return empty_notes()
    limited = sort_notes(notes).copy()
    start, pitch, velocity = limited[:, START], limited[:, PITCH], limited[:, VELOCITY]
    end = limited[:, END]  # a view: shortening writes into ``limited``
    kept = np.ones(len(limited), dtype=bool)
    for onset in np.unique(start):
        sounding = np.flatnonzero(kept & (start <= onset) & (end > onset))
        if len(sounding) <= max_voices:
            continue
        ranked = sounding[np.lexsort((-pitch[sounding], start[sounding], -velocity[sounding]))]
        highest = ranked[np.flatnonzero(pitch[ranked] == pitch[ranked].max())[0]]
        lowest = ranked[np.flatnonzero(pitch[ranked] == pitch[ranked].min())[0]]
        outer = [highest] if lowest == highest else [highest, lowest]
        priority = outer + [index for index in ranked if index not in outer]
        for index in priority[max_voices:]:
            if start[index] == onset:
                kept[index] = False
            else:
                end[index] = onset
    return sort_notes(limited[kept])


def rests_at_phrase_ends(
    notes: np.ndarray,
    steps_per_bar: int,
    phrase_bars: int = 4,
    rest_steps: int | None = None,
) -> np.ndarray:
    """Silence the end of every phrase, so that a long generation breathes.

    Phrases are ``phrase_bars`` bars long, counted from step 0. The last
    ``rest_steps`` steps of each phrase become a rest: a note sounding into the
    rest ends at its start; a note starting inside it is dropped. A note held
    across several phrases ends at the first rest after its start.

    Args:
        notes: int32, shape=(n, 6).
        steps_per_bar: Steps in one bar.
        phrase_bars: Bars per phrase, at least 1.
        rest_steps: Length of each rest; by default one beat, taken as a
            quarter of the bar (``steps_per_bar // 4``, at least 1 step).
            Must be shorter than a phrase.

    Returns:
        int32, shape=(m, 6), m <= n, canonical order.

    Raises:
        GenerationError: a length out of range.
    """
    if steps_per_bar < 1 or phrase_bars < 1:
        raise GenerationError(f"steps_per_bar and phrase_bars must be at least 1, got {steps_per_bar}, {phrase_bars}")
    phrase_steps = steps_per_bar * phrase_bars
    rest = max(1, steps_per_bar // 4) if rest_steps is None else rest_steps
    if not 1 <= rest < phrase_steps:
        raise GenerationError(f"rest_steps must be between 1 and {phrase_steps - 1} (one phrase), got {rest}")
    if len(notes) == 0:
        return empty_notes()
    rested = notes.copy()
    in_rest = rested[:, START] % phrase_steps >= phrase_steps - rest
    next_rest = (rested[:, START] // phrase_steps + 1) * phrase_steps - rest
    rested[:, END] = np.minimum(rested[:, END], next_rest)
    return sort_notes(rested[~in_rest])


def assign_voices(notes: np.ndarray, voices: int) -> np.ndarray:
    """Number the voice of each note, 0 for the highest, so each voice can get its own instrument.

    A note's voice is how many notes sounding at its onset (notes starting at
    the same step included) are strictly higher, clipped to ``voices - 1``:
    the top of a chord is voice 0, the bass the highest number. Drum notes
    neither count nor get a voice other than 0.

    Args:
        notes: int32, shape=(n, 6).
        voices: Number of voices, at least 1.

    Returns:
        int, shape=(n,), the voice of each row of ``notes``, in its order.

    Raises:
        GenerationError: ``voices`` < 1.
    """
    if voices < 1:
        raise GenerationError(f"voices must be at least 1, got {voices}")
    voice = np.zeros(len(notes), dtype=np.int64)
    pitched = np.flatnonzero(notes[:, IS_DRUM] == 0)
    start, end, pitch = (notes[pitched, column] for column in (START, END, PITCH))
    for chunk in range(0, len(pitched), 1024):  # bounds the (chunk, n) comparison matrix
        rows = slice(chunk, chunk + 1024)
        onset = start[rows, None]
        sounding = (start[None, :] <= onset) & (end[None, :] > onset)
        higher = pitch[None, :] > pitch[rows, None]
        voice[pitched[rows]] = np.count_nonzero(sounding & higher, axis=1)
    return np.minimum(voice, voices - 1)


def set_programs(notes: np.ndarray, voice_of_note: np.ndarray, programs: Sequence[int]) -> np.ndarray:
    """Give each voice its GM program, e.g. the voices from :func:`assign_voices`.

    Args:
        notes: int32, shape=(n, 6).
        voice_of_note: int, shape=(n,), aligned with the rows of ``notes``.
        programs: GM program (0-127) per voice; a voice beyond the list takes
            the last program. Drum notes keep theirs.

    Returns:
        int32, shape=(n, 6), canonical order.

    Raises:
        GenerationError: no programs, a program outside 0..127, a negative
            voice, or ``voice_of_note`` not matching ``notes``.
    """
    table = np.asarray(programs, dtype=np.int64)
    if table.ndim != 1 or len(table) == 0 or table.min() < 0 or table.max() > 127:
        raise GenerationError(f"programs must be a non-empty list of GM programs 0-127, got {list(programs)}")
    voice = np.asarray(voice_of_note, dtype=np.int64)
    if voice.shape != (len(notes),) or (len(voice) and voice.min() < 0):
        raise GenerationError(f"voice_of_note must hold one voice >= 0 per note ({len(notes)}), got {voice.shape}")
    if len(notes) == 0:
        return empty_notes()
    programmed = notes.copy()
    pitched = programmed[:, IS_DRUM] == 0
    programmed[pitched, PROGRAM] = table[np.minimum(voice[pitched], len(table) - 1)]
    return sort_notes(programmed)


def cap_note_length(notes: np.ndarray, max_steps: int) -> np.ndarray:
    """End every note at most ``max_steps`` after it starts.

    Event models sometimes forget a NOTE_OFF, and the note then sounds to the
    end of the piece; a cap of a bar or two removes those hanging notes.
    """
    if max_steps < 1:
        raise GenerationError(f"the longest note must be at least 1 step, got {max_steps}")
    if len(notes) == 0:
        return empty_notes()
    capped = notes.copy()
    capped[:, END] = np.minimum(capped[:, END], capped[:, START] + max_steps)
    return sort_notes(capped)


@dataclass(frozen=True)
class PostProcessing:
    """The post-processing a composition asks for, applied by :meth:`apply`.

    Attributes:
        scale: Snap to this scale, e.g. ``"D minor"`` (see :func:`parse_scale`); None = off.
        remove_duplicates: Merge overlapping same-pitch notes.
        max_polyphony: At most this many notes at once; 0: as many as the training music has
            (composing keeps to it, see :meth:`core.generation.compose.Composer.limits`; this trims what is left).
        phrase_rests: Rest at the end of every phrase.
        phrase_bars: Phrase length in bars, for ``phrase_rests``.
        max_note_beats: No note longer than this many beats; 0: the training music's longest.
    """

    scale: str | None = None
    remove_duplicates: bool = True
    max_polyphony: int = 0
    phrase_rests: bool = False
    phrase_bars: int = 4
    max_note_beats: float = 0.0

    def __post_init__(self) -> None:
        if self.scale is not None:
            parse_scale(self.scale)
        checks = [
            (
                0 <= self.max_polyphony <= MAX_POLYPHONY,
                f"max_polyphony must be 0 (as in the training music) or up to {MAX_POLYPHONY} notes, got {self.max_polyphony}",
            ),
            (
                1 <= self.phrase_bars <= MAX_BEATS // 4,
                f"phrase_bars must be 1 to {MAX_BEATS // 4}, got {self.phrase_bars}",
            ),
            (
                0 <= self.max_note_beats <= MAX_BEATS,
                f"max_note_beats must be 0 (as in the training music) or up to {MAX_BEATS} beats, got {self.max_note_beats}",
            ),
        ]
        check_config(checks, GenerationError, config=self)

    def apply(self, notes: np.ndarray, steps_per_bar: int) -> np.ndarray:
        """Cap note lengths, snap to the scale, remove duplicates, limit polyphony, add phrase rests, in that order.

        Duplicates go before the polyphony limit so that a stacked note does
        not take a voice; rests go last so that nothing re-fills them.

        Args:
            notes: int32, shape=(n, 6).
            steps_per_bar: Steps in one bar, for phrase rests.

        Returns:
            int32, shape=(m, 6), canonical order.
        """
        processed = sort_notes(np.array(notes, dtype=np.int32))
        if self.max_note_beats:
            processed = cap_note_length(processed, max(int(round(self.max_note_beats * steps_per_bar / 4)), 1))
        if self.scale is not None:
            processed = snap_to_scale(processed, *parse_scale(self.scale))
        if self.remove_duplicates:
            processed = remove_duplicate_notes(processed)
        if self.max_polyphony:
            processed = limit_polyphony(processed, self.max_polyphony)
        if self.phrase_rests:
            processed = rests_at_phrase_ends(processed, steps_per_bar, self.phrase_bars)
        return processed
