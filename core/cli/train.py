"""``python -m core train ...``: a training run in the foreground, recorded like the page's runs."""

from __future__ import annotations

import argparse
import sys

from core.cli.options import add_dataclass_flags, dataclass_from_flags
from core.cli.progress import print_progress
from core.config import TrainConfig
from core.errors import ConfigError

_ALIASES = {"learning_rate": ["--lr"], "transpose_semitones": ["--transpose"]}


def _model_option(text: str) -> tuple[str, object]:
    key, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE")
    for cast in (int, float):
        try:
            return key.replace("-", "_"), cast(value)
        except ValueError:
            pass
    return key.replace("-", "_"), {"true": True, "false": False}.get(value.lower(), value)


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(name, help="train a model in the foreground (or --resume a run)")
    parser.add_argument("--dataset", help="dataset name (python -m core dataset list)")
    parser.add_argument("--model", help="rnn, lstm, lstm_attention, transformer, crnn_gan, rnn_gan")
    parser.add_argument(
        "--representation", help="melody, events, pianoroll or chords; notes for the GANs (default: the model's first)"
    )
    parser.add_argument(
        "--model-option",
        type=_model_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model config field, e.g. --model-option units=128 (repeatable)",
    )
    parser.add_argument("--resume", metavar="RUN_ID", help="continue a stopped or failed run")
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="time a few training steps on this machine and say how long the run would take; nothing is trained",
    )
    add_dataclass_flags(parser, TrainConfig, "training options", _ALIASES)
    parser.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    from core.checkpoints import run_config
    from core.store import runs as run_store
    from core.training import jobs

    if args.resume:
        run = jobs.queue_again(args.resume)
    else:
        if not args.dataset or not args.model:
            raise ConfigError("give --dataset and --model (or --resume RUN_ID)")
        train = dataclass_from_flags(TrainConfig, args)
        if args.estimate:
            return _estimate(args, train)
        run = jobs.create_run(args.model, args.dataset, args.representation, dict(args.model_option), train)
    print(f"run {run.id}: {run.model} on '{run.dataset}' ({run.representation}), checkpoints in {run.checkpoint_dir}")
    total = run_config(run).estimated_steps
    status = jobs.work(run.id, on_step=lambda step: print_progress(step, total, "step "))
    print(file=sys.stderr)
    run = run_store.get_run(run.id)
    print(
        f"run {run.id} {status} after {run.epoch} epochs, {run.step} steps; best validation loss "
        f"{run.best_val_loss if run.best_val_loss is not None else 'n/a'}; device: {run.device}"
    )
    if status == "failed":
        print(f"error: {run.error}", file=sys.stderr)
        return 1
    return 0


def _estimate(args: argparse.Namespace, train: TrainConfig) -> int:
    from core.models import get_model_spec
    from core.training.estimate import RunPlan, RunTimeEstimate, measure_speed

    representation = args.representation or get_model_spec(args.model).representations[0]
    plan = RunPlan(args.model, args.dataset, representation, dict(args.model_option), train)
    estimate = RunTimeEstimate(plan.planned_steps(), measure_speed(plan))
    print(f"{args.model} on '{args.dataset}' ({representation}): {estimate.describe()}")
    return 0
