"""The Train page's parts: the start form (presets, settings, run-time estimate) and the live view of runs.

Every status, epoch and step on the page comes from one place: :func:`live_runs`, a fragment that
reconciles the runs with their processes, reads them once and draws them into the places the page
keeps for it in each tab (the run just started, the Live tab's chosen run with its Stop and Resume,
and the runs table), again every :data:`LIVE_SECONDS`. Nothing outside it shows a run's status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.checkpoints import run_config
from core.config import TrainConfig
from core.data.datasets import load_dataset
from core.errors import NeuroTuneError
from core.models import get_model_spec, head_for_representation, list_models, make_config
from core.store import runs as run_store
from core.store.db import RunRecord
from core.training import estimate, jobs
from core.training.device import describe_devices
from core.training.presets import DEFAULT_PRESET, PRESETS, get_preset
from ui.auth import is_admin
from ui.charts import metric_curves_figure
from ui.forms import dataclass_form
from ui.text import plain, show_error

LIVE_SECONDS = 2
# Session-state keys of the start form's choices (the settings' widgets are "train-<field>", "model-<name>-<field>").
PRESET_KEY, DATASET_KEY, MODEL_KEY = "start-preset", "start-dataset", "start-model"
TRAIN_FORM = "train"
# The run started from this session (drawn in the Start tab) and the Live tab's chosen run.
STARTED_KEY, LIVE_RUN_KEY = "started-run", "live-run"
# Measured speeds by RunPlan.speed_key: (estimate.Speed, whether another run was training meanwhile).
SPEEDS_KEY = "measured-speeds"
AXES = {"step": "Steps", "time": "Time"}


def model_form_key(model: str) -> str:
    return f"model-{model}"


def representation_key(model: str) -> str:
    return f"start-representation-{model}"


def label_of(config_class: type, name: str) -> str:
    """A config field's label for people, as its form shows it."""
    field = next(f for f in dataclasses.fields(config_class) if f.name == name)
    return field.metadata.get("label") or name.replace("_", " ").capitalize()


# === Starting a run ===


def apply_preset() -> None:
    """Put the chosen preset's model and settings into the start form's widgets (an ``on_change`` callback)."""
    preset = get_preset(st.session_state[PRESET_KEY])
    name = st.session_state.get(DATASET_KEY)
    try:
        dataset = load_dataset(name) if name else None
        train = preset.train_for(dataset, st.session_state.get(representation_key(preset.model)))
    except NeuroTuneError:  # the dataset went meanwhile, or has no such representation: the preset as it stands
        train = preset.train
    st.session_state[MODEL_KEY] = preset.model
    for field in dataclasses.fields(TrainConfig):
        st.session_state[f"{TRAIN_FORM}-{field.name}"] = getattr(train, field.name)
    config = preset.model_config()
    for field in dataclasses.fields(config):
        st.session_state[f"{model_form_key(preset.model)}-{field.name}"] = getattr(config, field.name)


def refit_preset() -> None:
    """Another dataset or representation: a preset fitted to the dataset sets its epochs (and steps per epoch)
    again, and nothing else: the model and every other setting stay as the user left them."""
    preset = get_preset(st.session_state[PRESET_KEY])
    model = st.session_state.get(MODEL_KEY)
    if not preset.fit_to_dataset or model != preset.model:  # another model: the preset's fit is not for it
        return
    name = st.session_state.get(DATASET_KEY)
    try:
        train = preset.train_for(load_dataset(name) if name else None, st.session_state.get(representation_key(model)))
    except NeuroTuneError:  # the dataset went meanwhile, or has no such representation: the settings stand
        return
    for field_name in ("epochs", "steps_per_epoch"):
        st.session_state[f"{TRAIN_FORM}-{field_name}"] = getattr(train, field_name)


