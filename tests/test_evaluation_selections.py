"""Library pieces evaluated as a row: measured like composed pieces, keyed by their files, named, from the CLI and jobs.

No model composes here: the pieces are tiny scales saved to the library by the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import main
from core.config import DataConfig
from core.data.build import build_dataset
from core.data.uploads import SourceFile
from core.errors import EvaluationError
from core.evaluation import jobs
from core.evaluation.evaluate import BASELINE_NAMES, LIBRARY, EvaluationResult, evaluate
from core.evaluation.selections import PieceSelection, library_choices
from core.store import evaluations as store
from core.store import library
from tests.conftest import make_midi_bytes, make_notes, scale_piece
from tests.test_library_page import save

CHECKPOINT = "checkpoints/bach-lstm"
ROW = "Library: bach-lstm (3 pieces)"
# Two bars at the dataset's 4 steps per quarter: the scales' whole length.
QUICK = {"n": 2, "bars": 2.0}


@pytest.fixture
def tiny():
    """Six scales, two held out; in the library three scales of 'bach-lstm' and a triplet run of 'folk-rnn'.

    Each library scale is 16 eighth notes at 120 BPM, two bars: on the dataset's grid. The triplets are not.
    """
    files = [SourceFile(f"s{i}.mid", scale_piece(offset=i, length=24 + 4 * i)) for i in range(6)]
    config = DataConfig(validation_fraction=0.4, representations=("events",))
    dataset = build_dataset("tiny", files, config, workers=1).dataset
    scales = [
        save(f"Scale {offset}", CHECKPOINT, dataset="tiny", midi=scale_piece(offset=offset, length=16))
        for offset in range(3)
    ]
    triplets = make_midi_bytes([(60 + i % 7, i / 6, (i + 1) / 6) for i in range(24)])
    folk = save("Triplets", "checkpoints/folk-rnn", dataset="irish", midi=triplets)
    return dataset, scales, folk


def test_library_pieces_are_a_row_measured_like_composed_ones_with_their_ids_and_titles(tiny):
    dataset, scales, _ = tiny
    selection = PieceSelection.of_checkpoint(CHECKPOINT)
    assert selection.piece_ids == tuple(piece.id for piece in scales)  # oldest first
    result = evaluate(dataset, [], library=[selection], **QUICK)
    assert [row["system"] for row in result.leaderboard()] == [ROW, *BASELINE_NAMES.values()]
    row = result.system(ROW)
    assert row.kind == LIBRARY and row.piece_ids == list(selection.piece_ids) and not row.warnings
    assert row.piece_names == ["Scale 0", "Scale 1", "Scale 2"]
    # An eighth note is two steps; all three pieces measured, whatever n says.
    assert row.notes[1].tolist() == make_notes(*[(2 * i, 2 * i + 2, 61 + 2 * i % 12) for i in range(16)]).tolist()
    assert [piece["pitch_range"] for piece in row.metrics] == [10, 10, 10] and row.summary["overlap"] is not None
    originality = [entry for entry in result.originality() if entry["system"] == ROW]
    assert {(entry["piece_name"], entry["piece_id"]) for entry in originality} == {(p.title, p.id) for p in scales}
    stored = EvaluationResult.from_json(store.find_evaluation(result.cache_key).result)
    assert stored.system(ROW).piece_ids == row.piece_ids

    [choice] = library_choices(dataset)  # folk-rnn has one piece: not a set
    assert choice.label == "bach-lstm · 3 pieces" and choice.selection == selection and choice.trained_here


def test_the_key_follows_the_pieces_files_and_bad_selections_are_refused(tiny):
    dataset, scales, folk = tiny
    three = PieceSelection(tuple(piece.id for piece in scales))
    first = evaluate(dataset, [], library=[three], **QUICK)
    assert evaluate(dataset, [], library=[three], **QUICK).cached
    mixed = PieceSelection((scales[0].id, folk.id))
    other = evaluate(dataset, [], library=[mixed], **{**QUICK, "bars": 4.0})
    assert other.cache_key != first.cache_key
    row = other.system("Library: bach-lstm, folk-rnn (2 pieces)")
    name = row.name
    assert row.warnings == [
        f"{name}: 1 of 2 pieces were composed on a finer grid than this dataset's 4 steps per quarter note: "
        "snapped to it",
        f"{name}: 2 of 2 pieces end a bar or more before the length asked: their features are those of shorter pieces",
        f"{name}: 1 of 2 pieces come from models trained on other data than 'tiny': pieces held out here may have "
        "been in their training set",
    ]

    for ids, message in [((scales[0].id,), "at least 2 pieces"), ((folk.id, folk.id), "listed twice in one")]:
        with pytest.raises(EvaluationError, match=message):
            PieceSelection(ids)
    with pytest.raises(EvaluationError, match="the same library pieces are listed twice"):
        evaluate(dataset, [], library=[three, three], **QUICK)
    with pytest.raises(EvaluationError, match="holds 0 pieces composed with checkpoints/nope"):
        PieceSelection.of_checkpoint("checkpoints/nope")
    Path(scales[2].midi_path).unlink()
    with pytest.raises(EvaluationError, match="the MIDI file of piece 'Scale 2' is missing"):
        evaluate(dataset, [], library=[three], **QUICK)
    library.delete_piece(scales[2].id)  # the stored result is never returned for what is left
    with pytest.raises(EvaluationError, match=f"no piece '{scales[2].id}' in the library"):
        evaluate(dataset, [], library=[three], **QUICK)


def test_the_command_line_and_jobs_evaluate_library_pieces(tiny, capsys, monkeypatch):
    _, scales, folk = tiny
    command = ["evaluate", "--dataset", "tiny", "--library-checkpoint", CHECKPOINT, "--n", "2", "--bars", "2"]
    assert main([*command, "--piece", scales[0].id, "--piece", folk.id]) == 0
    rows = [row["system"] for row in json.loads(capsys.readouterr().out)["leaderboard"]]
    assert rows == [ROW, "Library: bach-lstm, folk-rnn (2 pieces)", *BASELINE_NAMES.values()]
    assert main([*command, "--piece", "nope", "--piece", "gone"]) == 2
    assert "no piece 'nope', 'gone' in the library" in capsys.readouterr().err

    monkeypatch.setattr(jobs, "schedule", lambda: [])  # the worker runs here
    selection = PieceSelection((folk.id, scales[1].id))
    job = jobs.create_job("tiny", [], seed=1, library=[selection], **QUICK)
    assert job.library == [[folk.id, scales[1].id]]
    assert jobs.work(job.id) == "finished"
    row = jobs.job_result(store.get_job(job.id)).system("Library: folk-rnn, bach-lstm (2 pieces)")
    assert row.piece_ids == [folk.id, scales[1].id]
