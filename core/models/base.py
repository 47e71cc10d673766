"""What every architecture shares without importing Keras: the input spec and the step decoder contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from core.config import check_config
from core.errors import CheckpointError
from core.models.heads import HEADS

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from core.models.heads import TaskHead

KINDS = ("tokens", "frames", "features")
# How core.models.layers.CausalAttention scores a step against another.
ATTENTION_SCORES = ("additive", "dot")


@dataclass(frozen=True)
class InputSpec:
    """What the data gives a model.

    Attributes:
        kind: ``"tokens"`` (int ids, shape=(batch, time)), ``"frames"`` (multi-hot
            floats, shape=(batch, time, pitches)) or ``"features"`` (continuous note
            features, shape=(batch, notes, 4): the GANs).
        size: Vocabulary size (tokens), number of pitches (frames) or features per note;
            also the width of the model's output.
        max_length: Longest sequence the model will see; it bounds the transformer's
            learned positions. Recurrent models ignore it.
        control_prefix: Number of leading control tokens (tokens only; 0: none); their
            embeddings reach every later step (:class:`core.models.layers.ControlBroadcast`).
    """

    kind: str
    size: int
    max_length: int
    control_prefix: int = 0

    def __post_init__(self) -> None:
        check_config(
            [
                (self.kind in KINDS, f"input kind must be one of {', '.join(KINDS)}, got {self.kind!r}"),
                (self.size >= 1, f"input size must be positive, got {self.size}"),
                (self.max_length >= 1, f"max_length must be positive, got {self.max_length}"),
                (
                    self.control_prefix == 0
                    or (self.kind in HEADS and HEADS[self.kind].controls and 0 < self.control_prefix < self.max_length),
                    f"control prefix must be 0 or, for tokens, shorter than max_length; got {self.control_prefix}",
                ),
            ]
        )


class StepDecoder:
    """One step of a trained sequence model: what the samplers of :mod:`core.generation.sampling` run.

    Every method is plain TensorFlow and runs inside the compiled sampling loops.
    States are flat tuples of tensors, so that ``tf.while_loop`` can carry them and
    beam search can reorder them.

    Attributes:
        kind: ``"tokens"`` (inputs are int ids, shape=(batch,)) or ``"frames"``
            (multi-hot floats, shape=(batch, pitches)).
        size: Width of the logits: vocabulary size or pitches.
        max_length: Longest sequence the decoder can run, or None for no limit.
    """

    kind: str = "tokens"
    size: int = 0
    max_length: int | None = None

    def initial_state(self, batch: tf.Tensor, capacity: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """Zero state for ``batch`` sequences of at most ``capacity`` steps."""
        raise NotImplementedError

    def state_batch_axes(self) -> tuple[int, ...]:
        """The batch axis of each state tensor, for :meth:`reorder`."""
        raise NotImplementedError

    def step(self, inputs: tf.Tensor, state: tuple, position: tf.Tensor) -> tuple[tf.Tensor, tuple]:
        """Logits of the step after ``inputs`` (shape=(batch, size), float32) and the new state."""
        raise NotImplementedError

    @property
    def head(self) -> TaskHead:
        """The task head of :attr:`kind`: how the next step is picked from the logits (:meth:`TaskHead.pick`)."""
        return HEADS[self.kind]

    def reorder(self, state: tuple, indices: tf.Tensor) -> tuple:
        """The state of the sequences ``indices`` (beam search keeps the best beams' states)."""
        import tensorflow as tf

        return tuple(tf.gather(part, indices, axis=axis) for part, axis in zip(state, self.state_batch_axes()))


class ModelStep(StepDecoder):
    """The cached forward pass of a model built by :func:`core.models.build_model`, one step at a time.

    It reuses the model's own layers, so weights are never copied and a step gives
    the logits of the full forward pass (tested for every architecture). This class
    steps what every architecture shares: the head's input projection, the
    controls (:class:`core.models.layers.ControlBroadcast`, whose running sum is the
    last state tensor) and the logits layer. Each architecture subclasses it next to
    its builder, in its own module, and registers it as ``ModelSpec.decoder``; it
    implements :meth:`_core_state`, :meth:`_core_axes` and :meth:`_core_step` for the
    layers in between.

    The layers are found once, here, by type and graph order, not held as attributes
    of a model class nor looked up by name: every checkpoint is a plain functional
    ``keras.Model`` (``model.keras``), as the shipped ones were saved, and a model
    subclass would load only once its class is registered and would still need this
    path for every file saved before it. The builder's graph is thus the contract
    between an architecture's two passes, both in its own module.

    Raises:
        CheckpointError: A model whose graph is not the one its architecture builds.
    """

    def __init__(self, model: keras.Model):
        import keras

        from core.models.layers import ControlBroadcast

        self.model = model
        self.layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        # The head whose input the model takes (tokens: int ids, frames: floats).
        dtype = "int32" if model.inputs[0].dtype in ("int32", "int64") else model.inputs[0].dtype
        kinds = [head.kind for head in HEADS.values() if head.dtype == dtype]
        if not kinds:
            self._mismatch(f"takes {dtype} inputs")
        self.kind = kinds[0]
        self.projection = self.layers[0]
        self.logits = self.layers[-1]
        self.size = int(self.logits.units)
        self.broadcast = self._optional(ControlBroadcast)

    def _all(self, layer_type: type | tuple[type, ...]) -> list:
        """The model's layers of ``layer_type``, in graph order (inputs first)."""
        return [layer for layer in self.layers if isinstance(layer, layer_type)]

    def _optional(self, layer_type: type) -> keras.layers.Layer | None:
        """The model's one layer of ``layer_type``, or None without one."""
        found = self._all(layer_type)
        if len(found) > 1:
            self._mismatch(f"has {len(found)} {layer_type.__name__} layers")
        return found[0] if found else None

    def _one(self, layer_type: type) -> keras.layers.Layer:
        """The model's one layer of ``layer_type``."""
        found = self._optional(layer_type)
        if found is None:
            self._mismatch(f"has no {layer_type.__name__} layer")
        return found

    def _mismatch(self, reason: str) -> NoReturn:
        raise CheckpointError(f"the {self.model.name} model {reason}: it was not built by this version's builder")

    def initial_state(self, batch, capacity):
        import tensorflow as tf

        state = self._core_state(batch, capacity)
        if self.broadcast is None:
            return state
        return (*state, tf.zeros((batch, self.projection.output_dim)))

    def state_batch_axes(self):
        return self._core_axes() + ((0,) if self.broadcast is not None else ())

    def step(self, inputs, state, position):
        hidden = self.projection(inputs[:, None])[:, 0]
        if self.broadcast is None:
            return self._core_step(hidden, state, position)
        hidden, controls = self.broadcast.step(hidden, state[-1], position)
        logits, core_state = self._core_step(hidden, state[:-1], position)
        return logits, (*core_state, controls)

    def _core_state(self, batch, capacity) -> tuple:
        raise NotImplementedError

    def _core_axes(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _core_step(self, hidden, state: tuple, position) -> tuple:
        """Logits and new state from the step's projected input, shape=(batch, width)."""
        raise NotImplementedError
