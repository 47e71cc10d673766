"""Samplers: one class per strategy, chosen by name from :data:`SAMPLERS`.

A :class:`Sampler` keeps one small contract, ``run(prefix, config, target_steps,
max_tokens, ...) -> Decoded``, so a sampler that is no token loop at all (a
GAN's noise sampler, :class:`NoiseSampler`) fits beside the others. The token and frame samplers share
:class:`LoopSampler`: a ``tf.function`` around a ``tf.while_loop`` that feeds a
:class:`core.generation.decoding.StepDecoder` its own output. The prefix
(control tokens and primer) is forced, then every step runs the
:mod:`~core.generation.sampling.processors` over the logits and picks, until
every sequence has covered ``target_steps`` grid steps of new music or
``max_tokens`` tokens are written. Variations are rows of one batch; the beams
of beam search too. Nothing returns to Python per token.

Adding a sampler is one class and one entry in :data:`SAMPLERS`;
:class:`SampleConfig` takes its strategy names from there.

Randomness is stateless (``tf.random.stateless_*`` seeded with ``(seed, step)``),
so the same seed gives the same piece on any run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import GenerationError
from core.generation.sampling.processors import (
    BANNED_LOGIT,
    NO_LIMITS,
    Columns,
    Limits,
    Settings,
    Step,
    Vocabulary,
    build_processors,
)
from core.settings import get_settings

if TYPE_CHECKING:
    import tensorflow as tf

    from core.generation.decoding import StepDecoder
    from core.generation.sampling.config import SampleConfig

KIND_NAMES = {"tokens": "token", "frames": "piano-roll", "features": "GAN"}


@dataclass
class Decoded:
    """Sequences out of a sampler.

    Attributes:
        sequences: One array per variation: token ids, shape=(length,), or frames,
            shape=(length, pitches); prefix included.
        scores: Beam search: the length-normalized log-likelihood of each; else None.
    """

    sequences: list[np.ndarray]
    scores: list[float] | None = None


def capacity(max_tokens: int) -> int:
    """Buffer size for ``max_tokens``: the next power of two (at least 64), so few sizes are ever compiled."""
    return max(64, 1 << (max_tokens - 1).bit_length())


class Sampler:
    """A way to compose: what the Composer needs of every sampler.

    Built once per decoder and kept (:class:`SamplerSet`), so whatever it
    compiles serves every request.

    Attributes:
        label: Its name for people, in forms and messages.
        kinds: The decoder kinds it runs: ``tokens``, ``frames``.
        reads: The :class:`SampleConfig` fields it uses besides ``strategy``; forms grey out the others.
        meanings: Form metadata (``label``, ``help``) of a field it reads in its own sense: a GAN's
            temperature scales its noise, so the form calls it the truncation.

    Raises:
        GenerationError: For a decoder of a kind it cannot run.
    """

    label = ""
    kinds: tuple[str, ...] = ("tokens", "frames")
    reads: tuple[str, ...] = ()
    meanings: dict[str, dict[str, str]] = {}

    def __init__(self, decoder: StepDecoder, vocabulary: Vocabulary | Columns | None = None):
        if decoder.kind not in self.kinds:
            others = " or ".join(name for name, sampler in SAMPLERS.items() if decoder.kind in sampler.kinds)
            needs = " or ".join(KIND_NAMES[kind] for kind in self.kinds)
            raise GenerationError(
                f"{self.label.lower()} needs a {needs} model; {KIND_NAMES[decoder.kind]} models compose with {others}"
            )
        self.decoder = decoder
        self.vocabulary = vocabulary

    def run(
        self,
        prefix: np.ndarray,
        config: SampleConfig,
        target_steps: int,
        max_tokens: int,
        *,
        limits: Limits = NO_LIMITS,
        logit_bias: np.ndarray | None = None,
    ) -> Decoded:
        """Compose ``config.variations`` continuations of ``prefix``.

        Args:
            prefix: Forced start: token ids, shape=(P,), or frames, shape=(P, pitches); P >= 1.
                Notes it leaves sounding count for the note grammar.
            target_steps: Grid steps of new music (after the prefix) to compose.
            max_tokens: Hard cap on the total length, prefix included.
            limits: Most pitches at once, longest note, pitch range, kept by the note, chord and frame
                rules (:class:`~core.generation.sampling.processors.Limits`).
            logit_bias: Added to every step's logits, shape=(vocab,), e.g. to favour the
                notes of a key (:func:`core.generation.compose.guidance_bias`); beam scores include it.

        Raises:
            GenerationError: Empty prefix, or a prefix longer than ``max_tokens``.
        """
        raise NotImplementedError


class LoopSampler(Sampler):
    """The compiled loop plumbing every token and frame sampler shares.

    :meth:`run` checks the request, turns every setting into a tensor
    (:class:`~core.generation.sampling.processors.Settings`) and pads the prefix
    to the buffer size, so that only the batch and the buffer size ever compile a
    new loop. The default :meth:`_loop` writes one token (or frame) per row per
    step: forced while the prefix lasts, else :meth:`pick_tokens` /
    :meth:`pick_frames`; it carries the decoder state and the processors' memory,
    counts grid steps, and stops a row once it covers ``target_steps``.

    Attributes:
        warp: Whether the :data:`~core.generation.sampling.processors.WARPERS`
            (temperature, top-k, top-p) apply, or the rules alone.
        processors: The logit processors, in the order they run.
        compiled: The compiled loop (its tracing count tells a test that no setting recompiles it).
    """

    warp = False

    def __init__(self, decoder: StepDecoder, vocabulary: Vocabulary | Columns | None = None):
        import tensorflow as tf

        super().__init__(decoder, vocabulary)
        self.processors = build_processors(vocabulary, self.warp)
        if isinstance(vocabulary, Vocabulary):
            self.token_steps = tf.constant(vocabulary.steps)
        self.compiled = self._compile()

    def _compile(self):
        import tensorflow as tf

        # XLA fuses the per-token ops; it compiles once per (batch, capacity) pair (NEUROTUNE_XLA=0: plain graphs,
        # which trace in a fraction of the time and run slower per token).
        return tf.function(self._loop, jit_compile=get_settings().xla)

    def run(self, prefix, config, target_steps, max_tokens, *, limits=NO_LIMITS, logit_bias=None):
        import tensorflow as tf

        prefix = np.asarray(prefix, self.decoder.head.dtype)
        if len(prefix) == 0:
            raise GenerationError("composition needs at least one start token or frame")
        if len(prefix) >= max_tokens:
            raise GenerationError(
                f"the primer takes {len(prefix)} steps, leaving no room under the limit of {max_tokens}; "
                "use a shorter primer"
            )
        bias = np.zeros(self.decoder.size, np.float32) if logit_bias is None else np.asarray(logit_bias, np.float32)
        if bias.shape != (self.decoder.size,):
            raise GenerationError(f"a logit bias needs {self.decoder.size} values, one per token; got {bias.shape}")
        slots = capacity(max_tokens)
        padded = np.zeros((slots, *prefix.shape[1:]), prefix.dtype)
        padded[: len(prefix)] = prefix
        outputs = self.compiled(
            tf.constant(padded),
            tf.constant(len(prefix), tf.int32),
            tf.constant(max_tokens, tf.int32),
            tf.constant(target_steps, tf.int32),
            Settings.of(config, limits, bias),
            *self._loop_arguments(config, slots),
        )
        return self._decoded([output.numpy() for output in outputs], config, len(prefix))

    # === What a subclass changes ===

    def pick_tokens(self, logits: tf.Tensor, step: tf.Tensor, settings: Settings, memory: tuple) -> tf.Tensor:
        """The next token of every row, int32 shape=(batch,), from the model's logits, shape=(batch, vocab)."""
        raise NotImplementedError

    def pick_frames(self, logits: tf.Tensor, step: tf.Tensor, settings: Settings, memory: tuple) -> tf.Tensor:
        """The next frame of every row, multi-hot float32 shape=(batch, pitches), from per-pitch logits."""
        raise NotImplementedError

    def _loop_arguments(self, config: SampleConfig, slots: int) -> tuple:
        """The loop's arguments after the settings: Python ints are static shapes (one compile each)."""
        return slots, config.variations

    def _decoded(self, outputs: list[np.ndarray], config: SampleConfig, prefix_length: int) -> Decoded:
        sequences, lengths = outputs
        return Decoded([sequences[i, : lengths[i]] for i in range(config.variations)])

    # === Shared plumbing, inside the compiled loop ===

    def _memory_plan(self) -> tuple[list[int], list]:
        """Which memory slot each processor reads, and the processor that keeps each slot.

        Processors of one :attr:`~core.generation.sampling.processors.LogitProcessor.memory_key`
        (the note rules: which pitches sound, since when) share one slot, tracked once per step.
        """
        keys: dict = {}
        slots, keepers = [], []
        for processor in self.processors:
            key = processor.memory_key or id(processor)
            if key not in keys:
                keys[key] = len(keepers)
                keepers.append(processor)
            slots.append(keys[key])
        return slots, keepers

    def _apply(self, logits, step, settings, memory):
        """``logits`` through every processor, in order."""
        slots, _ = self._memory_plan()
        for processor, slot in zip(self.processors, slots, strict=True):
            logits = processor(logits, Step(step, settings, memory[slot]))
        return logits

    def _start_memory(self, batch, first) -> tuple:
        """The processors' memory once every row holds ``first``, the prefix's first token."""
        _, keepers = self._memory_plan()
        return self._advance(tuple(keeper.initial_memory(batch) for keeper in keepers), first)

    def _advance(self, memory, tokens) -> tuple:
        _, keepers = self._memory_plan()
        return tuple(keeper.advance(own, tokens) for keeper, own in zip(keepers, memory, strict=True))

    @staticmethod
    def _more(step, max_tokens, done):
        """Whether the loop goes on: room for another token and a row not done yet."""
        import tensorflow as tf

        return (step + 1 < max_tokens) & ~tf.reduce_all(done)

    def _loop(self, prefix, prefix_length, max_tokens, target_steps, settings, slots, batch):
        """Returns (sequences, shape=(batch, slots[, pitches]), lengths, shape=(batch,)).

        ``slots`` and ``batch`` are Python ints (static shapes for XLA); ``max_tokens`` <= ``slots`` stops the loop.
        """
        import tensorflow as tf

        tokens = self.decoder.kind == "tokens"
        first = tf.repeat(prefix[:1], batch, axis=0)
        written = tf.TensorArray(prefix.dtype, size=slots, element_shape=first.shape).write(0, first)
        state = self.decoder.initial_state(batch, slots)
        elapsed = tf.zeros((batch,), tf.int32)
        done = tf.zeros((batch,), tf.bool)
        lengths = tf.fill((batch,), max_tokens)
        memory = self._start_memory(batch, first)

        def body(step, current, state, written, elapsed, done, lengths, memory):
            logits, state = self.decoder.step(current, state, step)
            if tokens:
                picked = self.pick_tokens(logits, step, settings, memory)
                advance = tf.gather(self.token_steps, picked)
            else:
                picked = self.pick_frames(logits, step, settings, memory)
                advance = tf.ones((batch,), tf.int32)
            forced = step + 1 < prefix_length
            forced_value = tf.repeat(prefix[tf.minimum(step + 1, prefix_length - 1)][None], batch, axis=0)
            upcoming = tf.where(forced, forced_value, picked)
            elapsed += tf.where(forced | done, 0, advance)
            finished = ~done & ~forced & (elapsed >= target_steps)
            lengths = tf.where(finished, step + 2, lengths)
            written, memory = written.write(step + 1, upcoming), self._advance(memory, upcoming)
            return step + 1, upcoming, state, written, elapsed, done | finished, lengths, memory

        def more(step, current, state, written, elapsed, done, lengths, memory):
            return self._more(step, max_tokens, done)

        loop_vars = (tf.constant(0), first, state, written, elapsed, done, lengths, memory)
        _, _, _, written, _, _, lengths, _ = tf.while_loop(more, body, loop_vars, parallel_iterations=1)
        stacked = written.stack()  # (slots, batch, ...); unwritten steps are zeros
        order = tf.concat([[1, 0], tf.range(2, tf.rank(stacked))], axis=0)
        return tf.transpose(stacked, order), lengths


