"""Training: the trainer (Keras fit with our callbacks), devices, and background jobs."""
