"""The quantized piece: the one form every representation is derived from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Columns of ``QuantizedPiece.notes``.
START, END, PITCH, VELOCITY, PROGRAM, IS_DRUM = range(6)
NOTE_COLUMNS = ("start_step", "end_step", "pitch", "velocity", "program", "is_drum")


def empty_notes() -> np.ndarray:
    return np.zeros((0, len(NOTE_COLUMNS)), dtype=np.int32)


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Order notes by onset, then pitch, then end: the canonical order."""
    if len(notes) == 0:
        return notes
    order = np.lexsort((notes[:, END], notes[:, PITCH], notes[:, START]))
    return notes[order]


@dataclass
class QuantizedPiece:
    """Notes on a grid of ``steps_per_quarter`` steps per quarter note.

    Attributes:
        name: Where the piece came from (file name inside an upload or corpus id).
        notes: int32 array, shape=(n_notes, 6), columns :data:`NOTE_COLUMNS`,
            sorted with :func:`sort_notes`; ``end_step > start_step``.
        steps_per_quarter: Grid resolution.
        tempo_bpm: Tempo at the start, used to turn steps back into seconds.
        time_signature: (numerator, denominator) at the start.
        key: Key estimated from the notes (Krumhansl-Schmuckler), e.g. ``"D minor"``.
        declared_key: The file's first key signature, if it has one (often absent or wrong in MIDI).
        duration_seconds: Length of the source performance.
        tempos: Every tempo (BPM) in the source, for statistics.
    """

    name: str
    notes: np.ndarray
    steps_per_quarter: int = 4
    tempo_bpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    key: str = "C major"
    declared_key: str | None = None
    duration_seconds: float = 0.0
    tempos: list[float] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        return int(self.notes[:, END].max()) if len(self.notes) else 0

    def meta(self) -> dict:
        """JSON-able description (everything but the notes)."""
        return {
            "name": self.name,
            "steps_per_quarter": self.steps_per_quarter,
            "tempo_bpm": round(float(self.tempo_bpm), 3),
            "time_signature": list(self.time_signature),
            "key": self.key,
            "declared_key": self.declared_key,
            "duration_seconds": round(float(self.duration_seconds), 3),
            "tempos": [round(float(t), 3) for t in self.tempos],
            "num_notes": int(len(self.notes)),
            "num_steps": self.num_steps,
        }

    @classmethod
    def from_meta(cls, meta: dict, notes: np.ndarray) -> QuantizedPiece:
        return cls(
            name=meta["name"],
            notes=notes,
            steps_per_quarter=meta["steps_per_quarter"],
            tempo_bpm=meta["tempo_bpm"],
            time_signature=tuple(meta["time_signature"]),
            key=meta["key"],
            declared_key=meta.get("declared_key"),
            duration_seconds=meta["duration_seconds"],
            tempos=list(meta.get("tempos", [])),
        )


def notes_to_midi(
    notes: np.ndarray,
    steps_per_quarter: int,
    tempo_bpm: float = 120.0,
    program: int | None = None,
):
    """Turn quantized notes into a ``pretty_midi.PrettyMIDI`` at a constant tempo.

    Args:
        notes: shape=(n, 6) as in :class:`QuantizedPiece`, or shape=(n, 4)
            (start, end, pitch, velocity).
        program: Force every note onto this GM program; by default each note
            keeps its own (column 4) and drums go to a drum track.
    """
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    seconds_per_step = 60.0 / tempo_bpm / steps_per_quarter
    tracks: dict[tuple[int, bool], pretty_midi.Instrument] = {}
    for row in np.asarray(notes):
        start, end, pitch, velocity = (int(v) for v in row[:4])
        note_program = program if program is not None else (int(row[PROGRAM]) if len(row) > 4 else 0)
        is_drum = bool(row[IS_DRUM]) if len(row) > 5 else False
        key = (note_program, is_drum)
        if key not in tracks:
            tracks[key] = pretty_midi.Instrument(program=note_program, is_drum=is_drum)
        tracks[key].notes.append(
            pretty_midi.Note(
                velocity=max(1, min(127, velocity)),
                pitch=pitch,
                start=start * seconds_per_step,
                end=end * seconds_per_step,
            )
        )
    midi.instruments.extend(tracks[k] for k in sorted(tracks))
    return midi