def start_form(datasets: Sequence[str]) -> None:
    """Preset, dataset, model and settings; the run-time estimate; Start. A started run is drawn below it."""
    st.session_state.setdefault(PRESET_KEY, DEFAULT_PRESET)
    st.session_state.setdefault(MODEL_KEY, get_preset(DEFAULT_PRESET).model)
    preset = st.radio(
        "Preset",
        list(PRESETS),
        format_func=lambda name: PRESETS[name].title,
        key=PRESET_KEY,
        horizontal=True,
        on_change=apply_preset,
        help="A starting point: it fills in the model and the settings below, which you can still change",
    )
    st.caption(PRESETS[preset].description)
    left, right = st.columns(2)
    dataset = left.selectbox("Dataset", datasets, key=DATASET_KEY, on_change=refit_preset)
    models = {spec.name: spec for spec in list_models()}
    model = right.selectbox("Model", list(models), format_func=lambda name: models[name].title, key=MODEL_KEY)
    spec = get_model_spec(model)
    right.caption(spec.description)
    representation = left.selectbox(
        "Representation", spec.representations, key=representation_key(model), on_change=refit_preset
    )
    st.markdown("**Training**")
    basic, advanced = st.container(), st.expander("Advanced")  # the knobs below the plain settings
    with basic:
        train_values = dataclass_form(TrainConfig, key=TRAIN_FORM, advanced_in=advanced)
    with st.expander("Model options"):
        model_values = dataclass_form(spec.config_class, key=model_form_key(model))
    try:
        plan = estimate.RunPlan(model, dataset, representation, model_values, TrainConfig(**train_values))
        steps = plan.planned_steps()
    except NeuroTuneError as error:
        show_error(error)
        return
    run_time(plan, steps)
    if st.button("Start training", type="primary"):
        try:
            run = jobs.start_run(model, dataset, representation, model_values, plan.train)
        except NeuroTuneError as error:
            show_error(error)
        else:
            st.session_state[STARTED_KEY] = st.session_state[LIVE_RUN_KEY] = run.id


def run_time(plan: estimate.RunPlan, steps: int) -> None:
    """The planned steps, and how long they take here once measured.

    A speed is kept per session for the settings that decide it; it is measured again only when it
    was measured while another run was training and none is now.
    """
    speeds = st.session_state.setdefault(SPEEDS_KEY, {})
    key = plan.speed_key()
    button, text = st.columns([1, 3], vertical_alignment="center")
    if button.button("Estimate run time", help="Times a few training steps of these settings on this machine"):
        busy = run_store.count_runs("running") > 0
        if key not in speeds or speeds[key][1] > busy:  # not yet, or only under the load of another run
            with st.spinner("Timing a few training steps on this machine...", show_time=True):
                try:
                    speeds[key] = (estimate.measure_in_child(plan), busy)
                except NeuroTuneError as error:
                    show_error(error)
    if key in speeds:
        speed, busy = speeds[key]
        text.markdown(f"⏱ This run: {estimate.RunTimeEstimate(steps, speed).describe()}.")
        if busy:
            text.caption("Measured while another run was training: alone it runs faster.")
    else:
        text.caption(f"{steps:,} training steps planned. *Estimate run time* tells how long they take here.")


# === The live view ===


def new_metric_rows(run_id: str, step: int) -> list[dict]:
    """The run's metric rows; each redraw fetches only the rows logged since the last one.

    A run resumed after a crash rewinds to its checkpoint and drops the rows past it (whose ids
    the database may reuse): a cache that has gone past the run's step is thrown away.
    """
    rows = st.session_state.setdefault("live-metric-rows", {}).setdefault(run_id, [])
    if rows and rows[-1]["step"] > step:
        rows.clear()
    rows += run_store.get_metrics([run_id], since_id=rows[-1]["id"] if rows else 0)
    return rows


def _stop(run_id: str, place: str) -> None:
    if not is_admin():  # signed out (or the password changed) since the button was drawn
        return
    run = jobs.request_stop(run_id)
    if run.stop_requested and run.status == "running":
        notice = "Stopping at the next step; a checkpoint is saved first."
    elif run.status == "stopped":
        notice = "Stopped."
    else:
        notice = f"The run has {'already ' if run.status != 'failed' else ''}{run.status}: there is nothing to stop."
    st.session_state[f"notice-{place}"] = notice