class RandomSampler(LoopSampler):
    """Sampling: a random draw from the distribution after temperature, top-k and top-p."""

    label = "Sample (temperature, top-k, top-p)"
    reads = ("temperature", "top_k", "top_p", "seed", "variations")
    warp = True

    def pick_tokens(self, logits, step, settings, memory):
        import tensorflow as tf

        filtered = self._apply(logits, step, settings, memory)
        # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits), and XLA compiles it.
        uniform = self._uniform(tf.shape(filtered), step, settings, minval=1e-20, maxval=1.0)
        return tf.argmax(filtered - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)

    def pick_frames(self, logits, step, settings, memory):
        import tensorflow as tf

        probabilities = tf.sigmoid(self._apply(logits, step, settings, memory))
        return tf.cast(probabilities > self._uniform(tf.shape(logits), step, settings), tf.float32)

    @staticmethod
    def _uniform(shape, step, settings, **bounds):
        """Uniform noise of ``step``, the same for the same seed on every run.

        Philox, named: under XLA on CPU it is what the default algorithm picks (the same numbers), at half the
        cost per step, since the default leaves the algorithm to a runtime switch.
        """
        import tensorflow as tf

        seed = tf.stack([settings.seed, tf.cast(step, tf.int64)])
        return tf.random.stateless_uniform(shape, seed=seed, alg="philox", **bounds)


