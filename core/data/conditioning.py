"""Control tokens that let a user steer a token model: style, mode ("mood") and note density.

Magenta's Performance RNN conditions on note density and a pitch-class
histogram. We do the same with three tokens appended to a representation's
vocabulary and put in front of every training window: the piece's style (the
corpus or dataset it came from), its mode (major or minor, shown to users as
bright or dark) and its note density (sparse, medium or dense, split at the
training pieces' tertiles). The model learns ``p(music | controls)``; at
composition time the user picks the three tokens and the model never samples
a control token itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.data.piece import END, START
from core.errors import GenerationError

MODES = ("major", "minor")
MOODS = {"major": "bright", "minor": "dark"}
DENSITIES = ("sparse", "medium", "dense")
# Style, mode, density.
PREFIX_LENGTH = 3


def onsets_per_quarter(notes: np.ndarray, steps_per_quarter: int) -> float:
    """Note density of a piece: onsets divided by its length in quarter notes (0 when empty).

    Args:
        notes: int32, shape=(n, 6).
    """
    if len(notes) == 0:
        return 0.0
    quarters = max(int(notes[:, END].max() - notes[:, START].min()), 1) / steps_per_quarter
    return len(notes) / quarters


def style_of(meta: dict, source: str, dataset_name: str) -> str:
    """A piece's style label: its own ``style``, else the corpus the dataset came from, else the dataset name."""
    if meta.get("style"):
        return str(meta["style"])
    if source.startswith("corpus:"):
        return source.removeprefix("corpus:")
    return dataset_name


@dataclass(frozen=True)
class Conditioning:
    """The control vocabulary of one model, saved in its checkpoint's config.json.

    Control token ids start at ``base_size`` (the representation's vocabulary
    size): the styles, then :data:`MODES`, then :data:`DENSITIES`.

    Attributes:
        base_size: Vocabulary size of the representation without controls.
        styles: Style labels seen in training, in id order.
        density_edges: Onsets per quarter note separating sparse | medium | dense.
    """

    base_size: int
    styles: tuple[str, ...]
    density_edges: tuple[float, float]

    @property
    def size(self) -> int:
        """Number of control tokens."""
        return len(self.styles) + len(MODES) + len(DENSITIES)

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary: representation tokens plus controls."""
        return self.base_size + self.size

    def density_of(self, notes_per_quarter: float) -> str:
        return DENSITIES[int(np.searchsorted(self.density_edges, notes_per_quarter, side="right"))]

    def prefix(self, style: str, mode: str, density: str) -> np.ndarray:
        """The control tokens put before the music, int32 shape=(PREFIX_LENGTH,).

        Raises:
            GenerationError: For a style, mode or density the model was not trained with.
        """
        for value, allowed, what in ((style, self.styles, "style"), (mode, MODES, "mode"), (density, DENSITIES, "density")):
            if value not in allowed:
                raise GenerationError(f"unknown {what} {value!r}; this model knows {', '.join(allowed)}")
        style_id = self.base_size + self.styles.index(style)
        mode_id = self.base_size + len(self.styles) + MODES.index(mode)
        density_id = self.base_size + len(self.styles) + len(MODES) + DENSITIES.index(density)
        return np.array([style_id, mode_id, density_id], dtype=np.int32)

    def token_names(self) -> list[str]:
        return (
            [f"STYLE_{style}" for style in self.styles]
            + [f"MODE_{mode}" for mode in MODES]
            + [f"DENSITY_{density}" for density in DENSITIES]
        )

    def to_json(self) -> dict:
        return {"base_size": self.base_size, "styles": list(self.styles), "density_edges": list(self.density_edges)}

    @classmethod
    def from_json(cls, data: dict) -> Conditioning:
        return cls(int(data["base_size"]), tuple(data["styles"]), tuple(float(e) for e in data["density_edges"]))


def piece_controls(dataset) -> tuple[list[str], list[str], np.ndarray]:
    """Style, mode and density (onsets per quarter) of every piece of a dataset."""
    source = dataset.manifest.get("source", "")
    styles, modes, densities = [], [], []
    for index, meta in enumerate(dataset.piece_meta):
        styles.append(style_of(meta, source, dataset.name))
        modes.append("minor" if meta["key"].endswith("minor") else "major")
        densities.append(onsets_per_quarter(dataset.piece(index).notes, meta["steps_per_quarter"]))
    return styles, modes, np.asarray(densities, dtype=np.float64)


def conditioning_for(dataset, base_size: int) -> Conditioning:
    """The control vocabulary of a dataset: its styles, and density tertiles of its train split."""
    styles, _, densities = piece_controls(dataset)
    train = dataset.split_indices("train") or list(range(len(densities)))
    low, high = np.quantile(densities[train], [1 / 3, 2 / 3])
    return Conditioning(base_size, tuple(sorted(set(styles))), (float(low), float(high)))


def piece_prefixes(conditioning: Conditioning, dataset) -> np.ndarray:
    """The control prefix of every piece, int32 shape=(pieces, PREFIX_LENGTH).

    A style unknown to ``conditioning`` (a piece added after training) takes the first style.
    """
    styles, modes, densities = piece_controls(dataset)
    rows: Sequence[np.ndarray] = [
        conditioning.prefix(
            style if style in conditioning.styles else conditioning.styles[0], mode, conditioning.density_of(density)
        )
        for style, mode, density in zip(styles, modes, densities)
    ]
    return np.stack(rows) if rows else np.zeros((0, PREFIX_LENGTH), dtype=np.int32)
