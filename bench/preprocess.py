"""Benchmark: building the full Bach chorale dataset, cold and cached, and the window pipeline.

Prints one JSON object. Each build runs in a fresh process with an empty NEUROTUNE_HOME, so
"cold" includes the music21 -> MIDI conversion. Figures are compared within this run:
``parallel_speedup`` = cold seconds with 1 worker / cold seconds with all cores.
Targets (2 cores): cold build with all cores < 60 s, cached rebuild < 3 s.

    .venv/bin/python bench/preprocess.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KB


def run_build(limit: int | None, workers: int, rebuild: bool) -> dict:
    """In this (fresh) process: build, optionally build again, and report times and memory."""
    from core.data.build import build_from_corpus

    started = time.perf_counter()
    result = build_from_corpus("bach", "bach-chorales", limit=limit, workers=workers)
    figures = {
        "cold_s": round(time.perf_counter() - started, 2),
        "pieces": len(result.dataset),
        "rejected": len(result.rejected),
        "peak_rss_mb": round(_peak_mb(resource.RUSAGE_SELF), 1),
        "peak_worker_rss_mb": round(_peak_mb(resource.RUSAGE_CHILDREN), 1),
    }
    figures["files_per_s"] = round((figures["pieces"] + figures["rejected"]) / figures["cold_s"], 1)
    if rebuild:
        started = time.perf_counter()
        again = build_from_corpus("bach", "bach-chorales", limit=limit, workers=workers)
        figures["cached_rebuild_s"] = round(time.perf_counter() - started, 3)
        figures["cache_hit"] = again.cache_hit
        figures.update(window_throughput())
    return figures


def window_throughput() -> dict:
    """Windows per second from the tf.data pipeline, without and with lazy transposition."""
    from core.data.datasets import load_dataset
    from core.data.windows import window_dataset

    dataset = load_dataset("bach")
    figures = {}
    for label, semitones in (("plain", 0), ("transposed", 6)):
        pipeline = window_dataset(dataset, "events", "train", 128, 64, transpose_semitones=semitones)
        count, started = 0, time.perf_counter()
        for _ in range(2):  # two epochs: the second runs warm
            for windows, _real in pipeline:
                count += int(windows.shape[0])
        figures[f"windows_per_s_{label}"] = round(count / (time.perf_counter() - started))
    figures["augmentation_cost"] = round(figures["windows_per_s_plain"] / figures["windows_per_s_transposed"], 2)
    return figures


def in_fresh_process(limit: int | None, workers: int, rebuild: bool) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "NEUROTUNE_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, __file__, "--child", "--workers", str(workers)]
        command += ["--limit", str(limit)] if limit else []
        command += ["--rebuild"] if rebuild else []
        output = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N chorales (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rebuild", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        from core.data import ingest

        ingest.SPARE_READERS = 0  # every reader ends with its build, so that RUSAGE_CHILDREN counts its memory
        print(json.dumps(run_build(args.limit, args.workers, args.rebuild)))
        return
    parallel = in_fresh_process(args.limit, args.workers, rebuild=True)
    serial = in_fresh_process(args.limit, 1, rebuild=False)
    print(
        json.dumps(
            {
                "benchmark": "preprocess-bach-chorales",
                "cores": os.cpu_count(),
                "workers": args.workers,
                "parallel": parallel,
                "serial": serial,
                "parallel_speedup": round(serial["cold_s"] / parallel["cold_s"], 2),
                "targets": {"cold_s": 60, "cached_rebuild_s": 3},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
