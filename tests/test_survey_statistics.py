"""The listening-test statistics against values worked out by hand on a small answer table, as for the metrics."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from core.surveys.statistics import (
    ANSWER_COLUMNS,
    answers_csv,
    answers_json,
    binomial_test,
    exclude,
    holm,
    human_judgements,
    kruskal_wallis,
    pairwise_mann_whitney,
    preferences,
    rating_metric_correlations,
    rating_summary,
    screen_listeners,
    sign_test,
    t_interval,
)

# Student's t quantiles t_{0.975, df}, from a printed table (to 6 places there; more here).
T_975 = {2: 4.302652729911275, 4: 2.7764451051977987}


def clip(participant: str, system: str, question: str, value: str, **fields) -> dict:
    score = {"human": 1.0, "computer": 0.0}.get(value) if question == "human" else float(value)
    return {
        "participant": participant,
        "item": f"{system}-{participant}-{question}",
        "kind": "clip",
        "question": question,
        "value": value,
        "score": score,
        "system": system,
        "source": "real" if system == "real" else "generated",
        "item_seconds": 20.0,
        "played_share": 1.0,
        "elapsed_ms": 25_000.0,
        "answered_at": pd.Timestamp("2026-12-04 10:00", tz="UTC"),
        **fields,
    }


def pair(participant: str, first: str, second: str, chosen: str) -> dict:
    return {
        "participant": participant,
        "item": f"{first}-{second}-{participant}",
        "kind": "pair",
        "question": "preference",
        "value": "Clip 1",
        "score": math.nan,
        "first_system": first,
        "second_system": second,
        "chosen_system": chosen,
        "item_seconds": 40.0,
        "played_share": 1.0,
        "elapsed_ms": math.nan,
        "answered_at": pd.Timestamp("2026-12-04 10:05", tz="UTC"),
    }


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(ANSWER_COLUMNS))


@pytest.fixture
def answers() -> pd.DataFrame:
    """lstm rated 1, 2, 3 overall, transformer 4, 5; lstm judged human once in 4, real 10 times in 10;
    transformer preferred over lstm 7 times in 8."""
    rows = [clip(f"p{n}", "lstm", "overall", str(n)) for n in (1, 2, 3)]
    rows += [clip(f"p{n}", "transformer", "overall", str(n)) for n in (4, 5)]
    rows += [clip(f"p{n}", "lstm", "human", "human" if n == 0 else "computer") for n in range(4)]
    rows += [clip(f"p{n}", "real", "human", "human") for n in range(10)]
    rows += [pair(f"p{n}", "transformer", "lstm", "lstm" if n == 0 else "transformer") for n in range(8)]
    return table(rows)


# === Intervals and tests on numbers ===


def test_the_t_interval_is_the_mean_plus_minus_t_times_the_standard_error():
    # mean 3, s^2 = (4 + 1 + 0 + 1 + 4) / 4 = 2.5, standard error sqrt(2.5 / 5) = sqrt(0.5)
    interval = t_interval([1, 2, 3, 4, 5])
    half = T_975[4] * math.sqrt(0.5)
    assert (interval.mean, interval.n) == (3.0, 5)
    assert (interval.low, interval.high) == pytest.approx((3 - half, 3 + half), abs=1e-9)
    assert (interval.low, interval.high) == pytest.approx((1.036757, 4.963243), abs=1e-6)
    flat = t_interval([3, 3, 3])
    assert (flat.low, flat.high) == (3, 3)
    single = t_interval([4, math.nan])
    assert (single.mean, single.n) == (4.0, 1) and math.isnan(single.low) and math.isnan(single.high)
    empty = t_interval([])
    assert empty.n == 0 and all(math.isnan(value) for value in (empty.mean, empty.low, empty.high))


def test_the_binomial_and_sign_tests_sum_the_tails_of_a_fair_coin():
    assert binomial_test(9, 10) == pytest.approx(2 * (1 + 10) / 1024)  # P(0) + P(1) and the other tail
    assert binomial_test(1, 10) == pytest.approx(2 * 11 / 1024)
    assert binomial_test(5, 10) == 1.0
    assert binomial_test(10, 10) == pytest.approx(2 / 1024)
    assert math.isnan(binomial_test(0, 0))
    assert sign_test(7, 1) == pytest.approx(2 * (1 + 8) / 256)
    assert sign_test(1, 7) == sign_test(7, 1)
    assert math.isnan(sign_test(0, 0))


def test_holm_multiplies_the_sorted_p_values_by_those_left_and_keeps_them_ordered():
    # m = 3: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04, raised to 0.06 to keep the order.
    assert holm([0.01, 0.04, 0.03, math.nan])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([0.01, 0.04, 0.03, math.nan])[3])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


# === The answer table ===


def test_ratings_are_summarized_per_system_with_t_intervals(answers):
    summary = rating_summary(answers)
    assert summary[["question", "system", "n", "mean"]].values.tolist() == [
        ["overall", "lstm", 3, 2.0],
        ["overall", "transformer", 2, 4.5],
    ]
    half_lstm = T_975[2] * 1 / math.sqrt(3)  # s = 1
    half_transformer = 12.706204736174698 * math.sqrt(0.5) / math.sqrt(2)  # t_{0.975, 1}, s = sqrt(0.5)
    assert 2 - half_lstm < 1 and 4.5 + half_transformer > 5  # past the 1-5 scale: clipped to it
    assert summary["low"].tolist() == pytest.approx([1.0, 1.0])
    assert summary["high"].tolist() == pytest.approx([2 + half_lstm, 5.0])
    assert rating_summary(table([])).empty


def test_human_judgements_test_the_share_against_chance(answers):
    judged = human_judgements(answers).set_index("system")
    assert judged.index.tolist() == ["lstm", "real"]  # the real pieces last
    assert judged.loc["lstm", ["n", "human", "share"]].tolist() == [4, 1, 0.25]
    assert judged.loc["lstm", "p_value"] == pytest.approx(2 * (1 + 4) / 16)
    assert judged.loc["real", "p_value"] == pytest.approx(2 / 1024)
    # Clopper-Pearson with every answer "human": from (alpha / 2) ** (1 / n) to 1.
    assert judged.loc["real", ["low", "high"]].tolist() == pytest.approx([0.025**0.1, 1.0])
    assert human_judgements(table([])).empty


def test_preferences_count_the_wins_of_each_two_systems_with_a_sign_test(answers):
    counted = preferences(answers)
    assert counted[["first", "second", "n", "first_wins", "second_wins", "first_share"]].values.tolist() == [
        ["lstm", "transformer", 8, 1, 7, 0.125]
    ]
    assert counted["p_value"].iloc[0] == pytest.approx(18 / 256)
    assert preferences(table([])).empty


def test_kruskal_wallis_ranks_every_rating_together():
    # Ranks 1-6 without ties: R = 3, 7, 11; H = 12 / 42 * (9 + 49 + 121) / 2 - 21 = 32 / 7; chi2 with 2 df.
    three = table(
        [
            clip("p", system, "overall", value)
            for system, values in (("a", "12"), ("b", "34"), ("c", "56"))
            for value in values
        ]
    )
    result = kruskal_wallis(three, "overall")
    assert result.statistic == pytest.approx(32 / 7)
    assert result.p_value == pytest.approx(math.exp(-16 / 7))
    # Ties: 1 1 2 | 2 3 3 ranked 1.5 1.5 3.5 | 3.5 5.5 5.5; R = 6.5, 14.5;
    # H = (12 / 42 * (6.5^2 + 14.5^2) / 3 - 21) / (1 - 3 * 6 / 210) = 10 / 3; chi2 with 1 df.
    tied = table([clip("p", "a", "overall", v) for v in "112"] + [clip("p", "b", "overall", v) for v in "233"])
    result = kruskal_wallis(tied, "overall")
    assert result.statistic == pytest.approx(10 / 3)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(10 / 3 / 2)))
    same = table([clip("p", "a", "overall", "3"), clip("p", "b", "overall", "3")])
    assert math.isnan(kruskal_wallis(same, "overall").p_value)
    assert math.isnan(kruskal_wallis(three[three["system"] == "a"], "overall").statistic)


def test_mann_whitney_counts_the_pairs_won_and_holm_corrects_them():
    rows = [clip("p", "a", "overall", v) for v in "123"] + [clip("p", "b", "overall", v) for v in "45"]
    rows += [clip("p", "c", "overall", v) for v in "344"]
    tests = pairwise_mann_whitney(table(rows), "overall").set_index(["first", "second"])
    # a against b: no ties, U = 0, exact p = 2 / C(5, 2).
    assert tests.loc[("a", "b"), ["n_first", "n_second", "u"]].tolist() == [3, 2, 0.0]
    assert tests.loc[("a", "b"), "p_value"] == pytest.approx(2 / 10)
    # a against c: a tie (3 = 3) gives U = 0.5 and the normal approximation with both corrections:
    # sigma^2 = 3 * 3 / 12 * (7 - (6 + 6) / 30) = 4.95; z = (|0.5 - 4.5| - 0.5) / sigma.
    z = (4.0 - 0.5) / math.sqrt(4.95)
    assert tests.loc[("a", "c"), "u"] == 0.5
    assert tests.loc[("a", "c"), "p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert tests["p_holm"].tolist() == pytest.approx(holm(tests["p_value"].tolist()))
    assert pairwise_mann_whitney(table([]), "overall").empty


def test_screening_flags_listeners_who_prefer_the_generated_pieces_or_answer_too_fast():
    rows = [
        clip("reversed", "real", "overall", "2"),
        clip("reversed", "lstm", "overall", "4"),
        clip("careful", "real", "musicality", "5"),
        clip("careful", "lstm", "musicality", "3"),
        clip("careful", "lstm", "human", "computer", elapsed_ms=math.nan),
        clip("hasty", "real", "overall", "5", elapsed_ms=5_000.0),
        clip("hasty", "lstm", "overall", "1"),
    ]
    screened = screen_listeners(table(rows)).set_index("participant")
    assert screened.loc["reversed", ["real_mean", "generated_mean", "reversed", "flagged"]].tolist() == [
        2,
        4,
        True,
        True,
    ]
    assert screened.loc["careful", ["reversed", "timed", "fast", "flagged"]].tolist() == [False, 2, 0, False]
    assert screened.loc["hasty", ["reversed", "timed", "fast", "fast_share", "flagged"]].tolist() == [
        False,
        2,
        1,
        0.5,
        True,
    ]
    assert not screen_listeners(table(rows), max_fast_share=0.5).set_index("participant").loc["hasty", "flagged"]
    # 19 s of a 20 s clip is enough when the tail may be skipped.
    late = table([clip("skipper", "lstm", "overall", "3", elapsed_ms=19_000.0)])
    assert screen_listeners(late)["fast"].tolist() == [1]
    assert screen_listeners(late, listening_share=0.9)["fast"].tolist() == [0]
    kept = exclude(table(rows), screened.index[screened["flagged"]])
    assert set(kept["participant"]) == {"careful"}
    assert screen_listeners(table([])).empty


def test_the_raw_answers_export_to_csv_and_json_with_iso_timestamps(answers):
    csv = answers_csv(answers).decode()
    assert csv.splitlines()[0] == ",".join(ANSWER_COLUMNS)
    assert len(csv.splitlines()) == len(answers) + 1
    assert "2026-12-04T10:00:00+00:00" in csv
    exported = json.loads(answers_json(answers))
    assert len(exported) == len(answers) and list(exported[0]) == list(ANSWER_COLUMNS)
    assert exported[0]["answered_at"] == "2026-12-04T10:00:00+00:00"
    assert exported[0]["score"] == 1.0 and exported[0]["first_system"] is None
    assert exported[-1]["score"] is None and exported[-1]["chosen_system"] == "transformer"
    assert json.loads(answers_json(table([]))) == []


def test_ratings_follow_a_metric_by_spearmans_rank_correlation_across_clips():
    # Four clips rated 1, 2, 4, 5 (two listeners each): in key 0.2, 0.4, 0.6, 0.8 ranks alike (rho 1);
    # density 4, 3, 2, 1 the other way (rho -1); polyphony the same everywhere (NaN).
    rows = [
        clip(listener, "lstm", "overall", str(rating), item_label=f"Clip {number}")
        for number, rating in enumerate((1, 2, 4, 5), 1)
        for listener in ("a", "b")
    ]
    metrics = pd.DataFrame(
        {
            "clip": [f"Clip {n}" for n in range(1, 5)],
            "system": ["lstm"] * 4,
            "scale_consistency": [0.2, 0.4, 0.6, 0.8],
            "note_density": [4.0, 3.0, 2.0, 1.0],
            "polyphony": [1.0] * 4,
        }
    )
    result = rating_metric_correlations(table(rows), metrics).set_index("metric")
    assert result.loc["scale_consistency", "rho"] == pytest.approx(1.0)
    assert result.loc["note_density", "rho"] == pytest.approx(-1.0)
    assert result.loc["scale_consistency", "clips"] == 4
    assert math.isnan(result.loc["polyphony", "rho"])
    # Three clips with a tie: ranks (1, 2.5, 2.5) against (1, 2, 3): rho = 0.866 (by hand: cov / sd sd).
    three = metrics.iloc[:3].assign(scale_consistency=[0.1, 0.5, 0.5])
    rho = rating_metric_correlations(table(rows[:6]), three).set_index("metric").loc["scale_consistency", "rho"]
    assert rho == pytest.approx(math.sqrt(3) / 2)
    assert math.isnan(rating_metric_correlations(table(rows[:4]), metrics).loc[0, "rho"])  # two clips: nothing
