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

from core.music.theory import MIDI_PITCHES

if TYPE_CHECKING:
    import tensorflow as tf

    from core.generation.decoding import StepDecoder
    from core.generation.sampling.config import SampleConfig

# Added to logits that may not be chosen (controls, notes against the grammar): far below any real logit, still finite.
BANNED_LOGIT = -1e9


@dataclass(frozen=True)
class Vocabulary:
    """What the token loops know of each token id, padded to the decoder's logits.

    Control tokens past the representation's vocabulary move time by 0 steps and have no pitch.

    Attributes:
        steps: Grid steps each token moves time by, int32 shape=(size,).
        banned: Token ids never written after the prefix (control tokens), int32 shape=(n,).
        note_on_pitch: Pitch each token starts, or -1, int32 shape=(size,).
        note_off_pitch: Pitch each token ends, or -1, int32 shape=(size,).
        sustains: Whether each token leaves the other sounding notes sounding, bool shape=(size,)
            (a melody's REST or next onset ends its note; events end only the pitch of a NOTE_OFF).
        frame_ends: Whether each token ends a frame of simultaneous pitches, bool shape=(size,):
            the chords layout, whose notes are runs of frames (:class:`ChordRules`), not starts and ends.
    """

    steps: np.ndarray
    banned: np.ndarray
    note_on_pitch: np.ndarray
    note_off_pitch: np.ndarray
    sustains: np.ndarray
    frame_ends: np.ndarray

    @classmethod
    def of(
        cls,
        decoder: StepDecoder,
        token_steps: np.ndarray | None,
        banned: np.ndarray | None = None,
        token_pitches: tuple[np.ndarray, np.ndarray] | None = None,
        token_sustains: np.ndarray | None = None,
        token_frame_ends: np.ndarray | None = None,
    ) -> Vocabulary | None:
        """The vocabulary of a token decoder; None for a frame decoder (piano rolls have no tokens).

        Args:
            token_steps: Grid steps each token advances time by, shape=(vocab,).
            banned: Token ids never sampled (control tokens).
            token_pitches: ``(note_on_pitch, note_off_pitch)`` as from
                :meth:`core.data.representations.Representation.token_pitches`; None: no note grammar.
            token_sustains: As from :meth:`~core.data.representations.Representation.token_sustains`; None: all do.
            token_frame_ends: As from :meth:`~core.data.representations.Representation.token_frame_ends`;
                None: no token does.
        """
        if decoder.kind != "tokens":
            return None
        if token_steps is None:
            raise ValueError("a token decoder needs token_steps: how far each token moves time")
        size = decoder.size

        def padded(values, fill: int, dtype=np.int32) -> np.ndarray:
            values = np.asarray(values, dtype)
            return np.pad(values, (0, size - len(values)), constant_values=fill)

        note_on, note_off = token_pitches if token_pitches is not None else ((), ())
        return cls(
            steps=padded(token_steps, 0),
            banned=np.asarray(banned if banned is not None else (), np.int32),
            note_on_pitch=padded(note_on, -1),
            note_off_pitch=padded(note_off, -1),
            sustains=padded(token_sustains if token_sustains is not None else (), True, bool),
            frame_ends=padded(token_frame_ends if token_frame_ends is not None else (), False, bool),
        )

    @property
    def has_notes(self) -> bool:
        """Whether tokens start pitches: the note rules have something to follow."""
        return bool((self.note_on_pitch >= 0).any())

    @property
    def writes_frames(self) -> bool:
        """Whether tokens write frames (chords): pitch tokens, each frame ended by its own token."""
        return self.has_notes and bool(self.frame_ends.any())


@dataclass(frozen=True)
class Columns:
    """What the frame loops know of a piano roll's columns: the pitch each one sounds.

    Attributes:
        pitches: MIDI pitch of every column, int32 shape=(size,).
    """

    pitches: np.ndarray


@dataclass(frozen=True)
class Limits:
    """What composing keeps inside whatever the model says: by default the training data's own bounds.

    Attributes:
        max_polyphony: Most pitches sounding at once; 0: no limit.
        max_note_steps: Longest note in grid steps; 0: no limit.
        pitch_range: Lowest and highest pitch a note may start on.
    """

    max_polyphony: int = 0
    max_note_steps: int = 0
    pitch_range: tuple[int, int] = (0, MIDI_PITCHES - 1)

    def __post_init__(self) -> None:
        from core.config import check_config
        from core.errors import GenerationError

        low, high = self.pitch_range
        checks = [
            (
                self.max_polyphony >= 0,
                f"max polyphony must be 0 (no limit) or a number of notes, got {self.max_polyphony}",
            ),
            (
                self.max_note_steps >= 0,
                f"the longest note must be 0 (no limit) or a number of steps, got {self.max_note_steps}",
            ),
            (
                0 <= low <= high < MIDI_PITCHES,
                f"the pitch range must be two MIDI pitches, low to high, got {self.pitch_range}",
            ),
        ]
        check_config(checks, GenerationError, config=self)


