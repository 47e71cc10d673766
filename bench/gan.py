"""Benchmark: did the GAN learn? Its seeded samples against an untrained generator, random notes, the
``rnn_gan`` ablation and held-out real pieces, on the evaluation metrics. Prints JSON.

For every dataset given (``--gan bach=checkpoints/bach-gan``), one call of
:func:`core.evaluation.evaluate.evaluate` (the Evaluate page's and ``python -m core evaluate``'s engine) with
``--n`` pieces per system of ``--bars`` bars, seeded: the trained GAN; (a) the same architecture and config
untrained (built with ``--seed``, saved as a checkpoint next to a copy of the trained one's config, composed
the same way); (c) the ``rnn_gan`` ablation when given (``--ablation bach=...``); and the engine's own rows,
(b) random notes and (d) held-out real pieces (and the Markov chain, for scale). Every piece is measured
against the dataset's training pieces, and for each system the benchmark reports, per figure, the overlap
(0-1, 1: the same distribution as the training pieces) of:

- ``pitch_class``: the scale-degree (pitch-class) histogram;
- ``scale_consistency``, ``pitch_range``, ``polyphony``: those numbers (their mean is reported too);
- ``note_length``: the note-duration histogram; ``interval``: the melodic-interval histogram;

and ``diversity``: the mean pairwise distance between the samples' pitch-class histograms
(:func:`core.evaluation.comparison.set_diversity`), nearest the held-out real pieces' is best. ``closer``
counts, for each trained GAN, the figures on which it is closer to the data than both (a) and (b).

    .venv/bin/python bench/gan.py --gan bach=checkpoints/bach-gan --ablation bach=checkpoints/<rnn_gan run> \\
        [--gan irish=... --ablation irish=...] [--n 64] [--bars 8] [--seed 0] [--truncation 1.0]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Figure -> the evaluation feature whose overlap with the training pieces it reports.
OVERLAPS = {
    "pitch_class": "pitch_class_histogram",
    "scale_consistency": "scale_consistency",
    "note_length": "note_length_histogram",
    "interval": "pitch_interval_histogram",
    "pitch_range": "pitch_range",
    "polyphony": "polyphony",
}
MEANS = ("scale_consistency", "pitch_range", "polyphony")
UNTRAINED, RANDOM, REAL = "untrained generator", "Random notes", "Held-out real pieces"


def untrained_checkpoint(trained: Path, folder: Path, seed: int) -> Path:
    """A checkpoint of the trained GAN's architecture and config with freshly initialized weights.

    Composed through the same :class:`~core.generation.compose.Composer` as the trained one, so the only
    difference between the two rows is training.
    """
    import keras

    from core.checkpoints import CONFIG_FILE, MODEL_FILE, CheckpointFolder
    from core.models import build_model, input_spec_for

    config = CheckpointFolder(trained).read_config()
    folder.mkdir(parents=True)
    shutil.copy(trained / CONFIG_FILE, folder / CONFIG_FILE)
    keras.utils.set_random_seed(seed)
    spec = input_spec_for(config.representation, config.data, config.train.seq_len)
    build_model(config.model, config.model_config, spec).save(folder / MODEL_FILE)
    return folder


def figures(system) -> dict:
    """The benchmark's figures of one evaluated system (:class:`~core.evaluation.evaluate.SystemResult`)."""
    from core.evaluation.comparison import set_diversity

    row = {name: _round(system.comparison[feature].overlap) for name, feature in OVERLAPS.items()}
    row["diversity"] = _round(set_diversity(system.notes))
    row["overall_overlap"] = _round(system.summary.get("overlap"))
    row["means"] = {name: _round(system.intervals[name][0]) for name in MEANS}
    row["pieces"] = len(system.notes)
    return row


def closer(gan: dict, others: list[dict], real_diversity: float) -> list[str]:
    """The figures on which ``gan`` is closer to the data than every row of ``others``."""
    won = [name for name in OVERLAPS if all(_value(gan[name]) > _value(other[name]) for other in others)]
    gap = abs(_value(gan["diversity"]) - real_diversity)
    if all(gap < abs(_value(other["diversity"]) - real_diversity) for other in others):
        won.append("diversity")
    return won


def bench_dataset(
    dataset: str, gan: Path, ablation: Path | None, n: int, bars: float, seed: int, truncation: float, scratch: Path
) -> dict:
    from core.evaluation.comparison import set_diversity
    from core.evaluation.evaluate import evaluate
    from core.generation.sampling import SampleConfig

    untrained = untrained_checkpoint(gan, scratch / f"{dataset}-untrained", seed)
    checkpoints = [gan, untrained] + ([ablation] if ablation else [])
    names = {gan.name: "crnn_gan (trained)", untrained.name: UNTRAINED}
    if ablation:
        names[ablation.name] = "rnn_gan ablation (trained)"
    started = time.perf_counter()
    result = evaluate(
        dataset,
        checkpoints,
        n=n,
        seed=seed,
        sampling=SampleConfig(strategy="noise", temperature=truncation),
        bars=bars,
        use_cache=False,
    )
    seconds = time.perf_counter() - started
    real_diversity = set_diversity(result.system(REAL).notes)
    rows = {names.get(system.name, system.name): figures(system) for system in result.systems}
    baselines = [rows[UNTRAINED], rows[RANDOM]]
    return {
        "dataset": dataset,
        "checkpoints": {label: str(path) for label, path in zip(names.values(), checkpoints)},
        "reference_pieces": result.reference_pieces,
        "systems": rows,
        "closer_than_untrained_and_random": {
            label: closer(rows[label], baselines, real_diversity) for label in names.values() if label != UNTRAINED
        },
        "warnings": sorted({warning for system in result.systems for warning in system.warnings}),
        "seconds": round(seconds, 1),
    }


def _value(value: float | None) -> float:
    return -math.inf if value is None else value


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 3)


def _pairs(items: list[str]) -> dict[str, Path]:
    pairs = {}
    for item in items:
        dataset, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"expected DATASET=CHECKPOINT, got {item!r}")
        pairs[dataset] = Path(path)
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gan", action="append", default=[], help="DATASET=CHECKPOINT of a trained crnn_gan")
    parser.add_argument("--ablation", action="append", default=[], help="DATASET=CHECKPOINT of a trained rnn_gan")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--bars", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truncation", type=float, default=1.0, help="the noise's scale (the GAN's temperature)")
    args = parser.parse_args()
    gans, ablations = _pairs(args.gan), _pairs(args.ablation)
    if not gans:
        parser.error("give at least one --gan DATASET=CHECKPOINT")
    with tempfile.TemporaryDirectory() as scratch:
        results = [
            bench_dataset(
                dataset, gan, ablations.get(dataset), args.n, args.bars, args.seed, args.truncation, Path(scratch)
            )
            for dataset, gan in gans.items()
        ]
    print(json.dumps({"n": args.n, "bars": args.bars, "seed": args.seed, "results": results}, indent=1))


if __name__ == "__main__":
    main()
