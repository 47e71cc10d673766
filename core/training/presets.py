"""Named starting points for a training run, said in plain words: a model, its options and a TrainConfig.

As magenta's named configs (``basic_rnn``, ``attention_rnn``): one dict, :data:`PRESETS`, that the Train
page offers as its first choice. Every preset trains the LSTM: the three shipped sequence checkpoints
(``bach-lstm``, ``irish-lstm``, ``bach-chords``) are LSTMs, the measured best here, and the README's
recipes for them are where *Best for this dataset* comes from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.config import TrainConfig
from core.data.datasets import Dataset
from core.errors import ConfigError
from core.models import get_model_spec, make_config
from core.training.trainer import estimate_total_steps

# The model the Train page starts on: the architecture of every shipped sequence checkpoint.
DEFAULT_MODEL = "lstm"

# *Best for this dataset*: the shipped LSTMs learned for about 1,700-1,800 optimizer steps (bach-lstm 50 epochs
# of 34 steps, irish-lstm 12 epochs of 150). A dataset gets epochs enough for that many steps, within these
# bounds; an epoch is cut at EPOCH_STEPS_CAP steps, so that a large dataset is still validated and saved often.
TARGET_STEPS = 1800
EPOCHS_RANGE = (10, 100)
EPOCH_STEPS_CAP = 150


@dataclass(frozen=True)
class Preset:
    """A named training recipe.

    Attributes:
        name: Registry key.
        title: Short label for the page's choice.
        description: What it is for and what it costs, in a sentence or two.
        model: Registry name of the model it trains.
        model_options: Fields of the model's config that differ from its defaults.
        train: The training config (for a preset fitted to the dataset, before fitting).
        fit_to_dataset: Whether :meth:`train_for` sets the epochs by the dataset's size.
    """

    name: str
    title: str
    description: str
    model: str
    model_options: Mapping[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    fit_to_dataset: bool = False

    def model_config(self) -> Any:
        """The model's full config: its defaults with :attr:`model_options` applied."""
        return make_config(self.model, dict(self.model_options))

    def train_for(self, dataset: Dataset | None = None, representation: str | None = None) -> TrainConfig:
        """The training config for ``dataset`` read as ``representation`` (the model's first by default).

        A preset fitted to the dataset counts one pass over the dataset's training windows and sets
        the epochs (and the steps per epoch of a large dataset) so that the run takes about
        :data:`TARGET_STEPS` steps; without a dataset it is :attr:`train` as it stands.
        """
        if not self.fit_to_dataset or dataset is None:
            return self.train
        representation = representation or get_model_spec(self.model).representations[0]
        one_pass = estimate_total_steps(dataset, representation, dataclasses.replace(self.train, epochs=1))
        epoch_steps = min(one_pass, EPOCH_STEPS_CAP)
        low, high = EPOCHS_RANGE
        epochs = min(max(math.ceil(TARGET_STEPS / epoch_steps), low), high)
        return dataclasses.replace(
            self.train, epochs=epochs, steps_per_epoch=EPOCH_STEPS_CAP if one_pass > EPOCH_STEPS_CAP else 0
        )


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "quick",
            "Quick test",
            "A small LSTM for two short epochs: a minute or two, to check that the dataset and the settings "
            "work. Its music will be poor.",
            DEFAULT_MODEL,
            {"embedding_dim": 32, "units": 64, "layers": 1},
            TrainConfig(
                epochs=2,
                batch_size=32,
                seq_len=64,
                warmup_steps=10,
                early_stopping_patience=0,
                steps_per_epoch=25,
                validation_steps=5,
                log_every_steps=5,
            ),
        ),
        Preset(
            "good",
            "Good",
            "A two-layer LSTM of 256 units for up to 20 epochs, stopping once the validation loss stops "
            "improving: a solid model for melodies in reasonable time.",
            DEFAULT_MODEL,
        ),
        Preset(
            "best",
            "Best for this dataset",
            "The recipe of the shipped Bach and Irish checkpoints: a two-layer LSTM of 256 units on long windows, "
            f"trained for about {TARGET_STEPS:,} steps (the epochs follow the dataset's size) with transposition, "
            "stopping early once it stops improving. The slowest; estimate its time first.",
            DEFAULT_MODEL,
            {"embedding_dim": 128, "units": 256, "layers": 2, "dropout": 0.25},
            TrainConfig(
                batch_size=32,
                seq_len=256,
                learning_rate=0.002,
                warmup_steps=100,
                transpose_semitones=4,
                early_stopping_patience=5,
            ),
            fit_to_dataset=True,
        ),
    )
}
DEFAULT_PRESET = "good"


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        ConfigError: For an unknown name, listing the valid ones.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
