"""Logit processors: the rules a compiled sampling loop applies, in order, to each step's logits.

Each processor is a small class called inside the ``tf.while_loop`` as
``processor(logits, step) -> logits`` (shape=(batch, vocab) in and out).
:data:`PROCESSORS` are the rules of what may come next, kept by every token
sampler (greedy, sampling, beam search); :data:`WARPERS` reshape the
distribution a random draw is taken from, so only sampling applies them.
Adding a processor is one class and one entry in either list; its place in the
list is its place in the order.

Everything a user changes reaches the processors as tensors in
:class:`Settings`, so no setting recompiles the loop. A processor that must
remember what was written (the note grammar: which pitches sound) carries its
own ``memory`` through the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

    from core.generation.decoding import StepDecoder
    from core.generation.sampling.config import SampleConfig

# Added to logits that may not be chosen (controls, notes against the grammar): far below any real logit, still finite.
BANNED_LOGIT = -1e9
# MIDI pitches whose sounding state the note grammar tracks.
PITCHES = 128


@dataclass(frozen=True)
class Vocabulary:
    """What the token loops know of each token id, padded to the decoder's logits.

    Control tokens past the representation's vocabulary move time by 0 steps and have no pitch.

    Attributes:
        steps: Grid steps each token moves time by, int32 shape=(size,).
        banned: Token ids never written after the prefix (control tokens), int32 shape=(n,).
        note_on_pitch: Pitch each token starts, or -1, int32 shape=(size,).
        note_off_pitch: Pitch each token ends, or -1, int32 shape=(size,).
    """

    steps: np.ndarray
    banned: np.ndarray
    note_on_pitch: np.ndarray
    note_off_pitch: np.ndarray

    @classmethod
    def of(
        cls,
        decoder: StepDecoder,
        token_steps: np.ndarray | None,
        banned: np.ndarray | None = None,
        token_pitches: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Vocabulary | None:
        """The vocabulary of a token decoder; None for a frame decoder (piano rolls have no tokens).

        Args:
            token_steps: Grid steps each token advances time by, shape=(vocab,).
            banned: Token ids never sampled (control tokens).
            token_pitches: ``(note_on_pitch, note_off_pitch)`` as from
                :meth:`core.data.representations.Representation.token_pitches`; None: no note grammar.
        """
        if decoder.kind != "tokens":
            return None
        if token_steps is None:
            raise ValueError("a token decoder needs token_steps: how far each token moves time")
        size = decoder.size

        def padded(values, fill: int) -> np.ndarray:
            values = np.asarray(values, np.int32)
            return np.pad(values, (0, size - len(values)), constant_values=fill)

        note_on, note_off = token_pitches if token_pitches is not None else ((), ())
        return cls(
            steps=padded(token_steps, 0),
            banned=np.asarray(banned if banned is not None else (), np.int32),
            note_on_pitch=padded(note_on, -1),
            note_off_pitch=padded(note_off, -1),
        )


class Settings(NamedTuple):
    """What a user sets, as tensors fed to the compiled loops: changing one compiles nothing.

    Attributes:
        temperature: float32 scalar.
        top_k: int32 scalar; 0: off.
        top_p: float32 scalar; 1: off.
        max_polyphony: int32 scalar; 0: no limit.
        logit_bias: float32, shape=(vocab,): guidance added to every step.
        seed: int64 scalar.
    """

    temperature: tf.Tensor
    top_k: tf.Tensor
    top_p: tf.Tensor
    max_polyphony: tf.Tensor
    logit_bias: tf.Tensor
    seed: tf.Tensor

    @classmethod
    def of(cls, config: SampleConfig, max_polyphony: int, logit_bias: np.ndarray) -> Settings:
        import tensorflow as tf

        return cls(
            temperature=tf.constant(config.temperature, tf.float32),
            top_k=tf.constant(config.top_k, tf.int32),
            top_p=tf.constant(config.top_p, tf.float32),
            max_polyphony=tf.constant(max_polyphony, tf.int32),
            logit_bias=tf.constant(logit_bias, tf.float32),
            seed=tf.constant(config.seed, tf.int64),
        )


class Step(NamedTuple):
    """What a processor sees at one step of the loop.

    Attributes:
        index: int32 scalar, the position of the token the logits follow.
        settings: The user's settings.
        memory: This processor's own state (``()`` for most).
    """

    index: tf.Tensor
    settings: Settings
    memory: Any


class LogitProcessor:
    """One rule on a step's logits, called inside the compiled loop.

    Stateless by default. A processor that remembers what each row wrote returns
    its starting state from :meth:`initial_memory` and updates it in
    :meth:`advance`; tensors in it have the batch on axis 0, so beam search can
    reorder them with its beams.
    """

    @classmethod
    def build(cls, vocabulary: Vocabulary | None) -> LogitProcessor | None:
        """The processor for a decoder's ``vocabulary`` (None: a frame decoder), or None where it has nothing to do."""
        return cls()

    def initial_memory(self, batch: int) -> Any:
        return ()

    def advance(self, memory: Any, tokens: tf.Tensor) -> Any:
        """The memory once each row has written ``tokens`` (int32 ids, shape=(batch,))."""
        return memory

    def __call__(self, logits: tf.Tensor, step: Step) -> tf.Tensor:
        """Logits shape=(batch, vocab), float32, in and out."""
        raise NotImplementedError


