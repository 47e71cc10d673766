"""How long a training run takes: its start-up and steps per second measured on this machine, and its planned steps.

Before a run, :func:`measure_speed` builds the chosen model on the chosen data as the trainer does,
takes a warm-up step (the first one traces the training function: seconds that are not a step's
cost, but are the run's too, with importing TensorFlow: its start-up) and times the next few. The page imports no TensorFlow, so :func:`measure_in_child` runs it in
a fresh interpreter (``python -c``, as :mod:`core.data.ingest` starts its readers: multiprocessing's
spawn would run the Streamlit script again there). During a run, :func:`training_pace` reads the
speed off the times of the run's metric rows.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.checkpoints import RunConfig
from core.config import TrainConfig, from_dict, stable_hash, to_dict
from core.data.datasets import Dataset, load_dataset
from core.data.representations import get_representation
from core.data.windows import conditioning_for
from core.errors import ConfigError, NeuroTuneError, TrainingError
from core.models import get_model_spec, head_for, make_config
from core.processes import child_environment
from core.settings import PROJECT_ROOT
from core.store.db import utcnow
from core.training.trainer import estimate_total_steps

# Steps taken before the clock starts (the first traces the training step) and steps timed after them.
WARMUP_STEPS = 1
MEASURED_STEPS = 5
# Importing TensorFlow, building the model and tracing its step take 10-30 s on a CPU; a big model more.
CHILD_TIMEOUT_SECONDS = 300.0
# During a run: the speed of the last this many logged steps (a few minutes at the default logging).
PACE_POINTS = 20
# Variables that would make the timing process join a multi-worker cluster: it times this machine alone.
_CLUSTER_VARIABLES = ("NEUROTUNE_MULTI_WORKER", "TF_CONFIG")


@dataclass(frozen=True)
class RunPlan:
    """A run as :func:`core.training.jobs.start_run` would start it: what the estimate measures.

    Attributes:
        model: Registry name of the architecture.
        dataset: The dataset's name.
        representation: The representation the model reads.
        model_options: Fields of the model's config that differ from its defaults.
        train: How it is trained.
    """

    model: str
    dataset: str
    representation: str
    model_options: Mapping[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        """Checked once, as the configs are: an unknown model, a bad option or representation is refused here.

        Raises:
            ConfigError: With a message naming what to change.
        """
        spec = get_model_spec(self.model)
        if self.representation not in spec.representations:
            raise ConfigError(
                f"the {spec.title} model takes {', '.join(spec.representations)} data, not '{self.representation}'"
            )
        make_config(self.model, dict(self.model_options))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "representation": self.representation,
            "model_options": dict(self.model_options),
            "train": to_dict(self.train),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunPlan:
        return cls(
            data["model"],
            data["dataset"],
            data["representation"],
            dict(data["model_options"]),
            from_dict(TrainConfig, data["train"]),
        )

    def run_config(self, dataset: Dataset) -> RunConfig:
        """The run's config as :func:`core.training.jobs.create_run` would record it (run id ``estimate``)."""
        codec = get_representation(self.representation, dataset.config)
        conditioned = head_for(codec.kind).controls and self.train.conditioning
        return RunConfig(
            run_id="estimate",
            model=self.model,
            model_config=make_config(self.model, dict(self.model_options)),
            train=self.train,
            representation=self.representation,
            dataset=dataset.name,
            dataset_id=dataset.id,
            dataset_hash=dataset.manifest["cache_key"],
            data=dataset.config,
            estimated_steps=self.planned_steps(dataset),
            conditioning=conditioning_for(dataset, codec, self.train.seq_len) if conditioned else None,
        )

    def planned_steps(self, dataset: Dataset | None = None) -> int:
        """Optimizer steps of the whole run (all its epochs; early stopping may end it sooner).

        The run's own count (:func:`core.training.trainer.estimate_total_steps`), which windows every
        epoch anew; without a curriculum every epoch is the same, so the page counts one and multiplies
        (a form redrawn at each change stays quick at thousands of epochs).
        """
        dataset = dataset or load_dataset(self.dataset)
        if self.train.curriculum or self.train.steps_per_epoch:
            return estimate_total_steps(dataset, self.representation, self.train)
        one_epoch = dataclasses.replace(self.train, epochs=1)
        return estimate_total_steps(dataset, self.representation, one_epoch) * self.train.epochs

    def speed_key(self) -> str:
        """What decides the cost of one step: plans with the same key train at the same speed on one machine.

        The epochs and the other settings that change only how many steps a run takes are left out.
        """
        dataset = load_dataset(self.dataset)
        return stable_hash(
            {
                "model": self.model,
                "model_config": to_dict(make_config(self.model, dict(self.model_options))),
                "dataset": dataset.id,
                "arrays": dataset.manifest["cache_key"],
                "representation": self.representation,
                "batch_size": self.train.batch_size,
                "seq_len": self.train.seq_len,
                "conditioning": self.train.conditioning,
            }
        )


