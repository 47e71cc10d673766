"""Fixed-length training windows as a ``tf.data`` pipeline, with their control tokens.

Only the window bounds are materialized (three integers per window); each
window is sliced from the stored arrays when the pipeline asks for it, and
transposition augmentation is applied on the fly to the train split. A piece
shorter than the window gives one window, padded at the end: the pipeline
yields a mask of the real steps with every window, so that training counts
only those (:meth:`core.models.heads.TaskHead.targets`).
A conditioned model gets the control tokens of :mod:`core.data.conditioning`
before each window: :func:`conditioning_for` measures a dataset's windows to
fix the vocabulary, :class:`WindowControls` computes each window's tokens.
"""

from __future__ import annotations

import numpy as np

from core.data.conditioning import Conditioning, key_of, style_of
from core.data.datasets import Dataset
from core.data.representations import get_representation
from core.errors import DatasetError
from core.music.theory import TONICS


def default_stride(length: int) -> int:
    """Windows overlap by half, as training, its step estimate and the density edges all cut them."""
    return max(1, length // 2)


def window_bounds(offsets: np.ndarray, pieces: list[int], length: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end positions (into the concatenated array) of every window inside one piece.

    A piece at least ``length`` long gives a window every ``stride`` steps; a shorter
    one gives one window, the whole piece (padded to ``length`` by the pipeline), so
    short pieces (Bach chorales at one frame per quarter) are trained on, not lost;
    an empty piece gives none.

    Returns:
        ``(starts, ends)``, each int64 shape=(n_windows,); ``ends - starts <= length``.
    """
    starts = [
        np.arange(offsets[p], max(offsets[p + 1] - length, offsets[p]) + 1, stride, dtype=np.int64)
        for p in pieces
        if offsets[p + 1] > offsets[p]
    ]
    starts = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    piece_ends = np.asarray(offsets, dtype=np.int64)[np.searchsorted(offsets, starts, side="right")]
    return starts, np.minimum(starts + length, piece_ends)


# === Control tokens ===


def token_onsets(codec) -> np.ndarray:
    """1 for every token id that starts a note, else 0, int32 shape=(size,)."""
    note_on_pitch, _ = codec.token_pitches()
    return (note_on_pitch >= 0).astype(np.int32)


def window_densities(
    values: np.ndarray, starts: np.ndarray, ends: np.ndarray, codec, steps_per_quarter: int
) -> np.ndarray:
    """Onsets per quarter note of every window ``values[start:end]``.

    The same measure :meth:`WindowControls.prefix_tf` takes inside the pipeline
    (on a window's real steps, never on its padding).

    Args:
        values: Token ids of the concatenated pieces, shape=(T,).
        starts, ends: Window bounds into ``values`` (:func:`window_bounds`), each shape=(n,).
        codec: The token representation of ``values``.

    Returns:
        float64, shape=(n,).
    """
    onsets = np.concatenate([[0], np.cumsum(token_onsets(codec)[values])])
    steps = np.concatenate([[0], np.cumsum(codec.token_steps()[values])])
    quarters = np.maximum(steps[ends] - steps[starts], 1) / steps_per_quarter
    return (onsets[ends] - onsets[starts]) / quarters


def conditioning_for(dataset, codec, window_length: int) -> Conditioning:
    """The control vocabulary of a dataset: its styles, and the density tertiles of its train windows."""
    values, offsets = dataset.encoded(codec.name)
    train = dataset.split_indices("train") or list(range(len(dataset.piece_meta)))
    starts, ends = window_bounds(offsets, train, window_length, default_stride(window_length))
    densities = window_densities(values, starts, ends, codec, dataset.config.steps_per_quarter)
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
            window: The (transposed) window of token ids, its real steps only: a
                padding id would count as a token (0 is NOTE_ON_0 in events).
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


# === The pipeline ===


def window_dataset(
    dataset: Dataset,
    representation: str,
    split: str,
    length: int,
    batch_size: int,
    *,
    stride: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    transpose_semitones: int | None = None,
    controls: WindowControls | None = None,
):
    """Batches of windows of ``length`` steps from one split, each with the mask of its real steps.

    A window of a piece shorter than ``length`` is padded at the end with zeros
    (token id 0, silent frames, zero features). The zeros are never told apart
    from real steps by their value (id 0 is a real token): the mask does, and
    the padding is added after transposition and control tokens, so neither
    measures it.

    Args:
        length: Window length in steps (tokens, frames or notes).
        stride: Distance between window starts; default :func:`default_stride`.
        transpose_semitones: Random shift in ``[-N, N]`` per window (kept inside
            the representation's pitch range); default: the dataset's setting
            for the train split, 0 for validation.
        controls: Puts the control tokens of each window before it, after
            transposition (see :mod:`core.data.conditioning`); windows then have
            ``PREFIX_LENGTH + length`` tokens, and the prefix counts as real.

    Returns:
        A ``tf.data.Dataset`` of ``(windows, real)``: windows shape=(batch, length, ...)
        in the representation's dtype, real bool shape=(batch, length), False on padding
        (``PREFIX_LENGTH + length`` steps each with ``controls``).

    Raises:
        DatasetError: when no piece of the split has a step in this representation.
    """
    import tensorflow as tf

    if length < 1 or batch_size < 1:
        raise DatasetError("window length and batch size must be at least 1")
    codec = get_representation(representation, dataset.config)
    values, offsets = dataset.encoded(representation)
    pieces = dataset.split_indices(split)
    starts, ends = window_bounds(offsets, pieces, length, stride or default_stride(length))
    if len(starts) == 0:
        found = f"only empty pieces in the {representation} representation" if pieces else "no pieces"
        raise DatasetError(f"the {split} split of dataset '{dataset.name}' has {found}: no window can be cut from it")
    if transpose_semitones is None:
        transpose_semitones = dataset.config.transpose_semitones if split == "train" else 0
    data = tf.constant(values)
    low_limit, high_limit = codec.pitch_range
    step_shape = values.shape[1:]

    def transposed(window, random_bits):
        """The window moved by a random shift that keeps its pitches in range, and the shift."""
        if not transpose_semitones:
            return window, tf.constant(0)
        lowest, highest = codec.pitch_bounds_tf(window)
        low = tf.maximum(-transpose_semitones, low_limit - lowest)
        high = tf.minimum(transpose_semitones, high_limit - highest)
        span = tf.maximum(high - low + 1, 1)
        shift = tf.where(high >= low, low + tf.cast(random_bits % tf.cast(span, tf.int64), tf.int32), 0)
        return codec.transpose_tf(window, shift), shift

    def slice_window(bounds, random_bits):
        start, end, piece = bounds[0], bounds[1], bounds[2]
        window, shift = transposed(data[start:end], random_bits)
        steps = tf.cast(end - start, tf.int32)
        padding = [[0, length - steps]] + [[0, 0]] * len(step_shape)
        padded = tf.ensure_shape(tf.pad(window, padding), (length, *step_shape))
        real = tf.sequence_mask(steps, length)
        if controls is None:
            return padded, real
        prefix = tf.cast(controls.prefix_tf(piece, window, shift), padded.dtype)
        return tf.concat([prefix, padded], axis=0), tf.concat([tf.ones_like(prefix, tf.bool), real], axis=0)

    piece_of_start = np.searchsorted(offsets, starts, side="right") - 1
    pipeline = tf.data.Dataset.from_tensor_slices(np.stack([starts, ends, piece_of_start], axis=1))
    if shuffle:
        pipeline = pipeline.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    pipeline = tf.data.Dataset.zip(pipeline, tf.data.Dataset.random(seed=seed))
    pipeline = pipeline.map(slice_window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return pipeline.batch(batch_size).prefetch(tf.data.AUTOTUNE)