# === Rules: what may come next (every token sampler) ===


class BannedTokens(LogitProcessor):
    """Control tokens may start a sequence (the forced prefix) but never be written after it."""

    def __init__(self, vocabulary: Vocabulary):
        import tensorflow as tf

        bias = np.zeros(len(vocabulary.steps), np.float32)
        bias[vocabulary.banned] = BANNED_LOGIT
        self.bias = tf.constant(bias)

    @classmethod
    def build(cls, vocabulary):
        return cls(vocabulary) if vocabulary is not None and len(vocabulary.banned) else None

    def __call__(self, logits, step):
        return logits + self.bias


class LogitBias(LogitProcessor):
    """Key and density guidance: :attr:`Settings.logit_bias` added to every step (beam scores include it)."""

    @classmethod
    def build(cls, vocabulary):
        return cls() if vocabulary is not None else None

    def __call__(self, logits, step):
        return logits + step.settings.logit_bias


class NoteGrammar(LogitProcessor):
    """Which note events may come next, given the pitches sounding.

    A NOTE_OFF may only end a sounding pitch, a NOTE_ON only start a silent one,
    and no NOTE_ON may come while :attr:`Settings.max_polyphony` pitches sound (0:
    no limit). Other tokens are never banned, so a row can always move time on.
    Notes the forced prefix leaves sounding count. Memory: the sounding pitches,
    bool shape=(batch, PITCHES).

    Args:
        note_on_pitch: Pitch each token id starts, or -1, int32 shape=(vocab,).
        note_off_pitch: Pitch each token id ends, or -1, int32 shape=(vocab,).
    """

    def __init__(self, note_on_pitch: np.ndarray, note_off_pitch: np.ndarray):
        import tensorflow as tf

        self.note_on_pitch = tf.constant(note_on_pitch, tf.int32)
        self.note_off_pitch = tf.constant(note_off_pitch, tf.int32)

    @classmethod
    def build(cls, vocabulary):
        # Melody tokens end no pitch explicitly (a melody is monophonic by construction): they need no grammar.
        if vocabulary is None or not (vocabulary.note_off_pitch >= 0).any():
            return None
        return cls(vocabulary.note_on_pitch, vocabulary.note_off_pitch)

    def initial_memory(self, batch):
        import tensorflow as tf

        return tf.zeros((batch, PITCHES), tf.bool)

    def advance(self, sounding, tokens):
        import tensorflow as tf

        # one_hot of -1 is all zeros: tokens without a pitch change nothing.
        ended = tf.one_hot(tf.gather(self.note_off_pitch, tokens), PITCHES) > 0
        started = tf.one_hot(tf.gather(self.note_on_pitch, tokens), PITCHES) > 0
        return (sounding & ~ended) | started

    def bias(self, sounding: tf.Tensor, max_polyphony: tf.Tensor) -> tf.Tensor:
        """:data:`BANNED_LOGIT` for the note events not allowed after ``sounding``, else 0, shape=(batch, vocab)."""
        import tensorflow as tf

        starts, ends = self.note_on_pitch >= 0, self.note_off_pitch >= 0
        start_sounds = tf.gather(sounding, tf.maximum(self.note_on_pitch, 0), axis=1)
        end_sounds = tf.gather(sounding, tf.maximum(self.note_off_pitch, 0), axis=1)
        voices = tf.reduce_sum(tf.cast(sounding, tf.int32), axis=-1, keepdims=True)
        full = (max_polyphony > 0) & (voices >= max_polyphony)
        banned = (starts & (start_sounds | full)) | (ends & ~end_sounds)
        return tf.where(banned, BANNED_LOGIT, 0.0)

    def __call__(self, logits, step):
        return logits + self.bias(step.memory, step.settings.max_polyphony)


