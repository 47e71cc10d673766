"""The analysis of a listening test: pure functions of its answer table, as :mod:`core.evaluation.metrics` is of notes.

The table has one row per answer, columns :data:`ANSWER_COLUMNS` (made by
:func:`core.surveys.results.answer_table`). Each rating is one observation, as MOS studies count them
(MuseGAN's user study; ITU-T P.800.2): means and their t intervals per system and question, a
Kruskal-Wallis test across systems and pairwise Mann-Whitney U tests with Holm's correction, since
ratings are ordinal. "Human or computer?" is a binomial test of the share judged human against 1/2
(chance), an A/B preference a sign test of the wins of one system over the other. Listener screening
flags those who rate the hidden real pieces below the generated ones, and those who answered before the
clip could have been heard. Empty input gives NaN (or an empty table), never an exception.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from core.surveys.config import GENERATED, REAL, REAL_SYSTEM
from core.surveys.questions import QUESTIONS, RATINGS

CONFIDENCE = 0.95

ANSWER_COLUMNS = (
    "participant",  # the participant's id
    "background",  # their answer to the background question, or None
    "item",  # the clip's or the pair's id
    "item_label",  # "Clip 3", "Pair 2"
    "kind",  # "clip" or "pair"
    "question",  # a key of core.surveys.questions.QUESTIONS
    "value",  # the answer: "4", "human", or for a preference the chosen clip's label
    "score",  # a rating as a number, 1.0 for "human" and 0.0 for "computer", NaN for a preference
    "system",  # a clip's system (model name or "real"); None for a pair
    "source",  # a clip's source, "generated" or "real"; None for a pair
    "clip_name",  # a clip's piece (library title or dataset file); None for a pair
    "first_system",  # a pair's two systems, in the pair's own order; None for a clip
    "second_system",
    "chosen_system",  # the system preferred; None for a clip
    "item_seconds",  # how long playing the item takes (both clips of a pair)
    "played_share",  # the share of the audio played, as reported
    "elapsed_ms",  # from the item shown to the answer; NaN when not reported
    "answered_at",  # when the answer was written, UTC
)


@dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval.

    Attributes:
        mean: The sample mean; NaN without values.
        low: Lower bound; NaN with fewer than two values.
        high: Upper bound; NaN with fewer than two values.
        n: Number of values.
    """

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value (NaN when the test cannot be made)."""

    statistic: float
    p_value: float


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    r"""The mean with its Student-t confidence interval; NaN values are left out.

    .. math:: \bar x \pm t_{(1+c)/2,\,n-1} \frac{s}{\sqrt n}, \quad s^2 = \frac{1}{n-1} \sum_i (x_i - \bar x)^2

    Args:
        values: shape=(n,).
        confidence: The interval's coverage ``c``, e.g. 0.95.
    """
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)]
    if len(data) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if len(data) == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf((1 + confidence) / 2, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))
    return Interval(mean, mean - half, mean + half, len(data))


def binomial_test(successes: int, trials: int) -> float:
    r"""Two-sided exact binomial test of ``successes`` in ``trials`` against a probability of 1/2 (chance).

    With :math:`P(j) = \binom{n}{j} 2^{-n}` and :math:`k` the successes, symmetric around :math:`n/2`:

    .. math:: p = \min\Big(1,\ 2 \sum_{j=0}^{\min(k,\,n-k)} P(j)\Big)

    Returns:
        The p-value; NaN without trials.
    """
    if trials == 0:
        return math.nan
    return float(stats.binomtest(successes, trials, 0.5).pvalue)


def sign_test(wins: int, losses: int) -> float:
    r"""Two-sided sign test: are ``wins`` of one side over the other more (or fewer) than chance gives?

    Ties are left out before counting; it is :func:`binomial_test` of the wins among the decided pairs.

    .. math:: p = \min\Big(1,\ 2 \sum_{j=0}^{\min(w,\,l)} \binom{w + l}{j} 2^{-(w + l)}\Big)
    """
    return binomial_test(wins, wins + losses)


def holm(p_values: Sequence[float]) -> list[float]:
    r"""Holm-Bonferroni adjusted p-values, in the order given; NaN stays NaN and does not count.

    With the :math:`m` p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`:

    .. math:: \tilde p_{(i)} = \max_{j \le i} \min\big(1,\ (m - j + 1)\, p_{(j)}\big)
    """
    adjusted = [math.nan] * len(p_values)
    finite = sorted((p, index) for index, p in enumerate(p_values) if not math.isnan(p))
    running = 0.0
    for rank, (p, index) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        adjusted[index] = running
    return adjusted


def _systems(answers: pd.DataFrame) -> list[str]:
    """The systems answered about, the real pieces last: the reference closes every table."""
    systems = sorted(set(answers["system"].dropna()))
    return [system for system in systems if system != REAL_SYSTEM] + [REAL_SYSTEM] * (REAL_SYSTEM in systems)


def _scores(answers: pd.DataFrame, question: str) -> dict[str, np.ndarray]:
    """System -> the scores of ``question``, for the systems with any."""
    rows = answers[answers["question"] == question]
    found = {system: rows.loc[rows["system"] == system, "score"].to_numpy(np.float64) for system in _systems(rows)}
    return {system: scores for system, scores in found.items() if len(scores)}


def rating_summary(answers: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per rating question and system, the mean rating with its t interval (:func:`t_interval`).

    The interval is clipped to the rating scale: with few and spread ratings a t interval reaches past
    it (below 1, above 5), where no mean can lie.

    Returns:
        Columns question, system, n, mean, low, high; questions in :data:`RATINGS` order, real pieces last.
    """
    rows = []
    for question in RATINGS:
        scale = QUESTIONS[question]
        for system, scores in _scores(answers, question).items():
            interval = t_interval(scores, confidence)
            low, high = (float(np.clip(bound, scale.low, scale.high)) for bound in (interval.low, interval.high))
            rows.append((question, system, interval.n, interval.mean, low, high))
    return pd.DataFrame(rows, columns=["question", "system", "n", "mean", "low", "high"])


def human_judgements(answers: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per system, the share of "human or computer?" answers saying human, against chance (:func:`binomial_test`).

    The interval is Clopper-Pearson's exact one. A generated system fools listeners when its share is near
    the real pieces'; a share far below 1/2 with a small p-value says listeners hear it is a computer.

    Returns:
        Columns system, n, human, share, low, high, p_value.
    """
    rows = []
    for system, scores in _scores(answers, "human").items():
        human, n = int(scores.sum()), len(scores)
        interval = stats.binomtest(human, n, 0.5).proportion_ci(confidence, method="exact")
        rows.append((system, n, human, human / n, interval.low, interval.high, binomial_test(human, n)))
    return pd.DataFrame(rows, columns=["system", "n", "human", "share", "low", "high", "p_value"])


def preferences(answers: pd.DataFrame) -> pd.DataFrame:
    """Per two systems compared, the A/B wins of each and a sign test (:func:`sign_test`).

    Returns:
        Columns first, second (the two systems, sorted), n, first_wins, second_wins, first_share, p_value.
    """
    wins: dict[tuple[str, str], list[int]] = {}  # (first, second) -> [first's wins, second's wins]
    chosen = answers[answers["question"] == "preference"]
    for one, other, pick in zip(chosen["first_system"], chosen["second_system"], chosen["chosen_system"]):
        first, second = sorted((one, other))
        wins.setdefault((first, second), [0, 0])[int(pick != first)] += 1
    rows = [
        (first, second, won + lost, won, lost, won / (won + lost), sign_test(won, lost))
        for (first, second), (won, lost) in sorted(wins.items())
    ]
    return pd.DataFrame(rows, columns=["first", "second", "n", "first_wins", "second_wins", "first_share", "p_value"])


def kruskal_wallis(answers: pd.DataFrame, question: str) -> TestResult:
    r"""Kruskal-Wallis H test: do the systems' ratings of ``question`` come from one distribution?

    With :math:`N` ratings ranked together (ties get their mean rank), :math:`R_i` the rank sum of the
    :math:`n_i` ratings of system :math:`i`, and :math:`t_k` the sizes of the groups of ties:

    .. math:: H = \frac{\frac{12}{N(N+1)} \sum_i \frac{R_i^2}{n_i} - 3(N+1)}{1 - \frac{\sum_k (t_k^3 - t_k)}{N^3 - N}}

    The p-value is :math:`P(\chi^2_{g-1} \ge H)` for :math:`g` systems. NaN for fewer than two systems
    or when every rating is the same.
    """
    groups = list(_scores(answers, question).values())
    if len(groups) < 2 or len(np.unique(np.concatenate(groups))) < 2:
        return TestResult(math.nan, math.nan)
    result = stats.kruskal(*groups)
    return TestResult(float(result.statistic), float(result.pvalue))


def pairwise_mann_whitney(answers: pd.DataFrame, question: str) -> pd.DataFrame:
    r"""Two-sided Mann-Whitney U tests of ``question``'s ratings for every two systems, Holm-corrected (:func:`holm`).

    :math:`U` counts the pairs (one rating of each system) where the first system's rating is higher,
    ties counting 1/2: :math:`U = \sum_{i,j} [x_i > y_j] + \frac12 [x_i = y_j]`. The p-value is exact for
    small samples without ties, else the normal approximation with tie and continuity corrections (scipy's
    ``method="auto"``).

    Returns:
        Columns first, second, n_first, n_second, u, p_value, p_holm.
    """
    rows = []
    scores = _scores(answers, question)
    for first, second in itertools.combinations(scores, 2):
        result = stats.mannwhitneyu(scores[first], scores[second], alternative="two-sided")
        sizes = (len(scores[first]), len(scores[second]))
        rows.append((first, second, *sizes, float(result.statistic), float(result.pvalue)))
    table = pd.DataFrame(rows, columns=["first", "second", "n_first", "n_second", "u", "p_value"])
    table["p_holm"] = holm(table["p_value"].tolist())
    return table


def screen_listeners(
    answers: pd.DataFrame,
    questions: Sequence[str] = RATINGS,
    listening_share: float = 1.0,
    max_fast_share: float = 0.0,
) -> pd.DataFrame:
    r"""Listeners whose answers may not be worth keeping, by two rules.

    - *Reversed*: their mean rating of the hidden real pieces is below their mean rating of the generated
      ones (the ratings of ``questions`` pooled): they did not hear, or did not heed, the reference.
    - *Fast*: more than ``max_fast_share`` of their answers with a known time came sooner after the item was
      shown than ``listening_share`` of it lasts: :math:`elapsed < listening\_share \cdot item\_seconds`.

    Args:
        answers: The answer table.
        questions: The rating questions compared between real and generated pieces.
        listening_share: The share of an item that must have passed; the survey's ``played_share`` lets a
            listener skip the tail as the player does.
        max_fast_share: The share of fast answers tolerated (0: none).

    Returns:
        One row per participant, columns participant, real_mean, generated_mean, reversed, timed, fast,
        fast_share, flagged; means NaN when they rated no such clip.
    """
    rows = []
    for participant, given in answers.groupby("participant", sort=False):
        rated = given[given["question"].isin(questions)]
        real_mean = float(rated.loc[rated["source"] == REAL, "score"].mean())
        generated_mean = float(rated.loc[rated["source"] == GENERATED, "score"].mean())
        reversed_ = bool(real_mean < generated_mean)  # False when either is NaN
        timed = given[given["elapsed_ms"].notna()]
        fast = int((timed["elapsed_ms"] < listening_share * timed["item_seconds"] * 1000).sum())
        fast_share = fast / len(timed) if len(timed) else math.nan
        flagged = reversed_ or bool(fast_share > max_fast_share)
        rows.append((participant, real_mean, generated_mean, reversed_, len(timed), fast, fast_share, flagged))
    columns = ["participant", "real_mean", "generated_mean", "reversed", "timed", "fast", "fast_share", "flagged"]
    return pd.DataFrame(rows, columns=columns)


def exclude(answers: pd.DataFrame, participants: Sequence[str] | pd.Series) -> pd.DataFrame:
    """The answers without those of ``participants`` (such as the flagged ones of :func:`screen_listeners`)."""
    return answers[~answers["participant"].isin(list(participants))].reset_index(drop=True)


def _exportable(answers: pd.DataFrame) -> pd.DataFrame:
    """The table with its timestamps as ISO 8601 text in UTC (``2026-12-04T10:40:48.846525+00:00``)."""
    table = answers.loc[:, list(ANSWER_COLUMNS)].copy()
    table["answered_at"] = [moment.isoformat() for moment in pd.to_datetime(table["answered_at"], utc=True)]
    return table


def answers_csv(answers: pd.DataFrame) -> bytes:
    """Every raw answer as CSV (UTF-8, a header row, :data:`ANSWER_COLUMNS`), timestamps in ISO 8601."""
    return _exportable(answers).to_csv(index=False).encode()


def answers_json(answers: pd.DataFrame) -> bytes:
    """Every raw answer as a JSON list of objects (:data:`ANSWER_COLUMNS`), NaN as null, timestamps in ISO 8601."""
    return _exportable(answers).to_json(orient="records", indent=1, force_ascii=False).encode()


def rating_metric_correlations(answers: pd.DataFrame, metrics: pd.DataFrame, question: str = "overall") -> pd.DataFrame:
    r"""Spearman's rank correlation, across clips, of each clip's mean ``question`` rating with each metric.

    .. math:: \rho = \operatorname{corr}(\operatorname{rank} \bar r_c, \operatorname{rank} m_c)

    over the clips :math:`c` rated at least once: do listeners prefer, say, the clips that keep to a key?
    With few clips the p-value says how little that means.

    Args:
        answers: The answer table (:data:`ANSWER_COLUMNS`).
        metrics: One row per clip: columns clip (its label) and the metrics
            (:func:`core.surveys.results.clip_metrics`).

    Returns:
        Columns metric, clips, rho, p_value; NaN where fewer than three clips or a constant column.
    """
    rated = answers[(answers["question"] == question) & (answers["kind"] == "clip")]
    means = rated.groupby("item_label")["score"].mean()
    table = metrics.set_index("clip").join(means.rename("rating"), how="inner")
    rows = []
    for name in (column for column in metrics.columns if column not in ("clip", "system")):
        pairs = table[[name, "rating"]].dropna()
        if len(pairs) < 3 or pairs[name].nunique() < 2 or pairs["rating"].nunique() < 2:
            rows.append((name, len(pairs), math.nan, math.nan))
            continue
        result = stats.spearmanr(pairs[name], pairs["rating"])
        rows.append((name, len(pairs), float(result.statistic), float(result.pvalue)))
    return pd.DataFrame(rows, columns=["metric", "clips", "rho", "p_value"])
