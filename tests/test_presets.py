"""Training presets and the form metadata of the training and model configs."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import TrainConfig
from core.errors import ConfigError
from core.models import MODELS
from core.training import presets
from core.training.presets import PRESETS, get_preset
from tests.conftest import tiny_dataset


def test_the_default_preset_trains_the_lstm_with_the_default_settings():
    good = get_preset(presets.DEFAULT_PRESET)
    assert good.model == presets.DEFAULT_MODEL == "lstm"
    assert good.train == TrainConfig() and good.model_config() == MODELS["lstm"].config_class()
    assert all(preset.model in MODELS and preset.title and preset.description for preset in PRESETS.values())
    with pytest.raises(ConfigError, match="unknown preset 'fast'; choose one of quick, good, best"):
        get_preset("fast")


@pytest.mark.parametrize(
    ("one_pass", "epochs", "steps_per_epoch"),
    [
        (1, 100, 0),  # a tiny dataset: as many epochs as allowed; early stopping ends it
        (34, 53, 0),  # the Bach chorales at bach-lstm's settings: ~1,800 steps, as bach-lstm took
        (400, 12, 150),  # a large dataset: epochs cut to 150 steps, validated and saved often
        (900, 12, 150),
    ],
)
def test_best_for_this_dataset_takes_about_1800_steps(monkeypatch, one_pass, epochs, steps_per_epoch):
    counted = []

    def one_pass_of(dataset, representation, train):
        counted.append((representation, train.epochs, train.batch_size, train.seq_len))
        return one_pass * train.epochs

    monkeypatch.setattr(presets, "estimate_total_steps", one_pass_of)
    best = get_preset("best")
    train = best.train_for(object(), "events")
    assert (train.epochs, train.steps_per_epoch) == (epochs, steps_per_epoch)
    assert counted == [("events", 1, 32, 256)]  # one pass at the preset's own batch and window
    assert dataclasses.replace(train, epochs=best.train.epochs, steps_per_epoch=0) == best.train
    assert best.train_for(None) == best.train  # no dataset yet: the recipe as it stands


def test_best_for_this_dataset_reads_the_real_windows():
    dataset = tiny_dataset()  # eight short scales: one batch per pass
    assert get_preset("best").train_for(dataset).epochs == presets.EPOCHS_RANGE[1]
    assert get_preset("quick").train_for(dataset) == get_preset("quick").train  # not fitted


def _config_classes() -> list[type]:
    return [TrainConfig, *dict.fromkeys(spec.config_class for spec in MODELS.values())]


@pytest.mark.parametrize("config_class", _config_classes(), ids=lambda cls: cls.__name__)
def test_every_setting_has_a_plain_label_and_help_and_its_default_fits_its_bounds(config_class):
    defaults = config_class()
    for field in dataclasses.fields(config_class):
        meta, default = field.metadata, getattr(defaults, field.name)
        assert meta.get("label") and "_" not in meta["label"], field.name
        assert meta.get("help"), field.name
        assert meta.get("min", default) <= default <= meta.get("max", default), field.name
        assert "choices" not in meta or default in meta["choices"], field.name


def test_the_machine_learning_knobs_are_advanced_and_the_run_shaping_ones_are_not():
    advanced = {field.name for field in dataclasses.fields(TrainConfig) if field.metadata.get("advanced")}
    assert {"learning_rate", "batch_size", "warmup_steps", "weight_decay", "clip_norm", "decay"} <= advanced
    assert not advanced & {"epochs", "seq_len", "early_stopping_patience", "transpose_semitones", "conditioning"}
    transpose = next(field for field in dataclasses.fields(TrainConfig) if field.name == "transpose_semitones")
    assert [transpose.metadata["format"](n) for n in (-1, 0, 3)] == [
        "As the dataset was built",
        "Off",
        "Up to ±3 semitones",
    ]
