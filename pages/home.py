"""Landing page: what NeuroTune is and what each page does. Must stay fast: no TensorFlow here."""

import streamlit as st

from core.settings import get_settings

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
    "rejection says why; the rest are quantized, normalized and stored in four representations "
    "(melody, performance events, piano roll, note features). Explore the statistics, look at a "
    "piece's piano roll, listen to it and download it."
)
st.page_link("pages/train.py", label="**Train**", icon="🏋️")
st.markdown(
    "Pick a dataset and a model (RNN, LSTM, LSTM with attention, Transformer), set the training options "
    "(learning-rate warm-up and decay, AdamW weight decay, gradient clipping, early stopping, transposition "
    "augmentation, curriculum learning) and press Start. Each run trains in its own process on the GPU when "
    "there is one; watch its loss curves live, stop it, resume it, and compare runs."
)

settings = get_settings()
with st.expander("Where NeuroTune keeps things"):
    st.markdown(
        f"- Data folder (`NEUROTUNE_HOME`): `{settings.home}`\n"
        f"- Database (`NEUROTUNE_DB_URL`): `{settings.db_url}`\n"
        f"- Checkpoints (`NEUROTUNE_CHECKPOINTS`): `{settings.checkpoints}`"
    )
