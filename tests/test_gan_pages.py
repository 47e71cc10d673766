"""The GANs on the pages (AppTest): the Train page draws a live GAN run's curves, the Generate page composes with
the shipped GAN from noise, and only a model's own strategies are offered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.checkpoints import SHIPPED_CHECKPOINTS, checkpoint_info
from core.generation.key_choice import KeyChoice
from core.generation.sampling import form_fields_for, strategies_for
from core.store import runs as run_store
from core.store.library import list_pieces
from core.training import jobs
from tests.conftest import tiny_dataset

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
SHIPPED_GAN = SHIPPED_CHECKPOINTS / "bach-gan"
TINY_GAN = {"units": 8, "layers": 1, "noise_dim": 4, "discriminator_filters": 8, "discriminator_units": 8}


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def _chart(at: AppTest, title: str):
    """The Plotly chart whose spec holds ``title``, or None."""
    return next((chart for chart in at.get("plotly_chart") if title in chart.proto.spec), None)


def test_a_model_is_offered_only_the_strategies_of_its_kind():
    assert "noise" not in strategies_for("tokens") and "noise" not in strategies_for("frames")
    assert strategies_for("features") == ["noise"]
    skipped, overrides = form_fields_for("features")
    # One strategy: no selector; no token knobs; the temperature is the noise's truncation.
    assert {"strategy", "top_k", "top_p", "beam_width", "length_penalty"} == set(skipped)
    assert overrides["temperature"]["label"] == "Truncation" and overrides["seed"]["label"] == "Noise seed"


def test_train_page_starts_a_gan_run_and_draws_its_curves():
    tiny_dataset()
    at = _app().run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    next(s for s in at.selectbox if s.label == "Model").set_value("crnn_gan").run()
    assert next(s for s in at.selectbox if s.label == "Representation").value == "notes"
    options = {**TINY_GAN, "conv_filters": 8, "conv_blocks": 1}
    for key, value in {
        **{f"model-crnn_gan-{name}": value for name, value in options.items()},
        "train-epochs": 20,
        "train-seq_len": 16,
        "train-batch_size": 8,
        "train-steps_per_epoch": 2,
        "train-validation_steps": 1,
        "train-log_every_steps": 1,
    }.items():
        at.number_input(key=key).set_value(value)
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception, at.exception
    assert any("is running" in s.value for s in at.success), [e.value for e in at.error]
    run = run_store.list_runs()[0]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the first epoch is validated
            if {"d_loss", "val_feature_distance"} <= {row["name"] for row in run_store.get_metrics([run.id])}:
                break
            time.sleep(0.5)
        at.run()  # the live fragment redraws from the store
        assert not at.exception, at.exception
        assert any(m.label == "Best feature distance to validation" for m in at.metric)
        for title, curve in (
            ("Generator and discriminator loss", "d_loss"),
            ("Discriminator accuracy", "d_real_acc"),
            ("Validation: distance and diversity", "val_diversity"),
        ):
            chart = _chart(at, title)
            assert chart is not None, f"the live chart {title!r} should be drawn"
            spec = chart.proto.spec.replace(" ", "")
            assert f'"name":"{curve}"' in spec and '"x":[' in spec
        assert _chart(at, '"text":"Accuracy"') is None  # a GAN has no token accuracy
    finally:
        jobs.request_stop(run.id)
        while run_store.get_run(run.id).status == "running" and time.monotonic() < deadline + 60:
            time.sleep(0.5)


@pytest.mark.skipif(not SHIPPED_GAN.is_dir(), reason="checkpoints/bach-gan is not shipped")
def test_generate_page_composes_with_the_shipped_gan_from_noise():
    info = checkpoint_info(SHIPPED_GAN)
    at = _app().run()
    at.switch_page("pages/generate.py").run()
    choices = at.selectbox[0].options
    at.selectbox[0].select_index(next(i for i, label in enumerate(choices) if label.startswith("bach-gan"))).run()
    assert not at.exception, at.exception
    assert any(
        c.value.startswith(f"crnn\\_gan on bach (notes) · feature distance to validation {info.val_loss:.3f}")
        for c in at.caption
    )  # escaped markdown
    # Noise, not tokens: no strategy selector, no primer, no steering; truncation and a noise seed instead.
    labels = {widget.label for widget in [*at.selectbox, *at.number_input, *at.radio, *at.slider]}
    assert not labels & {"Strategy", "Top-k (0: off)", "Continue from", "Keep to the key and density", "Mood"}
    assert {"Truncation", "Noise seed", "Pieces", "Tempo (BPM)", "Voice 1 instrument", "Key"} <= labels
    assert not any(e.label == "Continue from a primer" for e in at.expander)
    next(n for n in at.number_input if n.label == "Truncation").set_value(0.8)
    next(n for n in at.number_input if n.label == "Noise seed").set_value(3)
    next(n for n in at.number_input if n.label == "Pieces").set_value(2)
    next(s for s in at.selectbox if s.label == "Key").set_value(KeyChoice("C", "major"))
    next(c for c in at.checkbox if c.label == "Rest at phrase ends (every 4 bars)").check()
    next(b for b in at.button if b.label == "Compose").click().run(timeout=120)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert sum(1 for m in at.markdown if m.value.startswith("**Variation")) == 2
    players = [e for e in at.main if e.type == "bidi_component"]
    assert [p.proto.component_name for p in players] == ["neurotune.piano_roll_player"] * 2
    assert [b.label for b in at.get("download_button")].count("Download MIDI") == 2
    assert at.dataframe[0].value["metric"].str.contains("Pitch range").any()
    saved = list_pieces(limit=2)
    assert [piece.model for piece in saved] == ["crnn_gan", "crnn_gan"]
    assert saved[0].parameters["sampling"]["strategy"] == "noise"
    assert saved[0].parameters["sampling"]["temperature"] == 0.8
    assert saved[0].parameters["post"]["scale"] == "C major"