def _resume(run_id: str, place: str) -> None:
    if not is_admin():
        return
    try:
        run = jobs.resume(run_id)
    except NeuroTuneError as error:
        st.session_state[f"notice-{place}"] = str(error)
    else:
        st.session_state[f"notice-{place}"] = f"Resumed: the run is {run.status}."


def run_controls(run: RunRecord, place: str) -> None:
    """Stop and Resume, each enabled only when it applies, and a line saying why not (admins only)."""
    if not is_admin():
        return
    stop, resume, why = st.columns([1, 1, 4], vertical_alignment="center")
    stoppable = run.status in jobs.ACTIVE and not run.stop_requested
    stop.button(
        "Stop",
        key=f"{place}-stop",
        disabled=not stoppable,
        on_click=_stop,
        args=(run.id, place),
        help="Stops at the next step and saves a checkpoint",
    )
    resume.button(
        "Resume",
        key=f"{place}-resume",
        disabled=run.status not in ("stopped", "failed"),
        on_click=_resume,
        args=(run.id, place),
        help="Continue a stopped or failed run from its last checkpoint",
    )
    notice = st.session_state.pop(f"notice-{place}", None)
    if notice:
        why.info(plain(notice))
    elif run.stop_requested and run.status == "running":
        why.caption("Stopping at the next step...")
    elif run.status == "finished":
        why.caption("The run has finished: nothing to stop or resume. Start a new run to train longer.")
    elif run.status in ("stopped", "failed"):
        why.caption(f"The run has {run.status}: nothing to stop; Resume continues it from its last checkpoint.")


def live_view(run: RunRecord, place: str) -> None:
    """One run as the store has it: status, epoch, step, best figure, time, controls and curves."""
    try:
        config = run_config(run)
    except NeuroTuneError as error:
        show_error(error)
        return
    head = head_for_representation(run.representation)  # what the run logs: a GAN has no loss to validate
    a, b, c, d = st.columns(4)
    a.metric("Status", run.status)
    b.metric("Epoch", f"{run.epoch} / {config.train.epochs}")
    c.metric("Step", f"{run.step:,}")
    d.metric(f"Best {head.monitor_label}", f"{run.best_val_loss:.4f}" if run.best_val_loss is not None else "-")
    st.progress(min(run.step / (config.estimated_steps or 1), 1.0), text=f"Device: {describe_devices(run)}")
    rows = new_metric_rows(run.id, run.step)
    ended = run.finished_at if run.status not in jobs.ACTIVE else None
    pace = estimate.training_pace(rows, run.step, config.estimated_steps, run.started_at, ended)
    if pace.describe():
        sooner = (
            " (early stopping may end it sooner)"
            if pace.remaining_seconds and config.train.early_stopping_patience
            else ""
        )
        st.caption(f"⏱ {pace.describe()}{sooner}")
    if run.status == "failed":
        st.error("The run failed:")
        if is_admin():  # a traceback names server paths: for the admin only
            st.code(run.error or "no error recorded")
    run_controls(run, place)
    if rows:
        for index, (slot, curves) in enumerate(zip(st.columns(2) * len(head.curves), head.curves)):
            figure = metric_curves_figure(rows, curves.metrics, curves.title, curves.unit)
            slot.plotly_chart(figure, key=f"{place}-curves-{index}")
    else:
        st.caption("Waiting for the first metrics...")


