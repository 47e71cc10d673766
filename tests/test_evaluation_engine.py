"""The Evaluate engine end to end on a small Bach subset: baselines, the cache, the command line.

A real test, not a mock: the held-out chorales must beat random notes on every
summary figure, with the Markov chain between them on most (not on rhythm, where
a chain of the training pieces' own notes matches the training rhythms closely,
nor on structure, where neither baseline ever repeats itself).
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from core.checkpoints import SHIPPED_CHECKPOINTS
from core.cli import main
from core.config import DataConfig
from core.data.build import build_dataset, build_from_corpus
from core.data.uploads import SourceFile
from core.errors import CheckpointError, EvaluationError
from core.evaluation.baselines import MarkovChain, RandomNotes, excerpt
from core.evaluation.evaluate import (
    BASELINE_NAMES,
    MARKOV,
    PAPER_TERMS,
    RANDOM,
    RANKED_FIGURES,
    REAL,
    SUMMARY_FIGURES,
    EvaluationResult,
    evaluate,
)
from core.evaluation.features import FEATURES, SCALARS
from core.store import evaluations as store
from tests.conftest import make_midi_bytes, make_notes, scale_piece, share_corpora

NAME = "bach20"


@pytest.fixture(scope="module")
def bach(request, tmp_path_factory):
    """20 chorales, 8 held out: built once into a home of this module (the CLI test reads it by name)."""
    home = tmp_path_factory.mktemp("evaluation-home")
    share_corpora(request, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEUROTUNE_HOME", str(home))
        config = DataConfig(validation_fraction=0.4, representations=("events",))
        dataset = build_from_corpus(NAME, "bach-chorales", config, limit=20, workers=1).dataset
    return home, dataset


def _better(a: dict, b: dict, figure: str) -> bool:
    higher = SUMMARY_FIGURES[figure][1]
    return a[figure] > b[figure] if higher else a[figure] < b[figure]


def test_held_out_chorales_beat_random_notes_and_the_markov_chain_sits_between(bach):
    _, dataset = bach
    result = evaluate(dataset, [], n=8, seed=0)
    board = {row["system"]: row for row in result.leaderboard()}
    assert list(board) == list(BASELINE_NAMES.values())
    real, markov, noise = (board[BASELINE_NAMES[kind]] for kind in (REAL, MARKOV, RANDOM))
    assert real["pieces"] == markov["pieces"] == noise["pieces"] == 8
    for figure in RANKED_FIGURES:
        assert _better(real, noise, figure), figure
    between = [f for f in RANKED_FIGURES if _better(real, markov, f) and _better(markov, noise, f)]
    assert len(between) >= len(RANKED_FIGURES) / 2, between
    assert {"overlap", "kl", "pitch_overlap", "harmony_overlap"} <= set(between)
    assert result.best()["overlap"] == BASELINE_NAMES[REAL]
    # Baselines have no likelihood; every piece has every number, and the rows hold what the page draws.
    assert real["val_nll"] is None and real["top1"] is None
    system = result.system(BASELINE_NAMES[MARKOV])
    assert len(system.metrics) == 8 and set(system.metrics[0]) == set(SCALARS)
    assert system.histograms["pitch_class_transitions"].shape == (12, 12)
    assert system.comparison["qualified_note_rate"].constant  # every note qualifies on a 16th grid: left out
    assert len(result.originality()) == 24 and result.reference_pieces == len(dataset.split_indices("train"))
    steps = 8 * 4 * 4
    assert all(len(notes) and notes[:, 1].max() <= steps for s in result.systems for notes in s.notes)


def test_the_result_round_trips_and_the_cache_returns_it_without_recomputing(bach, monkeypatch):
    _, dataset = bach
    first = evaluate(dataset, [], n=4, seed=1, bars=4)
    assert not first.cached and store.find_evaluation(first.cache_key) is not None
    assert EvaluationResult.from_json(first.to_json()).to_json() == first.to_json()
    assert json.loads(json.dumps(first.to_json(), allow_nan=False))  # NaN stored as null

    def recompute(*args, **kwargs):
        raise AssertionError("the stored result should have been returned")

    monkeypatch.setattr("core.evaluation.evaluate._measure", recompute)
    again = evaluate(dataset, [], n=4, seed=1, bars=4)
    assert again.cached and again.to_json() == first.to_json()
    with pytest.raises(AssertionError, match="stored result"):
        evaluate(dataset, [], n=4, seed=2, bars=4)  # another seed is another key
    with pytest.raises(AssertionError, match="stored result"):
        evaluate(dataset, [], n=4, seed=1, bars=4, use_cache=False)


def test_progress_cancel_and_bad_settings(bach):
    _, dataset = bach
    seen = []
    evaluate(dataset, [], n=2, seed=3, bars=1, progress=lambda done, total, what: seen.append((done, total)))
    assert seen[-1] == (5, 5) and [done for done, _ in seen] == [1, 2, 3, 4, 5]
    with pytest.raises(EvaluationError, match="cancelled"):
        evaluate(dataset, [], n=2, seed=4, bars=1, cancel=lambda: True)
    assert store.list_evaluations() and len(store.list_evaluations()) == 1  # the cancelled one left nothing
    for settings, message in [
        ({"n": 1}, "between 2 and"),
        ({"bars": 0}, "bars must be"),
        ({"bars": math.nan}, "finite"),
        ({"copy_flag_bars": -1}, "copy flag"),
    ]:
        with pytest.raises(EvaluationError, match=message):
            evaluate(dataset, [], **settings)
    shipped = SHIPPED_CHECKPOINTS / "bach-lstm"
    with pytest.raises(EvaluationError, match="twice"):
        evaluate(dataset, [shipped, SHIPPED_CHECKPOINTS / ".." / "checkpoints" / "bach-lstm"])
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        evaluate(dataset, [shipped.parent / "missing"])


def test_every_figure_named_for_the_papers_words_exists():
    assert set(PAPER_TERMS) == {"pitch accuracy", "rhythmic consistency", "harmonic progression"}
    for term in PAPER_TERMS.values():
        assert set(term["figures"]) <= set(FEATURES) | set(SUMMARY_FIGURES) and term["meaning"]
    assert set(RANKED_FIGURES) <= set(SUMMARY_FIGURES)


def test_the_baselines_write_pieces_of_the_asked_length_in_the_data_s_range():
    training = [make_notes(*[(4 * i, 4 * i + 4, p) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62])])]
    chain = MarkovChain.fit(training)
    pieces = chain.sample(3, steps=40, seed=0)
    assert len(pieces) == 3 and all(notes[:, 1].max() <= 40 and notes[:, 0].max() < 40 for notes in pieces)
    assert set(np.concatenate(pieces)[:, 2].tolist()) <= {60, 62, 64, 65, 67}
    assert all(np.array_equal(a, b) for a, b in zip(pieces, chain.sample(3, steps=40, seed=0)))
    noise = RandomNotes.fit(training)
    assert (noise.lowest, noise.highest, noise.longest, noise.notes_per_step) == (60, 67, 4, 0.25)
    notes = noise.sample(1, steps=64, seed=0)[0]
    assert len(notes) == 16 and notes[:, 2].min() >= 60 and notes[:, 2].max() <= 67
    assert excerpt(make_notes((0, 10, 60), (8, 20, 62), (12, 14, 64)), 12).tolist() == [
        [0, 10, 60, 80, 0, 0],
        [8, 12, 62, 80, 0, 0],
    ]
    with pytest.raises(EvaluationError, match="no"):
        MarkovChain.fit([make_notes()])


def test_cli_evaluate_prints_the_leaderboard_with_the_shipped_checkpoint(bach, monkeypatch, capsys, tmp_path):
    home, _ = bach
    monkeypatch.setenv("NEUROTUNE_HOME", str(home))
    checkpoint = str(SHIPPED_CHECKPOINTS / "bach-lstm")
    command = ["evaluate", "--dataset", NAME, "--checkpoint", checkpoint, "--n", "2", "--bars", "1"]
    assert main([*command, "--csv", str(tmp_path / "board.csv"), "--json", str(tmp_path / "all.json")]) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    rows = {row["system"]: row for row in printed["leaderboard"]}
    assert list(rows) == ["bach-lstm", *BASELINE_NAMES.values()] and not printed["cached"]
    assert 0 < rows["bach-lstm"]["top1"] <= rows["bach-lstm"]["top5"] <= 1 and rows["bach-lstm"]["val_nll"] > 0
    assert printed["settings"]["sampling"]["temperature"] == 1.0 and printed["settings"]["seed"] == 0
    assert "bach-lstm was trained on 'bach'" in err
    with open(tmp_path / "board.csv") as handle:
        assert [row["system"] for row in csv.DictReader(handle)] == list(rows)
    stored = EvaluationResult.from_json(json.loads((tmp_path / "all.json").read_text()))
    assert stored.system("bach-lstm").likelihood["unit"] == "nats/token"
    assert main(command) == 0
    assert json.loads(capsys.readouterr().out)["cached"]


def test_cli_metrics_prints_each_piece_as_json(tmp_path, capsys):
    path = tmp_path / "arpeggio.mid"  # C E G C', a quarter note each at 120 BPM
    path.write_bytes(make_midi_bytes([(p, i * 0.5, (i + 1) * 0.5) for i, p in enumerate([60, 64, 67, 72])]))
    assert main(["metrics", str(path), "--histograms"]) == 0
    [piece] = json.loads(capsys.readouterr().out)
    assert piece["notes"] == 4 and piece["key"] == "C major" and piece["time_signature"] == "4/4"
    metrics = piece["metrics"]
    assert metrics["pitch_range"] == 12 and metrics["mean_absolute_interval"] == 4.0
    assert metrics["groove_consistency"] is None and metrics["chord_plausibility"] is None  # NaN: one bar, no reference
    assert piece["histograms"]["note_length_histogram"][3] == 1.0


def test_cli_metrics_against_a_dataset_reads_the_files_onto_its_grid(tmp_path, capsys):
    """A dataset that keeps what sounds on each quarter: a run of eighths is measured as one voice, as its own
    pieces were; rounded to the nearest quarter, the same run piles two pitches into each step."""
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i % 5, length=48)) for i in range(8)]
    build_dataset("quarters", files, DataConfig(steps_per_quarter=1, quantize="sounding"))
    path = tmp_path / "eighths.mid"
    path.write_bytes(scale_piece(length=48))  # 48 eighths at 120 BPM: 24 quarters
    assert main(["metrics", str(path), "--steps-per-quarter", "1", "--dataset", "quarters"]) == 0
    [on_its_grid] = json.loads(capsys.readouterr().out)
    assert on_its_grid["notes"] == 24 and on_its_grid["metrics"]["polyphony"] == 1.0
    assert "longest_copy" in on_its_grid
    assert main(["metrics", str(path), "--steps-per-quarter", "1"]) == 0
    [rounded] = json.loads(capsys.readouterr().out)
    assert rounded["metrics"]["polyphony"] > 1.0


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["metrics", str(tmp_path / "missing.mid")]) == 2
    assert capsys.readouterr().err == f"error: no MIDI file at {tmp_path / 'missing.mid'}\n"
    (tmp_path / "bad.mid").write_bytes(b"nonsense")
    assert main(["metrics", str(tmp_path / "bad.mid")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'bad.mid'}: ")
    assert main(["evaluate", "--dataset", "nope"]) == 2
    assert "no dataset named 'nope'" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", "nope", "--csv", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_store_keeps_one_result_per_key():
    store.save_evaluation("k1", "bach", {"version": 0})
    store.save_evaluation("k1", "bach", {"version": 1})
    store.save_evaluation("k2", "irish", {"version": 1})
    assert store.find_evaluation("k1").result == {"version": 1}
    assert [record.cache_key for record in store.list_evaluations("bach")] == ["k1"]
    store.delete_evaluation(store.find_evaluation("k2").id)
    assert store.find_evaluation("k2") is None
    with pytest.raises(EvaluationError, match="no stored evaluation"):
        store.delete_evaluation("nope")
