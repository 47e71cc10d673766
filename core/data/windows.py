"""Fixed-length training windows as a ``tf.data`` pipeline.

Only the window start positions are materialized (one integer per window);
each window is sliced from the stored arrays when the pipeline asks for it,
and transposition augmentation is applied on the fly to the train split.
"""

from __future__ import annotations

import numpy as np

from core.data.conditioning import WindowControls
from core.data.datasets import Dataset
from core.data.representations import get_representation
from core.errors import DatasetError


def default_stride(length: int) -> int:
    """Windows overlap by half, as training, its step estimate and the density edges all cut them."""
    return max(1, length // 2)


def window_starts(offsets: np.ndarray, pieces: list[int], length: int, stride: int) -> np.ndarray:
    """Start positions (into the concatenated array) of every window inside one piece.

    Returns:
        int64, shape=(n_windows,).
    """
    starts = [
        np.arange(offsets[p], offsets[p + 1] - length + 1, stride, dtype=np.int64)
        for p in pieces
        if offsets[p + 1] - offsets[p] >= length
    ]
    return np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)


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
    """Batches of windows of ``length`` steps from one split.

    Args:
        length: Window length in steps (tokens, frames or notes).
        stride: Distance between window starts; default :func:`default_stride`.
        transpose_semitones: Random shift in ``[-N, N]`` per window (kept inside
            the representation's pitch range); default: the dataset's setting
            for the train split, 0 for validation.
        controls: Puts the control tokens of each window before it, after
            transposition (see :mod:`core.data.conditioning`); windows then have
            ``PREFIX_LENGTH + length`` tokens.

    Returns:
        A ``tf.data.Dataset`` of shape (batch, length, ...) tensors.

    Raises:
        DatasetError: when no piece in the split is at least ``length`` long.
    """
    import tensorflow as tf

    if length < 1 or batch_size < 1:
        raise DatasetError("window length and batch size must be at least 1")
    codec = get_representation(representation, dataset.config)
    values, offsets = dataset.encoded(representation)
    pieces = dataset.split_indices(split)
    starts = window_starts(offsets, pieces, length, stride or default_stride(length))
    if len(starts) == 0:
        longest = max((int(offsets[p + 1] - offsets[p]) for p in pieces), default=0)
        raise DatasetError(
            f"window length {length} is longer than every piece in the {split} split "
            f"(the longest has {longest} steps); choose a shorter sequence length"
        )
    if transpose_semitones is None:
        transpose_semitones = dataset.config.transpose_semitones if split == "train" else 0
    data = tf.constant(values)
    low_limit, high_limit = codec.pitch_range

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

    def slice_window(start_and_piece, random_bits):
        start, piece = start_and_piece[0], start_and_piece[1]
        window, shift = transposed(data[start : start + length], random_bits)
        if controls is None:
            return window
        return tf.concat([tf.cast(controls.prefix_tf(piece, window, shift), window.dtype), window], axis=0)

    piece_of_start = np.searchsorted(offsets, starts, side="right") - 1
    pipeline = tf.data.Dataset.from_tensor_slices(np.stack([starts, piece_of_start], axis=1))
    if shuffle:
        pipeline = pipeline.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    pipeline = tf.data.Dataset.zip(pipeline, tf.data.Dataset.random(seed=seed))
    pipeline = pipeline.map(slice_window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return pipeline.batch(batch_size).prefetch(tf.data.AUTOTUNE)