def runs_frame(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: what it trains, its key hyperparameters, how far it is, and its last epoch's figures."""
    rows = []
    for run in runs:
        try:
            config = run_config(run)
        except NeuroTuneError:  # a damaged record: its own columns only
            config = None
        settings: dict[str, Any] = {}
        if config is not None:
            settings = {
                label_of(TrainConfig, name): getattr(config.train, name)
                for name in ("batch_size", "seq_len", "learning_rate")
            }
            settings["model options"] = model_options_text(config.model, config.model_config)
        rows.append(
            {
                "run": run.id,
                "status": run.status,
                "model": run.model,
                "dataset": run.dataset,
                "representation": run.representation,
                **settings,
                "epoch": f"{run.epoch} / {config.train.epochs}" if config is not None else str(run.epoch),
                "step": run.step,
                "best validation": run.best_val_loss,
                "validated on": head_for_representation(run.representation).monitor_label,
                "device": describe_devices(run),
                **run.final_metrics,
            }
        )
    return pd.DataFrame(rows)


def model_options_text(model: str, config: Any) -> str:
    """The model options that differ from the model's defaults, in words (``"Units per layer 64 · Layers 1"``)."""
    defaults = make_config(model)
    changed = [
        f"{label_of(type(config), field.name)} {getattr(config, field.name)}"
        for field in dataclasses.fields(config)
        if getattr(config, field.name) != getattr(defaults, field.name)
    ]
    return " · ".join(changed) or "defaults"


@st.fragment(run_every=LIVE_SECONDS, key="live-runs")
def live_runs(started: DeltaGenerator, chosen: DeltaGenerator, table: DeltaGenerator) -> None:
    """Every run's status, from one read of the store, into the page's three places; redrawn every few seconds.

    Args:
        started: Under the Start button: the run started from this session.
        chosen: The Live tab: a run chosen by the user, with Stop and Resume.
        table: The All runs tab: the runs table.
    """
    jobs.reconcile()  # a run whose process vanished is failed, here as everywhere
    runs = {run.id: run for run in run_store.list_runs()}
    started_id = st.session_state.get(STARTED_KEY)
    if started_id in runs:
        run = runs[started_id]
        with started:
            message = f"Run **{plain(run.id)}** is {run.status}."
            if run.status in jobs.ACTIVE:
                st.success(f"{message} It trains in the background: you may leave this page.")
            else:
                st.info(message)
            live_view(run, "started")
    with chosen:
        if not runs:
            st.info("No runs yet.")
        else:
            if st.session_state.get(LIVE_RUN_KEY) not in runs:
                st.session_state[LIVE_RUN_KEY] = next(iter(runs))
            run_id = st.selectbox("Run", list(runs), key=LIVE_RUN_KEY, format_func=lambda i: f"{i} ({runs[i].status})")
            live_view(runs[run_id], "chosen")
    with table:
        if runs:
            st.dataframe(runs_frame(list(runs.values())), hide_index=True)
        else:
            st.info("No runs yet.")


# === Comparing runs ===


def metric_families(names: Sequence[str]) -> dict[str, list[str]]:
    """Metric names grouped by what they measure, one chart each: ``loss``, ``epoch_loss`` and ``val_loss`` together."""
    families: dict[str, list[str]] = {}
    for name in names:
        families.setdefault(name.removeprefix("val_").removeprefix("epoch_"), []).append(name)
    return families


def comparison(runs: Sequence[RunRecord]) -> None:
    """Any logged metrics of some runs, against steps or time."""
    ids = [run.id for run in runs]
    chosen = st.multiselect("Runs to compare", ids, default=ids[:2], key="compare-runs")
    if not chosen:
        return
    rows = run_store.get_metrics(chosen)
    names = sorted({row["name"] for row in rows})
    if not names:
        st.caption("These runs have logged nothing yet.")
        return
    monitors = {head_for_representation(run.representation).monitor for run in runs if run.id in chosen}
    default = [name for name in names if name.removeprefix("val_") in monitors]
    left, right = st.columns([3, 1])
    metrics = left.multiselect("Metrics", names, default=default, key="compare-metrics")
    axis = right.radio("Against", list(AXES), format_func=AXES.get, horizontal=True, key="compare-axis")
    for family, members in metric_families(metrics).items():
        title = f"{family.replace('_', ' ').capitalize()} by run"
        figure = metric_curves_figure(rows, members, title, family.replace("_", " "), x=axis)
        st.plotly_chart(figure, key=f"compare-{family}")
