"""Benchmark: how well a conditioned checkpoint follows its controls.

Composes ``--pieces`` pieces per setting through :meth:`Composer.compose` (the
function the Generate page calls), with no post-processing, and measures what
came out:

- key: for each mood (major/minor) and each of ``--tonics``, the share of pieces
  whose estimated key (Krumhansl-Schmuckler, :func:`core.music.theory.estimate_key`)
  is the asked key (``key_accuracy``, chance 1/24) and the share in the asked mode
  (``mode_accuracy``, chance about 1/2);
- density: the mean onsets per quarter note at each density level, which should
  rise from sparse to dense (``density_monotonic``), against the training windows'
  tertile edges.

Each figure is measured twice: ``model_only`` (the control tokens alone, guidance 0)
and ``guided`` (the control tokens plus control guidance at its default strength,
:func:`core.generation.compose.guidance_bias`, as the Generate page starts).
The baseline for the key figures is chance, in the same run: ``*_over_chance`` are the ratios.
Prints JSON.

    .venv/bin/python bench/steering.py [--checkpoint checkpoints/bach-lstm] [--pieces 16] [--bars 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
KEY_CHANCE = 1 / 24
MODE_CHANCE = 1 / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "bach-lstm"))
    parser.add_argument("--pieces", type=int, default=16, help="pieces per setting")
    parser.add_argument("--bars", type=float, default=8)
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--tonics", default="C,D,F#,Bb", help="key centres to try, comma-separated")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    import numpy as np

    from core.data.conditioning import DENSITIES, MODES
    from core.evaluation.metrics import note_density
    from core.generation.compose import DEFAULT_GUIDANCE, Composer, CompositionRequest, Controls
    from core.generation.sampling import SampleConfig
    from core.music.theory import estimate_key, tonic_index

    composer = Composer.load(args.checkpoint)
    if composer.conditioning is None:
        raise SystemExit(f"{args.checkpoint} was trained without controls")

    def compose(controls: Controls, seed: int) -> list[np.ndarray]:
        sampling = SampleConfig(temperature=args.temperature, seed=seed, variations=args.pieces)
        result = composer.compose(CompositionRequest(sampling=sampling, bars=args.bars, controls=controls))
        return [composition.notes for composition in result.compositions]

    def measure(guidance: float) -> dict:
        key_hits = mode_hits = total = 0
        for mode in MODES:
            for seed, tonic in enumerate(args.tonics.split(",")):
                for notes in compose(Controls(mode=mode, tonic=tonic, guidance=guidance), seed):
                    found_tonic, found_mode = estimate_key(notes)
                    key_hits += found_mode == mode and found_tonic == tonic_index(tonic)
                    mode_hits += found_mode == mode
                    total += 1
        density = {}
        for level in DENSITIES:
            # Notes per "bar" of one quarter note: onsets per quarter, the measure the density controls use.
            rates = [
                note_density(notes, spq) for notes in compose(Controls(density=level, guidance=guidance), seed=100)
            ]
            density[level] = round(float(np.nanmean(rates)), 3)
        return {
            "guidance": guidance,
            "key_accuracy": round(key_hits / total, 3),
            "key_over_chance": round(key_hits / total / KEY_CHANCE, 2),
            "mode_accuracy": round(mode_hits / total, 3),
            "mode_over_chance": round(mode_hits / total / MODE_CHANCE, 2),
            "density_onsets_per_quarter": density,
            "density_monotonic": bool(density["sparse"] < density["medium"] < density["dense"]),
            "density_dense_over_sparse": round(density["dense"] / max(density["sparse"], 1e-9), 2),
        }

    spq = composer.steps_per_quarter
    figures = {
        "checkpoint": Path(args.checkpoint).name,
        "pieces_per_setting": args.pieces,
        "bars": args.bars,
        "temperature": args.temperature,
        "density_edges": list(composer.conditioning.density_edges),
        "model_only": measure(0.0),
        "guided": measure(DEFAULT_GUIDANCE),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
