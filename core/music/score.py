"""Sheet music of a quantized piece: a music21 score a musician can read, MusicXML to export it, SVG to show it.

The notes array (int32, shape=(n, 6), columns :data:`core.data.piece.NOTE_COLUMNS`)
is written out as a musician would write it:

* Staves: a line that never sounds two notes at once gets one staff, with the
  clef music21 finds best; anything else a grand staff, split by voice as a
  chorale is written: where three or more notes sound, the lower half go to the
  bass staff and the upper half to the treble, so a tenor above middle C stays
  in the bass staff; notes far from middle C, alone or in pairs keep to their
  register (C4 and up on the treble staff). Drum notes are left out: their
  pitch picks an instrument, not a tone.
* Voices: notes that start and end together are one chord; a chord that
  overlaps another goes to a further voice of its staff, the higher first.
  Rests of a further voice are hidden where the voice has notes in the bar,
  as engravers do, so they do not crowd the first voice's notes.
* Note values: notes and rests are cut at bar lines, then written as plain or
  dotted values tied together, none crossing a beat unless it starts on one
  (a quarter note a 16th after the beat reads dotted 8th tied to 16th).
  Grids that hold triplets get triplet values, any other grid music21's tuplets.
* Spelling: the key's own scale (in minor with its raised 6th and 7th), other
  pitch classes as the raised notes that lead to a degree (#1, #4) or as the
  notes a major key borrows from its minor (b3, b6, b7); in minor the
  Neapolitan b2 and the Picardy third (C# and F# in C major, Eb in D minor).
* The key signature of the piece's key, its time signature and a tempo mark in
  quarter notes per minute.

Export goes through music21's MusicXML writer; the preview is engraved by
Verovio (SVG, offline, with no MuseScore or LilyPond installed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib.resources import files

import numpy as np
import verovio
from music21 import chord, clef, duration, layout, metadata, meter, note, pitch, scale, stream, tempo, tie
from music21 import key as keys
from music21.musicxml.m21ToXml import GeneralObjectExporter

from core.config import DataConfig
from core.data.midi_io import load_score
from core.data.piece import END, PITCH, START, QuantizedPiece, sort_notes
from core.data.preprocess import preprocess_midi
from core.errors import ConfigError, ScoreError
from core.evaluation.metrics import pitched_notes
from core.music.theory import tonic_index

# Bars the score view shows.
PREVIEW_BARS = 8
MUSICXML_MIME = "application/vnd.recordare.musicxml+xml"
MUSICXML_SUFFIX = ".musicxml"
# The lowest pitch of the treble staff in a grand staff (C4), and the range around it where a note's staff
# follows its voice (its rank among the notes sounding) rather than its register: C3 to B4, tenor and alto.
MIDDLE_C = 60
VOICE_SPLIT_RANGE = (48, 72)
COMPOSER = "NeuroTune"
# How a library piece's MIDI is read: any file load_score accepts, however short, sparse or quiet.
SCORE_READING = DataConfig(min_notes=1, min_duration_seconds=0.0, max_silence_seconds=DataConfig.max_duration_seconds)
# Written values in quarter notes, longest first: whole to 64th and their dotted forms down to the dotted 32nd.
UNDOTTED_VALUES = frozenset(Fraction(4, 2**k) for k in range(7))
PLAIN_VALUES = tuple(sorted(UNDOTTED_VALUES | {Fraction(3, 2**k) for k in range(5)}, reverse=True))
# Triplet values: half-note triplet to 32nd triplet.
TRIPLET_VALUES = tuple(Fraction(4, 3 * 2**k) for k in range(5))
# The notes outside a mode's scale (minor: with its raised 6th and 7th), as intervals above the tonic: the
# raised notes that lead to a degree (#1, #4; secondary leading tones) and the borrowed ones (b3, b6, b7 in
# major from the minor; the Neapolitan b2 and the Picardy third in minor).
CHROMATIC_INTERVALS = {"major": ("A1", "m3", "A4", "m6", "m7"), "minor": ("m2", "M3", "A4")}
# The most sharps or flats a key signature gets: past it, the enharmonic key (Db major for C# major).
MAX_SIGNATURE_ACCIDENTALS = 6
MAX_TIME_SIGNATURE_NUMERATOR = 32
TIME_SIGNATURE_DENOMINATORS = (1, 2, 4, 8, 16, 32)
# Verovio's page: wide enough for about four bars a system, tall enough that the preview is one page.
SVG_OPTIONS = {
    "header": "none",  # no title: the page shows it as text, and user text stays out of the SVG
    "footer": "none",
    "pageWidth": 2100,
    "pageHeight": 60000,
    "adjustPageHeight": True,
    "pageMarginTop": 50,
    "pageMarginBottom": 50,
    "scale": 40,
    "svgViewBox": True,
}
VEROVIO_FONTS = str(files("verovio") / "data")
_SVG_ROOT = re.compile(r"<svg\b[^>]*>")


@dataclass(frozen=True)
class _Chord:
    """Notes that start and end together, in steps; pitches ascending."""

    start: int
    end: int
    pitches: tuple[int, ...]


# === Reading ===


def read_midi(data: bytes, name: str) -> QuantizedPiece:
    """A MIDI file as a piece to write out: on the default grid, with its first tempo and time signature
    and the key estimated from its notes (Krumhansl-Schmuckler).

    Raises:
        InvalidMidiError: not MIDI, damaged, too long, or drums only (as :func:`~core.data.midi_io.load_score`).
    """
    return preprocess_midi(load_score(data), name, SCORE_READING)


# === Note values ===


@lru_cache(maxsize=32)
def _values_in_steps(steps_per_quarter: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The plain and the triplet values a grid can hold, in whole steps, longest first."""

    def whole_steps(values: tuple[Fraction, ...]) -> tuple[int, ...]:
        return tuple(int(v * steps_per_quarter) for v in values if (v * steps_per_quarter).denominator == 1)

    return whole_steps(PLAIN_VALUES), whole_steps(TRIPLET_VALUES)