@dataclass(frozen=True)
class Speed:
    """How fast a run trains here, as measured.

    Attributes:
        steps_per_second: Training steps per second once running.
        startup_seconds: What a run spends before its first step: importing TensorFlow, reading the
            data, building the model and tracing its training step (again at every resume).
    """

    steps_per_second: float
    startup_seconds: float = 0.0


@dataclass(frozen=True)
class RunTimeEstimate:
    """A run's planned steps at a measured speed, after its start-up."""

    steps: int
    speed: Speed

    @property
    def seconds(self) -> float:
        return self.speed.startup_seconds + self.steps / self.speed.steps_per_second

    def describe(self) -> str:
        """``"about 6 min on this machine (1,200 steps at 3.4 steps/s, after 20 s to start)"``."""
        startup = f", after {round(self.speed.startup_seconds)} s to start" if self.speed.startup_seconds >= 1 else ""
        steps = f"{self.steps:,} steps at {rate(self.speed.steps_per_second)}{startup}"
        return f"{describe_duration(self.seconds)} on this machine ({steps})"


def rate(steps_per_second: float) -> str:
    """A speed in words, with the digits that matter: ``"3.4 steps/s"``, ``"0.25 steps/s"``, ``"120 steps/s"``."""
    return f"{steps_per_second:.2g} steps/s" if steps_per_second < 10 else f"{steps_per_second:,.0f} steps/s"


def describe_duration(seconds: float) -> str:
    """A duration as people say it: ``"about 40 s"``, ``"about 6 min"``, ``"about 2 h 5 min"``."""
    if seconds < 90:
        return f"about {max(round(seconds), 1)} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"


def measure_speed(plan: RunPlan, steps: int = MEASURED_STEPS, warmup: int = WARMUP_STEPS) -> Speed:
    """How fast ``plan`` trains in this process, on the devices a run of it would use; imports Keras.

    The model is built, compiled and fed as :func:`core.training.trainer.train` does, on the full window
    length (with the curriculum, its last and slowest epochs); validation is not timed. The start-up is
    the time to the end of the warm-up steps less their share of steps, so in a fresh process (the run's
    own is one) it holds importing TensorFlow too.

    Raises:
        DatasetError: An unknown dataset.
        TrainingError: ``steps`` or ``warmup`` below 1.
    """
    if steps < 1 or warmup < 1:
        raise TrainingError("time at least one step after at least one warm-up step")
    started = time.perf_counter()
    import keras

    from core.data.windows import WindowControls
    from core.models import build_model
    from core.training.device import plan_device
    from core.training.trainer import compile_model, make_datasets, model_input_spec

    device = plan_device()  # first: it sets up TensorFlow's devices
    dataset = load_dataset(plan.dataset)
    config = plan.run_config(dataset)
    codec = get_representation(plan.representation, dataset.config)
    head = head_for(codec.kind)
    controls = WindowControls(config.conditioning, dataset, codec) if config.conditioning else None
    with device.strategy.scope():
        model = build_model(plan.model, config.model_config, model_input_spec(config, dataset.config))
        compile_model(model, head, plan.train, max(config.estimated_steps, 1))
    full_length_epoch = plan.train.curriculum_epochs if plan.train.curriculum else 0
    training, _, _ = make_datasets(dataset, plan.representation, head, plan.train, full_length_epoch, controls)
    ends: list[float] = []  # when each step ended
    clock = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: ends.append(time.perf_counter()))
    model.fit(training.repeat().take(warmup + steps), epochs=1, callbacks=[clock], shuffle=False, verbose=0)
    step_seconds = max(ends[-1] - ends[warmup - 1], 1e-9) / steps
    return Speed(1 / step_seconds, max(ends[warmup - 1] - started - warmup * step_seconds, 0.0))


