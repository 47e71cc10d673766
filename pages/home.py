"""Landing page: what NeuroTune is and what each page does. Must stay fast: no TensorFlow here."""

import streamlit as st

from core.access import mask_url
from core.settings import get_settings
from ui.auth import is_admin
from ui.text import plain

st.title("🎼 NeuroTune")
st.markdown(
    "A workbench for music generation: bring your own MIDI or start from a bundled corpus, "
    "train deep sequence models on it, compose new pieces, listen to them and judge them."
)

st.subheader("Pages")
st.page_link("pages/dataset.py", label="**Dataset**", icon="📚")
st.markdown(
    "Turn raw MIDI into a training set: pick a bundled corpus (Bach chorales, Irish folk tunes, "
    "Essen folk songs) or upload `.mid` files or a `.zip` of them. Every file is checked and each "
    "rejection says why; the rest are quantized, normalized and stored in five representations "
    "(melody, performance events, piano roll, chords, note features). Explore the statistics, look at a "
    "piece's piano roll, listen to it and download it."
)
st.page_link("pages/train.py", label="**Train**", icon="🏋️")
st.markdown(
    "Pick a dataset and a model (RNN, LSTM, LSTM with attention, Transformer), set the training options "
    "(learning-rate warm-up and decay, AdamW weight decay, gradient clipping, early stopping, transposition "
    "augmentation, curriculum learning) and press Start. Each run trains in its own process on the GPU when "
    "there is one; watch its loss curves live, stop it, resume it, and compare runs."
)
st.page_link("pages/generate.py", label="**Generate**", icon="🎹")
st.markdown(
    "Pick a trained model (two come with NeuroTune: one on the Bach chorales, one on Irish fiddle tunes), "
    "choose greedy decoding, sampling with temperature, top-k and top-p, or beam search, start from nothing, "
    "a dataset excerpt, your own MIDI file or a few typed notes, steer style, mood, key and note density, set "
    "length, tempo and an instrument per voice, and press Compose. Each variation comes with a piano roll, "
    "audio, MIDI/WAV/OGG downloads and its metrics, and is saved to the library for listening tests."
)
st.page_link("pages/library.py", label="**Library**", icon="🗂️")
st.markdown(
    "Every composed piece, kept with the model and settings that made it: filter by model, dataset, date, title "
    "or setting, look at a piece's piano roll, play it, read its metrics, download it as MIDI, WAV or OGG (or a "
    "selection as one zip), and rename or delete it."
)
st.page_link("pages/evaluate.py", label="**Evaluate**", icon="📊")
st.markdown(
    "Which model writes music closest to the real thing, and does it beat trivial baselines? Pick a dataset "
    "and models and press Evaluate: in the background each model composes pieces that are measured against "
    "the data beside held-out real pieces, a Markov chain and random notes. Read the leaderboard, charts of "
    "every metric with 95% intervals, histograms of generated against real, and the pieces that copy the data."
)
st.page_link("pages/surveys.py", label="**Listening tests**", icon="🎧")
st.markdown(
    "Do people hear the difference? Build a blind survey from generated pieces in the library, with real pieces "
    "of a dataset hidden among them as the reference, and share its link: each participant hears the clips in "
    "their own random order, plays each to its end before rating it, and sees no other page. Read mean opinion "
    "scores with 95% intervals, how often each system passed for human, A/B preferences with their tests and "
    "listener screening, live while the survey runs, and export every answer as CSV or JSON. Organizing needs "
    "the admin password."
)

settings = get_settings()
if is_admin():  # server paths are nobody else's business
    with st.expander("Where NeuroTune keeps things"):
        st.markdown(
            f"- Data folder (`NEUROTUNE_HOME`): {plain(settings.home)}\n"
            f"- Database (`NEUROTUNE_DB_URL`, password hidden): {plain(mask_url(settings.db_url))}\n"
            f"- Checkpoints (`NEUROTUNE_CHECKPOINTS`): {plain(settings.checkpoints)}\n"
            f"- Changes (building, training, deleting{'' if settings.open_compose else ', composing'}): "
            + ("need the admin password" if settings.admin_password else "open: the app serves this machine only")
        )
