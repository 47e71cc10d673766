"""Train page: pick a dataset and a model, press Start, watch it learn (runs live in their own processes)."""

import pandas as pd
import streamlit as st

from core.checkpoints import run_config
from core.config import TrainConfig
from core.data.datasets import list_datasets
from core.errors import NeuroTuneError
from core.models import get_model_spec, head_for_representation, list_models
from core.store import runs as run_store
from core.training import jobs
from core.training.device import describe_devices
from ui.auth import is_admin, require_admin
from ui.charts import metric_curves_figure
from ui.forms import dataclass_form
from ui.text import plain, show_error

st.title("🏋️ Train")
start_tab, live_tab, all_tab = st.tabs(["Start a run", "Live run", "All runs"])

with start_tab:
    datasets = [r.name for r in list_datasets()]
    if not datasets:
        st.info("No dataset yet: build one on the Dataset page first.")
    elif require_admin("Starting a training run", "start"):
        left, right = st.columns(2)
        dataset = left.selectbox("Dataset", datasets)
        models = {m.name: m for m in list_models()}
        model = right.selectbox("Model", list(models), format_func=lambda n: models[n].title)
        spec = get_model_spec(model)
        st.caption(spec.description)
        representation = left.selectbox("Representation", spec.representations)
        with st.expander("Model options"):
            model_options = dataclass_form(spec.config_class, key=f"model-{model}")
        with st.expander("Training options", expanded=True):
            train_options = dataclass_form(TrainConfig, key="train")
        if st.button("Start training", type="primary"):
            try:
                run = jobs.start_run(model, dataset, representation, model_options, TrainConfig(**train_options))
            except NeuroTuneError as error:
                show_error(error)
            else:
                st.session_state["run"] = run.id
                st.success(f"Run **{plain(run.id)}** is {run.status}. Follow it in the *Live run* tab.")


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


@st.fragment(run_every=2)
def live_view(run_id: str) -> None:
    """Redrawn every 2 s from the store, so reloads and other tabs see the same run."""
    jobs.reconcile()
    run = run_store.get_run(run_id)
    try:
        config = run_config(run)
    except NeuroTuneError as error:
        show_error(error)
        return
    estimated = config.estimated_steps or 1
    head = head_for_representation(run.representation)  # what the run logs: a GAN has no loss to validate
    a, b, c, d = st.columns(4)
    a.metric("Status", run.status)
    b.metric("Epoch", f"{run.epoch} / {config.train.epochs}")
    c.metric("Step", run.step)
    d.metric(f"Best {head.monitor_label}", f"{run.best_val_loss:.4f}" if run.best_val_loss is not None else "-")
    st.progress(min(run.step / estimated, 1.0), text=f"Device: {describe_devices(run)}")
    if run.status == "failed":
        st.error("The run failed:")
        if is_admin():  # a traceback names server paths: for the admin only
            st.code(run.error or "no error recorded")
    rows = new_metric_rows(run_id, run.step)
    if rows:
        for index, (slot, curves) in enumerate(zip(st.columns(2) * len(head.curves), head.curves)):
            figure = metric_curves_figure(rows, curves.metrics, curves.title, curves.unit)
            slot.plotly_chart(figure, key=f"live-curves-{index}")
    else:
        st.caption("Waiting for the first metrics...")


with live_tab:
    runs = run_store.list_runs()
    if not runs:
        st.info("No runs yet.")
    else:
        ids = [r.id for r in runs]
        chosen = st.session_state.get("run")
        run_id = st.selectbox(
            "Run",
            ids,
            index=ids.index(chosen) if chosen in ids else 0,
            format_func=lambda i: f"{i} ({next(r.status for r in runs if r.id == i)})",
        )
        if require_admin("Stopping or resuming a run", "stop"):
            stop, resume = st.columns(2)
            if stop.button("Stop", help="Stops at the next step and saves a checkpoint"):
                jobs.request_stop(run_id)
            if resume.button("Resume", help="Continue a stopped or failed run from its last checkpoint"):
                try:
                    jobs.resume(run_id)
                except NeuroTuneError as error:
                    show_error(error)
        live_view(run_id)

with all_tab:
    runs = run_store.list_runs()  # again: Stop or Resume above may have changed a status
    if runs:
        table = pd.DataFrame(
            [
                {
                    "run": r.id,
                    "status": r.status,
                    "model": r.model,
                    "dataset": r.dataset,
                    "representation": r.representation,
                    "epoch": r.epoch,
                    "step": r.step,
                    "best validation": r.best_val_loss,
                    "validated on": head_for_representation(r.representation).monitor_label,
                    "device": describe_devices(r),
                    **r.final_metrics,
                }
                for r in runs
            ]
        )
        st.dataframe(table, hide_index=True)
        compare = st.multiselect("Compare loss curves", [r.id for r in runs], default=[r.id for r in runs[:2]])
        if compare:
            rows = run_store.get_metrics(compare)
            # Each run's monitored figure (a sequence model's loss, a GAN's feature distance), one chart per
            # figure: a loss and a distance share no axis.
            heads = (head_for_representation(r.representation) for r in runs if r.id in compare)
            monitors = {head.monitor: head.monitor_label for head in heads}
            for monitor, label in monitors.items():
                names = [monitor, f"val_{monitor}"]
                figure = metric_curves_figure(rows, names, f"{label.capitalize()} by run", monitor.replace("_", " "))
                st.plotly_chart(figure, key=f"compare-{monitor}")
        with st.expander("Delete a run"):
            if require_admin("Deleting a run", "delete"):
                doomed = st.selectbox("Run to delete", [r.id for r in runs], key="doomed")
                sure = st.checkbox("I want to delete this run and its checkpoints")
                if st.button("Delete run", disabled=not sure):
                    jobs.delete_run(doomed)
                    st.rerun()
    else:
        st.info("No runs yet.")