class GreedySampler(LoopSampler):
    """Greedy decoding: the most likely allowed token (frames: every pitch likelier on than off). Every
    variation is the same piece."""

    label = "Greedy (the most likely token)"

    def pick_tokens(self, logits, step, settings, memory):
        import tensorflow as tf

        return tf.argmax(self._apply(logits, step, settings, memory), axis=-1, output_type=tf.int32)

    def pick_frames(self, logits, step, settings, memory):
        import tensorflow as tf

        return tf.cast(tf.sigmoid(self._apply(logits, step, settings, memory)) > 0.5, tf.float32)


class BeamSampler(LoopSampler):
    """Beam search over whole sequences: the ``beam_width`` likeliest under the rules, scored per
    ``length ** length_penalty``; the best ``variations`` are returned."""

    label = "Beam search"
    kinds = ("tokens",)
    reads = ("beam_width", "length_penalty", "variations")

    def _compile(self):
        import tensorflow as tf

        return tf.function(self._loop, reduce_retracing=True)

    def _loop_arguments(self, config, slots):
        import tensorflow as tf

        return (tf.constant(config.beam_width, tf.int32),)

    def _decoded(self, outputs, config, prefix_length):
        sequences, lengths, scores = outputs
        generated = np.maximum(lengths - prefix_length, 1).astype(np.float64)
        normalized = scores / generated**config.length_penalty
        best = np.argsort(-normalized, kind="stable")[: config.variations]
        return Decoded([sequences[i, : lengths[i]] for i in best], [float(normalized[i]) for i in best])

    def _loop(self, prefix, prefix_length, max_tokens, target_steps, settings, width):
        """Returns (sequences, shape=(width, max_tokens), lengths, shape=(width,), summed log-likelihoods)."""
        import tensorflow as tf

        prefix = tf.cast(prefix, tf.int32)
        vocab = self.decoder.size
        # Time-major, so writing a step is one row update and keeping the best beams one gather on axis 1.
        history = tf.zeros((max_tokens, width), tf.int32)
        history = tf.tensor_scatter_nd_update(history, [[0]], tf.repeat(prefix[:1], width, axis=0)[None])
        state = self.decoder.initial_state(width, max_tokens)
        # Only beam 0 is alive at first, so the first expansion yields distinct beams.
        scores = tf.concat([[0.0], tf.fill((width - 1,), BANNED_LOGIT)], axis=0)
        keys = scores  # what beams are ranked by (:meth:`rank`)
        elapsed = tf.zeros((width,), tf.int32)
        done = tf.zeros((width,), tf.bool)
        lengths = tf.fill((width,), max_tokens)
        memory = self._start_memory(width, history[0])
        # A finished beam's only continuation: itself, at no cost.
        stay = tf.concat([[0.0], tf.fill((vocab - 1,), BANNED_LOGIT)], axis=0)

        def write(history, step, tokens):
            return tf.tensor_scatter_nd_update(history, [[step]], tokens[None])

        def body(step, history, state, scores, keys, elapsed, done, lengths, memory):
            logits, state = self.decoder.step(history[step], state, step)

            def forced():
                upcoming = tf.repeat(prefix[step + 1][None], width, axis=0)
                new_memory = self._advance(memory, upcoming)
                return write(history, step + 1, upcoming), state, scores, keys, elapsed, done, lengths, new_memory

            def expand():
                log_probs = tf.nn.log_softmax(self._apply(logits, step, settings, memory), axis=-1)
                log_probs = tf.where(done[:, None], stay[None], log_probs)
                candidates = scores[:, None] + log_probs
                candidate_keys = tf.reshape(self.rank(candidates, keys, step, settings), (-1,))
                kept_keys, flat = tf.math.top_k(candidate_keys, width)
                best = tf.gather(tf.reshape(candidates, (-1,)), flat)
                parents, upcoming = flat // vocab, flat % vocab
                kept_done = tf.gather(done, parents)
                moved = tf.gather(elapsed, parents) + tf.where(kept_done, 0, tf.gather(self.token_steps, upcoming))
                finished = ~kept_done & (moved >= target_steps)
                kept_lengths = tf.where(finished, step + 2, tf.gather(lengths, parents))
                upcoming = tf.where(kept_done, 0, upcoming)
                new_history = write(tf.gather(history, parents, axis=1), step + 1, upcoming)
                new_state = self.decoder.reorder(state, parents)
                kept_memory = tf.nest.map_structure(lambda part: tf.gather(part, parents), memory)
                new_memory = self._advance(kept_memory, upcoming)
                finished_now = kept_done | finished
                return new_history, new_state, best, kept_keys, moved, finished_now, kept_lengths, new_memory

            return (step + 1, *tf.cond(step + 1 < prefix_length, forced, expand))

        def more(step, history, state, scores, keys, elapsed, done, lengths, memory):
            return self._more(step, max_tokens, done)

        loop_vars = (tf.constant(0), history, state, scores, keys, elapsed, done, lengths, memory)
        _, history, _, scores, _, _, _, lengths, _ = tf.while_loop(more, body, loop_vars, parallel_iterations=1)
        return tf.transpose(history), lengths, scores

    def rank(self, candidates: tf.Tensor, keys: tf.Tensor, step: tf.Tensor, settings: Settings) -> tf.Tensor:
        """What the ``width`` kept candidates are the best of, shape=(width, vocab): their log-likelihood.

        Args:
            candidates: Each beam's log-likelihood with each next token, shape=(width, vocab).
            keys: Each beam's own rank key, shape=(width,).
        """
        return candidates


