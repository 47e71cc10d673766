"""Dataset statistics: what the Dataset page plots and ``dataset show`` prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.data.piece import END, PITCH, START, QuantizedPiece
from core.data.splits import SPLITS

MAX_DURATION_BIN = 32  # steps; longer notes share the last bin


def dataset_statistics(pieces: Sequence[QuantizedPiece], splits: Sequence[str]) -> dict[str, Any]:
    """Summaries of a set of pieces, all JSON-able.

    Returns:
        A dict with ``pieces``, ``notes``, ``total_duration_seconds``,
        ``pitch_histogram`` (128 counts), ``pitch_class_histogram`` (12),
        ``duration_histogram`` (counts of note lengths 1..32 steps, the last
        bin holding longer ones), ``notes_per_piece``, ``tempos``,
        ``keys``, ``time_signatures`` and ``split``: the pieces of each of
        :data:`~core.data.splits.SPLITS`, zero included.
    """
    pitch_histogram = np.zeros(128, dtype=np.int64)
    duration_histogram = np.zeros(MAX_DURATION_BIN, dtype=np.int64)
    for piece in pieces:
        np.add.at(pitch_histogram, piece.notes[:, PITCH], 1)
        lengths = np.clip(piece.notes[:, END] - piece.notes[:, START], 1, MAX_DURATION_BIN)
        np.add.at(duration_histogram, lengths - 1, 1)
    pitch_class = np.bincount(np.arange(128) % 12, weights=pitch_histogram, minlength=12)
    return {
        "pieces": len(pieces),
        "notes": int(pitch_histogram.sum()),
        "total_duration_seconds": round(float(sum(p.duration_seconds for p in pieces)), 2),
        "steps_per_quarter": pieces[0].steps_per_quarter if pieces else None,
        "pitch_histogram": pitch_histogram.tolist(),
        "pitch_class_histogram": pitch_class.astype(int).tolist(),
        "duration_histogram": duration_histogram.tolist(),
        "notes_per_piece": [len(p.notes) for p in pieces],
        "tempos": [round(p.tempo_bpm, 2) for p in pieces],
        "keys": dict(Counter(p.key for p in pieces).most_common()),
        "time_signatures": dict(Counter(f"{n}/{d}" for n, d in (p.time_signature for p in pieces)).most_common()),
        "split": {split: list(splits).count(split) for split in SPLITS},
    }