def note_values(offset: int, length: int, beat: int, steps_per_quarter: int, rest: bool = False) -> list[Fraction]:
    """How a note or rest inside one bar is written: the values it is tied from, in quarter notes.

    Longest value first, but one that starts off a beat stops at the next beat: a
    16th-grid quarter note starting on the second 16th of a beat is a dotted 8th
    tied to a 16th, not a quarter. A stretch that is itself a value is written as
    one; what no value of the grid fills is left to music21's tuplets. Rests show
    the beats (Gould, *Behind Bars*): each starts on a multiple of its own length
    and is dotted only in compound time, so three beats of rest from beat 2 of a
    4/4 bar are a quarter and a half rest.

    Args:
        offset: Steps from the bar line to the start.
        length: Steps it lasts, not past the bar line (the caller cuts there).
        beat: Steps per beat (4 in 4/4, 6 in 6/8 on a 16th grid).
        rest: Write a rest rather than a note.

    Returns:
        Values summing to ``length / steps_per_quarter``.
    """
    plain, triplets = _values_in_steps(steps_per_quarter)
    if rest:
        compound = Fraction(beat, steps_per_quarter).numerator % 3 == 0
        plain = tuple(v for v in plain if compound or Fraction(v, steps_per_quarter) in UNDOTTED_VALUES)
    values = []
    while length > 0:
        room = length if offset % beat == 0 else min(length, beat - offset % beat)
        fits = [v for v in (*plain, *triplets) if v <= room and (not rest or offset % v == 0)]
        whole = not rest and room in fits  # a stretch that is one value (a triplet too) is written as one
        steps = room if whole or not fits else fits[0]
        values.append(Fraction(steps, steps_per_quarter))
        offset += steps
        length -= steps
    return values


# === Keys and spelling ===


