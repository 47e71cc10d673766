"""``python -m core evaluate ...`` (a leaderboard of checkpoints and baselines), ``python -m core metrics ...`` and
``python -m core frame-nll ...`` (a piano-roll or chords model's likelihood of held-out pieces, beside published figures)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from core.cli.files import check_writable, write_output
from core.cli.progress import print_progress
from core.config import DataConfig
from core.errors import EvaluationError, InvalidMidiError, describe_os_error


def add_parser(commands, name: str) -> None:
    {"evaluate": _add_evaluate, "metrics": _add_metrics, "frame-nll": _add_frame_nll}[name](commands, name)


def _add_evaluate(commands, name: str) -> None:
    parser = commands.add_parser(
        name,
        help="compare checkpoints and library pieces with held-out pieces, a Markov chain and random notes; "
        "print the leaderboard",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", help="the dataset to compare with, e.g. bach")
    what.add_argument("--job", help=argparse.SUPPRESS)  # the Evaluate page's background worker (core.evaluation.jobs)
    parser.add_argument(
        "--checkpoint", action="append", default=[], help="a checkpoint folder, e.g. checkpoints/bach-lstm (repeat)"
    )
    parser.add_argument(
        "--library-checkpoint",
        action="append",
        default=[],
        metavar="CHECKPOINT",
        help="a row of every library piece composed with this checkpoint, measured as saved (repeat)",
    )
    parser.add_argument(
        "--piece",
        action="append",
        default=[],
        metavar="ID",
        help="a library piece's id (as `generate --save` prints it); the pieces given make one row (repeat)",
    )
    parser.add_argument("--n", type=int, default=32, help="pieces per system (default 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bars", type=float, default=8.0, help="length of every piece measured (default 8)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="0: off")
    parser.add_argument("--top-p", type=float, default=1.0, help="1: off")
    parser.add_argument("--copy-bars", type=float, help="flag pieces copying a melody this many bars long (default 4)")
    parser.add_argument("--csv", type=Path, help="also write the leaderboard to this CSV file")
    parser.add_argument("--json", type=Path, help="also write the whole result (every piece, feature and copy) here")
    parser.add_argument("--no-cache", action="store_true", help="compute again even when a stored result matches")
    parser.set_defaults(handler=_evaluate)


def _add_metrics(commands, name: str) -> None:
    parser = commands.add_parser(name, help="print the metrics of MIDI files as JSON")
    parser.add_argument("files", nargs="+", type=Path, help="MIDI files")
    parser.add_argument("--steps-per-quarter", type=int, default=4, help="grid to quantize to (default 4)")
    parser.add_argument(
        "--dataset", help="also measure chord-progression plausibility and copied melody against this dataset"
    )
    parser.add_argument("--histograms", action="store_true", help="also print the histograms")
    parser.set_defaults(handler=_metrics)


def _add_frame_nll(commands, name: str) -> None:
    parser = commands.add_parser(
        name,
        help="print a piano-roll or chords model's frame NLL (nats/frame) on a dataset's held-out pieces, read whole, "
        "beside published JSB Chorales figures, as JSON",
    )
    parser.add_argument("--checkpoint", required=True, help="a piano-roll or chords checkpoint folder")
    parser.add_argument("--dataset", required=True, help="a dataset on the checkpoint's grid, e.g. bach-q")
    parser.add_argument("--split", help="the split scored (default: test when the dataset has one, else validation)")
    parser.set_defaults(handler=_frame_nll)


def _frame_nll(args: argparse.Namespace) -> int:
    from core.evaluation.evaluate import json_safe
    from core.evaluation.likelihood import frame_nll

    print(json.dumps(json_safe(frame_nll(args.checkpoint, args.dataset, args.split).to_json()), indent=1))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if args.job:
        from core.evaluation import jobs

        return 0 if jobs.work(args.job) == "finished" else 1
    from core.evaluation.evaluate import evaluate
    from core.evaluation.jobs import leaderboard_csv
    from core.evaluation.originality import COPY_FLAG_BARS
    from core.evaluation.selections import PieceSelection
    from core.generation.sampling import SampleConfig

    library = [PieceSelection.of_checkpoint(checkpoint) for checkpoint in args.library_checkpoint]
    if args.piece:
        library.append(PieceSelection(tuple(args.piece)))
    check_writable(args.csv, "--csv", "leaderboard.csv")
    check_writable(args.json, "--json", "leaderboard.json")
    sampling = SampleConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    result = evaluate(
        args.dataset,
        args.checkpoint,
        n=args.n,
        seed=args.seed,
        sampling=sampling,
        bars=args.bars,
        copy_flag_bars=args.copy_bars if args.copy_bars is not None else COPY_FLAG_BARS,
        library=library,
        progress=lambda done, total, what: print_progress(done, total),
        use_cache=not args.no_cache,
    )
    for system in result.systems:
        for warning in system.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    board = result.leaderboard()
    if args.csv:
        write_output(args.csv, leaderboard_csv(board))
    if args.json:
        write_output(args.json, json.dumps(result.to_json()))
    summary = {
        "dataset": result.dataset,
        "cached": result.cached,
        "cache_key": result.cache_key,
        "settings": result.settings.to_json(),
        "leaderboard": board,
        "best": result.best(),
        "timings": result.timings,
    }
    print(json.dumps(summary, indent=1))
    return 0


def _read_piece(path: Path, grid: DataConfig):
    """A MIDI file put on ``grid`` (:meth:`~core.config.DataConfig.grid`) as datasets are, without their length
    filters (a short piece is measured too)."""
    from core.data.midi_io import load_score
    from core.data.preprocess import preprocess_midi

    if not path.is_file():
        raise EvaluationError(f"no MIDI file at {path}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise EvaluationError(f"cannot read {path}: {describe_os_error(error)}") from error
    config = dataclasses.replace(grid, min_notes=1, min_duration_seconds=0.0)
    try:
        return preprocess_midi(load_score(data), path.name, config)
    except InvalidMidiError as error:
        raise InvalidMidiError(f"{path}: {error}") from error


def _metrics(args: argparse.Namespace) -> int:
    from core.evaluation.evaluate import json_safe
    from core.evaluation.features import HISTOGRAMS, SCALARS, piece_features

    grid = DataConfig(steps_per_quarter=args.steps_per_quarter)  # checks the grid before reading anything
    chords, index = None, None
    if args.dataset:  # the pieces are then read onto its grid as its own were
        chords, index, grid = _references(args.dataset, args.steps_per_quarter)
    pieces = [_read_piece(path, grid) for path in args.files]
    report = []
    for path, piece in zip(args.files, pieces):
        numerator, denominator = piece.time_signature
        beats = max(1, round(numerator * 4 / denominator))
        features = piece_features(piece.notes, piece.steps_per_quarter, beats, chords)
        entry = {
            "file": str(path),
            "key": piece.key,
            "time_signature": f"{numerator}/{denominator}",
            "steps_per_quarter": piece.steps_per_quarter,
            "notes": len(piece.notes),
            "metrics": {name: features[name] for name in SCALARS},
        }
        if index is not None:
            entry["longest_copy"] = index.longest_copy(piece.notes, piece.steps_per_quarter * beats).to_json()
        if args.histograms:
            entry["histograms"] = {name: features[name].round(4).tolist() for name in HISTOGRAMS}
        report.append(entry)
    print(json.dumps(json_safe(report), indent=1))
    return 0


def _references(name: str, steps_per_quarter: int):
    """The chord transitions and the melody index of a dataset's training pieces, and its grid."""
    from core.data.datasets import load_dataset
    from core.evaluation.evaluate import TrainingReference

    dataset = load_dataset(name)
    if dataset.config.steps_per_quarter != steps_per_quarter:
        raise EvaluationError(
            f"the dataset '{name}' is on {dataset.config.steps_per_quarter} steps per quarter note; "
            f"pass --steps-per-quarter {dataset.config.steps_per_quarter}"
        )
    known = TrainingReference.of(dataset)
    return known.chords, known.index, dataset.config.grid()
