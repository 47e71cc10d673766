"""Command-line entry point: one sub-parser module per domain.

User errors (:class:`~core.errors.NeuroTuneError`) print a message and exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys

from core.cli import dataset, evaluate, generate, runs, score, serve, train
from core.errors import NeuroTuneError

COMMANDS = {"dataset": dataset, "train": train, "runs": runs, "generate": generate, "score": score, "serve": serve}
COMMANDS |= {"evaluate": evaluate, "metrics": evaluate, "frame-nll": evaluate}  # one module, these commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="NeuroTune from the command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_parser(commands, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except NeuroTuneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
