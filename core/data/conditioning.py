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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.preprocess import PITCH_CLASS_NAMES
from core.errors import CheckpointError, GenerationError

MODES = ("major", "minor")
MOODS = {"major": "bright", "minor": "dark"}
TONICS = PITCH_CLASS_NAMES
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


def tonic_index(tonic: str) -> int:
    """Pitch class of a tonic name such as ``"F#"``, ``"Bb"`` or ``"eb"``.

    Raises:
        GenerationError: For a name that is not a pitch class.
    """
    import pretty_midi

    name = tonic.strip()
    try:
        return pretty_midi.note_name_to_number(name[:1].upper() + name[1:] + "4") % 12
    except (ValueError, IndexError):
        raise GenerationError(f"unknown tonic {tonic!r}; use a note name such as C, F# or Bb") from None


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
            GenerationError: For a style, mode, tonic or density the model was not trained with.
        """
        for value, allowed, what in (
            (style, self.styles, "style"),
            (mode, MODES, "mode"),
            (density, DENSITIES, "density"),
        ):
            if value not in allowed:
                raise GenerationError(f"unknown {what} {value!r}; this model knows {', '.join(allowed)}")
        key = key_index(tonic_index(tonic), mode)
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
    def of_run(cls, config: dict) -> Conditioning | None:
        """The controls a run (its config.json) was trained with; None for an unconditioned run."""
        return cls.from_json(config["conditioning"]) if config.get("conditioning") else None

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


def token_onsets(codec) -> np.ndarray:
    """1 for every token id that starts a note, else 0, int32 shape=(size,)."""
    note_on_pitch, _ = codec.token_pitches()
    return (note_on_pitch >= 0).astype(np.int32)


def window_densities(values: np.ndarray, starts: np.ndarray, length: int, codec, steps_per_quarter: int) -> np.ndarray:
    """Onsets per quarter note of every window of ``length`` tokens starting at ``starts``.

    The same measure :meth:`WindowControls.prefix_tf` takes inside the pipeline.

    Args:
        values: Token ids of the concatenated pieces, shape=(T,).
        starts: Window starts into ``values``, shape=(n,).
        codec: The token representation of ``values``.

    Returns:
        float64, shape=(n,).
    """
    onsets = np.concatenate([[0], np.cumsum(token_onsets(codec)[values])])
    steps = np.concatenate([[0], np.cumsum(codec.token_steps()[values])])
    quarters = np.maximum(steps[starts + length] - steps[starts], 1) / steps_per_quarter
    return (onsets[starts + length] - onsets[starts]) / quarters


def conditioning_for(dataset, codec, window_length: int) -> Conditioning:
    """The control vocabulary of a dataset: its styles, and the density tertiles of its train windows."""
    from core.data.windows import default_stride, window_starts

    values, offsets = dataset.encoded(codec.name)
    train = dataset.split_indices("train") or list(range(len(dataset.piece_meta)))
    length = max(1, min(window_length, max(int(offsets[p + 1] - offsets[p]) for p in train)))
    starts = window_starts(offsets, train, length, default_stride(length))
    densities = window_densities(values, starts, length, codec, dataset.config.steps_per_quarter)
    low, high = np.quantile(densities, [1 / 3, 2 / 3]) if len(densities) else (0.0, 0.0)
    return Conditioning(codec.size, (style_of(dataset),), (float(low), float(high)))


class WindowControls:
    """Puts the control tokens before each training window, inside the ``tf.data`` pipeline.

    Style comes from the dataset, key from the window's piece (moved with the
    window's transposition); density is measured on the window itself.
    """

    def __init__(self, conditioning: Conditioning, dataset, codec):
        style = style_of(dataset)
        # A style unknown to the conditioning (the dataset was renamed after training) takes the first style.
        self.style_id = conditioning.base_size + conditioning.styles.index(
            style if style in conditioning.styles else conditioning.styles[0]
        )
        self.conditioning = conditioning
        self.keys = np.array([key_of(meta) for meta in dataset.piece_meta], dtype=np.int32)
        self.token_steps = codec.token_steps()
        self.token_onsets = token_onsets(codec)
        self.steps_per_quarter = dataset.config.steps_per_quarter

    def prefix_tf(self, piece, window, shift):
        """Control tokens of one window, int32 shape=(PREFIX_LENGTH,).

        Args:
            piece: Index of the window's piece (scalar tensor).
            window: The (transposed) window of token ids.
            shift: Semitones the window was transposed by.
        """
        import tensorflow as tf

        conditioning = self.conditioning
        key = tf.gather(tf.constant(self.keys), piece)
        tonics = len(TONICS)
        moved_key = key // tonics * tonics + tf.math.floormod(key % tonics + tf.cast(shift, tf.int32), tonics)
        window = tf.cast(window, tf.int32)
        onsets = tf.reduce_sum(tf.gather(tf.constant(self.token_onsets), window))
        steps = tf.maximum(tf.reduce_sum(tf.gather(tf.constant(self.token_steps), window)), 1)
        density = tf.cast(onsets, tf.float32) * self.steps_per_quarter / tf.cast(steps, tf.float32)
        # Same rule as Conditioning.density_of: the number of edges at or below the density.
        level = tf.reduce_sum(tf.cast(tf.constant(conditioning.density_edges, tf.float32) <= density, tf.int32))
        return tf.stack(
            [
                tf.constant(self.style_id),
                conditioning.key_base + moved_key,
                conditioning.density_base + level,
            ]
        )
