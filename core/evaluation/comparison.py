"""Set against set, after Yang and Lerch (2018), "On the evaluation of generative models in music".

For each feature (:data:`~core.evaluation.features.FEATURES`) the pieces of a
set are points: numbers, or histograms compared as vectors (Euclidean). The
*intra-set* distances of the real pieces (every pair of them) describe how
real pieces differ among themselves; the *inter-set* distances (every
generated piece against every real one) how the generated pieces differ from
real ones. A system that writes like the data has the same two distributions.
Each is smoothed with a Gaussian kernel density estimate (Scott's bandwidth),
and compared by the Kullback-Leibler divergence KL(intra || inter) (0 is best)
and their overlapping area (1 is best), as the paper's ``mgeval`` does.

Everything is vectorized: the distances are one broadcast (numbers) or one
matrix product (histograms), and the densities are binned on a grid of
:data:`GRID_POINTS` and convolved with the kernel (Silverman 1982), so a thousand
pieces against a thousand take about 1.5 s for all 23 features on two busy cores
(``bench/evaluate.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from core.data.piece import PITCH
from core.evaluation.metrics import pitched_notes

GRID_POINTS = 512
# Densities are floored at this before the KL divergence, so a gap in the inter-set density gives a large, finite value.
DENSITY_FLOOR = 1e-10
# Kernel tails kept on each side of the data, in bandwidths.
TAIL_BANDWIDTHS = 4.0


@dataclass(frozen=True)
class FeatureComparison:
    """One feature of one system against the real pieces.

    Attributes:
        kl: KL(intra-set of the real pieces || inter-set), nats; 0 when they match.
        overlap: Overlapping area of the two densities, 0 to 1; 1 when they match.
        intra_mean: Mean distance between two real pieces.
        intra_std: Its standard deviation.
        inter_mean: Mean distance between a generated and a real piece.
        inter_std: Its standard deviation.
        constant: Every distance is 0 (the feature takes one value everywhere): it
            tells nothing and summaries leave it out.
    """

    kl: float
    overlap: float
    intra_mean: float
    intra_std: float
    inter_mean: float
    inter_std: float
    constant: bool = False

    def to_json(self) -> dict:
        return {
            name: (None if isinstance(v, float) and not math.isfinite(v) else v) for name, v in asdict(self).items()
        }

    @classmethod
    def from_json(cls, data: Mapping) -> FeatureComparison:
        return cls(**{name: float("nan") if value is None else value for name, value in data.items()})


def _rows(features: np.ndarray) -> np.ndarray:
    """The pieces of one feature as rows of floats, those with any NaN dropped: shape=(m, d)."""
    rows = np.asarray(features, dtype=float).reshape(len(features), -1)
    return rows[~np.isnan(rows).any(axis=1)]


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between every row of ``a`` and every row of ``b``, shape=(len(a), len(b))."""
    if a.shape[1] == 1:
        return np.abs(a - b.T)
    squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def intra_set_distances(features: np.ndarray) -> np.ndarray:
    r"""Distances between every two pieces of one set.

    .. math:: D_{intra} = \{\lVert f(x_i) - f(x_j) \rVert_2 : i < j\}

    Args:
        features: shape=(n,) or (n, *histogram shape); pieces with NaN are left out.

    Returns:
        shape=(m (m - 1) / 2,), m the pieces without NaN.
    """
    rows = _rows(features)
    upper = np.triu_indices(len(rows), k=1)
    return _distances(rows, rows)[upper]


def inter_set_distances(features: np.ndarray, other: np.ndarray) -> np.ndarray:
    r"""Distances between every piece of one set and every piece of another.

    .. math:: D_{inter} = \{\lVert f(x_i) - f(y_j) \rVert_2\}_{i, j}

    Returns:
        shape=(m * k,), m and k the pieces of each without NaN.
    """
    return _distances(_rows(features), _rows(other)).reshape(-1)


def scott_bandwidth(samples: np.ndarray) -> float:
    r"""Scott's rule (1992), as ``scipy.stats.gaussian_kde``: :math:`h = \hat\sigma\, n^{-1/5}`."""
    return float(np.std(samples, ddof=1) * len(samples) ** (-1 / 5)) if len(samples) > 1 else 0.0