class StochasticBeamSampler(BeamSampler):
    """Stochastic beam search (Kool, van Hoof and Welling, 2019): ``beam_width`` sequences drawn from the model
    without replacement, by a beam search over Gumbel-perturbed log-likelihoods.

    Plain beam search keeps the likeliest sequences, which for music is often one chord struck again and
    again, in beams a token apart. Here each beam's key is its log-likelihood plus Gumbel noise, and a child's
    key is drawn conditioned on its parent's being the largest of its family, so the kept beams are an exact
    sample without replacement: likely, yet different, and another seed gives others.
    """

    label = "Stochastic beam search (likely and different)"
    reads = ("beam_width", "length_penalty", "seed", "variations")

    def rank(self, candidates, keys, step, settings):
        import tensorflow as tf

        uniform = RandomSampler._uniform(tf.shape(candidates), step, settings, minval=1e-20, maxval=1.0)
        perturbed = candidates - tf.math.log(-tf.math.log(uniform))
        # The children's Gumbels shifted so that their maximum equals the parent's key (Kool et al., eq. 23),
        # in the stable form of their reference code.
        largest = tf.reduce_max(perturbed, axis=-1, keepdims=True)
        gap = perturbed - largest  # <= 0
        log1mexp = tf.where(gap > -0.693, tf.math.log(-tf.math.expm1(gap)), tf.math.log1p(-tf.exp(gap)))
        shift = keys[:, None] - perturbed + log1mexp
        return keys[:, None] - tf.nn.relu(shift) - tf.math.log1p(tf.exp(-tf.abs(shift)))