# === Warpers: the distribution a draw is taken from (sampling only) ===


class Temperature(LogitProcessor):
    """Logits divided by the temperature: below 1 safer, above 1 wilder (frames too: their Bernoulli logits)."""

    def __call__(self, logits, step):
        import tensorflow as tf

        return logits / tf.cast(step.settings.temperature, logits.dtype)


class TopK(LogitProcessor):
    """Only the k most likely tokens stay; the rest get :data:`BANNED_LOGIT`. k = 0: off (no sort is run)."""

    @classmethod
    def build(cls, vocabulary):
        return cls() if vocabulary is not None else None

    def __call__(self, logits, step):
        import tensorflow as tf

        top_k = tf.cast(step.settings.top_k, tf.int32)
        return tf.cond(top_k > 0, lambda: self.keep(logits, top_k), lambda: logits)

    @staticmethod
    def keep(logits, top_k):
        import tensorflow as tf

        k = tf.minimum(top_k, tf.shape(logits)[-1])
        ordered = tf.sort(logits, direction="DESCENDING", axis=-1)
        kth_largest = tf.gather(ordered, k - 1, axis=-1)[:, None]  # a gather, not top_k: k stays a runtime value
        return tf.where(logits < kth_largest, BANNED_LOGIT, logits)


class TopP(LogitProcessor):
    """Nucleus: the smallest set of most likely tokens whose probability reaches p stays (the most likely
    token always); the rest get :data:`BANNED_LOGIT`. p = 1: off (no sort is run)."""

    @classmethod
    def build(cls, vocabulary):
        return cls() if vocabulary is not None else None

    def __call__(self, logits, step):
        import tensorflow as tf

        top_p = tf.cast(step.settings.top_p, logits.dtype)
        return tf.cond(top_p < 1, lambda: self.keep(logits, top_p), lambda: logits)

    @staticmethod
    def keep(logits, top_p):
        import tensorflow as tf

        ordered = tf.sort(logits, direction="DESCENDING", axis=-1)
        mass_before = tf.cumsum(tf.nn.softmax(ordered, axis=-1), axis=-1, exclusive=True)
        kept = mass_before < top_p
        threshold = tf.reduce_min(tf.where(kept, ordered, tf.reduce_max(ordered, axis=-1, keepdims=True)), axis=-1)
        return tf.where(logits < threshold[:, None], BANNED_LOGIT, logits)


# In order: the rules first, each adding to the logits as the model gave them; then the warpers.
PROCESSORS: list[type[LogitProcessor]] = [BannedTokens, LogitBias, NoteGrammar]
WARPERS: list[type[LogitProcessor]] = [Temperature, TopK, TopP]


def build_processors(vocabulary: Vocabulary | None, warp: bool) -> list[LogitProcessor]:
    """The processors that apply to ``vocabulary``, in order: :data:`PROCESSORS`, then :data:`WARPERS` if ``warp``."""
    classes = [*PROCESSORS, *(WARPERS if warp else ())]
    return [processor for cls in classes if (processor := cls.build(vocabulary)) is not None]


def filter_logits(logits: tf.Tensor, temperature, top_k, top_p) -> tf.Tensor:
    """Temperature, then top-k, then top-p, as sampling applies them; filtered tokens get :data:`BANNED_LOGIT`.

    Args:
        logits: shape=(batch, vocab), float32.
        temperature: Positive scalar.
        top_k: Scalar; 0 keeps all.
        top_p: Scalar in (0, 1]; 1 keeps all.

    Returns:
        Filtered logits, same shape.
    """
    import tensorflow as tf

    settings = Settings(
        temperature=tf.cast(temperature, tf.float32),
        top_k=tf.cast(top_k, tf.int32),
        top_p=tf.cast(top_p, tf.float32),
        max_polyphony=tf.constant(0, tf.int32),
        logit_bias=tf.zeros(tf.shape(logits)[-1:]),
        seed=tf.constant(0, tf.int64),
    )
    for processor in (Temperature(), TopK(), TopP()):
        logits = processor(logits, Step(tf.constant(0), settings, ()))
    return logits
