"""``python -m core generate ...``: compose with a checkpoint and write MIDI (and audio) files."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

from core.cli.files import check_writable, write_output
from core.cli.options import add_dataclass_flags
from core.errors import GenerationError, describe_os_error
from core.generation.sampling import SampleConfig


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(name, help="compose pieces with a trained checkpoint")
    parser.add_argument("--checkpoint", required=True, help="a checkpoint folder, e.g. checkpoints/bach-lstm")
    parser.add_argument("--out", required=True, type=Path, help="MIDI file to write (numbered when --n > 1)")
    parser.add_argument("--wav", type=Path, help="also render audio to this WAV file (numbered like --out)")
    parser.add_argument("--save", action="store_true", help="also save the pieces to the library")
    sampling = add_dataclass_flags(parser, SampleConfig, "sampling", {"variations": ["--n"]})
    sampling.add_argument("--greedy", action="store_true", help="short for --strategy greedy")
    sampling.add_argument("--beam", type=int, metavar="WIDTH", help="short for --strategy beam --beam-width WIDTH")
    primer = parser.add_argument_group("primer (default: none)")
    primer.add_argument("--primer", type=Path, help="a MIDI file whose first --primer-bars bars are continued")
    primer.add_argument("--primer-notes", help='notes as text, e.g. "C4 E4 G4:2 R C4+E4+G4"')
    primer.add_argument("--primer-bars", type=float, default=2.0)
    shape = parser.add_argument_group("length, tempo, instruments and steering")
    shape.add_argument("--bars", type=float, default=8.0)
    shape.add_argument("--seconds", type=float, help="length in seconds instead of bars")
    shape.add_argument("--bpm", type=float, default=100.0)
    shape.add_argument(
        "--program", dest="programs", type=int, action="append", help="GM program per voice, highest first (repeat)"
    )
    shape.add_argument("--style", help="a style the model was trained with (its source corpus)")
    shape.add_argument("--mode", help="major/minor, or the mood: bright/dark")
    shape.add_argument("--density", help="sparse, medium or dense")
    shape.add_argument("--tonic", help="key centre with --mode, e.g. D or F#; default C major / A minor")
    shape.add_argument(
        "--guidance",
        type=float,
        help="how strongly key and density are kept while composing (default 2); 0: the control tokens alone",
    )
    post = parser.add_argument_group("post-processing")
    post.add_argument("--scale", help='snap notes to a scale, e.g. "D minor", "C major pentatonic"')
    post.add_argument(
        "--keep-duplicates",
        dest="remove_duplicates",
        action="store_false",
        default=None,
        help="keep overlapping notes of one pitch",
    )
    post.add_argument(
        "--max-polyphony", type=int, help="most notes at once; default: as many as the training music has"
    )
    post.add_argument("--phrase-rests", action="store_true", help="a beat of rest at the end of every 4 bars")
    post.add_argument(
        "--max-note-beats", type=float, help="the longest note in beats; default: the training music's longest"
    )
    parser.set_defaults(handler=_generate)


def numbered(path: Path, number: int, count: int) -> Path:
    """``piece.mid`` for one piece; ``piece-1.mid``, ``piece-2.mid``, ... for several."""
    return path if count == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")


def _shortcuts(args: argparse.Namespace) -> dict:
    """What ``--greedy`` and ``--beam WIDTH`` stand for (``--strategy greedy``; ``--strategy beam --beam-width WIDTH``).

    Raises:
        GenerationError: Both shortcuts, or a shortcut against the flags it stands for.
    """
    if args.beam is not None and args.greedy:
        raise GenerationError("give either --beam or --greedy, not both")
    if args.beam is not None:
        flag, implied = "--beam", {"strategy": "beam", "beam_width": args.beam}
    elif args.greedy:
        flag, implied = "--greedy", {"strategy": "greedy"}
    else:
        return {}
    for name, value in implied.items():
        given = getattr(args, name)
        if given is not None and given != value:
            raise GenerationError(f"{flag} contradicts --{name.replace('_', '-')} {given}; give one of them")
    return implied


def request_from_flags(args: argparse.Namespace, defaults: dict | None = None):
    """The request without its primer: every number and choice checked before the checkpoint loads (seconds).

    The flags are named after the fields of the request and its configs, so
    :meth:`~core.generation.compose.CompositionRequest.from_settings` builds it, as it does for the Generate page.

    Args:
        defaults: The checkpoint's measured composing settings; a flag the user gives wins over them.
    """
    from core.generation.compose import MAX_BARS, CompositionRequest

    if args.primer and args.primer_notes:
        raise GenerationError("give either --primer or --primer-notes, not both")
    if args.primer and not (math.isfinite(args.primer_bars) and 0 < args.primer_bars <= MAX_BARS):
        raise GenerationError(f"--primer-bars must be in (0, {MAX_BARS}], got {args.primer_bars}")
    given = {name: value for name, value in vars(args).items() if value is not None}
    return CompositionRequest.from_settings({**(defaults or {}), **given, **_shortcuts(args)})


def describe_defaults(defaults: dict, args: argparse.Namespace) -> str:
    """The measured settings a run uses, and which flags replaced them: ``temperature 0.9, top_p 0.95``."""
    kept = [f"{name} {value}" for name, value in defaults.items() if getattr(args, name, None) is None]
    replaced = [name for name in defaults if getattr(args, name, None) is not None]
    return (", ".join(kept) or "none") + (
        f" (your {', '.join('--' + n.replace('_', '-') for n in replaced)} instead)" if replaced else ""
    )


def _primer(args: argparse.Namespace, composer):
    """The primer on the model's grid, or None."""
    from core.generation.primer import parse_note_text, primer_from_midi

    if args.primer_notes:
        return parse_note_text(args.primer_notes, composer.steps_per_quarter)
    if not args.primer:
        return None
    if not args.primer.is_file():
        raise GenerationError(f"no primer file at {args.primer}")
    try:
        data = args.primer.read_bytes()
    except OSError as error:
        raise GenerationError(f"cannot read the primer {args.primer}: {describe_os_error(error)}") from error
    return primer_from_midi(data, composer.info.data_config, args.primer_bars)


def _generate(args: argparse.Namespace) -> int:
    from core.audio import render_wav
    from core.generation.compose import Composer, save_composition

    request = request_from_flags(args)
    check_writable(args.out, "--out", "piece.mid")
    if args.wav:
        check_writable(args.wav, "--wav", "piece.wav")
    composer = Composer.load(args.checkpoint)
    if composer.defaults:
        request = request_from_flags(args, composer.defaults)
        print("composing from the checkpoint's settings: " + describe_defaults(composer.defaults, args))
    request = dataclasses.replace(request, primer=_primer(args, composer))
    result = composer.compose(request)
    for warning in result.warnings:
        print(f"warning: {warning}")
    count = len(result.compositions)
    for number, composition in enumerate(result.compositions, start=1):
        midi_path = numbered(args.out, number, count)
        write_output(midi_path, composition.midi)
        written = [f"MIDI {midi_path}"]
        if args.wav:
            rendering = render_wav(composition.midi)
            wav_path = numbered(args.wav, number, count)
            write_output(wav_path, rendering.wav)
            written.append(f"WAV {wav_path} ({rendering.engine})")
            if rendering.notice:
                print(f"note: {rendering.notice}")
        if args.save:
            record = save_composition(composer, request, composition, number, title=f"{midi_path.stem}")
            written.append(f"library piece {record.id}")
        print(
            f"piece {number}: {len(composition.notes)} notes, {composition.duration_seconds:.1f} s, "
            f"heard key {composition.heard_key}; " + "; ".join(written)
        )
    return 0
