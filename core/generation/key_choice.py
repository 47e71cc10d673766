"""One key for a whole request: steering and snapping read the same choice, so they never disagree.

A model trained with key controls is steered to the key (its control tokens and
guidance) and may also have every note snapped into it; a model trained without
them can keep a key only by snapping, so choosing a key snaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.data.conditioning import MODES, MOODS
from core.errors import GenerationError
from core.music.theory import TONICS, scale_name

# Scales a key of each mode may snap to: the natural scale first; a minor key's raised sixth and seventh
# (Bach's leading notes) survive only the harmonic or melodic minor.
SNAP_SCALES = {
    "major": ("major", "major pentatonic", "mixolydian", "lydian"),
    "minor": ("minor", "harmonic minor", "melodic minor", "dorian", "phrygian", "minor pentatonic"),
}


@dataclass(frozen=True)
class KeyChoice:
    """The key a user picked, and whether notes are snapped into it.

    Attributes:
        tonic: A name in :data:`~core.music.theory.TONICS`; None: the model's own choice (a conditioned model's
            default key for ``mode``, C major or A minor).
        mode: ``major`` or ``minor``.
        snap: Move every note into the key after composing.
        snap_scale: The scale notes snap to, one of ``SNAP_SCALES[mode]``; None: the mode's own.
    """

    tonic: str | None = None
    mode: str = "major"
    snap: bool = False
    snap_scale: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise GenerationError(f"unknown mode {self.mode!r}; use {' or '.join(MODES)}")
        if self.tonic is not None and self.tonic not in TONICS:
            raise GenerationError(f"unknown key centre {self.tonic!r}; use one of {', '.join(TONICS)}")
        if self.snap_scale is not None and scale_name(self.snap_scale) not in SNAP_SCALES[self.mode]:
            raise GenerationError(
                f"a {self.mode} key snaps to {', '.join(SNAP_SCALES[self.mode])}; got {self.snap_scale!r}"
            )

    @property
    def label(self) -> str:
        """How a selector names it: ``D minor (dark)``, or the model's own choice."""
        return "the model's own" if self.tonic is None else f"{self.tonic} {self.mode} ({MOODS[self.mode]})"

    def settings(self, conditioned: bool) -> dict[str, Any]:
        """The flat composing settings of this choice (``tonic``, ``mode``, ``scale``).

        Args:
            conditioned: Whether the model was trained with key controls; without them a chosen key is kept by
                snapping alone.
        """
        snaps = self.tonic is not None and (self.snap or not conditioned)
        scale = f"{self.tonic} {self.snap_scale or self.mode}" if snaps else None
        if not conditioned:
            return {"tonic": None, "mode": None, "scale": scale}
        return {"tonic": self.tonic, "mode": self.mode, "scale": scale}


def key_choices(conditioned: bool) -> list[KeyChoice]:
    """What the key selector offers: every major and minor key, after the model's own choice for a model that
    picks its own key (one trained without key controls)."""
    keys = [KeyChoice(tonic, mode) for mode in MODES for tonic in TONICS]
    return keys if conditioned else [KeyChoice(), *keys]
