"""Evaluate page: compare models with the data and with baselines; the work runs as a background job."""

import streamlit as st

from core.config import DataConfig
from core.data.datasets import list_datasets, load_dataset
from core.errors import NeuroTuneError
from core.evaluation import jobs
from core.evaluation.evaluate import MAX_BARS, MAX_PIECES
from core.evaluation.originality import COPY_FLAG_BARS
from core.evaluation.selections import library_choices
from core.generation.sampling import SampleConfig, strategies_for, unused_settings
from core.store import evaluations as store
from ui.auth import is_admin, require_admin
from ui.evaluation import show_result
from ui.forms import dataclass_form
from ui.text import plain, show_error

JOB_KEY = "evaluation-job"

st.title("📊 Evaluate")
st.markdown(
    "*Which of my models writes music closest to the real thing, and does it beat trivial baselines?* "
    "Each model composes pieces that are measured and set against the dataset's pieces, beside three "
    "baselines made the same way: held-out real pieces (the ceiling), a Markov chain and random notes (the floor)."
)

job_id = st.session_state.get(JOB_KEY)
job = store.get_job(job_id) if job_id else jobs.latest_job()
datasets = [record.name for record in list_datasets()]

with st.expander("New evaluation", expanded=job is None or job.status not in jobs.ACTIVE):
    if not datasets:
        st.info("No dataset yet: build one on the Dataset page first.")
    elif require_admin("Evaluating models", "evaluate"):
        left, right = st.columns(2)
        last = datasets.index(job.dataset) if job is not None and job.dataset in datasets else 0
        name = left.selectbox("Dataset", datasets, index=last)
        dataset = load_dataset(name)
        choices, other_grid = jobs.checkpoint_choices(dataset)
        labels = {str(c.info.path): c.info.label + ("" if c.trained_here else " · other data") for c in choices}
        chosen = right.multiselect(
            "Models",
            list(labels),
            default=[str(c.info.path) for c in choices if c.trained_here],
            format_func=labels.get,
            key=f"evaluate-models-{name}",
            help="The three baselines are always compared too",
        )
        saved = {choice.checkpoint: choice for choice in library_choices(dataset)}
        picked = right.multiselect(
            "Pieces from the library",
            list(saved),
            format_func=lambda checkpoint: saved[checkpoint].label,
            key=f"evaluate-library-{name}",
            help="Each model's saved pieces, measured as they are (all of them, on this dataset's grid) "
            "rather than composed again",
            disabled=not saved,
            placeholder="Choose models' saved pieces" if saved else "No model has two pieces in the library yet",
        )
        library = [saved[checkpoint] for checkpoint in picked if checkpoint in saved]
        if any(not c.trained_here for c in choices if str(c.info.path) in chosen) or any(
            not choice.trained_here for choice in library
        ):
            st.caption(
                "Models marked *other data* were trained on another dataset: their validation figures are "
                "on that data, and pieces held out here may have been in their training set."
            )
        if other_grid:
            names = ", ".join(plain(info.name) for info in other_grid)
            st.caption(f"Not offered, composing on another grid than this dataset's: {names}")
        count_col, bars_col, seed_col = st.columns(3)
        n = count_col.number_input(
            "Pieces per system",
            2,
            MAX_PIECES,
            16,
            help="More pieces: narrower intervals, slower (library rows measure all their pieces)",
        )
        bars = bars_col.number_input("Length (bars)", 0.5, float(MAX_BARS), 8.0, 0.5)
        seed = seed_col.number_input("Seed", 0, 2**31 - 1, 0, help="Same seed and settings: same pieces")
        with st.expander("Advanced"):
            st.caption(
                "How the models compose (the baselines ignore it; a GAN composes from noise, the temperature "
                "scaling its noise)"
            )
            sequence_strategies = list(dict.fromkeys([*strategies_for("tokens"), *strategies_for("frames")]))
            sampling = dataclass_form(
                SampleConfig,
                "evaluate-sampling",
                skip=("seed", "variations"),
                disabled=lambda now: unused_settings(now["strategy"]),
                overrides={"strategy": {"choices": sequence_strategies}},
            )
            copy_bars = st.number_input("Flag pieces copying a melody of at least (bars)", 0.5, 64.0, COPY_FLAG_BARS)
        if st.button("Evaluate", type="primary"):
            try:
                job = jobs.start_job(
                    name,
                    chosen,
                    int(n),
                    int(seed),
                    SampleConfig(**sampling),
                    bars=bars,
                    copy_flag_bars=copy_bars,
                    library=[choice.selection for choice in library],
                )
            except NeuroTuneError as error:
                show_error(error)
            else:
                st.session_state[JOB_KEY] = job.id


@st.fragment(run_every=2)
def job_progress(job_id: str) -> None:
    """Redrawn every 2 s from the store, so a reload or another tab sees the same job."""
    jobs.reconcile()
    job = store.get_job(job_id)
    if job.status not in jobs.ACTIVE:
        st.rerun()  # the whole page: it shows the result
    waiting = "waiting for another evaluation to finish" if job.status == "queued" else "starting..."
    st.progress(min(job.done / max(job.total, 1), 1.0), text=plain(job.message or waiting))
    if not job.cancel_requested and is_admin() and st.button("Cancel", help="Stops at the next step; nothing stored"):
        job = jobs.request_cancel(job_id)
    if job.cancel_requested:
        st.caption("Cancelling at the next step...")


if job is not None:
    if job.status in jobs.ACTIVE:
        st.info(f"Evaluating against {plain(job.dataset)} in the background: you may leave this page.")
        job_progress(job.id)
    elif job.status == "failed":
        st.error("The evaluation failed:")
        if is_admin():  # a traceback names server paths: for the admin only
            st.code(job.error or "no error recorded")
    elif job.status == "cancelled":
        st.info("The evaluation was cancelled.")

result = (jobs.job_result(job) if job is not None else None) or jobs.latest_result()
if result is None:
    st.info("No evaluation yet: choose a dataset and models above and press Evaluate.")
else:
    try:
        steps_per_quarter = load_dataset(result.dataset).config.steps_per_quarter
    except NeuroTuneError:  # deleted or renamed since: pieces are played on the default grid
        steps_per_quarter = DataConfig().steps_per_quarter
    if job is not None and job.status in jobs.ACTIVE:
        st.caption("The previous evaluation, until this one finishes:")
    show_result(result, steps_per_quarter)
