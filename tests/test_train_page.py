"""The Train page (AppTest): presets and plain settings, the run-time estimate, one live status everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

from streamlit.testing.v1 import AppTest, local_script_runner

from core.config import TrainConfig
from core.processes import identity
from core.store import runs as run_store
from core.store.db import utcnow
from core.training import estimate, jobs
from core.training.presets import get_preset
from tests.conftest import tiny_dataset
from ui.charts import metric_curves_figure
from ui.text import plain

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TINY_LSTM = {"units": 8, "embedding_dim": 4, "layers": 1}


def _train_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    return at


def run_live_fragment(at: AppTest) -> AppTest:
    """Run only the page's live fragment, as its ``run_every`` timer does in a browser.

    AppTest has no call for a fragment's rerun: its script runner is given the fragment's id (found
    by the fragment's key) as the browser's timer gives it. The tree then holds the fragment's
    elements only: whatever it shows was drawn by the fragment, not by a full rerun.
    """
    ids = at._fragment_storage.resolve_target("live-runs")
    rerun = local_script_runner.RerunData
    with mock.patch.object(local_script_runner, "RerunData", lambda **kwargs: rerun(**kwargs, fragment_id_queue=ids)):
        at.run()
    assert not at.exception, at.exception
    return at


def _statuses(at: AppTest) -> dict[str, object]:
    """Every place the page shows the chosen run's status."""
    (selector,) = [box for box in at.selectbox if box.label == "Run"]
    table = at.dataframe[0].value.set_index("run")
    return {
        "selector": next(label for label in selector.options if label.startswith(selector.value)),
        "metric": [metric.value for metric in at.metric if metric.label == "Status"],
        "table": table.loc[selector.value, "status"],
    }


def _running_run(**train) -> str:
    """A run recorded as running in this test's own process (alive, so reconcile keeps it), never trained."""
    run = jobs.create_run("lstm", "tiny", "melody", TINY_LSTM, TrainConfig(**train))
    pid, started = identity(os.getpid())
    run_store.update_run(run.id, status="running", pid=pid, pid_started_at=started, started_at=utcnow())
    for step in range(1, 6):
        run_store.add_metrics(run.id, step, 0, {"loss": 3.0 / step, "accuracy": step / 10})
    run_store.update_run(run.id, step=5)
    return run.id


def test_the_form_starts_on_good_with_the_lstm_plain_labels_and_the_knobs_tucked_away():
    tiny_dataset()
    at = _train_page()
    assert at.radio(key="start-preset").value == "good"
    assert at.selectbox(key="start-model").value == "lstm"
    labels = [widget.label for widget in [*at.number_input, *at.selectbox, *at.checkbox]]
    assert not [label for label in labels if "_" in label or label in ("Seq len", "Clip norm", "Log every steps")]
    assert all(widget.help for widget in at.number_input), [w.label for w in at.number_input if not w.help]
    (advanced,) = [
        block
        for block in at.expander
        if block.label == "Advanced" and any(widget.key == "train-seed" for widget in block.number_input)
    ]
    assert {"Learning rate", "Batch size", "Warm-up steps"} <= {widget.label for widget in advanced.number_input}
    assert not {"Epochs", "Window length (steps)"} & {widget.label for widget in advanced.number_input}
    transpose = at.selectbox(key="train-transpose_semitones")
    assert transpose.format_func(transpose.value) == "As the dataset was built"


def test_the_page_never_imports_tensorflow():
    tiny_dataset()  # the whole form is drawn: presets, planned steps, the estimate's key
    script = textwrap.dedent(
        f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=30).run()
        at.switch_page("pages/train.py").run()
        at.radio(key="start-preset").set_value("best").run()
        assert not at.exception, at.exception
        assert "Start training" in [button.label for button in at.button]
        print("tensorflow" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_a_preset_fills_in_the_model_and_its_settings():
    dataset = tiny_dataset()
    at = _train_page()
    at.selectbox(key="start-model").set_value("transformer").run()
    at.radio(key="start-preset").set_value("quick").run()
    quick = get_preset("quick")
    assert at.selectbox(key="start-model").value == "lstm"
    assert at.number_input(key="train-epochs").value == quick.train.epochs
    assert at.number_input(key="train-steps_per_epoch").value == quick.train.steps_per_epoch
    assert at.number_input(key="model-lstm-units").value == quick.model_options["units"]
    assert any(caption.value == quick.description for caption in at.caption)
    at.radio(key="start-preset").set_value("best").run()  # fitted to the tiny dataset: many epochs of one step
    assert at.number_input(key="train-epochs").value == get_preset("best").train_for(dataset).epochs
    assert at.number_input(key="model-lstm-units").value == 256 and at.number_input(key="train-seq_len").value == 256


def test_another_representation_refits_the_best_preset_s_epochs_and_keeps_the_user_s_choices():
    dataset = tiny_dataset()
    at = _train_page()
    at.radio(key="start-preset").set_value("best").run()
    at.number_input(key="train-batch_size").set_value(8).run()  # the user's own choice
    at.selectbox(key="start-representation-lstm").set_value("pianoroll").run()
    best = get_preset("best").train_for(dataset, "pianoroll")
    assert at.number_input(key="train-epochs").value == best.epochs
    assert at.number_input(key="train-batch_size").value == 8
    at.selectbox(key="start-model").set_value("transformer").run()  # another model: its settings are the user's
    at.number_input(key="train-epochs").set_value(3).run()
    at.selectbox(key="start-representation-transformer").set_value("pianoroll").run()
    assert at.selectbox(key="start-model").value == "transformer" and at.number_input(key="train-epochs").value == 3


def test_settings_that_cannot_train_are_told_and_offer_no_start():
    tiny_dataset()
    at = _train_page()
    at.selectbox(key="start-model").set_value("transformer").run()
    at.number_input(key="model-transformer-d_model").set_value(130).run()
    assert [error.value for error in at.error] == [plain("d_model (130) must be a multiple of heads (4)")]
    assert not {"Start training", "Estimate run time"} & {button.label for button in at.button}


def test_the_run_time_is_measured_once_per_setting_and_follows_the_planned_steps(monkeypatch):
    tiny_dataset()
    measured = []

    def measure(plan):
        measured.append(plan)
        return estimate.Speed(4.0, startup_seconds=20.0)

    monkeypatch.setattr(estimate, "measure_in_child", measure)
    at = _train_page()
    at.number_input(key="train-epochs").set_value(40).run()
    assert any(caption.value.startswith("40 training steps planned") for caption in at.caption)
    next(button for button in at.button if button.label == "Estimate run time").click().run()
    assert "⏱ This run: about 30 s on this machine (40 steps at 4 steps/s, after 20 s to start)." in [
        m.value for m in at.markdown
    ]
    at.number_input(key="train-epochs").set_value(480).run()  # more steps, the same speed: no new measurement
    assert "⏱ This run: about 2 min on this machine (480 steps at 4 steps/s, after 20 s to start)." in [
        m.value for m in at.markdown
    ]
    next(button for button in at.button if button.label == "Estimate run time").click().run()
    assert len(measured) == 1 and measured[0].model == "lstm" and measured[0].train.epochs == 40
    at.number_input(key="train-batch_size").set_value(8).run()  # another step cost: to be measured again
    assert not [m.value for m in at.markdown if m.value.startswith("⏱")]


def test_a_finished_run_shows_finished_everywhere_without_a_full_rerun_and_stop_says_so():
    tiny_dataset()
    run_id = _running_run(epochs=2)
    vanished = jobs.create_run("lstm", "tiny", "melody", TINY_LSTM, TrainConfig(epochs=2))
    run_store.update_run(vanished.id, status="running", pid=None)  # its process is gone: reconcile fails it
    at = _train_page()
    at.selectbox(key="live-run").set_value(run_id).run()
    assert _statuses(at) == {"selector": f"{run_id} (running)", "metric": ["running"], "table": "running"}
    assert at.dataframe[0].value.set_index("run").loc[vanished.id, "status"] == "failed"
    assert not at.button(key="chosen-stop").disabled and at.button(key="chosen-resume").disabled
    assert any(caption.value.startswith("⏱ ") and "so far" in caption.value for caption in at.caption)
    assert at.dataframe[0].value.set_index("run").loc[run_id, "epoch"] == "0 / 2"

    run_store.update_run(run_id, status="finished", epoch=2, step=10, finished_at=utcnow())
    run_live_fragment(at)
    assert not at.title  # only the fragment ran
    assert _statuses(at) == {"selector": f"{run_id} (finished)", "metric": ["finished"], "table": "finished"}
    assert next(metric.value for metric in at.metric if metric.label == "Epoch") == "2 / 2"
    assert at.button(key="chosen-stop").disabled and at.button(key="chosen-resume").disabled
    assert any("has finished: nothing to stop" in caption.value for caption in at.caption)

    # Stop pressed as another run finished, before the page had redrawn it: the page says so.
    other = _running_run(epochs=2)
    run_live_fragment(at).selectbox(key="live-run").set_value(other).run()
    run_store.update_run(other, status="finished", finished_at=utcnow())
    at.button(key="chosen-stop").click().run()
    assert [info.value for info in at.info] == [plain("The run has already finished: there is nothing to stop.")]
    assert run_store.get_run(other).status == "finished" and _statuses(at)["metric"] == ["finished"]


def test_stop_on_a_running_run_asks_it_to_stop_and_says_so():
    tiny_dataset()
    run_id = _running_run()
    at = _train_page()
    at.button(key="chosen-stop").click().run()
    assert run_store.get_run(run_id).stop_requested
    assert any(info.value.startswith("Stopping at the next step") for info in at.info)
    assert at.button(key="chosen-stop").disabled and _statuses(at)["metric"] == ["running"]


def test_the_comparison_plots_any_logged_metric_against_steps_or_time():
    tiny_dataset()
    run_id = _running_run()
    at = _train_page()
    assert at.multiselect(key="compare-metrics").value == ["loss"]  # the run's monitored figure
    at.multiselect(key="compare-metrics").set_value(["accuracy"]).run()
    at.radio(key="compare-axis").set_value("time").run()
    (chart,) = [chart for chart in at.get("plotly_chart") if "Accuracy by run" in chart.proto.spec]
    assert "minutes since the run started" in chart.proto.spec and '"name":"accuracy"' in chart.proto.spec
    assert run_id in at.multiselect(key="compare-runs").value


def test_metric_curves_against_time_start_at_each_runs_first_row():
    start = utcnow()
    rows = [
        {"run_id": run, "step": step, "name": "loss", "value": 1.0 / step, "logged_at": start + timedelta(minutes=m)}
        for run, offset in (("a", 0), ("b", 30))
        for step, m in ((1, offset), (2, offset + 3))
    ]
    figure = metric_curves_figure(rows, ["loss"], "Loss", "loss", x="time")
    assert [list(trace.x) for trace in figure.data] == [[0.0, 3.0], [0.0, 3.0]]
    assert figure.layout.xaxis.title.text == "minutes since the run started"
    assert [list(trace.x) for trace in metric_curves_figure(rows, ["loss"], "Loss", "loss").data] == [[1, 2], [1, 2]]


def test_train_page_starts_a_run_and_draws_it_live_where_start_was_pressed():
    tiny_dataset()
    at = _train_page()
    for key, value in {
        **{f"model-lstm-{name}": value for name, value in TINY_LSTM.items()},
        "train-epochs": 30,
        "train-seq_len": 16,
        "train-batch_size": 8,
        "train-log_every_steps": 1,
    }.items():
        at.number_input(key=key).set_value(value)
    next(button for button in at.button if button.label == "Start training").click().run()
    assert not at.exception, at.exception
    assert any("is running" in success.value for success in at.success), [error.value for error in at.error]
    run = run_store.list_runs()[0]
    try:
        deadline = time.monotonic() + 120
        while not run_store.get_metrics([run.id]) and time.monotonic() < deadline:
            time.sleep(0.5)
        at.run()
        start_tab = at.tabs[0]
        assert [metric.value for metric in start_tab.metric if metric.label == "Status"] == ["running"]
        device = start_tab.get("progress")[0].proto.text
        assert device.startswith("Device: CPU (") and device.endswith("· default strategy, 1 replica · float32")
        loss_charts = [chart for chart in start_tab.get("plotly_chart") if "Loss" in chart.proto.spec]
        assert loss_charts and '"x":[' in loss_charts[0].proto.spec.replace(" ", "")
        assert at.selectbox(key="live-run").value == run.id  # the Live tab follows it too
        hyperparameters = at.dataframe[0].value.set_index("run").loc[run.id]
        assert (hyperparameters["Batch size"], hyperparameters["Window length (steps)"]) == (8, 16)
        assert hyperparameters["epoch"].endswith(" / 30")
        assert "Units per layer 8" in hyperparameters["model options"]
    finally:
        jobs.request_stop(run.id)
        while run_store.get_run(run.id).status == "running" and time.monotonic() < deadline + 60:
            time.sleep(0.5)
