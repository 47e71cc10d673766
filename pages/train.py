"""Train page: pick a preset, a dataset and a model, estimate the run time, press Start and watch it learn.

Runs live in their own processes; every status on the page is drawn by one live fragment (ui.training.live_runs).
"""

import streamlit as st

from core.data.datasets import list_datasets
from core.store import runs as run_store
from core.training import jobs
from ui.auth import require_admin
from ui.training import comparison, live_runs, start_form

st.title("🏋️ Train")
start_tab, live_tab, all_tab = st.tabs(["Start a run", "Live run", "All runs"])

with start_tab:
    datasets = [record.name for record in list_datasets()]
    if not datasets:
        st.info("No dataset yet: build one on the Dataset page first.")
    elif require_admin("Starting a training run", "start"):
        start_form(datasets)
    started = st.container()

runs = run_store.list_runs()  # after Start: a run started now is among them
with live_tab:
    if runs:
        require_admin("Stopping or resuming a run", "stop")  # the sign-in; the buttons are drawn live
    chosen = st.container()

with all_tab:
    table = st.container()
    if runs:
        comparison(runs)
        with st.expander("Delete a run"):
            if require_admin("Deleting a run", "delete"):
                doomed = st.selectbox("Run to delete", [run.id for run in runs], key="doomed")
                sure = st.checkbox("I want to delete this run and its checkpoints")
                if st.button("Delete run", disabled=not sure):
                    jobs.delete_run(doomed)
                    st.rerun()

live_runs(started, chosen, table)