# Nothing kept but the grammar: what a bare sampler run keeps to.
NO_LIMITS = Limits()


class Settings(NamedTuple):
    """What a user sets, as tensors fed to the compiled loops: changing one compiles nothing.

    Attributes:
        temperature: float32 scalar.
        top_k: int32 scalar; 0: off.
        top_p: float32 scalar; 1: off.
        max_polyphony: int32 scalar; 0: no limit.
        max_note_steps: int32 scalar, the longest note in grid steps; 0: no limit.
        pitch_low, pitch_high: int32 scalars, the pitches notes may start on.
        logit_bias: float32, shape=(vocab,): guidance added to every step.
        seed: int64 scalar.
    """

    temperature: tf.Tensor
    top_k: tf.Tensor
    top_p: tf.Tensor
    max_polyphony: tf.Tensor
    max_note_steps: tf.Tensor
    pitch_low: tf.Tensor
    pitch_high: tf.Tensor
    logit_bias: tf.Tensor
    seed: tf.Tensor

    @classmethod
    def of(cls, config: SampleConfig, limits: Limits, logit_bias: np.ndarray) -> Settings:
        import tensorflow as tf

        return cls(
            temperature=tf.constant(config.temperature, tf.float32),
            top_k=tf.constant(config.top_k, tf.int32),
            top_p=tf.constant(config.top_p, tf.float32),
            max_polyphony=tf.constant(limits.max_polyphony, tf.int32),
            max_note_steps=tf.constant(limits.max_note_steps, tf.int32),
            pitch_low=tf.constant(limits.pitch_range[0], tf.int32),
            pitch_high=tf.constant(limits.pitch_range[1], tf.int32),
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
    reorder them with its beams. Processors of one :attr:`memory_key` keep the
    same memory the same way, so the loop tracks it once for all of them.

    Attributes:
        memory_key: Shared memory's name; None: the processor's own.
    """

    memory_key: str | None = None

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
        return cls(vocabulary) if isinstance(vocabulary, Vocabulary) and len(vocabulary.banned) else None

    def __call__(self, logits, step):
        return logits + self.bias


class LogitBias(LogitProcessor):
    """Key and density guidance: :attr:`Settings.logit_bias` added to every step (beam scores include it)."""

    @classmethod
    def build(cls, vocabulary):
        return cls() if isinstance(vocabulary, Vocabulary) else None

    def __call__(self, logits, step):
        return logits + step.settings.logit_bias


class Notes(NamedTuple):
    """The notes a row has sounding, as the note rules remember them.

    Attributes:
        sounding: bool shape=(batch, MIDI_PITCHES).
        onset: Grid step each pitch last started at, int32 shape=(batch, MIDI_PITCHES).
        clock: Grid steps written so far, int32 shape=(batch,).
    """

    sounding: tf.Tensor
    onset: tf.Tensor
    clock: tf.Tensor


class NoteRule(LogitProcessor):
    """A rule on note events: remembers which pitches sound, since when (:class:`Notes`), in its memory.

    Built for token vocabularies whose tokens start pitches (events, melody). Every note rule keeps
    the same :class:`Notes`, tracked once per step for all of them.
    """

    memory_key = "notes"

    def __init__(self, vocabulary: Vocabulary):
        import tensorflow as tf

        self.steps = tf.constant(vocabulary.steps, tf.int32)
        self.note_on_pitch = tf.constant(vocabulary.note_on_pitch, tf.int32)
        self.note_off_pitch = tf.constant(vocabulary.note_off_pitch, tf.int32)
        self.sustains = tf.constant(vocabulary.sustains, tf.bool)
        self.starts = self.note_on_pitch >= 0
        self.ends = self.note_off_pitch >= 0

    @classmethod
    def build(cls, vocabulary):
        return cls(vocabulary) if isinstance(vocabulary, Vocabulary) and vocabulary.has_notes else None

    def initial_memory(self, batch):
        import tensorflow as tf

        return Notes(
            tf.zeros((batch, MIDI_PITCHES), tf.bool),
            tf.zeros((batch, MIDI_PITCHES), tf.int32),
            tf.zeros((batch,), tf.int32),
        )

    def advance(self, notes, tokens):
        import tensorflow as tf

        # one_hot of -1 is all zeros: tokens without a pitch change nothing.
        ended = (tf.one_hot(tf.gather(self.note_off_pitch, tokens), MIDI_PITCHES) > 0) | ~tf.gather(
            self.sustains, tokens
        )[:, None]
        started = tf.one_hot(tf.gather(self.note_on_pitch, tokens), MIDI_PITCHES) > 0
        onset = tf.where(started, notes.clock[:, None], notes.onset)
        return Notes((notes.sounding & ~ended) | started, onset, notes.clock + tf.gather(self.steps, tokens))

    def voices(self, notes: Notes) -> tf.Tensor:
        """Pitches sounding in each row, int32 shape=(batch, 1)."""
        import tensorflow as tf

        return tf.reduce_sum(tf.cast(notes.sounding, tf.int32), axis=-1, keepdims=True)

    def at_cap(self, notes: Notes, max_polyphony: tf.Tensor) -> tf.Tensor:
        """Rows with :attr:`Settings.max_polyphony` pitches sounding, bool shape=(batch, 1)."""
        return (max_polyphony > 0) & (self.voices(notes) >= max_polyphony)

    def ending_sounding(self, notes: Notes) -> tf.Tensor:
        """NOTE_OFFs of the pitches that have sounded for at least a step, bool shape=(batch, vocab).

        A note that starts and ends at one step has no length: the decoder drops it, and it is not music.
        """
        import tensorflow as tf

        endable = notes.sounding & (notes.onset < notes.clock[:, None])
        return self.ends & tf.gather(endable, tf.maximum(self.note_off_pitch, 0), axis=1)

    def starting_silent(self, notes: Notes) -> tf.Tensor:
        """NOTE_ONs of the pitches silent in each row, bool shape=(batch, vocab)."""
        import tensorflow as tf

        return self.starts & ~tf.gather(notes.sounding, tf.maximum(self.note_on_pitch, 0), axis=1)


class PitchRange(NoteRule):
    """No note starts outside :attr:`Settings.pitch_low` .. :attr:`Settings.pitch_high`: the range the
    model was trained on, so a stray logit cannot put a G#8 in a chorale."""

    memory_key = None

    def initial_memory(self, batch):
        return ()

    def advance(self, memory, tokens):
        return memory

    def __call__(self, logits, step):
        import tensorflow as tf

        pitch = self.note_on_pitch
        outside = self.starts & ((pitch < step.settings.pitch_low) | (pitch > step.settings.pitch_high))
        return logits + tf.where(outside, BANNED_LOGIT, 0.0)


class PolyphonyRelease(NoteRule):
    """At the polyphony cap, the wish to start a note becomes a wish to end one, so the music never stalls.

    While :attr:`Settings.max_polyphony` pitches sound, :class:`NoteGrammar` bans
    every NOTE_ON. Left alone, the probability the model gave them would go to time
    shifts too, and held notes would pile up their length instead of making room.
    Here it goes to the NOTE_OFFs of the sounding pitches, shared in the model's
    own proportions among them: the mass of note ends grows from ``p_off`` to
    ``p_off + p_on``. Notes that started at this very step are not released (they
    would have no length): once every sounding note is that new, time moves on.
    Rows below the cap are untouched.
    """

    @classmethod
    def build(cls, vocabulary):
        # Only explicit NOTE_OFFs can release a note on demand (a melody holds one note at most).
        return (
            cls(vocabulary) if isinstance(vocabulary, Vocabulary) and (vocabulary.note_off_pitch >= 0).any() else None
        )

    def __call__(self, logits, step):
        import tensorflow as tf

        notes = step.memory
        endings = self.ending_sounding(notes)

        def mass(where):
            return tf.reduce_logsumexp(tf.where(where, logits, BANNED_LOGIT), axis=-1, keepdims=True)

        # log(p_off + p_on) - log(p_off), from the logits' own normalizer.
        boost = tf.nn.softplus(mass(self.starting_silent(notes)) - mass(endings))
        release = self.at_cap(notes, step.settings.max_polyphony) & endings
        return logits + tf.where(release, boost, 0.0)


class NoteLength(NoteRule):
    """No note lasts longer than :attr:`Settings.max_note_steps` (0: no limit): a held note is ended in time.

    A token that moves time by ``s`` steps while keeping a note sounding is banned
    when that note would then be longer than the limit; once a note has reached the
    limit, only tokens that end it may come next (its NOTE_OFF, or for a melody a
    REST or the next onset). The limit is by default the longest note of the
    training data, so a model that forgets to end a note cannot hold it for a minute.
    """

    @classmethod
    def build(cls, vocabulary):
        # Written frames have no note ends to wait for: every frame names its pitches anew (ChordRules).
        if not isinstance(vocabulary, Vocabulary) or not vocabulary.has_notes or vocabulary.writes_frames:
            return None
        return cls(vocabulary)

    def __call__(self, logits, step):
        import tensorflow as tf

        notes, limit = step.memory, step.settings.max_note_steps
        age = tf.where(notes.sounding, notes.clock[:, None] - notes.onset, -1)
        oldest = tf.reduce_max(age, axis=-1, keepdims=True)  # -1: nothing sounds
        overdue = notes.sounding & (age >= limit)
        ends_overdue = self.ends & tf.gather(overdue, tf.maximum(self.note_off_pitch, 0), axis=1)
        too_far = self.sustains & (oldest >= 0) & (oldest + self.steps > limit)
        banned = tf.where(tf.reduce_any(overdue, axis=-1, keepdims=True), self.sustains & ~ends_overdue, too_far)
        return logits + tf.where((limit > 0) & banned, BANNED_LOGIT, 0.0)


class NoteGrammar(NoteRule):
    """Which note events may come next, given the pitches sounding.

    A NOTE_OFF may only end a pitch that has sounded for at least a step, a NOTE_ON
    only start a silent one, and no NOTE_ON may come while
    :attr:`Settings.max_polyphony` pitches sound (0: no limit). Other tokens are
    never banned, so a row can always move time on. Notes the forced prefix leaves
    sounding count.
    """

    @classmethod
    def build(cls, vocabulary):
        # Melody tokens end no pitch explicitly (a melody is monophonic by construction): they need no grammar.
        if not isinstance(vocabulary, Vocabulary) or not (vocabulary.note_off_pitch >= 0).any():
            return None
        return cls(vocabulary)

    def bias(self, notes: Notes, max_polyphony: tf.Tensor) -> tf.Tensor:
        """:data:`BANNED_LOGIT` for the note events not allowed after ``notes``, else 0, shape=(batch, vocab)."""
        import tensorflow as tf

        allowed = self.ending_sounding(notes) | (self.starting_silent(notes) & ~self.at_cap(notes, max_polyphony))
        banned = (self.starts | self.ends) & ~allowed
        return tf.where(banned, BANNED_LOGIT, 0.0)

    def __call__(self, logits, step):
        return logits + self.bias(step.memory, step.settings.max_polyphony)


# === Rules on frames written as tokens (chords): each frame's pitches, low to high, then its end ===


class Chord(NamedTuple):
    """What :class:`ChordRules` remembers of each row.

    Attributes:
        last_pitch: Highest pitch written in the frame being written, -1 before its first, int32 shape=(batch,).
        voices: Pitch tokens written in that frame, int32 shape=(batch,).
        current: Pitches of that frame, bool shape=(batch, MIDI_PITCHES).
        runs: Ended frames in a row each pitch sounded in, up to the last, int32 shape=(batch, MIDI_PITCHES).
    """

    last_pitch: tf.Tensor
    voices: tf.Tensor
    current: tf.Tensor
    runs: tf.Tensor


class ChordRules(LogitProcessor):
    """The rules of a frame written as tokens, so it always reads as one chord within the limits.

    Pitches of a frame come strictly ascending (a pitch at or below the frame's last
    is banned: the layout writes each chord one way, and no pitch twice), at most
    :attr:`Settings.max_polyphony` of them (then only the frame's end may come), and
    a pitch that has sounded :attr:`Settings.max_note_steps` frames in a row may not
    sound in the next (a held note is a run of frames). The frame's end is never
    banned, so a row can always move time on. Built for vocabularies that write
    frames only; :class:`PitchRange` keeps their pitch range.
    """

    def __init__(self, vocabulary: Vocabulary):
        import tensorflow as tf

        self.note_on_pitch = tf.constant(vocabulary.note_on_pitch, tf.int32)
        self.frame_ends = tf.constant(vocabulary.frame_ends, tf.bool)
        self.starts = self.note_on_pitch >= 0

    @classmethod
    def build(cls, vocabulary):
        return cls(vocabulary) if isinstance(vocabulary, Vocabulary) and vocabulary.writes_frames else None

    def initial_memory(self, batch):
        import tensorflow as tf

        no_pitches = tf.zeros((batch, MIDI_PITCHES), tf.bool)
        return Chord(
            tf.fill((batch,), -1), tf.zeros((batch,), tf.int32), no_pitches, tf.zeros((batch, MIDI_PITCHES), tf.int32)
        )

    def advance(self, chord, tokens):
        import tensorflow as tf

        pitch = tf.gather(self.note_on_pitch, tokens)
        ends = tf.gather(self.frame_ends, tokens)
        current = chord.current | (tf.one_hot(pitch, MIDI_PITCHES) > 0)  # one_hot of -1 adds nothing
        written = pitch >= 0
        return Chord(
            last_pitch=tf.where(ends, -1, tf.where(written, pitch, chord.last_pitch)),
            voices=tf.where(ends, 0, chord.voices + tf.cast(written, tf.int32)),
            current=tf.where(ends[:, None], False, current),
            runs=tf.where(ends[:, None], tf.where(current, chord.runs + 1, 0), chord.runs),
        )

    def __call__(self, logits, step):
        import tensorflow as tf

        chord, settings = step.memory, step.settings
        pitch = self.note_on_pitch[None, :]
        not_above = pitch <= chord.last_pitch[:, None]
        full = (settings.max_polyphony > 0) & (chord.voices >= settings.max_polyphony)
        run = tf.gather(chord.runs, tf.maximum(self.note_on_pitch, 0), axis=1)
        too_long = (settings.max_note_steps > 0) & (run >= settings.max_note_steps)
        banned = self.starts[None, :] & (not_above | full[:, None] | too_long)
        return logits + tf.where(banned, BANNED_LOGIT, 0.0)


# === Rules on piano-roll frames: every column its own Bernoulli logit ===


class FrameRule(LogitProcessor):
    """A rule on the columns of a piano-roll frame; built for :class:`Columns` only."""

    def __init__(self, columns: Columns):
        import tensorflow as tf

        self.pitches = tf.constant(columns.pitches, tf.int32)

    @classmethod
    def build(cls, vocabulary):
        return cls(vocabulary) if isinstance(vocabulary, Columns) else None


class FramePitchRange(FrameRule):
    """Columns outside :attr:`Settings.pitch_low` .. :attr:`Settings.pitch_high` stay off."""

    def __call__(self, logits, step):
        import tensorflow as tf

        outside = (self.pitches < step.settings.pitch_low) | (self.pitches > step.settings.pitch_high)
        return logits + tf.where(outside, BANNED_LOGIT, 0.0)


class FrameNoteLength(FrameRule):
    """A column on for :attr:`Settings.max_note_steps` frames in a row is turned off for the next one: a piano
    roll's note is its run of on frames, so this ends it. Memory: each column's run, int32 shape=(batch, size)."""

    def initial_memory(self, batch):
        import tensorflow as tf

        return tf.zeros((batch, self.pitches.shape[0]), tf.int32)

    def advance(self, runs, frames):
        import tensorflow as tf

        return tf.where(frames > 0, runs + 1, 0)

    def __call__(self, logits, step):
        import tensorflow as tf

        limit = step.settings.max_note_steps
        return logits + tf.where((limit > 0) & (step.memory >= limit), BANNED_LOGIT, 0.0)


class FramePolyphony(FrameRule):
    """At most :attr:`Settings.max_polyphony` columns may sound: those the model finds likeliest (ties: the
    lower pitch); the rest stay off."""

    def __call__(self, logits, step):
        import tensorflow as tf

        cap = step.settings.max_polyphony
        order = tf.argsort(logits, axis=-1, direction="DESCENDING", stable=True)
        rank = tf.argsort(order, axis=-1, stable=True)  # each column's place among the likeliest
        return logits + tf.where((cap > 0) & (rank >= cap), BANNED_LOGIT, 0.0)


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
        return cls() if isinstance(vocabulary, Vocabulary) else None

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
        return cls() if isinstance(vocabulary, Vocabulary) else None

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
# The release reads the model's wish to start notes before the grammar bans them at the cap.
PROCESSORS: list[type[LogitProcessor]] = [
    BannedTokens,
    LogitBias,
    PitchRange,
    PolyphonyRelease,
    NoteLength,
    NoteGrammar,
    ChordRules,
    FramePitchRange,
    FrameNoteLength,
    FramePolyphony,
]
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

    off = tf.constant(0, tf.int32)
    settings = Settings(
        temperature=tf.cast(temperature, tf.float32),
        top_k=tf.cast(top_k, tf.int32),
        top_p=tf.cast(top_p, tf.float32),
        max_polyphony=off,
        max_note_steps=off,
        pitch_low=off,
        pitch_high=tf.constant(MIDI_PITCHES - 1, tf.int32),
        logit_bias=tf.zeros(tf.shape(logits)[-1:]),
        seed=tf.constant(0, tf.int64),
    )
    for processor in (Temperature(), TopK(), TopP()):
        logits = processor(logits, Step(tf.constant(0), settings, ()))
    return logits
