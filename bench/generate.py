"""Benchmark: generation speed, from one decoding step to a rendered piece.

Per architecture in the registry, random-initialized at realistic sizes over a ~310-token
vocabulary (events + controls), in the same run:

- incremental: the compiled sampling loop (:class:`core.generation.sampling.RandomSampler` over
  :func:`core.generation.decoding.step_decoder`) writing ``--tokens`` tokens, timed after a
  warm-up call so tracing is not counted (median of ``--repeats``);
- naive: a compiled forward pass over the last ``--window`` tokens of a prefilled context for
  every new token (median seconds per token over ``--naive-tokens``).

``speedup`` = incremental / naive tokens/s (targets at a 512-token window: >= 100 for the
recurrent models, >= 20 for the transformer). Then, with the shipped checkpoint already loaded:
``compose_1000_s``, seconds per 1,000 tokens through :meth:`Composer.compose`, the function the
Generate page calls (target < 0.3), split into ``compose_sampler_1000_s`` (the sampling loop) and
``compose_rest_1000_s`` (decoding, post-processing, MIDI, metrics), with ``compose_loop_x_bare_step``, the
loop's per-token time over that of the checkpoint's bare decoder step (its logits' argmax fed back, no
processors, no draw), timed in the same rounds so that a busy machine slows both alike; and ``render_x_realtime``, piece seconds per wall second of
:func:`core.audio.render_wav` (target >= 50). Timings share the CPU with anything else running
(``load_average_1m`` says how busy it was). Prints JSON.

    .venv/bin/python bench/generate.py [--quick] [--window 512] [--tokens 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
# Event vocabulary (304 tokens at the default DataConfig) plus a few control tokens.
VOCAB = 310
MAX_LENGTH = 2048
MODEL_OPTIONS = {
    "rnn": {"embedding_dim": 128, "units": 256, "layers": 2},
    "lstm": {"embedding_dim": 128, "units": 256, "layers": 2},
    "lstm_attention": {"embedding_dim": 128, "units": 256, "layers": 2, "attention_window": 40},
    "transformer": {"d_model": 256, "heads": 4, "layers": 4, "ff_dim": 1024, "max_length": MAX_LENGTH},
}
TARGET_SPEEDUP = {"rnn": 100.0, "lstm": 100.0, "lstm_attention": 100.0, "transformer": 20.0}
TARGET_COMPOSE_1000_S = 0.3
TARGET_RENDER_X_REALTIME = 50.0
COMPOSE_TOKENS = 1000


def build(name: str):
    from core.models import InputSpec, build_model, make_config

    return build_model(name, make_config(name, MODEL_OPTIONS.get(name, {})), InputSpec("tokens", VOCAB, MAX_LENGTH))


def incremental_tokens_per_s(model, tokens: int, repeats: int) -> float:
    """Tokens/s of the compiled sampling loop writing ``tokens`` new tokens after a one-token prefix."""
    import numpy as np

    from core.generation.decoding import step_decoder
    from core.generation.sampling import SampleConfig, SamplerSet

    sampler = SamplerSet(step_decoder(model), token_steps=np.ones(VOCAB, np.int32), banned=None)

    def compose() -> int:
        decoded = sampler.run(np.array([0], np.int32), SampleConfig(seed=0), target_steps=tokens, max_tokens=tokens + 2)
        return len(decoded.sequences[0]) - 1

    compose()  # traces the loop
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        written = compose()
        rates.append(written / (time.perf_counter() - started))
    return statistics.median(rates)


def naive_tokens_per_s(model, window: int, tokens: int) -> float:
    """Tokens/s of re-running the model over the last ``window`` tokens for every new token."""
    import tensorflow as tf

    @tf.function
    def next_window(context, step):
        logits = model(context, training=False)[:, -1]
        drawn = tf.random.stateless_categorical(logits, 1, seed=tf.stack([tf.constant(0, tf.int64), step]))
        return tf.concat([context[:, 1:], tf.cast(drawn, context.dtype)], axis=1)

    context = tf.random.stateless_uniform((1, window), seed=(0, 1), maxval=VOCAB, dtype=tf.int32)
    for step in range(2):  # trace and warm up
        context = next_window(context, tf.constant(step, tf.int64))
    seconds = []
    for step in range(tokens):
        started = time.perf_counter()
        context = next_window(context, tf.constant(step, tf.int64))
        context.numpy()
        seconds.append(time.perf_counter() - started)
    return 1 / statistics.median(seconds)


def measure_decoders(window: int, tokens: int, naive_tokens: int, repeats: int) -> dict:
    import keras

    from core.models import list_models

    figures = {}
    # The GANs write whole sequences from noise: no step decoder to time (bench/gan.py measures them).
    for spec in (spec for spec in list_models() if not spec.trains_itself):
        keras.utils.set_random_seed(0)
        model = build(spec.name)
        incremental = incremental_tokens_per_s(model, tokens, repeats)
        naive = naive_tokens_per_s(model, window, naive_tokens)
        target = TARGET_SPEEDUP.get(spec.name)
        figures[spec.name] = {
            "incremental_tokens_per_s": round(incremental, 1),
            "naive_tokens_per_s": round(naive, 2),
            "speedup": round(incremental / naive, 1),
            "target_speedup": target,
            "meets_targets": target is not None and incremental / naive >= target,
        }
        keras.backend.clear_session()
    return figures


def load_composer():
    """The shipped checkpoint (else the first one) loaded for composing, or (None, None, reason)."""
    from core.checkpoints import list_checkpoints
    from core.errors import CheckpointError
    from core.generation.compose import Composer

    checkpoints = list_checkpoints()
    if not checkpoints:
        return None, None, "no checkpoint found"
    info = next((info for info in checkpoints if info.shipped), checkpoints[0])
    for _ in range(2):  # a training run may be rewriting model.keras right now
        try:
            return info, Composer.load(info.path), None
        except CheckpointError as error:
            reason = f"{info.name} could not be loaded: {error}"
            time.sleep(5)
    return info, None, reason


def measure_compose(repeats: int) -> tuple[dict, bytes | None]:
    from core.generation.compose import BEATS_PER_BAR, CompositionRequest

    info, composer, reason = load_composer()
    if composer is None:
        return {"compose_1000_s": None, "compose_reason": reason}, None
    bars = COMPOSE_TOKENS / (info.tokens_per_step * BEATS_PER_BAR * composer.steps_per_quarter)
    request = CompositionRequest(bars=bars)
    composer.compose(request)  # traces the loop
    run = composer.sampler.run
    sampler_seconds = []

    def timed_run(*args, **options):
        started = time.perf_counter()
        decoded = run(*args, **options)
        sampler_seconds.append(time.perf_counter() - started)
        return decoded

    composer.sampler.run = timed_run
    bare = bare_step_loop(composer.checkpoint.decoder)
    seconds, written, loop_ratios, result = [], [], [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = composer.compose(request)
        seconds.append(time.perf_counter() - started)
        tokens_written = len(result.compositions[0].tokens)
        written.append(tokens_written)
        loop_ratios.append(sampler_seconds[-1] / bare(tokens_written))
    del composer.sampler.run
    median_s, tokens = statistics.median(seconds), statistics.median(written)
    sampler_s = statistics.median(sampler_seconds)
    rest_s = statistics.median(total - loop for total, loop in zip(seconds, sampler_seconds))
    figures = {
        "compose_checkpoint": info.name,
        "compose_model": info.model,
        "compose_shipped": info.shipped,
        "compose_bars": round(bars, 2),
        "compose_tokens_written": tokens,
        "compose_median_s": round(median_s, 3),
        "compose_1000_s": round(median_s * COMPOSE_TOKENS / tokens, 3),
        "compose_sampler_1000_s": round(sampler_s * COMPOSE_TOKENS / tokens, 3),
        "compose_rest_1000_s": round(rest_s * COMPOSE_TOKENS / tokens, 3),
        "compose_loop_us_per_token": round(sampler_s / tokens * 1e6, 1),
        "compose_loop_x_bare_step": round(statistics.median(loop_ratios), 2),
    }
    return figures, result.compositions[0].midi


def bare_step_loop(decoder):
    """Seconds for ``tokens`` steps of ``decoder`` alone, batch 1, compiled as the sampling loop is (traced here)."""
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def steps(count):
        state = decoder.initial_state(1, 2 * MAX_LENGTH)  # a buffer as large as the sampling loop's

        def body(position, token, state):
            logits, state = decoder.step(token, state, position)
            return position + 1, tf.argmax(logits, axis=-1, output_type=tf.int32), state

        loop_vars = (tf.constant(0), tf.zeros((1,), tf.int32), state)
        return tf.while_loop(lambda position, *_: position < count, body, loop_vars, parallel_iterations=1)[1]

    def seconds(tokens: int) -> float:
        started = time.perf_counter()
        steps(tf.constant(tokens)).numpy()
        return time.perf_counter() - started

    seconds(2)
    return seconds


def synthetic_piece(seconds: float = 30.0) -> bytes:
    """A C-major arpeggio with a held bass, ``seconds`` long at 120 BPM, as MIDI bytes."""
    import numpy as np

    from core.data.midi_io import midi_to_bytes
    from core.data.piece import notes_to_midi

    quarters = int(seconds * 2)
    melody = [(q * 4, q * 4 + 4, (60, 64, 67, 72)[q % 4], 80, 0, 0) for q in range(quarters)]
    bass = [(q * 16, q * 16 + 16, 48, 70, 0, 0) for q in range(quarters // 4)]
    return midi_to_bytes(notes_to_midi(np.array(melody + bass, np.int32), 4, tempo_bpm=120.0))


def measure_render(midi: bytes | None, repeats: int) -> dict:
    import pretty_midi

    from core.audio import render_wav

    source = "composed"
    duration = float(pretty_midi.PrettyMIDI(io.BytesIO(midi)).get_end_time()) if midi else 0.0
    if duration < 10:  # an untrained model may write next to nothing
        midi, source = synthetic_piece(), "synthetic"
        duration = float(pretty_midi.PrettyMIDI(io.BytesIO(midi)).get_end_time())
    render_wav(midi)  # loads the SoundFont into the page cache
    seconds, engine = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        engine = render_wav(midi).engine
        seconds.append(time.perf_counter() - started)
    return {
        "render_piece": source,
        "render_piece_s": round(duration, 2),
        "render_engine": engine,
        "render_median_s": round(statistics.median(seconds), 3),
        "render_x_realtime": round(duration / statistics.median(seconds), 1),
    }


@contextlib.contextmanager
def stdout_to_stderr():
    """Send what subprocesses print (FluidSynth's banner) to stderr, so stdout holds only the JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats: a smoke check")
    parser.add_argument("--window", type=int, default=512, help="tokens the naive way re-reads per new token")
    parser.add_argument("--tokens", type=int, default=1000, help="tokens the incremental decoder writes per run")
    parser.add_argument("--naive-tokens", type=int, default=20, help="tokens written the naive way")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each loop (median)")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.naive_tokens, args.repeats = 200, 5, 1
    sys.path.insert(0, str(ROOT))
    import tensorflow as tf

    load_before = os.getloadavg()[0]
    with stdout_to_stderr():
        decoders = measure_decoders(args.window, args.tokens, args.naive_tokens, args.repeats)
        compose, midi = measure_compose(args.repeats)
        render = measure_render(midi, args.repeats)
    compose_s = compose["compose_1000_s"]
    print(
        json.dumps(
            {
                "benchmark": "generation-speed",
                "window": args.window,
                "incremental_tokens": args.tokens,
                "naive_tokens": args.naive_tokens,
                "vocab": VOCAB,
                **decoders,
                **compose,
                **render,
                "targets": {
                    **{f"{name}_speedup": target for name, target in TARGET_SPEEDUP.items()},
                    "compose_1000_s": TARGET_COMPOSE_1000_S,
                    "render_x_realtime": TARGET_RENDER_X_REALTIME,
                },
                "meets_compose_target": compose_s is not None and compose_s < TARGET_COMPOSE_1000_S,
                "meets_render_target": render["render_x_realtime"] >= TARGET_RENDER_X_REALTIME,
                "cpu_count": os.cpu_count(),
                "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                "tensorflow": tf.__version__,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
