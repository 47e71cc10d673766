"""``python -m core score ...``: a MIDI file as sheet music, written to MusicXML."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from core.cli.files import check_writable, write_output
from core.errors import InvalidMidiError, describe_os_error


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(name, help="write a MIDI file as sheet music (MusicXML)")
    parser.add_argument("midi", type=Path, help="the MIDI file, e.g. a piece downloaded from the library")
    parser.add_argument("--out", required=True, type=Path, help="the MusicXML file to write, e.g. piece.musicxml")
    parser.add_argument("--key", help='the key signature, e.g. "D minor"; default: the key heard in the notes')
    parser.set_defaults(handler=_score)


def _score(args: argparse.Namespace) -> int:
    from core.music.score import key_of, musicxml_bytes, read_midi

    if args.key is not None:
        key_of(args.key)  # a key that cannot be read is refused before anything is read or written
    check_writable(args.out, "--out", "piece.musicxml")
    if not args.midi.is_file():
        raise InvalidMidiError(f"no MIDI file at {args.midi}")
    try:
        data = args.midi.read_bytes()
    except OSError as error:
        raise InvalidMidiError(f"cannot read {args.midi}: {describe_os_error(error)}") from error
    try:
        piece = read_midi(data, args.midi.stem)
    except InvalidMidiError as error:
        raise InvalidMidiError(f"{args.midi}: {error}") from error
    if args.key is not None:
        piece = replace(piece, key=args.key)
    write_output(args.out, musicxml_bytes(piece))
    numerator, denominator = piece.time_signature
    print(f"{args.out}: {len(piece.notes)} notes in {piece.key}, {numerator}/{denominator}, {piece.tempo_bpm:.4g} BPM")
    return 0
