"""Musical quality: the profile and its distance on hand-made pieces, the bounds checks, tuning the defaults."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.checkpoints import CheckpointFolder
from core.cli import main
from core.config import DataConfig
from core.data.bounds import MusicBounds
from core.data.build import build_dataset
from core.data.uploads import SourceFile
from core.errors import EvaluationError
from core.evaluation.metrics import repeated_note_rate
from core.evaluation.quality import MEASURES, QualityProfile, bounds_shares
from core.evaluation.tuning import TuningGrid
from tests.conftest import make_notes, scale_piece
from tests.untrained import untrained_checkpoint

GRID = 4  # steps per quarter note


def _melody(pitches: list[int], length: int = 2) -> np.ndarray:
    """One note after another, each ``length`` steps."""
    return make_notes(*((i * length, (i + 1) * length, pitch) for i, pitch in enumerate(pitches)))


SCALES = [_melody([60, 62, 64, 65, 67, 69, 71, 72]), _melody([67, 65, 64, 62, 60, 62, 64, 65])]
REPEATS = [_melody([60, 60, 64, 64, 67, 67, 72, 72]), _melody([67, 67, 64, 64, 60, 60, 65, 65])]


def test_repeated_notes_are_the_share_of_top_line_steps_that_keep_the_pitch():
    assert repeated_note_rate(_melody([60, 60, 62, 62])) == pytest.approx(2 / 3)
    assert repeated_note_rate(_melody([60, 62, 64])) == 0.0
    assert math.isnan(repeated_note_rate(_melody([60])))


def test_a_set_is_at_distance_zero_from_itself_and_repeated_notes_move_it_away_on_that_measure():
    reference = QualityProfile.of(SCALES, GRID)
    same = QualityProfile.of([notes.copy() for notes in SCALES], GRID).distance(reference)
    assert same.total == 0.0 and set(same.measures) == set(MEASURES) and not any(same.measures.values())
    repeated = QualityProfile.of(REPEATS, GRID).distance(reference)
    assert repeated.measures["repeated_notes"] > 0 and repeated.total > 0
    assert repeated.measures["polyphony"] == 0.0  # still one voice
    assert QualityProfile.of(REPEATS, GRID).value("repeated_notes") == pytest.approx(4 / 7)


def test_a_gap_counts_in_spreads_of_the_real_pieces():
    """Polyphony 1 and 2 among the real pieces: mean 1.5, each 0.5 away; a set at 2.5 lies two spreads off."""
    chord = make_notes((0, 8, 60), (0, 8, 64))
    triad = make_notes((0, 8, 60), (0, 8, 64), (0, 8, 67))
    real = QualityProfile.of([_melody([60, 62]), chord], GRID)
    assert real.means["polyphony"] == 1.5 and real.spreads["polyphony"] == 0.5
    gap = QualityProfile.of([chord, triad], GRID).distance(real)
    assert gap.measures["polyphony"] == pytest.approx(2.0)
    assert real.means["pitch_classes"].shape == (12,) and math.isclose(real.means["pitch_classes"].sum(), 1.0)


def test_an_empty_set_has_no_measures_and_no_distance():
    empty = QualityProfile.of([], GRID)
    assert empty.pieces == 0 and np.isnan(empty.means["intervals"]).all() and empty.means["intervals"].shape == (25,)
    assert math.isnan(empty.distance(QualityProfile.of(SCALES, GRID)).total)


def test_the_bounds_checks_count_the_pieces_that_break_each_bound():
    bounds = MusicBounds(pitch_low=60, pitch_high=72, longest_note_steps=4, voices=2, steps_per_quarter=GRID)
    fine = make_notes((0, 4, 60), (0, 4, 72), (4, 8, 64))
    hanging = make_notes((0, 5, 60))
    out_of_range = make_notes((0, 4, 73), (4, 8, 59))
    crowded = make_notes((0, 4, 60), (1, 4, 64), (2, 4, 67))
    drums = make_notes((0, 16, 35, 80, 0, 1))  # a drum's pitch picks an instrument: never out of range
    shares = bounds_shares([fine, hanging, out_of_range, crowded, drums], bounds, GRID)
    assert shares == {"hanging": 0.2, "out_of_range": 0.2, "too_many_voices": 0.2}
    with pytest.raises(EvaluationError, match="on 4 steps per quarter note, the pieces are on 8"):
        bounds_shares([fine], bounds, 8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Eight scales, two held out, and an untrained melody LSTM checkpoint (no bounds, no defaults)."""
    home = tmp_path_factory.mktemp("quality-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEUROTUNE_HOME", str(home))
        files = [SourceFile(f"s{i}.mid", scale_piece(offset=i, length=32)) for i in range(8)]
        dataset = build_dataset("tiny", files, DataConfig(validation_fraction=0.25), workers=1).dataset
        checkpoint = untrained_checkpoint(home, dataset, "lstm", "melody")
    return home, dataset, checkpoint


def test_tuning_keeps_the_setting_closest_to_the_held_out_pieces_and_write_stores_it(tiny, monkeypatch, capsys):
    home, dataset, checkpoint = tiny
    monkeypatch.setenv("NEUROTUNE_HOME", str(home))
    assert CheckpointFolder(Path(checkpoint)).read_config().bounds is None
    assert main(["runs", "tune", checkpoint, "--dataset", "tiny", "--pieces", "2", "--bars", "1", "--write"]) == 0
    printed = json.loads(capsys.readouterr().out)
    trials = printed["trials"]
    grid = TuningGrid()  # trained without controls: temperature x top-p, no guidance
    assert [(t["temperature"], t["top_p"]) for t in trials] == [(t, p) for t in grid.temperature for p in grid.top_p]
    best = min(trials, key=lambda trial: trial["distance"])
    assert printed["defaults"] == {"temperature": best["temperature"], "top_p": best["top_p"]}
    assert printed["split"] == "validation" and printed["trade_off"] == {"guidance": []}
    assert any("remove_duplicates changed no piece" in warning for warning in printed["warnings"])
    assert any("has no bounds" in warning for warning in printed["warnings"])
    config = CheckpointFolder(Path(checkpoint)).read_config()
    assert printed["written"] and config.compose_defaults == printed["defaults"]
    assert config.bounds is not None and config.bounds.to_json() == printed["bounds"]


def test_caps_on_note_length_join_the_grid_only_when_asked_for(tiny, monkeypatch, capsys):
    assert all("max_note_beats" not in setting for setting in TuningGrid().settings(conditioned=False))
    caps = TuningGrid(temperature=(1.0,), top_p=(1.0,), max_note_beats=(0.0, 0.5)).settings(conditioned=False)
    assert caps == [{"temperature": 1.0, "top_p": 1.0, "max_note_beats": 0.0}, {**caps[0], "max_note_beats": 0.5}]
    home, _, checkpoint = tiny
    monkeypatch.setenv("NEUROTUNE_HOME", str(home))
    command = [
        "runs",
        "tune",
        checkpoint,
        "--dataset",
        "tiny",
        "--pieces",
        "2",
        "--bars",
        "1",
        "--max-note-beats",
        "0.5",
    ]
    assert main(command) == 0
    trials = json.loads(capsys.readouterr().out)["trials"]
    assert sorted({t["max_note_beats"] for t in trials}) == [0.0, 0.5] and len(trials) == 2 * len(
        TuningGrid().settings(False)
    )
