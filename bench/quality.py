"""Benchmark: the musical quality of what ships, with its defaults, against real music and random notes.

For each shipped checkpoint whose training dataset is built here (``bach``, ``irish``): its default
output, ``--pieces`` pieces of ``--bars`` bars from ``--seed`` with the checkpoint's
``compose_defaults`` (chosen by ``python -m core runs tune``, from seed 0, so seed 1 measures them on
fresh pieces), composed through :meth:`Composer.compose` as the Generate page does. Rows, each cut to
the same length:

- ``checkpoint``: the default output;
- ``held_out``: the dataset's held-out pieces (test split, else validation): the reference, distance 0;
- ``training``: as many training pieces (seeded sample): how far real music itself lies from the
  reference, the floor a model can reach;
- ``random``: random notes in the data's ranges (:class:`~core.evaluation.baselines.RandomNotes`).

Per row: the six measures of :mod:`core.evaluation.quality` (``in_key``, ``polyphony`` and
``repeated_notes`` as means; the three histograms by their gap only), each measure's gap from the
held-out pieces in units of their spread and the mean of the gaps (``distance``), and the shares of
pieces breaking the checkpoint's bounds: ``hanging`` (a note longer than the training music's longest),
``out_of_range`` (a pitch outside its range), ``too_many_voices`` (more notes at once than it has). The
bounds are quantiles of the training music, so real pieces break them now and then too. Prints JSON.

    .venv/bin/python bench/quality.py [--pieces 32] [--bars 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SCALARS = ("in_key", "polyphony", "repeated_notes")


def row(pieces, reference, bounds, steps_per_quarter: int) -> dict:
    """One system's figures against the held-out pieces' profile."""
    from core.evaluation.quality import QualityProfile, bounds_shares

    profile = QualityProfile.of(pieces, steps_per_quarter)
    distance = profile.distance(reference)
    return {
        "pieces": len(pieces),
        "distance": round(distance.total, 3),
        **{name: round(profile.value(name), 3) for name in SCALARS},
        "gaps": {name: round(gap, 3) for name, gap in distance.measures.items()},
        **{name: round(share, 3) for name, share in bounds_shares(pieces, bounds, steps_per_quarter).items()},
    }


def measure(checkpoint: Path, pieces: int, bars: float, seed: int) -> dict:
    """Every row of one checkpoint."""
    import numpy as np

    from core.data.bounds import dataset_bounds
    from core.data.datasets import load_dataset
    from core.errors import DatasetError
    from core.evaluation.baselines import RandomNotes, excerpt
    from core.evaluation.quality import QualityProfile, held_out_excerpts
    from core.evaluation.tuning import compose_excerpts
    from core.generation.compose import Composer, CompositionRequest

    started = time.perf_counter()
    composer = Composer.load(checkpoint)
    try:
        dataset = load_dataset(composer.info.dataset)
    except DatasetError as error:
        return {"skipped": str(error)}
    spq = composer.steps_per_quarter
    composed, warnings = compose_excerpts(composer, composer.defaults, pieces, bars, seed)
    steps = CompositionRequest(bars=bars).target_steps(spq)  # as composing cut its pieces
    split, held_out = held_out_excerpts(dataset, steps)
    training = [dataset.piece(i).notes for i in dataset.split_indices("train")]
    chosen = np.random.default_rng(seed).permutation(len(training))[:pieces]
    reference = QualityProfile.of(held_out, spq)
    bounds = composer.bounds or dataset_bounds(dataset, composer.info.representation)
    rows = {
        "checkpoint": composed,
        "held_out": held_out,
        "training": [excerpt(training[i], steps) for i in chosen],
        "random": RandomNotes.fit(training).sample(pieces, steps, seed),
    }
    return {
        "dataset": dataset.name,
        "split": split,
        "defaults": composer.defaults,
        "bounds": bounds.to_json(),
        "rows": {name: row(notes, reference, bounds, spq) for name, notes in rows.items()},
        "warnings": warnings,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=32)
    parser.add_argument("--bars", type=float, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoint", action="append", help="only this shipped checkpoint (repeat for several)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    from core.checkpoints import list_checkpoints

    shipped = [info for info in list_checkpoints() if info.shipped]
    unknown = set(args.checkpoint or ()) - {info.name for info in shipped}
    if unknown:
        parser.error(f"no shipped checkpoint named {', '.join(sorted(unknown))}")
    figures = {
        "pieces": args.pieces,
        "bars": args.bars,
        "seed": args.seed,
        "checkpoints": {
            info.name: measure(info.path, args.pieces, args.bars, args.seed)
            for info in shipped
            if not args.checkpoint or info.name in args.checkpoint
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