def key_of(name: str) -> keys.Key:
    """A music21 key from a key name as the app writes it (``"D minor"``, ``"Eb major"``, ``"F# major"``).

    The tonic keeps its spelling unless its signature would need seven sharps or flats: C# major is
    written as Db major, Ab minor as G# minor.

    Raises:
        ConfigError: not a tonic followed by major or minor.
    """
    tonic, _, mode = name.strip().partition(" ")
    mode = mode.strip().lower()
    try:
        tonic_index(tonic)
    except ValueError:
        tonic = ""
    if not tonic or mode not in ("major", "minor"):
        raise ConfigError(f"cannot read the key {name!r}: write a tonic and major or minor, e.g. 'D minor'")
    accidental = {"#": "#", "b": "-", "!": "-"}.get(tonic[1:2], "")
    key = keys.Key(tonic[0].upper() + accidental, mode)
    if abs(key.sharps) > MAX_SIGNATURE_ACCIDENTALS:
        key = keys.KeySignature(key.sharps - 12 if key.sharps > 0 else key.sharps + 12).asKey(mode)
    return key


def spellings(key: keys.Key) -> tuple[str, ...]:
    """The note name (music21 spelling: ``-`` flat, ``##`` double sharp) of each pitch class 0-11 in ``key``."""
    spelled = list(key.getScale().getPitches())
    if key.mode == "minor":
        spelled += scale.MelodicMinorScale(key.tonic).getPitches()  # the raised 6th and 7th
    for interval in CHROMATIC_INTERVALS[key.mode]:
        chromatic = key.tonic.transpose(interval)
        spelled.append(chromatic if abs(chromatic.alter) < 2 else chromatic.simplifyEnharmonic())  # A, not Bbb
    names: dict[int, str] = {}
    for each in spelled:
        names.setdefault(each.pitchClass, each.name)
    return tuple(names[pitch_class] for pitch_class in range(12))


def _pitch(number: int, names: tuple[str, ...]) -> pitch.Pitch:
    spelled = pitch.Pitch(names[number % 12])
    spelled.octave = number // 12 - 1
    spelled.octave += (number - spelled.midi) // 12  # B#3 is C4's pitch, Cb4 B3's
    return spelled


# === Layout ===


def _bar_and_beat(time_signature: tuple[int, int], steps_per_quarter: int) -> tuple[int, int]:
    """Steps per bar and per beat.

    Raises:
        ConfigError: a time signature that is not one.
        ScoreError: a bar that is not a whole number of steps.
    """
    numerator, denominator = time_signature
    if not 1 <= numerator <= MAX_TIME_SIGNATURE_NUMERATOR or denominator not in TIME_SIGNATURE_DENOMINATORS:
        raise ConfigError(
            f"cannot write the time signature {numerator}/{denominator}: the top must be 1 to "
            f"{MAX_TIME_SIGNATURE_NUMERATOR}, the bottom one of {', '.join(map(str, TIME_SIGNATURE_DENOMINATORS))}"
        )
    bar = Fraction(numerator * 4 * steps_per_quarter, denominator)
    if bar.denominator != 1:
        raise ScoreError(
            f"a bar of {numerator}/{denominator} is not a whole number of steps on a grid of "
            f"{steps_per_quarter} steps per quarter note"
        )
    beat = meter.TimeSignature(f"{numerator}/{denominator}").beatDuration.quarterLength * steps_per_quarter
    return int(bar), int(beat) if float(beat).is_integer() and beat >= 1 else 1


def _is_one_line(notes: np.ndarray) -> bool:
    """True when no two notes sound at once (notes sorted by start)."""
    return bool(np.all(notes[1:, START] >= np.maximum.accumulate(notes[:-1, END])))


def _on_treble(notes: np.ndarray) -> np.ndarray:
    """Which notes go on the treble staff of a grand staff, shape=(n,), notes sorted by start.

    By register (middle C and up), except that a note within :data:`VOICE_SPLIT_RANGE` starting where three
    or more notes sound goes by its rank among them: the lower half to the bass staff, the upper half to
    the treble, the middle one of an odd count by register.
    """
    starts, ends, pitches = notes[:, START], notes[:, END], notes[:, PITCH]
    treble = pitches >= MIDDLE_C
    low, high = VOICE_SPLIT_RANGE
    by_voice = (pitches >= low) & (pitches < high)
    onsets, firsts = np.unique(starts, return_index=True)
    bounds = [*firsts.tolist(), len(notes)]
    sounding: list[int] = []
    for start, first, after in zip(onsets.tolist(), bounds[:-1], bounds[1:], strict=True):
        sounding = [i for i in sounding if ends[i] > start] + list(range(first, after))
        if len(sounding) < 3:
            continue
        ranked = sorted(sounding, key=lambda i: pitches[i])
        for rank, i in enumerate(ranked):
            if starts[i] == start and by_voice[i] and 2 * rank + 1 != len(ranked):
                treble[i] = 2 * rank + 1 > len(ranked)
    return treble


