"""The model registry: named architectures, their configs, and building them.

Importing this package, listing models and making configs stay cheap: no
TensorFlow or Keras is imported until :func:`build_model` imports an
architecture's builder. Every sequence model maps a sequence to per-step logits
of the next step, shape=(batch, time, size), for any ``time`` (up to the
transformer's ``max_length`` with learned positions), and runs one step at a
time through its architecture's step decoder (:attr:`ModelSpec.decoder`). The
GANs (``crnn_gan``, ``rnn_gan``) instead generate whole sequences of note
features from noise and train themselves (:mod:`core.models.gan`). What depends
on the kind of sequence (tokens, frames or features) is the task head's
(:mod:`core.models.heads`).

Saved models load without ``custom_objects`` once :mod:`core.models.layers` has
been imported (it registers the custom layers)::

    import keras

    import core.models.layers  # noqa: F401

    model = keras.models.load_model(path)
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.config import DataConfig
from core.data.representations import get_representation
from core.errors import ConfigError
from core.models.base import InputSpec, StepDecoder
from core.models.gan import CRNNGANConfig, NoiseDecoder, RNNGANConfig
from core.models.heads import HEADS, TaskHead, head_for
from core.models.lstm import LSTMConfig
from core.models.lstm_attention import AttentionLSTMStep, LSTMAttentionConfig
from core.models.rnn import RecurrentStep, RNNConfig
from core.models.transformer import TransformerConfig, TransformerStep

if TYPE_CHECKING:
    import keras

__all__ = [
    "HEADS",
    "MODELS",
    "InputSpec",
    "ModelSpec",
    "TaskHead",
    "build_model",
    "get_model_spec",
    "head_for",
    "head_for_representation",
    "input_spec_for",
    "list_models",
    "make_config",
]

SEQUENCE_REPRESENTATIONS = ("melody", "events", "pianoroll", "chords")
FEATURE_REPRESENTATIONS = ("notes",)


@dataclass(frozen=True)
class ModelSpec:
    """One architecture the app offers.

    Attributes:
        name: Registry key.
        title: Short label for selectors.
        description: One or two sentences for the UI.
        config_class: The architecture's config dataclass.
        builder: ``"module:function"`` taking ``(config, InputSpec)``, imported lazily.
        decoder: How the architecture composes: called with a built or loaded model, it returns
            its :class:`core.models.base.StepDecoder` (a GAN's generates whole sequences).
        representations: Dataset representations the model takes.
    """

    name: str
    title: str
    description: str
    config_class: type
    builder: str
    decoder: type[StepDecoder]
    representations: tuple[str, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        """Input kinds of :attr:`representations`, in order, without repeats."""
        kinds = (get_representation(name, DataConfig()).kind for name in self.representations)
        return tuple(dict.fromkeys(kinds))

    @property
    def trains_itself(self) -> bool:
        """Whether the model brings its own training step (a GAN): it has no next-step logits and no step decoder,
        so what measures or drives those (teacher forcing, incremental decoding benchmarks) leaves it out."""
        return any(HEADS[kind].own_train_step for kind in self.kinds)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "rnn",
            "Simple RNN",
            "Stacked vanilla recurrent layers: the fastest baseline, with a short memory.",
            RNNConfig,
            "core.models.rnn:build_rnn",
            RecurrentStep,
            SEQUENCE_REPRESENTATIONS,
        ),
        ModelSpec(
            "lstm",
            "LSTM",
            "Stacked LSTM layers, as Magenta's basic_rnn: a solid default for melodies.",
            LSTMConfig,
            "core.models.lstm:build_lstm",
            RecurrentStep,
            SEQUENCE_REPRESENTATIONS,
        ),
        ModelSpec(
            "lstm_attention",
            "LSTM with attention",
            "An LSTM that also looks back over its recent outputs, as Magenta's attention_rnn: "
            "better at repeating motifs.",
            LSTMAttentionConfig,
            "core.models.lstm_attention:build_lstm_attention",
            AttentionLSTMStep,
            SEQUENCE_REPRESENTATIONS,
        ),
        ModelSpec(
            "transformer",
            "Transformer",
            "A decoder-only transformer with causal self-attention: best at long-range structure, needs the most data.",
            TransformerConfig,
            "core.models.transformer:build_transformer",
            TransformerStep,
            SEQUENCE_REPRESENTATIONS,
        ),
        ModelSpec(
            "crnn_gan",
            "C-RNN-GAN",
            "A GAN on continuous note features: noise through Conv1D blocks (motifs, chord shapes) and LSTMs, "
            "judged by a Conv1D + BiLSTM discriminator, as Mogren's C-RNN-GAN.",
            CRNNGANConfig,
            "core.models.gan:build_crnn_gan",
            NoiseDecoder,
            FEATURE_REPRESENTATIONS,
        ),
        ModelSpec(
            "rnn_gan",
            "RNN-GAN",
            "The C-RNN-GAN without its convolutional front: noise straight into the LSTMs (the ablation).",
            RNNGANConfig,
            "core.models.gan:build_rnn_gan",
            NoiseDecoder,
            FEATURE_REPRESENTATIONS,
        ),
    )
}


def list_models() -> list[ModelSpec]:
    """Every registered model, in registry order."""
    return list(MODELS.values())


def head_for_representation(representation: str) -> TaskHead:
    """The task head of a representation's kind: what a run or checkpoint of it logs, monitors and composes by.

    The kind does not depend on the dataset's config, so a run record's representation name is enough.

    Raises:
        ConfigError: For an unknown representation.
    """
    return head_for(get_representation(representation, DataConfig()).kind)


def get_model_spec(name: str) -> ModelSpec:
    """The registered model called ``name``.

    Raises:
        ConfigError: For an unknown name, listing the valid ones.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def make_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The config of model ``name``: its defaults with ``overrides`` applied.

    Values are checked against the type of each field's default (ints accepted
    for floats, so JSON round-trips work), then the config validates its ranges.

    Raises:
        ConfigError: For an unknown model, an unknown key, a value of the wrong
            type or out of range.
    """
    spec = get_model_spec(name)
    fields = {field.name: field for field in dataclasses.fields(spec.config_class)}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {name} setting(s) {', '.join(unknown)}; valid settings: {', '.join(fields)}")
    for key, value in overrides.items():
        overrides[key] = _checked_type(name, key, value, type(fields[key].default))
    return spec.config_class(**overrides)


def _checked_type(model: str, key: str, value: Any, expected: type) -> Any:
    """``value`` as the ``expected`` type of a config field (int, float or str)."""
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not expected:
        raise ConfigError(f"{model} setting {key} must be {expected.__name__}, got {value!r}")
    return value


def build_model(name: str, config: Any, spec: InputSpec) -> keras.Model:
    """Build model ``name`` for inputs described by ``spec``; imports Keras.

    Returns:
        An uncompiled ``keras.Model`` from shape=(batch, time) int ids (tokens) or
        shape=(batch, time, pitches) floats (frames) to float32 logits,
        shape=(batch, time, spec.size); for a GAN (features), a
        :class:`core.models.adversarial.AdversarialComposer`.

    Raises:
        ConfigError: For an unknown model, a config of another model, or an input
            kind the model does not take.
    """
    model_spec = get_model_spec(name)
    if not isinstance(config, model_spec.config_class):
        raise ConfigError(f"the {name} model needs a {model_spec.config_class.__name__}, got {type(config).__name__}")
    if spec.kind not in model_spec.kinds:
        raise ConfigError(f"the {name} model takes {' or '.join(model_spec.kinds)}, not {spec.kind}")
    module_name, function_name = model_spec.builder.split(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    return builder(config, spec)


def input_spec_for(representation: str, data_config: DataConfig, max_length: int) -> InputSpec:
    """Describe the model input of a dataset representation.

    Args:
        representation: A representation name, e.g. ``"melody"``.
        data_config: The dataset's config, which sets vocabulary and pitch counts.
        max_length: Longest window the model will see.

    Raises:
        ConfigError: For an unknown representation or one no registered model takes.
    """
    encoded = get_representation(representation, data_config)
    accepted = list(dict.fromkeys(name for spec in MODELS.values() for name in spec.representations))
    if representation not in accepted:
        raise ConfigError(
            f"no model takes the {representation} representation ({encoded.kind}); choose one of {', '.join(accepted)}"
        )
    return InputSpec(encoded.kind, encoded.size, max_length)
