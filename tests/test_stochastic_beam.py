"""Stochastic beam search: a sample without replacement, so its variations are likely and still differ."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.representations import NOTE_OFF_OFFSET, TIME_SHIFT_OFFSET, EventsRepresentation
from core.generation.sampling import Limits, SampleConfig, SamplerSet
from tests.decoders import BigramDecoder

EVENTS = EventsRepresentation(max_time_shift_steps=4, velocity_bins=2)
FAR_FUTURE = 10_000


def samplers(logits: np.ndarray) -> SamplerSet:
    return SamplerSet(BigramDecoder(logits), EVENTS.token_steps(), token_pitches=EVENTS.token_pitches())


def one_chord_decoder() -> np.ndarray:
    """Likes one chord struck again and again (what plain beam search made of the Bach model), other notes less."""
    logits = np.random.default_rng(2).normal(0.0, 1.0, (EVENTS.size, EVENTS.size))
    logits[:, 48:72] += 2.0
    logits[:, [48, 55, 60, 64]] += 4.0
    logits[:, NOTE_OFF_OFFSET : NOTE_OFF_OFFSET + 128] += 3.0
    logits[:, TIME_SHIFT_OFFSET + 3] += 5.0
    return logits


@pytest.fixture(scope="module")
def chords():
    return samplers(one_chord_decoder())


START = np.array([EVENTS.velocity_offset])


def beams(sampler, strategy: str, seed: int = 0) -> list[np.ndarray]:
    config = SampleConfig(strategy=strategy, beam_width=4, variations=4, seed=seed)
    return sampler.run(START, config, FAR_FUTURE, 48, limits=Limits(max_polyphony=4, max_note_steps=8)).sequences


def differing(sequences: list[np.ndarray]) -> int:
    """The fewest tokens in which two of the sequences differ."""
    return min(
        int((a[: min(len(a), len(b))] != b[: min(len(a), len(b))]).sum()) + abs(len(a) - len(b))
        for i, a in enumerate(sequences)
        for b in sequences[i + 1 :]
    )


def test_stochastic_beams_differ_where_plain_beams_are_near_copies(chords):
    assert differing(beams(chords, "beam")) <= 3  # plain beams: a token or so apart
    drawn = beams(chords, "stochastic_beam", seed=1)
    assert len(drawn) == 4 and differing(drawn) >= 10


def test_a_seed_gives_the_same_beams_and_another_seed_others(chords):
    first, again, other = (beams(chords, "stochastic_beam", seed) for seed in (3, 3, 4))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_stochastic_beams_keep_the_rules(chords):
    for sequence in beams(chords, "stochastic_beam", seed=5):
        notes = EVENTS.decode(sequence)
        assert (notes[:, 1] - notes[:, 0]).max() <= 8
        change = np.zeros(int(notes[:, 1].max()) + 1, int)
        np.add.at(change, notes[:, 0], 1)
        np.add.at(change, notes[:, 1], -1)
        assert np.cumsum(change).max() <= 4


def test_a_stochastic_beam_of_one_is_a_draw_from_the_model():
    """Width 1: the first token is distributed as the model says (Kool et al.: SBS of size 1 is sampling)."""
    logits = np.full((EVENTS.size, EVENTS.size), -30.0)
    logits[:, [60, 64, 67]] = np.log([0.6, 0.3, 0.1])
    sampler = samplers(logits)
    firsts = [
        int(
            sampler.run(
                START, SampleConfig(strategy="stochastic_beam", beam_width=1, seed=seed), FAR_FUTURE, 3
            ).sequences[0][1]
        )
        for seed in range(300)
    ]
    shares = [firsts.count(pitch) / len(firsts) for pitch in (60, 64, 67)]
    np.testing.assert_allclose(shares, [0.6, 0.3, 0.1], atol=0.08)
