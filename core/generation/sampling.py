"""Sampling loops compiled into one graph: greedy, temperature, top-k, top-p and beam search.

Each loop is a ``tf.function`` around a ``tf.while_loop`` that feeds a
:class:`core.generation.decoding.StepDecoder` its own output: the prefix
(control tokens and primer) is forced, then every step filters the logits and
samples, until every sequence has covered ``target_steps`` grid steps of new
music or ``max_tokens`` tokens are written. Variations are rows of one batch;
the beams of beam search too. Nothing returns to Python per token.

Given the pitch each token starts and ends (``token_pitches``, events), the
token loops also keep the note grammar: they carry which pitches sound and
never pick a NOTE_OFF for a silent pitch, a NOTE_ON for a sounding one, nor any
NOTE_ON while ``max_polyphony`` pitches sound (:class:`NoteGrammar`).

Randomness is stateless (``tf.random.stateless_*`` seeded with ``(seed, step)``),
so the same seed gives the same piece on any run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.config import check_config
from core.errors import GenerationError

if TYPE_CHECKING:
    import tensorflow as tf

    from core.generation.decoding import StepDecoder

STRATEGIES = ("sample", "greedy", "beam")
# Added to logits that may not be chosen (controls, notes against the grammar): far below any real logit, still finite.
BANNED_LOGIT = -1e9
# MIDI pitches whose sounding state the note grammar tracks.
PITCHES = 128
# Temperatures outside these bounds break the banned-token rule in float32: above, BANNED_LOGIT / temperature
# comes near real logits and control tokens get sampled; below, logits / temperature overflow to infinity.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0
# Beam search runs every beam as a row of one batch through the model at each step and ranks width x vocab
# candidates: time and memory grow with the width, and wider beams find likelier sequences, not better music.
MAX_BEAM_WIDTH = 16
MAX_VARIATIONS = 64
MAX_LENGTH_PENALTY = 10.0
# Seeds and top-k go into the compiled loops as int64 / int32 tensors; the library stores seeds as 32-bit integers.
MAX_SEED = 2**31 - 1
MAX_TOP_K = 100_000


@dataclass(frozen=True)
class SampleConfig:
    """How to pick each next token.

    Attributes:
        strategy: ``sample`` (temperature, top-k, top-p), ``greedy`` (most likely
            token) or ``beam`` (beam search over whole sequences).
        temperature: Divides the logits before sampling: below 1 safer, above 1 wilder.
        top_k: Sample among the k most likely tokens only; 0: all.
        top_p: Sample among the most likely tokens whose probabilities add up to p (nucleus); 1: all.
        beam_width: Sequences kept by beam search, 1 to :data:`MAX_BEAM_WIDTH`.
        length_penalty: Beam scores are log-likelihood / length ** length_penalty
            (1: mean per token, 0: the plain sum, which favours short sequences).
        seed: Same seed, same piece.
        variations: Pieces composed at once (beam search: the best distinct beams).
    """

    strategy: str = field(default="sample", metadata={"choices": STRATEGIES})
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    beam_width: int = 4
    length_penalty: float = 1.0
    seed: int = 0
    variations: int = 1

    def __post_init__(self) -> None:
        checks = [
            (self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"),
            (
                MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE,
                f"temperature must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE:g} "
                f"(greedy picks the most likely token), got {self.temperature}",
            ),
            (
                0 <= self.top_k <= MAX_TOP_K,
                f"top-k must be 0 (off) or a number of tokens up to {MAX_TOP_K}, got {self.top_k}",
            ),
            (0 < self.top_p <= 1, f"top-p must be in (0, 1], got {self.top_p}"),
            (
                1 <= self.beam_width <= MAX_BEAM_WIDTH,
                f"beam width must be between 1 and {MAX_BEAM_WIDTH} (every beam is a row the compiled loop "
                f"runs through the model at each step), got {self.beam_width}",
            ),
            (
                0 <= self.length_penalty <= MAX_LENGTH_PENALTY,
                f"length penalty must be between 0 and {MAX_LENGTH_PENALTY:g}, got {self.length_penalty}",
            ),
            (0 <= self.seed <= MAX_SEED, f"seed must be between 0 and {MAX_SEED}, got {self.seed}"),
            (
                1 <= self.variations <= MAX_VARIATIONS,
                f"variations must be between 1 and {MAX_VARIATIONS}, got {self.variations}",
            ),
            (
                self.strategy != "beam" or self.variations <= self.beam_width,
                f"beam search returns at most beam-width sequences: {self.variations} variations "
                f"need a beam width of at least {self.variations}",
            ),
        ]
        check_config(checks, GenerationError, config=self)


def filter_logits(logits: tf.Tensor, temperature, top_k, top_p) -> tf.Tensor:
    """Temperature, then top-k, then top-p (nucleus) filtering; filtered tokens get :data:`BANNED_LOGIT`.

    Args:
        logits: shape=(batch, vocab), float32.
        temperature: Positive scalar.
        top_k: Scalar; 0 keeps all.
        top_p: Scalar in (0, 1]; keeps the smallest set of most likely tokens whose
            probability reaches ``top_p`` (the most likely token always).

    Returns:
        Filtered logits, same shape.
    """
    import tensorflow as tf

    logits = logits / tf.cast(temperature, logits.dtype)
    vocab = tf.shape(logits)[-1]
    k = tf.where(top_k > 0, tf.minimum(tf.cast(top_k, tf.int32), vocab), vocab)
    ordered = tf.sort(logits, direction="DESCENDING", axis=-1)
    kth_largest = tf.gather(ordered, k - 1, axis=-1)[:, None]  # a gather, not top_k: k stays a runtime value
    logits = tf.where(logits < kth_largest, BANNED_LOGIT, logits)
    ordered = tf.where(tf.range(vocab)[None] < k, ordered, BANNED_LOGIT)
    mass_before = tf.cumsum(tf.nn.softmax(ordered, axis=-1), axis=-1, exclusive=True)
    kept = mass_before < tf.cast(top_p, logits.dtype)
    threshold = tf.reduce_min(tf.where(kept, ordered, tf.reduce_max(ordered, axis=-1, keepdims=True)), axis=-1)
    return tf.where(logits < threshold[:, None], BANNED_LOGIT, logits)


class NoteGrammar:
    """Which note events may come next, given the pitches sounding.

    A NOTE_OFF may only end a sounding pitch, a NOTE_ON only start a silent one,
    and no NOTE_ON may come while ``max_polyphony`` pitches sound (0: no limit).
    Other tokens are never banned, so a row can always move time on.

    Args:
        note_on_pitch: Pitch each token id starts, or -1, int32 shape=(vocab,).
        note_off_pitch: Pitch each token id ends, or -1, int32 shape=(vocab,).
    """

    def __init__(self, note_on_pitch: np.ndarray, note_off_pitch: np.ndarray):
        import tensorflow as tf

        self.note_on_pitch = tf.constant(note_on_pitch, tf.int32)
        self.note_off_pitch = tf.constant(note_off_pitch, tf.int32)

    def advance(self, sounding: tf.Tensor, tokens: tf.Tensor) -> tf.Tensor:
        """The pitches sounding once each row has played its token.

        Args:
            sounding: bool, shape=(batch, PITCHES).
            tokens: int32 ids, shape=(batch,).

        Returns:
            bool, shape=(batch, PITCHES).
        """
        import tensorflow as tf

        # one_hot of -1 is all zeros: tokens without a pitch change nothing.
        ended = tf.one_hot(tf.gather(self.note_off_pitch, tokens), PITCHES) > 0
        started = tf.one_hot(tf.gather(self.note_on_pitch, tokens), PITCHES) > 0
        return (sounding & ~ended) | started

    def bias(self, sounding: tf.Tensor, max_polyphony: tf.Tensor) -> tf.Tensor:
        """:data:`BANNED_LOGIT` for the note events not allowed after ``sounding``, else 0.

        Args:
            sounding: bool, shape=(batch, PITCHES).
            max_polyphony: int32 scalar; 0: no limit.

        Returns:
            float32, shape=(batch, vocab).
        """
        import tensorflow as tf

        starts, ends = self.note_on_pitch >= 0, self.note_off_pitch >= 0
        start_sounds = tf.gather(sounding, tf.maximum(self.note_on_pitch, 0), axis=1)
        end_sounds = tf.gather(sounding, tf.maximum(self.note_off_pitch, 0), axis=1)
        voices = tf.reduce_sum(tf.cast(sounding, tf.int32), axis=-1, keepdims=True)
        full = (max_polyphony > 0) & (voices >= max_polyphony)
        banned = (starts & (start_sounds | full)) | (ends & ~end_sounds)
        return tf.where(banned, BANNED_LOGIT, 0.0)


@dataclass
class Decoded:
    """Sequences out of a sampling loop.

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
    """The compiled loops of one decoder, traced once per strategy and reused for every request.

    Args:
        decoder: The model's step decoder.
        token_steps: Grid steps each token advances time by, shape=(vocab,)
            (tokens only; frames advance one step each).
        banned: Token ids never sampled (control tokens).
        token_pitches: ``(note_on_pitch, note_off_pitch)``, the pitch each token
            starts and ends or -1, each shape=(vocab,), as from
            :meth:`core.data.representations.Representation.token_pitches`
            (tokens only). The loops keep the :class:`NoteGrammar` when some token
            ends a pitch; melody tokens end none, and need none.
    """

    def __init__(
        self,
        decoder: StepDecoder,
        token_steps: np.ndarray | None = None,
        banned: np.ndarray | None = None,
        token_pitches: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        import tensorflow as tf

        self.decoder = decoder
        self.grammar: NoteGrammar | None = None
        if decoder.kind == "tokens":
            if token_steps is None:
                raise ValueError("a token decoder needs token_steps: how far each token moves time")
            # Control tokens past the representation's vocabulary move time by 0 steps and have no pitch.
            steps = np.pad(np.asarray(token_steps, np.int32), (0, decoder.size - len(token_steps)))
            bias = np.zeros(decoder.size, np.float32)
            if banned is not None and len(banned):
                bias[np.asarray(banned)] = BANNED_LOGIT
            self.token_steps = tf.constant(steps)
            self.banned_bias = tf.constant(bias)
            if token_pitches is not None:
                note_on, note_off = (
                    np.pad(np.asarray(pitches, np.int32), (0, decoder.size - len(pitches)), constant_values=-1)
                    for pitches in token_pitches
                )
                if (note_off >= 0).any():
                    self.grammar = NoteGrammar(note_on, note_off)
        # XLA fuses the per-token ops; it compiles once per (batch, capacity) pair.
        self._sample = tf.function(self._sample_loop, jit_compile=True)
        self._beam = tf.function(self._beam_loop, reduce_retracing=True)

    def run(
        self,
        prefix: np.ndarray,
        config: SampleConfig,
        target_steps: int,
        max_tokens: int,
        *,
        max_polyphony: int = 0,
        logit_bias: np.ndarray | None = None,
    ) -> Decoded:
        """Compose ``config.variations`` continuations of ``prefix``.

        Args:
            prefix: Forced start: token ids, shape=(P,), or frames, shape=(P, pitches); P >= 1.
                Notes it leaves sounding count for the note grammar.
            target_steps: Grid steps of new music (after the prefix) to compose.
            max_tokens: Hard cap on the total length, prefix included.
            max_polyphony: Most pitches sounding at once under the note grammar;
                0: no limit. Ignored without a grammar (melody, piano rolls). A
                tensor inside the loops: changing it compiles nothing.
            logit_bias: Added to every step's logits, shape=(vocab,), e.g. to favour the
                notes of a key (:func:`core.generation.compose.guidance_bias`); beam scores include it.

        Raises:
            GenerationError: Empty prefix, prefix longer than ``max_tokens``, a
                negative ``max_polyphony``, or a strategy the representation cannot use.
        """
        import tensorflow as tf

        if max_polyphony < 0:
            raise GenerationError(f"max polyphony must be 0 (no limit) or a number of notes, got {max_polyphony}")
        prefix = np.asarray(prefix)
        if len(prefix) == 0:
            raise GenerationError("composition needs at least one start token or frame")
        if len(prefix) >= max_tokens:
            raise GenerationError(
                f"the primer takes {len(prefix)} steps, leaving no room under the limit of {max_tokens}; "
                "use a shorter primer"
            )
        if self.decoder.kind == "frames" and config.strategy == "beam":
            raise GenerationError("beam search needs a token model; piano-roll models sample frames (greedy or sample)")
        bias = np.zeros(self.decoder.size, np.float32) if logit_bias is None else np.asarray(logit_bias, np.float32)
        if bias.shape != (self.decoder.size,):
            raise GenerationError(f"a logit bias needs {self.decoder.size} values, one per token; got {bias.shape}")
        common = (
            tf.constant(prefix),
            tf.constant(max_tokens, tf.int32),
            tf.constant(target_steps, tf.int32),
            tf.constant(max_polyphony, tf.int32),
            tf.constant(bias),
        )
        if config.strategy == "beam":
            sequences, lengths, scores = self._beam(*common, tf.constant(config.beam_width, tf.int32))
            sequences, lengths, scores = sequences.numpy(), lengths.numpy(), scores.numpy()
            generated = np.maximum(lengths - len(prefix), 1).astype(np.float64)
            normalized = scores / generated**config.length_penalty
            best = np.argsort(-normalized, kind="stable")[: config.variations]
            return Decoded([sequences[i, : lengths[i]] for i in best], [float(normalized[i]) for i in best])
        sequences, lengths = self._sample(
            *common,
            capacity(max_tokens),
            config.variations,
            tf.constant(config.strategy == "greedy"),
            tf.constant(config.temperature, tf.float32),
            tf.constant(config.top_k, tf.int32),
            tf.constant(config.top_p, tf.float32),
            tf.constant(config.seed, tf.int64),
        )
        sequences, lengths = sequences.numpy(), lengths.numpy()
        return Decoded([sequences[i, : lengths[i]] for i in range(config.variations)])

    # === Compiled loops ===

    def _allowed(self, logits, sounding, max_polyphony, bias):
        """``logits`` plus ``bias``, with :data:`BANNED_LOGIT` added to what may not come next: controls, notes
        against the grammar."""
        logits = logits + self.banned_bias + bias
        if self.grammar is not None:
            logits += self.grammar.bias(sounding, max_polyphony)
        return logits

    def _sound(self, sounding, tokens):
        """The pitches sounding after ``tokens``: shape=(batch, PITCHES), bool; unchanged without a grammar."""
        return sounding if self.grammar is None else self.grammar.advance(sounding, tokens)

    def _pick_tokens(self, logits, sounding, max_polyphony, bias, step, greedy, temperature, top_k, top_p, seed):
        import tensorflow as tf

        logits = self._allowed(logits, sounding, max_polyphony, bias)
        if_greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
        filtered = filter_logits(logits, temperature, top_k, top_p)
        # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits), and XLA compiles it.
        uniform = tf.random.stateless_uniform(
            tf.shape(filtered), seed=tf.stack([seed, tf.cast(step, tf.int64)]), minval=1e-20, maxval=1.0
        )
        drawn = tf.argmax(filtered - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)
        return tf.where(greedy, if_greedy, drawn)

    def _pick_frames(self, logits, step, greedy, temperature, seed):
        import tensorflow as tf

        probabilities = tf.sigmoid(logits / temperature)
        uniform = tf.random.stateless_uniform(tf.shape(logits), seed=tf.stack([seed, tf.cast(step, tf.int64)]))
        threshold = tf.where(greedy, 0.5, uniform)
        return tf.cast(probabilities > threshold, tf.float32)

    def _sample_loop(
        self,
        prefix,
        max_tokens,
        target_steps,
        max_polyphony,
        bias,
        slots,
        batch,
        greedy,
        temperature,
        top_k,
        top_p,
        seed,
    ):
        """Returns (sequences, shape=(batch, slots[, pitches]), lengths, shape=(batch,)).

        ``slots`` and ``batch`` are Python ints (static shapes for XLA); ``max_tokens`` <= ``slots`` stops the loop.
        """
        import tensorflow as tf

        tokens = self.decoder.kind == "tokens"
        prefix_length = tf.shape(prefix)[0]
        prefix = tf.cast(prefix, tf.int32 if tokens else tf.float32)
        first = tf.repeat(prefix[:1], batch, axis=0)
        written = tf.TensorArray(prefix.dtype, size=slots, element_shape=first.shape).write(0, first)
        state = self.decoder.initial_state(batch, slots)
        elapsed = tf.zeros((batch,), tf.int32)
        done = tf.zeros((batch,), tf.bool)
        lengths = tf.fill((batch,), max_tokens)
        sounding = self._sound(tf.zeros((batch, PITCHES), tf.bool), first)

        def body(step, current, state, written, elapsed, done, lengths, sounding):
            logits, state = self.decoder.step(current, state, step)
            if tokens:
                picked = self._pick_tokens(
                    logits, sounding, max_polyphony, bias, step, greedy, temperature, top_k, top_p, seed
                )
                advance = tf.gather(self.token_steps, picked)
            else:
                picked = self._pick_frames(logits, step, greedy, temperature, seed)
                advance = tf.ones((batch,), tf.int32)
            forced = step + 1 < prefix_length
            forced_value = tf.repeat(prefix[tf.minimum(step + 1, prefix_length - 1)][None], batch, axis=0)
            upcoming = tf.where(forced, forced_value, picked)
            elapsed += tf.where(forced | done, 0, advance)
            finished = ~done & ~forced & (elapsed >= target_steps)
            lengths = tf.where(finished, step + 2, lengths)
            written, sounding = written.write(step + 1, upcoming), self._sound(sounding, upcoming)
            return step + 1, upcoming, state, written, elapsed, done | finished, lengths, sounding

        def more(step, current, state, written, elapsed, done, lengths, sounding):
            return (step + 1 < max_tokens) & ~tf.reduce_all(done)

        loop_vars = (tf.constant(0), first, state, written, elapsed, done, lengths, sounding)
        _, _, _, written, _, _, lengths, _ = tf.while_loop(more, body, loop_vars, parallel_iterations=1)
        stacked = written.stack()  # (max_tokens, batch, ...); unwritten steps are zeros
        order = tf.concat([[1, 0], tf.range(2, tf.rank(stacked))], axis=0)
        return tf.transpose(stacked, order), lengths

    def _beam_loop(self, prefix, max_tokens, target_steps, max_polyphony, bias, width):
        """Returns (sequences, shape=(width, max_tokens), lengths, shape=(width,), summed log-likelihoods)."""
        import tensorflow as tf

        prefix_length = tf.shape(prefix)[0]
        prefix = tf.cast(prefix, tf.int32)
        vocab = self.decoder.size
        # Time-major, so writing a step is one row update and keeping the best beams one gather on axis 1.
        history = tf.zeros((max_tokens, width), tf.int32)
        history = tf.tensor_scatter_nd_update(history, [[0]], tf.repeat(prefix[:1], width, axis=0)[None])
        state = self.decoder.initial_state(width, max_tokens)
        # Only beam 0 is alive at first, so the first expansion yields distinct beams.
        scores = tf.concat([[0.0], tf.fill((width - 1,), BANNED_LOGIT)], axis=0)
        elapsed = tf.zeros((width,), tf.int32)
        done = tf.zeros((width,), tf.bool)
        lengths = tf.fill((width,), max_tokens)
        sounding = self._sound(tf.zeros((width, PITCHES), tf.bool), history[0])
        # A finished beam's only continuation: itself, at no cost.
        stay = tf.concat([[0.0], tf.fill((vocab - 1,), BANNED_LOGIT)], axis=0)

        def write(history, step, tokens):
            return tf.tensor_scatter_nd_update(history, [[step]], tokens[None])

        def body(step, history, state, scores, elapsed, done, lengths, sounding):
            logits, state = self.decoder.step(history[step], state, step)

            def forced():
                upcoming = tf.repeat(prefix[step + 1][None], width, axis=0)
                new_sounding = self._sound(sounding, upcoming)
                return write(history, step + 1, upcoming), state, scores, elapsed, done, lengths, new_sounding

            def expand():
                log_probs = tf.nn.log_softmax(self._allowed(logits, sounding, max_polyphony, bias), axis=-1)
                log_probs = tf.where(done[:, None], stay[None], log_probs)
                candidates = tf.reshape(scores[:, None] + log_probs, (-1,))
                best, flat = tf.math.top_k(candidates, width)
                parents, upcoming = flat // vocab, flat % vocab
                kept_done = tf.gather(done, parents)
                moved = tf.gather(elapsed, parents) + tf.where(kept_done, 0, tf.gather(self.token_steps, upcoming))
                finished = ~kept_done & (moved >= target_steps)
                kept_lengths = tf.where(finished, step + 2, tf.gather(lengths, parents))
                upcoming = tf.where(kept_done, 0, upcoming)
                new_history = write(tf.gather(history, parents, axis=1), step + 1, upcoming)
                new_state = self.decoder.reorder(state, parents)
                new_sounding = self._sound(tf.gather(sounding, parents), upcoming)
                return new_history, new_state, best, moved, kept_done | finished, kept_lengths, new_sounding

            return (step + 1, *tf.cond(step + 1 < prefix_length, forced, expand))

        def more(step, history, state, scores, elapsed, done, lengths, sounding):
            return (step + 1 < max_tokens) & ~tf.reduce_all(done)

        loop_vars = (tf.constant(0), history, state, scores, elapsed, done, lengths, sounding)
        _, history, _, scores, _, _, lengths, _ = tf.while_loop(more, body, loop_vars, parallel_iterations=1)
        return tf.transpose(history), lengths, scores
