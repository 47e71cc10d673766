"""``python -m core runs list|show|stop|resume|delete|export|tune`` (and ``work``, the background worker)."""

from __future__ import annotations

import argparse
import json


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(name, help="list and manage training runs")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="all runs with their status and final metrics").set_defaults(handler=_list)
    for action, handler, text in (
        ("show", _show, "a run's config, status, metrics and error as JSON"),
        ("stop", _stop, "stop a run at its next step (it saves a checkpoint)"),
        ("resume", _resume, "resume a stopped or failed run in the background"),
        ("delete", _delete, "delete a run and its checkpoints"),
        ("work", _work, argparse.SUPPRESS),
    ):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("run_id")
        sub.set_defaults(handler=handler)
    export = actions.add_parser("export", help="copy a run's best model into a standalone checkpoint folder")
    export.add_argument("run_id")
    export.add_argument("--to", required=True, help="new folder, e.g. checkpoints/bach-lstm")
    export.set_defaults(handler=_export)
    tune = actions.add_parser(
        "tune", help="find the composing settings whose music is closest to held-out real pieces; print the trade-off"
    )
    tune.add_argument("checkpoint", help="a checkpoint folder, e.g. checkpoints/bach-lstm")
    tune.add_argument("--dataset", required=True, help="its training dataset, e.g. bach")
    tune.add_argument("--pieces", type=int, help="pieces composed per setting (default 64)")
    tune.add_argument("--bars", type=float, default=8.0, help="length of every piece measured (default 8)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument(
        "--max-note-beats",
        type=float,
        action="append",
        help="also try capping every note at this many beats, beside the training music's longest (repeat for several)",
    )
    tune.add_argument(
        "--write", action="store_true", help="store the chosen settings in the checkpoint's config.json as its defaults"
    )
    tune.set_defaults(handler=_tune)


def _list(args: argparse.Namespace) -> int:
    from core.training import jobs

    jobs.reconcile()
    runs = jobs.run_store.list_runs()
    if not runs:
        print("no training runs yet: python -m core train --dataset bach --model lstm --epochs 5")
    for run in runs:
        best = f"{run.best_val_loss:.4f}" if run.best_val_loss is not None else "-"
        print(f"{run.id}\t{run.status}\t{run.model}\t{run.dataset}\tepoch {run.epoch}\tstep {run.step}\tbest {best}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from core.checkpoints import run_config
    from core.training import jobs

    jobs.reconcile()
    run = jobs.run_store.get_run(args.run_id)
    print(
        json.dumps(
            {
                "id": run.id,
                "status": run.status,
                "model": run.model,
                "dataset": run.dataset,
                "representation": run.representation,
                "device": run.device,
                "strategy": run.strategy,
                "replicas": run.replicas,
                "precision": run.precision,
                "epoch": run.epoch,
                "step": run.step,
                "best_val_loss": run.best_val_loss,
                "final_metrics": run.final_metrics,
                "error": run.error,
                "checkpoint_dir": run.checkpoint_dir,
                "config": run_config(run).to_dict(),
                "created_at": run.created_at.isoformat(),
                "finished_at": run.finished_at and run.finished_at.isoformat(),
            },
            indent=2,
        )
    )
    return 0


def _stop(args: argparse.Namespace) -> int:
    from core.training import jobs

    print(f"run {args.run_id}: {jobs.request_stop(args.run_id).status}, stop requested")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from core.training import jobs

    print(f"run {args.run_id}: {jobs.resume(args.run_id).status}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from core.training import jobs

    jobs.delete_run(args.run_id)
    print(f"deleted run {args.run_id}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.checkpoints import export_checkpoint
    from core.training import jobs

    run = jobs.run_store.get_run(args.run_id)
    folder = export_checkpoint(Path(run.checkpoint_dir), Path(args.to))
    print(f"exported run {run.id} to {folder}")
    return 0


def _work(args: argparse.Namespace) -> int:
    from core.training import jobs

    return 0 if jobs.work(args.run_id) != "failed" else 1


def _tune(args: argparse.Namespace) -> int:
    from core.cli.progress import print_progress
    from core.evaluation.evaluate import json_safe
    from core.evaluation.tuning import TUNING_PIECES, TuningGrid, tune_defaults, write_defaults

    caps = (0.0, *sorted(set(args.max_note_beats) - {0.0})) if args.max_note_beats else (0.0,)
    result = tune_defaults(
        args.checkpoint,
        args.dataset,
        grid=TuningGrid(max_note_beats=caps),
        pieces=args.pieces or TUNING_PIECES,
        bars=args.bars,
        seed=args.seed,
        progress=lambda done, total, what: print_progress(done, total),
    )
    if args.write:
        write_defaults(args.checkpoint, result)
    print(json.dumps(json_safe({**result.to_json(), "written": args.write}), indent=1))
    return 0