class NoiseSampler(Sampler):
    """A GAN's composing: seeded noise through the generator, every note at once (no token loop).

    The temperature scales the noise (the truncation of the noise: below 1 the generator's
    typical output, above 1 wilder) and, with a softmax pitch head, divides its pitch logits. It writes ``max_tokens`` notes; the composer keeps
    those within the requested length (:meth:`core.models.heads.FeatureHead.keep_within`).
    """

    label = "Noise (GAN)"
    kinds = ("features",)
    reads = ("temperature", "seed", "variations")
    meanings = {
        "temperature": {
            "label": "Truncation",
            "help": "Scales the noise (and sharpens or flattens the choice of pitches): below 1 nearer the "
            "generator's typical output, above 1 wilder",
        },
        "seed": {"label": "Noise seed", "help": "Same seed and settings: same noise, same piece"},
    }

    def run(self, prefix, config, target_steps, max_tokens, *, limits=NO_LIMITS, logit_bias=None):
        """Raises: GenerationError: a primer (a GAN does not continue music) or a logit bias (its pitch logits, where it has
        them, are drawn inside the generator, out of the sampler's reach)."""
        if len(prefix):
            raise GenerationError("a GAN composes from noise alone and cannot continue a primer; compose without one")
        if logit_bias is not None:
            raise GenerationError("a GAN writes note features, not tokens: it takes no logit bias (guidance)")
        features = self.decoder.generate(config.variations, max_tokens, config.seed, config.temperature)
        return Decoded(list(features))


