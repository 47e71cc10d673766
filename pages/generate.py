"""Generate page: pick a model, choose the music (key, length, tempo, instruments), press Compose, listen.

The choices and the results are one fragment, so changing a choice reruns only them; the model's
compiled sampler is warmed in the background when the page opens (logic in core.generation).
"""

import threading

import streamlit as st

from core.checkpoints import list_checkpoints
from core.errors import NeuroTuneError
from core.generation.compose import Composer, CompositionRequest
from core.settings import get_settings
from ui import compositions
from ui.auth import may_compose, sign_in_form
from ui.compose_form import PAGE_SAMPLING, advanced_choices, musical_choices, primer_choice, sampling_choices
from ui.text import plain, show_error


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def load_composer(path: str, modified: float) -> Composer:
    """One loaded model per checkpoint file version: ``modified`` makes a retrained checkpoint reload."""
    return Composer.load(path)


@st.cache_resource(max_entries=4)
def warm_up(path: str, modified: float, _composer: Composer) -> threading.Thread:
    """Compile the sampler for the page's default settings and usual lengths, once per model version for every
    session, in a thread of its own: the first Compose then finds its loop compiled.

    Not a daemon, so TensorFlow is not killed mid-compile at exit: once the server's main thread has ended, it stops
    after the length it is composing.
    """
    settings = {"top_p": PAGE_SAMPLING.top_p, "variations": PAGE_SAMPLING.variations, **_composer.defaults}
    thread = threading.Thread(
        target=_composer.warm_up,
        args=(settings, None, threading.main_thread().is_alive),
        name=f"warm-up {path}",
        daemon=False,
    )
    thread.start()
    return thread


st.title("🎹 Generate")
checkpoints = list_checkpoints()
if not checkpoints:
    st.info("No trained model yet: train one on the Train page (or run `make run`, which ships one).")
    st.stop()
# Chosen by folder under a fixed key: a training run's label changes with each validation, which must not
# reset the choice while the page is open.
by_path = {str(checkpoint.path): checkpoint for checkpoint in checkpoints}
info = by_path[st.selectbox("Model", list(by_path), format_func=lambda path: by_path[path].label, key="model")]
figure = f"{info.monitor_label} {info.val_loss:.3f}" if info.val_loss is not None else "not validated"
st.caption(
    f"{plain(info.model)} on {plain(info.dataset)} ({plain(info.representation)}) · {figure} · "
    f"{info.epochs} epochs · saved {info.created:%Y-%m-%d}" + (" · shipped" if info.shipped else "")
)
if not may_compose():  # loading a model costs memory and seconds: not for visitors who cannot compose
    sign_in_form("Composing", "compose")
    st.stop()
try:
    modified = info.folder.model.stat().st_mtime
    composer = load_composer(str(info.path), modified)
except NeuroTuneError as error:
    show_error(error)
    st.stop()
if get_settings().warm_up:
    warm_up(str(info.path), modified, composer)


@st.fragment
def compose_panel() -> None:
    """Choices on the left, Compose under them, the pieces on the right where the eye is."""
    key = str(info.path)  # widgets per checkpoint: each model starts from its own measured defaults
    choices, results = st.columns([2, 3], gap="large")
    with choices:
        musical, chosen_key = musical_choices(composer, info, key)
        basic = st.container()  # boldness and pieces above Compose; their strategy's knobs under Advanced
        pressed = st.button("Compose", type="primary", width="stretch")
        advanced = st.expander("Advanced")
        with basic:
            sampling = sampling_choices(composer, key, advanced)
        with advanced:
            rules, chosen_key = advanced_choices(composer, key, chosen_key)
        primer = None
        if composer.head.primed:  # a GAN writes every note from noise at once: nothing to continue
            with st.expander("Continue from a primer"):
                primer = primer_choice(key)
        if composer.info.config.compose_defaults:
            st.caption("Starts from the settings measured to sound closest to this model's training music.")
    key_settings = chosen_key.settings(composer.conditioning is not None)
    settings = {**composer.defaults, **sampling, **musical, **rules, **key_settings}
    fingerprint = compositions.fingerprint(settings, primer.fingerprint if primer else ())
    with results:
        if pressed:
            try:
                primer_notes = primer.notes(composer, info) if primer else None
                request = CompositionRequest.from_settings(settings, primer=primer_notes)
                with st.spinner("Composing..."):
                    result = composer.compose(request)
                    # Kept before anything is drawn: a rerun from here on (another model chosen) loses nothing.
                    compositions.remember(compositions.Composed.of(key, fingerprint, request, result))
            except NeuroTuneError as error:
                compositions.forget()
                show_error(error)
        composed = compositions.current(key)
        if composed is None:
            if not pressed:
                st.caption("Your pieces appear here.")
            return
        library = compositions.show(composed, info.name, stale=composed.fingerprint != fingerprint)
        compositions.save(composer, composed, info.name, library)


compose_panel()