def _voices(notes: np.ndarray) -> list[list[_Chord]]:
    """The notes of one staff as chords laid into voices, each voice a list of chords that never overlap.

    A chord goes to the first voice free at its start; of chords starting together, the higher goes first,
    so the top line stays in voice 1.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for start, end, number in notes[:, [START, END, PITCH]].tolist():
        groups.setdefault((start, end), []).append(number)
    chords = sorted(
        (_Chord(start, end, tuple(sorted(set(numbers)))) for (start, end), numbers in groups.items()),
        key=lambda each: (each.start, -each.pitches[-1]),
    )
    voices: list[list[_Chord]] = []
    for each in chords:
        free = next((voice for voice in voices if voice[-1].end <= each.start), None)
        if free is None:
            voices.append([each])
        else:
            free.append(each)
    return voices


def _bar_layer(voice: list[_Chord], bar_start: int, bar_end: int) -> list[tuple[int, int, _Chord | None]]:
    """One voice within one bar: (start, end, chord or None for a rest) covering the bar."""
    layer: list[tuple[int, int, _Chord | None]] = []
    position = bar_start
    for each in voice:
        if each.end <= bar_start or each.start >= bar_end:
            continue
        start, end = max(each.start, bar_start), min(each.end, bar_end)
        if start > position:
            layer.append((position, start, None))
        layer.append((start, end, each))
        position = end
    if position < bar_end:
        layer.append((position, bar_end, None))
    return layer


def _tie(before: bool, after: bool) -> tie.Tie | None:
    if before and after:
        return tie.Tie("continue")
    if before or after:
        return tie.Tie("stop" if before else "start")
    return None


def _write_layer(
    container: stream.Stream,
    layer: list[tuple[int, int, _Chord | None]],
    bar_start: int,
    beat: int,
    steps_per_quarter: int,
    names: tuple[str, ...],
    hide_rests: bool,
) -> None:
    """Notes, chords and rests of one voice in one bar, cut into written values and tied."""
    for start, end, each in layer:
        offset = Fraction(start - bar_start, steps_per_quarter)
        values = note_values(start - bar_start, end - start, beat, steps_per_quarter, rest=each is None)
        for index, value in enumerate(values):
            if each is None:
                element = note.Rest()
                element.style.hideObjectOnPrint = hide_rests
            elif len(each.pitches) == 1:
                element = note.Note(_pitch(each.pitches[0], names))
            else:
                element = chord.Chord([_pitch(number, names) for number in each.pitches])
            element.duration = duration.Duration(value)
            if each is not None:
                element.tie = _tie(index > 0 or each.start < start, index < len(values) - 1 or each.end > end)
            container.insert(offset, element)
            offset += value


def _staff(
    notes: np.ndarray,
    staff: stream.Part,
    n_bars: int,
    bar: int,
    beat: int,
    steps_per_quarter: int,
    names: tuple[str, ...],
) -> None:
    """Fill a staff with ``n_bars`` measures of ``notes``: one voice per measure where one suffices."""
    voices = _voices(notes) if len(notes) else [[]]
    bar_length = Fraction(bar, steps_per_quarter)
    for number in range(n_bars):
        bar_start, bar_end = number * bar, (number + 1) * bar
        measure = stream.Measure(number=number + 1)
        layers = [(index, _bar_layer(voice, bar_start, bar_end)) for index, voice in enumerate(voices)]
        layers = [(index, layer) for index, layer in layers if index == 0 or any(each for *_, each in layer)]
        for index, layer in layers:
            container = measure if len(layers) == 1 else stream.Voice(id=str(index + 1))
            if len(layer) == 1 and layer[0][2] is None:  # a bar of rest: a whole-measure rest whatever the meter
                rest = note.Rest(quarterLength=bar_length)
                rest.fullMeasure = True
                container.insert(0, rest)
            else:
                _write_layer(container, layer, bar_start, beat, steps_per_quarter, names, hide_rests=index > 0)
            if container is not measure:
                measure.insert(0, container)
        staff.append(measure)


# === Score ===


def build_score(piece: QuantizedPiece, bars: int | None = None) -> stream.Score:
    """The piece as a music21 score: its title, key, time signature and tempo, on one staff or a grand staff.

    Args:
        piece: ``notes`` on ``steps_per_quarter``; ``key``, ``time_signature`` and ``tempo_bpm`` are written
            as they are; ``name`` is the title.
        bars: Only the first bars (notes held past the last bar line end there); None for the whole piece.

    Raises:
        ScoreError: no pitched notes (drums are left out), or a bar the grid cannot hold.
        ConfigError: bars below 1, or a key or time signature that cannot be read.
    """
    notes = sort_notes(pitched_notes(np.asarray(piece.notes)))
    if len(notes) == 0:
        raise ScoreError("nothing to write as sheet music: the piece has no pitched notes (drums are left out)")
    if bars is not None and bars < 1:
        raise ConfigError(f"bars must be at least 1, got {bars}")
    bar, beat = _bar_and_beat(piece.time_signature, piece.steps_per_quarter)
    key = key_of(piece.key)
    names = spellings(key)
    n_bars = -(-int(notes[:, END].max()) // bar)
    if bars is not None and bars < n_bars:
        n_bars, cut = bars, bars * bar
        notes = notes[notes[:, START] < cut]
        notes[:, END] = np.minimum(notes[:, END], cut)
    if _is_one_line(notes):
        staves = [notes]
    else:
        treble = _on_treble(notes)
        staves = [part for part in (notes[treble], notes[~treble]) if len(part)]
    score = stream.Score()
    score.metadata = metadata.Metadata(title=piece.name, composer=COMPOSER)
    parts = [stream.Part() if len(staves) == 1 else stream.PartStaff() for _ in staves]
    numerator, denominator = piece.time_signature
    for part, part_notes in zip(parts, staves, strict=True):
        _staff(part_notes, part, n_bars, bar, beat, piece.steps_per_quarter, names)
        first = part.getElementsByClass(stream.Measure).first()
        best = clef.bestClef(part, recurse=True) if len(parts) == 1 else None
        first.insert(0, best or (clef.TrebleClef() if part is parts[0] else clef.BassClef()))
        first.insert(0, keys.KeySignature(key.sharps))
        first.insert(0, meter.TimeSignature(f"{numerator}/{denominator}"))
        score.insert(0, part)
    bpm = round(float(piece.tempo_bpm), 1)
    mark = tempo.MetronomeMark(number=int(bpm) if bpm.is_integer() else bpm, referent=duration.Duration(1.0))
    parts[0].getElementsByClass(stream.Measure).first().insert(0, mark)
    if len(parts) > 1:
        score.insert(0, layout.StaffGroup(parts, symbol="brace", barTogether=True))
    return score


def musicxml_bytes(piece: QuantizedPiece, bars: int | None = None) -> bytes:
    """The piece as a MusicXML file (uncompressed, ``.musicxml``), through music21's writer.

    Raises:
        ScoreError, ConfigError: as :func:`build_score`.
    """
    return GeneralObjectExporter(build_score(piece, bars)).parse()


def score_svg(piece: QuantizedPiece, bars: int = PREVIEW_BARS) -> str:
    """The first ``bars`` bars engraved by Verovio as one SVG image, without the title.

    Raises:
        ScoreError, ConfigError: as :func:`build_score`.
    """
    toolkit = verovio.toolkit(False)
    toolkit.setResourcePath(VEROVIO_FONTS)  # Verovio's default path is per thread: unset in Streamlit's
    toolkit.setOptions(SVG_OPTIONS)
    if not toolkit.loadData(musicxml_bytes(piece, bars).decode()):
        raise RuntimeError("Verovio could not read the MusicXML that music21 wrote")
    # White paper under the notes, so that they read on a dark theme as well.
    return _SVG_ROOT.sub(r'\g<0><rect width="100%" height="100%" fill="white"/>', toolkit.renderToSVG(1), count=1)
