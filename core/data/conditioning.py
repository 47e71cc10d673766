"""Control tokens that let a user steer a token model: style, key ("mood") and note density.

Magenta's Performance RNN conditions on note density and a pitch-class
histogram, fed to every step. We do the same with three tokens appended to a
representation's vocabulary and put in front of every training window; the
model adds their embeddings to every later step
(:class:`core.models.layers.ControlBroadcast`). The three controls:

- style: the corpus or dataset a piece came from;
- key: tonic and mode of the piece (24 tokens). Users pick the mode as a mood,
  bright (major) or dark (minor), and may pick the tonic. A mode alone says
  little once training transposes every piece at random, so the key token is
  transposed with its window and the model learns which pitches belong;
- density: onsets per quarter note of the window itself (sparse, medium or
  dense, split at the tertiles of the training windows), so the label describes
  the very notes the model learns to write.

The model learns ``p(music | controls)``; at composition time the user picks the
three tokens and the model never samples a control token itself.

This module holds the control vocabulary only; measuring a dataset's windows
and putting the tokens before them is :mod:`core.data.windows`' part
(:func:`~core.data.windows.conditioning_for`, :class:`~core.data.windows.WindowControls`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import CheckpointError, ConfigError
from core.music.theory import TONICS, tonic_index

MODES = ("major", "minor")
MOODS = {"major": "bright", "minor": "dark"}
# Tonic when the user picks only a mood: C major and its relative minor.
DEFAULT_TONICS = {"major": "C", "minor": "A"}
KEYS = tuple(f"{tonic} {mode}" for mode in MODES for tonic in TONICS)
DENSITIES = ("sparse", "medium", "dense")
# Style, key, density.
PREFIX_LENGTH = 3
# The control layout config.json records; checkpoints with another layout must be retrained.
LAYOUT = ("style", "key", "density")


def style_of(dataset) -> str:
    """A dataset's style label: the corpus it came from, else its name."""
    source = dataset.manifest.get("source", "")
    return source.removeprefix("corpus:") if source.startswith("corpus:") else dataset.name


def key_index(tonic: int, mode: str) -> int:
    """Position of a key in :data:`KEYS`."""
    return MODES.index(mode) * len(TONICS) + tonic % len(TONICS)


def key_of(meta: dict) -> int:
    """Position in :data:`KEYS` of a piece's estimated key, e.g. ``"Eb major"``."""
    tonic, _, mode = str(meta["key"]).partition(" ")
    return key_index(tonic_index(tonic), "minor" if mode == "minor" else "major")


@dataclass(frozen=True)
class Conditioning:
    """The control vocabulary of one model, saved in its checkpoint's config.json.

    Control token ids start at ``base_size`` (the representation's vocabulary
    size): the styles, then :data:`KEYS`, then :data:`DENSITIES`.

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
        return len(self.styles) + len(KEYS) + len(DENSITIES)

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary: representation tokens plus controls."""
        return self.base_size + self.size

    @property
    def key_base(self) -> int:
        """Id of the first key token."""
        return self.base_size + len(self.styles)

    @property
    def density_base(self) -> int:
        """Id of the first density token."""
        return self.key_base + len(KEYS)

    def density_of(self, notes_per_quarter: float) -> str:
        return DENSITIES[int(np.searchsorted(self.density_edges, notes_per_quarter, side="right"))]

    def prefix(self, style: str, mode: str, density: str, tonic: str) -> np.ndarray:
        """The control tokens put before the music, int32 shape=(PREFIX_LENGTH,).

        Args:
            tonic: A note name, the key centre of ``mode``.

        Raises:
            ConfigError: For a style, mode, tonic or density the model was not trained with.
        """
        for value, allowed, what in (
            (style, self.styles, "style"),
            (mode, MODES, "mode"),
            (density, DENSITIES, "density"),
        ):
            if value not in allowed:
                raise ConfigError(f"unknown {what} {value!r}; this model knows {', '.join(allowed)}")
        try:
            key = key_index(tonic_index(tonic), mode)
        except ValueError:
            raise ConfigError(f"unknown tonic {tonic!r}; use a note name such as C, F# or Bb") from None
        return np.array(
            [
                self.base_size + self.styles.index(style),
                self.key_base + key,
                self.density_base + DENSITIES.index(density),
            ],
            dtype=np.int32,
        )

    def token_names(self) -> list[str]:
        return (
            [f"STYLE_{style}" for style in self.styles]
            + [f"KEY_{key.replace(' ', '_')}" for key in KEYS]
            + [f"DENSITY_{density}" for density in DENSITIES]
        )

    def to_json(self) -> dict:
        return {
            "layout": list(LAYOUT),
            "base_size": self.base_size,
            "styles": list(self.styles),
            "density_edges": list(self.density_edges),
        }

    @classmethod
    def from_json(cls, data: dict) -> Conditioning:
        """Raises:
        CheckpointError: For controls of an older layout (style, mode, density per piece)."""
        if tuple(data.get("layout", ())) != LAYOUT:
            raise CheckpointError(
                "this model was trained with an older set of control tokens (mode instead of key); "
                "train it again to compose with it"
            )
        return cls(int(data["base_size"]), tuple(data["styles"]), tuple(float(e) for e in data["density_edges"]))