def kernel_density(samples: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    r"""Gaussian kernel density of ``samples`` on an even ``grid``, binned (Silverman 1982).

    Each sample's weight is shared linearly between its two nearest grid
    points, then the grid is convolved with the kernel: exact up to the grid
    spacing, in O(n + G log G) rather than O(n G).

    .. math:: \hat p(x) = \frac{1}{n h \sqrt{2\pi}} \sum_i e^{-(x - x_i)^2 / 2h^2}

    Returns:
        shape=(len(grid),), normalized so that :math:`\sum \hat p\, \Delta x = 1`.
    """
    step = grid[1] - grid[0]
    position = np.clip((samples - grid[0]) / step, 0, len(grid) - 1)
    lower = np.minimum(np.floor(position).astype(np.int64), len(grid) - 2)
    upper_share = position - lower
    counts = np.bincount(lower, 1 - upper_share, len(grid)) + np.bincount(lower + 1, upper_share, len(grid))
    reach = int(np.ceil(TAIL_BANDWIDTHS * bandwidth / step))
    offsets = np.arange(-reach, reach + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
    density = np.convolve(counts, kernel)[reach : reach + len(grid)]
    return density / (density.sum() * step)


def kl_divergence(p: np.ndarray, q: np.ndarray, step: float) -> float:
    r"""Kullback-Leibler divergence of density ``p`` from ``q`` on one grid, in nats; floored at :data:`DENSITY_FLOOR`.

    .. math:: KL(p \Vert q) = \sum_x p(x) \log \frac{p(x)}{q(x)}\, \Delta x
    """
    p = np.maximum(p, DENSITY_FLOOR)
    q = np.maximum(q, DENSITY_FLOOR)
    p, q = p / (p.sum() * step), q / (q.sum() * step)
    return float(max(np.sum(p * np.log(p / q)) * step, 0.0))


def overlap_area(p: np.ndarray, q: np.ndarray, step: float) -> float:
    r"""Overlapping area of two densities on one grid, 0 to 1.

    .. math:: OA(p, q) = \sum_x \min(p(x), q(x))\, \Delta x
    """
    return float(min(np.sum(np.minimum(p, q)) * step, 1.0))


def compare_distances(intra: np.ndarray, inter: np.ndarray) -> FeatureComparison:
    """KL divergence and overlap of the intra-set and inter-set distance distributions.

    Both densities share one grid over the pooled distances, with four
    bandwidths of tail on each side; each has its own Scott bandwidth (at
    least two grid steps, so a set of identical distances is a narrow bump).
    Fewer than two distances on either side give NaN figures.
    """
    if len(intra) < 2 or len(inter) < 2:
        nan = float("nan")
        return FeatureComparison(nan, nan, *_moments(intra), *_moments(inter))
    low, high = float(min(intra.min(), inter.min())), float(max(intra.max(), inter.max()))
    if high == low:
        return FeatureComparison(0.0, 1.0, *_moments(intra), *_moments(inter), constant=high == 0.0)
    floor = 2 * (high - low) / GRID_POINTS
    bandwidths = [max(scott_bandwidth(samples), floor) for samples in (intra, inter)]
    margin = TAIL_BANDWIDTHS * max(bandwidths)
    grid = np.linspace(low - margin, high + margin, GRID_POINTS)
    step = grid[1] - grid[0]
    p, q = (kernel_density(samples, grid, h) for samples, h in zip((intra, inter), bandwidths))
    return FeatureComparison(kl_divergence(p, q, step), overlap_area(p, q, step), *_moments(intra), *_moments(inter))


def _moments(distances: np.ndarray) -> tuple[float, float]:
    if len(distances) == 0:
        return float("nan"), float("nan")
    return float(distances.mean()), float(distances.std())


class ReferenceSet:
    """The real pieces' features, with their intra-set distances computed once for every system compared.

    Args:
        features: Feature name -> shape=(n,) or (n, *histogram shape), e.g. from
            :func:`~core.evaluation.features.feature_table`.
    """

    def __init__(self, features: Mapping[str, np.ndarray]):
        self.features = dict(features)
        self.intra = {name: intra_set_distances(values) for name, values in self.features.items()}

    def compare(self, generated: Mapping[str, np.ndarray]) -> dict[str, FeatureComparison]:
        """Every feature of ``generated`` (same names) against the real pieces."""
        return {
            name: compare_distances(self.intra[name], inter_set_distances(generated[name], values))
            for name, values in self.features.items()
        }


def compare_sets(real: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray]) -> dict[str, FeatureComparison]:
    """Every feature of ``generated`` against ``real``: :class:`ReferenceSet` for one comparison."""
    return ReferenceSet(real).compare(generated)


def mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    r"""Mean and its 95% interval under the normal approximation, NaN values left out.

    .. math:: \bar x \pm 1.96\, \frac{s}{\sqrt{n}}

    Returns:
        (mean, low, high); NaN without values, the mean three times with one.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if len(values) == 1:
        return mean, mean, mean
    half = 1.96 * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def set_diversity(pieces: Sequence[np.ndarray]) -> float:
    r"""Mean pairwise total-variation distance between the pieces' pitch-class histograms.

    .. math:: \frac{2}{m (m - 1)} \sum_{i<j} \tfrac12 \sum_c |h_i(c) - h_j(c)|

    with :math:`h_i(c)` the share of piece i's pitched notes in pitch class c, over the m pieces with notes.
    0 when every piece uses the pitch classes alike (a GAN's mode collapse), at most 1; the figure a GAN's
    validation logs (:func:`core.models.gan.pitch_class_diversity`), here on composed pieces.

    Args:
        pieces: int32 notes, each shape=(n, 6).

    Returns:
        NaN with fewer than two pieces with notes.
    """
    histograms = []
    for notes in pieces:
        pitched = pitched_notes(notes)
        if len(pitched):
            histograms.append(np.bincount(pitched[:, PITCH] % 12, minlength=12) / len(pitched))
    if len(histograms) < 2:
        return float("nan")
    rows = np.array(histograms)
    distances = 0.5 * np.abs(rows[:, None] - rows[None]).sum(axis=-1)
    return float(distances[np.triu_indices(len(rows), k=1)].mean())