def measure_in_child(plan: RunPlan, steps: int = MEASURED_STEPS, timeout: float = CHILD_TIMEOUT_SECONDS) -> Speed:
    """:func:`measure_speed` in a fresh Python process, so that the caller never imports TensorFlow.

    The dataset is looked up here first, so that a missing one is told at once, as its own error.

    Raises:
        DatasetError: An unknown dataset.
        TrainingError: The process failed (with the reason it gave), or took more than ``timeout`` seconds.
    """
    load_dataset(plan.dataset)
    command = [sys.executable, "-c", "from core.training.estimate import child_main; child_main()"]
    environment = child_environment(**dict.fromkeys(_CLUSTER_VARIABLES))  # one process, not a cluster's worker
    request = json.dumps({"plan": plan.to_dict(), "steps": steps})
    try:
        result = subprocess.run(
            command,
            input=request,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT_ROOT,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TrainingError(
            f"timing a few training steps took more than {timeout:g} s: this run would be very slow here"
        ) from None
    except OSError as error:
        raise TrainingError(f"cannot start a process to time the training steps ({error}); try again later") from None
    answer = _last_json_line(result.stdout)
    if answer is None:
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        raise TrainingError(f"timing the training steps failed: {reason}")
    if "error" in answer:
        raise TrainingError(answer["error"])
    return Speed(float(answer["steps_per_second"]), float(answer["startup_seconds"]))


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            answer = json.loads(line)
        except ValueError:
            continue
        if isinstance(answer, dict):
            return answer
    return None


def child_main() -> None:
    """The timing process of :func:`measure_in_child`: a request on stdin, one JSON line on stdout."""
    request = json.loads(sys.stdin.read())
    try:
        speed = measure_speed(RunPlan.from_dict(request["plan"]), steps=int(request["steps"]))
    except NeuroTuneError as error:
        print(json.dumps({"error": str(error)}))
        return
    print(json.dumps(dataclasses.asdict(speed)))


# === During a run ===


@dataclass(frozen=True)
class Pace:
    """How a run is going in time.

    Attributes:
        elapsed_seconds: Since it first started, to its end or now; None before it starts.
        steps_per_second: Over its last logged steps; None before two are logged.
        remaining_seconds: Its planned steps left at that speed, while it runs; else None.
        ended: Whether it has ended (finished, stopped or failed).
    """

    elapsed_seconds: float | None
    steps_per_second: float | None
    remaining_seconds: float | None
    ended: bool = False

    def describe(self) -> str:
        """``"12 min so far · about 5 min left at 3.4 steps/s"``, ``"8 min in all"``; ``""`` when nothing is known."""
        parts = []
        if self.elapsed_seconds is not None:
            elapsed = describe_duration(self.elapsed_seconds).removeprefix("about ")
            parts.append(f"{elapsed} in all" if self.ended else f"{elapsed} so far")
        if self.steps_per_second and not self.ended:  # once ended, the time it took is what counts
            speed = rate(self.steps_per_second)
            left = self.remaining_seconds
            parts.append(f"{describe_duration(left)} left at {speed}" if left is not None else speed)
        return " · ".join(parts)


def as_utc(moment: datetime) -> datetime:
    """``moment`` with its time zone: SQLite gives back the UTC times the store wrote without one."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def training_pace(
    rows: Sequence[Mapping[str, Any]],
    step: int,
    total_steps: int,
    started_at: datetime | None,
    finished_at: datetime | None = None,
    now: datetime | None = None,
) -> Pace:
    """A run's elapsed time, and its speed and remaining time measured from its metric rows.

    Args:
        rows: The run's metric rows, oldest first (:func:`core.store.runs.get_metrics`, with ``logged_at``).
        step: The step it has reached.
        total_steps: Its planned steps (0: unknown, then no remaining time).
        started_at: When it first started; None: not yet.
        finished_at: When it ended (finished, stopped or failed); None while it runs.
        now: The present, for tests; the clock by default.
    """
    now = as_utc(now or utcnow())
    elapsed = None
    if started_at is not None:
        elapsed = max(((as_utc(finished_at) if finished_at else now) - as_utc(started_at)).total_seconds(), 0.0)
    logged: dict[int, datetime] = {}  # step -> when its first row was logged
    for row in rows:
        logged.setdefault(row["step"], as_utc(row["logged_at"]))
    points = sorted(logged.items())[-PACE_POINTS:]
    speed = None
    if len(points) >= 2:
        (first_step, first_time), (last_step, last_time) = points[0], points[-1]
        seconds = (last_time - first_time).total_seconds()
        if seconds > 0 and last_step > first_step:
            speed = (last_step - first_step) / seconds
    remaining = None
    if finished_at is None and started_at is not None and speed and total_steps:
        remaining = max(total_steps - step, 0) / speed
    return Pace(elapsed, speed, remaining, ended=finished_at is not None)
