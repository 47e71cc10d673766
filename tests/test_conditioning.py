"""Control tokens: key ids, tonic names, saved layouts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.data.conditioning import KEYS, Conditioning, key_of, style_of
from core.errors import CheckpointError, ConfigError
from core.music.theory import tonic_index

CONDITIONING = Conditioning(base_size=100, styles=("bach-chorales", "irish-folk"), density_edges=(2.0, 3.0))


def test_a_prefix_names_style_key_and_density():
    style, key, density = CONDITIONING.prefix("irish-folk", "minor", "dense", "D")
    assert style == 101
    assert KEYS[key - CONDITIONING.key_base] == "D minor"
    assert density == CONDITIONING.density_base + 2 == CONDITIONING.vocab_size - 1


@pytest.mark.parametrize(("name", "pitch_class"), [("C", 0), ("F#", 6), ("bb", 10), ("Eb", 3), (" a ", 9)])
def test_tonic_names_are_read_as_pitch_classes(name, pitch_class):
    assert tonic_index(name) == pitch_class


def test_unknown_controls_are_refused_with_what_the_model_knows():
    with pytest.raises(ConfigError, match="unknown tonic 'H'"):
        CONDITIONING.prefix("bach-chorales", "major", "medium", "H")
    with pytest.raises(ConfigError, match="this model knows bach-chorales, irish-folk"):
        CONDITIONING.prefix("jazz", "major", "medium", "C")


@pytest.mark.parametrize("key", KEYS)
def test_piece_keys_come_from_their_metadata(key):
    assert KEYS[key_of({"key": key})] == key


def test_the_style_is_the_corpus_else_the_dataset_name():
    assert style_of(SimpleNamespace(manifest={"source": "corpus:irish-folk"}, name="my reels")) == "irish-folk"
    assert style_of(SimpleNamespace(manifest={"source": "upload"}, name="my reels")) == "my reels"


def test_controls_round_trip_and_an_older_layout_asks_for_retraining():
    assert Conditioning.from_json(CONDITIONING.to_json()) == CONDITIONING
    old = {"base_size": 100, "styles": ["bach-chorales"], "density_edges": [2.0, 3.0]}
    with pytest.raises(CheckpointError, match="older set of control tokens"):
        Conditioning.from_json(old)
    assert len(CONDITIONING.token_names()) == CONDITIONING.size
