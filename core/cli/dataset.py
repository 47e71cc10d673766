"""``python -m core dataset build|list|show|rename|delete``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from core.cli.options import add_dataclass_flags, dataclass_from_flags
from core.cli.progress import print_progress
from core.config import DataConfig, ValidationLimits
from core.errors import ConfigError, DatasetError, describe_os_error

# Short flags the README and issues use, mapped to DataConfig fields.
_ALIASES = {"representations": ["--representation"], "transpose_semitones": ["--transpose"]}


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(name, help="build and inspect datasets")
    actions = parser.add_subparsers(dest="action", required=True)

    build = actions.add_parser("build", help="preprocess a bundled corpus or a folder of MIDI files")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", help="a bundled corpus: bach-chorales, irish-folk, essen-folk")
    source.add_argument(
        "--midi-dir",
        "--folder",
        type=Path,
        help="a folder of .mid/.midi files (searched recursively); top-level train, valid and test "
        "sub-folders put their files in that split",
    )
    build.add_argument("--name", required=True)
    build.add_argument("--limit", type=int, help="use only the first N pieces of a corpus")
    build.add_argument("--workers", type=int, help="parallel worker processes (default: all cores)")
    build.add_argument("--overwrite", action="store_true", help="replace a dataset of that name")
    build.add_argument(
        "--split-file",
        type=Path,
        help="each file's split instead of a random one: a CSV with columns file,split or a JSON "
        '{"train": [...], "validation": [...], "test": [...]}; files are named relative to the folder, '
        "or by base name; every file must be listed",
    )
    add_dataclass_flags(build, DataConfig, "preprocessing options (defaults as in the app)", _ALIASES)
    build.add_argument("--max-file-mb", type=float, default=5.0, help="reject files larger than this (default 5)")
    build.set_defaults(handler=_build)

    listing = actions.add_parser("list", help="list datasets")
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="print a dataset's statistics and file report as JSON")
    show.add_argument("name")
    show.set_defaults(handler=_show)
    rename = actions.add_parser("rename", help="rename a dataset")
    rename.add_argument("name")
    rename.add_argument("new_name")
    rename.set_defaults(handler=_rename)
    delete = actions.add_parser("delete", help="delete a dataset and its files")
    delete.add_argument("name")
    delete.set_defaults(handler=_delete)


def _check_build_flags(args: argparse.Namespace) -> None:
    """The build's own numbers, which no config checks: finite and in range, else one clear line."""
    if not (math.isfinite(args.max_file_mb) and args.max_file_mb > 0):
        raise ConfigError(f"--max-file-mb must be a positive number of megabytes, got {args.max_file_mb}")
    for flag, value in (("--limit", args.limit), ("--workers", args.workers)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")


def _print_rejected(reports) -> None:
    for report in reports:
        if not report.accepted:
            print(f"rejected {report.name}: {report.reason}", file=sys.stderr)


def _build(args: argparse.Namespace) -> int:
    from core.data.build import EmptyDatasetError, build_from_corpus, build_from_folder
    from core.data.splits import read_split_file

    _check_build_flags(args)
    config = dataclass_from_flags(DataConfig, args)
    splits = read_split_file(args.split_file) if args.split_file else None
    # Longer pieces are refused as they are read, under the config's one length limit.
    limits = ValidationLimits(
        max_file_bytes=int(args.max_file_mb * 2**20), max_duration_seconds=config.max_duration_seconds
    )
    common = {
        "workers": args.workers,
        "progress": lambda done, total, _name: print_progress(done, total),
        "overwrite": args.overwrite,
        "splits": splits,
    }
    try:
        if args.corpus:
            print(f"building from the {args.corpus} corpus (converted to MIDI once, then cached)...", file=sys.stderr)
            result = build_from_corpus(args.name, args.corpus, config, limit=args.limit, **common)
        else:
            result = build_from_folder(args.name, args.midi_dir, config, limits=limits, **common)
    except EmptyDatasetError as error:
        _print_rejected(error.reports)
        raise
    except OSError as error:  # a full disk or a folder that cannot be written, met while storing the dataset
        place = f" {error.filename}" if error.filename else ""
        raise DatasetError(f"cannot build the dataset{place}: {describe_os_error(error)}") from error
    _print_rejected(result.rejected)
    stats = result.dataset.stats
    verb = "already built (cache hit)" if result.cache_hit else "built"
    print(
        f"dataset '{result.dataset.name}' {verb}: {stats['pieces']} pieces, {stats['notes']} notes, "
        f"{len(result.rejected)} files rejected; "
        + ", ".join(f"{count} {split}" for split, count in stats["split"].items())
        + f" (split {result.dataset.split_method})"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from core.data.datasets import list_datasets

    records = list_datasets()
    if not records:
        print("no datasets yet: python -m core dataset build --corpus bach-chorales --name bach")
    for record in records:
        print(
            f"{record.name}\t{record.source}\t{record.stats.get('pieces', 0)} pieces\t"
            f"{record.stats.get('notes', 0)} notes\t{record.created_at:%Y-%m-%d %H:%M}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    from core.data.datasets import load_dataset

    dataset = load_dataset(args.name)
    files = dataset.files
    print(
        json.dumps(
            {
                "name": dataset.name,
                "id": dataset.id,
                "source": dataset.manifest["source"],
                "split_method": dataset.split_method,
                "config": dataset.manifest["config"],
                "stats": dataset.stats,
                "accepted": [f["name"] for f in files if f["status"] == "accepted"],
                "rejected": [{"name": f["name"], "reason": f["reason"]} for f in files if f["status"] != "accepted"],
            },
            indent=2,
        )
    )
    return 0


def _rename(args: argparse.Namespace) -> int:
    from core.data.datasets import rename_dataset

    rename_dataset(args.name, args.new_name)
    print(f"renamed '{args.name}' to '{args.new_name}'")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from core.data.datasets import delete_dataset

    delete_dataset(args.name)
    print(f"deleted '{args.name}'")
    return 0
