"""NeuroTune's engine: data, models, training, generation, audio and evaluation.

Never imports streamlit; usable from the CLI (``python -m core``) and notebooks.
TensorFlow is imported only by the modules that need it, so that importing
``core`` stays cheap for the landing page.
"""
