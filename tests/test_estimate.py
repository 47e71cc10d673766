"""Run-time estimates: durations in words, the speed measured in a child process, the pace of a running run."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest

from core.cli import main
from core.config import TrainConfig
from core.errors import ConfigError, DatasetError
from core.store import runs as run_store
from core.training import estimate
from core.training.estimate import (
    Pace,
    RunPlan,
    RunTimeEstimate,
    Speed,
    describe_duration,
    measure_in_child,
    rate,
    training_pace,
)
from core.training.trainer import estimate_total_steps
from tests.conftest import tiny_dataset

TINY_LSTM = {"units": 8, "layers": 1, "embedding_dim": 4}


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.2, "about 1 s"), (40.4, "about 40 s"), (89, "about 89 s"), (352.9, "about 6 min"), (5340, "about 89 min")],
)
def test_durations_are_said_as_people_say_them(seconds, words):
    assert describe_duration(seconds) == words


def test_hours_speeds_and_the_whole_estimate_in_words():
    assert describe_duration(7500) == "about 2 h 5 min" and describe_duration(7200) == "about 2 h"
    assert [rate(speed) for speed in (3.44, 0.25, 120.4, 1234.0)] == [
        "3.4 steps/s",
        "0.25 steps/s",
        "120 steps/s",
        "1,234 steps/s",
    ]
    assert RunTimeEstimate(1200, Speed(3.4)).describe() == "about 6 min on this machine (1,200 steps at 3.4 steps/s)"
    # The start-up (TensorFlow, the model, its traced step) counts once: it is most of a short run.
    quick = RunTimeEstimate(50, Speed(34.0, startup_seconds=19.6))
    assert quick.seconds == pytest.approx(19.6 + 50 / 34)
    assert quick.describe() == "about 21 s on this machine (50 steps at 34 steps/s, after 20 s to start)"


def _rows(start: datetime, seconds_per_step: float, steps: range) -> list[dict]:
    """Metric rows of a run logging two values per step, ``seconds_per_step`` apart."""
    return [
        {"step": step, "name": name, "logged_at": start + timedelta(seconds=seconds_per_step * step)}
        for step in steps
        for name in ("loss", "accuracy")
    ]


def test_the_pace_of_a_running_run_comes_from_its_logged_steps():
    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    rows = _rows(started.replace(tzinfo=None), 0.5, range(10, 101, 10))  # SQLite gives times without a zone
    pace = training_pace(rows, step=100, total_steps=400, started_at=started, now=started + timedelta(seconds=60))
    assert pace == Pace(elapsed_seconds=60.0, steps_per_second=2.0, remaining_seconds=150.0)
    assert pace.describe() == "60 s so far · about 2 min left at 2 steps/s"
    # Over the last PACE_POINTS logged steps only: an early slow stretch no longer counts.
    slow_then_fast = _rows(started, 2.0, range(1, 11)) + _rows(started + timedelta(seconds=20), 0.5, range(11, 41))
    assert training_pace(slow_then_fast, 40, 0, started).steps_per_second == pytest.approx(2.0)


def test_an_ended_or_unstarted_run_has_no_time_left():
    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    rows = _rows(started, 1.0, range(1, 5))
    ended = training_pace(rows, 4, 4, started, finished_at=started + timedelta(minutes=8))
    assert (ended.elapsed_seconds, ended.remaining_seconds, ended.ended) == (480.0, None, True)
    assert ended.describe() == "8 min in all"
    assert training_pace([], 0, 100, None) == Pace(None, None, None) and Pace(None, None, None).describe() == ""


def test_the_speed_key_ignores_what_only_changes_the_number_of_steps():
    dataset = tiny_dataset()
    plan = RunPlan("lstm", "tiny", "melody", TINY_LSTM, TrainConfig(seq_len=16, batch_size=4))
    longer = dataclasses.replace(plan, train=dataclasses.replace(plan.train, epochs=50, early_stopping_patience=0))
    wider = dataclasses.replace(plan, model_options={**TINY_LSTM, "units": 16})
    assert plan.speed_key() == longer.speed_key() != wider.speed_key()
    for counted in (
        plan,
        longer,
        dataclasses.replace(plan, train=dataclasses.replace(plan.train, curriculum=True, curriculum_start_len=4)),
    ):
        assert counted.planned_steps() == estimate_total_steps(dataset, "melody", counted.train)  # the run's count
    assert RunPlan.from_dict(plan.to_dict()) == plan


def test_a_speed_is_measured_in_a_child_process_and_bad_plans_are_refused_before_one_starts():
    tiny_dataset()
    plan = RunPlan("lstm", "tiny", "melody", TINY_LSTM, TrainConfig(seq_len=16, batch_size=4))
    speed = measure_in_child(plan, steps=2)
    assert math.isfinite(speed.steps_per_second) and speed.steps_per_second > 0
    assert 1 < speed.startup_seconds < 120  # importing TensorFlow alone takes seconds
    with pytest.raises(ConfigError, match="takes melody, events, pianoroll, chords data, not 'notes'"):
        dataclasses.replace(plan, representation="notes")
    with pytest.raises(ConfigError, match="unknown lstm setting"):
        dataclasses.replace(plan, model_options={"heads": 2})
    with pytest.raises(DatasetError):
        measure_in_child(dataclasses.replace(plan, dataset="missing"))


def test_the_cli_estimates_a_run_without_training_it(monkeypatch, capsys):
    tiny_dataset()
    measured = []
    monkeypatch.setattr(estimate, "measure_speed", lambda plan: measured.append(plan) or Speed(2.0, 10.0))
    flags = ["--dataset", "tiny", "--model", "lstm", "--model-option", "units=8", "--epochs", "40", "--seq-len", "16"]
    assert main(["train", *flags, "--estimate"]) == 0
    (plan,) = measured
    assert (plan.representation, dict(plan.model_options), plan.train.epochs) == ("melody", {"units": 8}, 40)
    steps = plan.planned_steps()
    assert capsys.readouterr().out.strip() == (
        f"lstm on 'tiny' (melody): {RunTimeEstimate(steps, Speed(2.0, 10.0)).describe()}"
    )
    assert run_store.list_runs() == []
