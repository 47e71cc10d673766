"""Benchmark: evaluating the shipped Bach model against the full Bach chorales, end to end.

In a fresh process with an empty NEUROTUNE_HOME: build the full ``bach`` dataset
(not timed), then :func:`core.evaluation.evaluate.evaluate` (the function the
Evaluate page and ``python -m core evaluate`` call) with ``checkpoints/bach-lstm``,
``--n`` pieces per system, the cache off: loading the model, composing, the
baselines and measuring every system, timed as a whole (``end_to_end_s``, target
< 30 s on 2 cores) with the share spent composing vs measuring; then the same
call again, answered from the cache (``cached_s``). Then set against set for
1,000 pieces: 1,000 Markov-chain pieces against 1,000 random ones, their
features (``features_1000_s``), the comparison of every feature
(``set_vs_set_1000_s``, target < 5 s) and their longest copies
(``originality_1000_s``). Timings share the CPU with anything else running
(``load_average_1m`` says how busy it was). Prints JSON.

    .venv/bin/python bench/evaluate.py [--n 32] [--bars 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_END_TO_END_S = 30.0
TARGET_SET_VS_SET_1000_S = 5.0
SET_SIZE = 1000


def run(n: int, bars: float) -> dict:
    """In this (fresh) process: build, evaluate twice, then time set against set for 1,000 pieces."""
    from core.checkpoints import SHIPPED_CHECKPOINTS
    from core.data.build import build_from_corpus
    from core.evaluation.baselines import MarkovChain, RandomNotes
    from core.evaluation.comparison import ReferenceSet
    from core.evaluation.evaluate import evaluate
    from core.evaluation.features import feature_table, piece_features
    from core.evaluation.originality import TrainingIndex

    started = time.perf_counter()
    dataset = build_from_corpus("bach", "bach-chorales").dataset
    build_s = time.perf_counter() - started

    started = time.perf_counter()
    result = evaluate(dataset, [SHIPPED_CHECKPOINTS / "bach-lstm"], n=n, seed=0, bars=bars, use_cache=False)
    end_to_end = time.perf_counter() - started
    started = time.perf_counter()
    cached = evaluate(dataset, [SHIPPED_CHECKPOINTS / "bach-lstm"], n=n, seed=0, bars=bars)
    cached_s = time.perf_counter() - started

    training = [dataset.piece(i).notes for i in dataset.split_indices("train")]
    steps = int(bars * 4 * dataset.config.steps_per_quarter)
    generated = MarkovChain.fit(training).sample(SET_SIZE, steps, seed=0)
    real = RandomNotes.fit(training).sample(SET_SIZE, steps, seed=1)
    started = time.perf_counter()
    tables = [feature_table([piece_features(notes, 4) for notes in pieces]) for pieces in (real, generated)]
    features_s = (time.perf_counter() - started) / 2
    started = time.perf_counter()
    ReferenceSet(tables[0]).compare(tables[1])
    set_vs_set_s = time.perf_counter() - started
    index = TrainingIndex(training)
    started = time.perf_counter()
    for notes in generated:
        index.longest_copy(notes, 16)
    originality_s = time.perf_counter() - started

    timings = result.timings
    return {
        "pieces_per_system": n,
        "bars": bars,
        "dataset_pieces": len(dataset),
        "build_s": round(build_s, 1),
        "end_to_end_s": round(end_to_end, 2),
        "compose_s": timings["compose"],
        "baselines_s": timings["baselines"],
        "measure_s": timings["measure"],
        "compose_share": round(timings["compose"] / end_to_end, 2),
        "measure_share": round(timings["measure"] / end_to_end, 2),
        "cached_s": round(cached_s, 3),
        "cache_hit": cached.cached,
        "leaderboard": [
            {key: round(value, 3) if isinstance(value, float) else value for key, value in row.items()}
            for row in result.leaderboard()
        ],
        "features_1000_s": round(features_s, 2),
        "set_vs_set_1000_s": round(set_vs_set_s, 2),
        "originality_1000_s": round(originality_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="pieces per system (default 32)")
    parser.add_argument("--bars", type=float, default=8.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        print(json.dumps(run(args.n, args.bars)))
        return
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "NEUROTUNE_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, __file__, "--child", "--n", str(args.n), "--bars", str(args.bars)]
        output = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "benchmark": "evaluate-bach-lstm",
                "cores": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
                **figures,
                "targets": {"end_to_end_s": TARGET_END_TO_END_S, "set_vs_set_1000_s": TARGET_SET_VS_SET_1000_S},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