# The strategies a request may name, in the order forms offer them.
SAMPLERS: dict[str, type[Sampler]] = {
    "sample": RandomSampler,
    "greedy": GreedySampler,
    "beam": BeamSampler,
    "stochastic_beam": StochasticBeamSampler,
    "noise": NoiseSampler,
}


class SamplerSet:
    """The samplers of one decoder, each built (and its loop compiled) the first time a request names it.

    Args:
        decoder: The model's step decoder.
        frame_pitches: The pitch of every piano-roll column, for the frame rules; frames only.
        token_steps, banned, token_pitches, token_sustains, token_frame_ends: What the loops know of the
            tokens (:meth:`~core.generation.sampling.processors.Vocabulary.of`); tokens only.
    """

    def __init__(
        self,
        decoder: StepDecoder,
        token_steps: np.ndarray | None = None,
        banned: np.ndarray | None = None,
        token_pitches: tuple[np.ndarray, np.ndarray] | None = None,
        token_sustains: np.ndarray | None = None,
        token_frame_ends: np.ndarray | None = None,
        frame_pitches: np.ndarray | None = None,
    ):
        self.decoder = decoder
        self.vocabulary: Vocabulary | Columns | None = (
            Columns(np.asarray(frame_pitches, np.int32))
            if decoder.kind == "frames" and frame_pitches is not None
            else Vocabulary.of(decoder, token_steps, banned, token_pitches, token_sustains, token_frame_ends)
        )
        self.built: dict[str, Sampler] = {}
        # The Generate page's warm-up thread and a session's Compose may ask for one sampler at once: built once.
        self._building = threading.Lock()

    def __getitem__(self, strategy: str) -> Sampler:
        with self._building:
            if strategy not in self.built:
                self.built[strategy] = SAMPLERS[strategy](self.decoder, self.vocabulary)
            return self.built[strategy]

    def run(self, prefix: np.ndarray, config: SampleConfig, target_steps: int, max_tokens: int, **options: Any):
        """:meth:`Sampler.run` of the sampler ``config.strategy`` names."""
        return self[config.strategy].run(prefix, config, target_steps, max_tokens, **options)
