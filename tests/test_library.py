"""The piece library: files and records saved together, found, listed and deleted together."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from core.data.midi_io import load_midi
from core.errors import LibraryError
from core.store import library
from core.store.db import PieceRecord, session_scope
from core.store.library import PieceQuery
from tests.conftest import make_midi_bytes, scale_piece

pytestmark = pytest.mark.usefixtures("db_url")  # every test on SQLite and on PostgreSQL

NOTES = [(60, 0.0, 0.5), (64, 0.5, 1.0), (67, 1.0, 2.0)]


def save(title: str = "Etude", checkpoint: str = "checkpoints/lstm-bach", **overrides: Any):
    fields: dict[str, Any] = {
        "title": title,
        "checkpoint": checkpoint,
        "model": "lstm",
        "dataset": "bach-chorales",
        "representation": "event",
        "parameters": {"temperature": 0.9, "top_k": 8, "quantize": True},
        "seed": 7,
        "variation": 1,
        "midi": make_midi_bytes(NOTES),
        "audio": None,
        "metrics": {"pitch_range": 7, "note_density": 1.5},
        "duration_seconds": 2.0,
    }
    fields.update(overrides)
    return library.save_piece(**fields)


def test_round_trip_with_audio(neurotune_home):
    midi = make_midi_bytes(NOTES)
    saved = save(midi=midi, audio=b"OggS fake vorbis", audio_suffix=".ogg", variation=2)
    folder = neurotune_home / "library" / saved.id
    assert len(saved.id) == 32
    assert Path(saved.midi_path) == folder / "piece.mid" and Path(saved.audio_path) == folder / "piece.ogg"
    assert (folder / "piece.ogg").read_bytes() == b"OggS fake vorbis"
    assert not list(folder.glob(".*"))  # no temporary files left behind

    found = library.get_piece(saved.id)
    assert (found.title, found.model, found.dataset, found.representation) == (
        "Etude",
        "lstm",
        "bach-chorales",
        "event",
    )
    assert found.parameters == {"temperature": 0.9, "top_k": 8, "quantize": True}
    assert found.metrics == {"pitch_range": 7, "note_density": 1.5}
    assert (found.seed, found.variation, found.duration_seconds) == (7, 2, 2.0)
    assert found.created_at is not None
    assert library.piece_midi(found) == midi
    notes = load_midi(library.piece_midi(found)).instruments[0].notes
    assert [note.pitch for note in notes] == [60, 64, 67]
    assert [piece.id for piece in library.list_pieces()] == [saved.id]
    assert library.count_pieces() == 1


def test_without_audio_there_is_no_audio_file(neurotune_home):
    saved = save()
    assert saved.audio_path is None
    assert sorted(path.name for path in (neurotune_home / "library" / saved.id).iterdir()) == ["piece.mid"]


def test_newest_first_with_limit():
    ids = [save(title=f"Piece {i}", midi=scale_piece(offset=i)).id for i in range(3)]
    assert [piece.id for piece in library.list_pieces()] == ids[::-1]
    assert [piece.id for piece in library.list_pieces(limit=2)] == ids[:0:-1]


def test_missing_piece_raises_a_clear_error():
    with pytest.raises(LibraryError, match="no piece 'nope' in the library"):
        library.get_piece("nope")
    with pytest.raises(LibraryError, match="no piece 'nope'"):
        library.delete_piece("nope")


def test_delete_removes_record_and_files(neurotune_home):
    kept = save(title="Kept")
    deleted = save(title="Deleted", audio=b"RIFF fake wave")
    folder = neurotune_home / "library" / deleted.id
    assert folder.is_dir()
    library.delete_piece(deleted.id)
    assert not folder.exists()
    assert [piece.id for piece in library.list_pieces()] == [kept.id]
    assert library.count_pieces() == 1
    with pytest.raises(LibraryError):
        library.get_piece(deleted.id)
    assert Path(kept.midi_path).is_file()


def test_a_missing_midi_file_raises():
    saved = save()
    Path(saved.midi_path).unlink()
    with pytest.raises(LibraryError, match="MIDI file of piece 'Etude' is missing"):
        library.piece_midi(saved)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": "   "}, "give the piece a name"),
        ({"title": "x" * 101}, "at most 100 characters"),
        ({"title": "two\nlines"}, "cannot contain line breaks"),
        ({"variation": 0}, "variation numbers start at 1"),
        ({"audio": b"x", "audio_suffix": "/../escape"}, "not an audio file suffix"),
    ],
)
def test_bad_requests_store_nothing(neurotune_home, overrides, message):
    with pytest.raises(LibraryError, match=message):
        save(**overrides)
    assert library.count_pieces() == 0
    assert not (neurotune_home / "library").exists() or not any((neurotune_home / "library").iterdir())


# === Titles ===


def test_a_title_another_piece_has_gets_the_first_free_number():
    titles = [save(title="Etude").title for _ in range(3)]
    assert titles == ["Etude", "Etude (2)", "Etude (3)"]
    assert save(title="Etude (2)").title == "Etude (2) (2)"
    library.delete_piece(library.list_pieces(PieceQuery(text="Etude (3)"))[0].id)
    assert save(title="Etude").title == "Etude (3)"  # a deleted piece's title is free again
    assert save(title="etude").title == "etude"  # titles differ by case


def test_a_title_made_from_a_long_name_is_cut_to_fit_with_an_ellipsis():
    made = library.fitting_title("a-checkpoint-with-a-very-long-folder-name" * 4 + " · D minor · seed 7 · 1")
    assert len(made) == 100 and made.endswith("…")
    assert save(made).title == made
    assert library.fitting_title("  Etude  ") == "Etude"


def test_a_numbered_title_keeps_within_the_longest_name():
    long = "x" * 100
    assert save(title=long).title == long
    second = save(title=long).title
    assert second == "x" * 96 + " (2)" and len(second) == 100


def test_a_title_taken_by_another_process_meanwhile_is_looked_up_again(monkeypatch):
    save(title="Etude")
    looked_up = iter(["Etude"])  # as if another process saved "Etude" between the look-up and the write
    real = library.free_title
    monkeypatch.setattr(library, "free_title", lambda title: next(looked_up, None) or real(title))
    assert save(title="Etude").title == "Etude (2)"
    assert library.count_pieces() == 2


def test_rename_checks_the_title_and_frees_the_old_one():
    first, second = save(title="First"), save(title="Second")
    renamed = library.rename_piece(first.id, "  Chorale in D minor  ")
    assert renamed.title == "Chorale in D minor" == library.get_piece(first.id).title
    assert library.rename_piece(first.id, "Chorale in D minor").title == "Chorale in D minor"  # unchanged: fine
    with pytest.raises(LibraryError, match="another piece is already called 'Second'; choose another title"):
        library.rename_piece(first.id, "Second")
    with pytest.raises(LibraryError, match="give the piece a name"):
        library.rename_piece(first.id, " ")
    with pytest.raises(LibraryError, match="at most 100 characters, this one has 101"):
        library.rename_piece(first.id, "y" * 101)
    with pytest.raises(LibraryError, match="no piece 'gone' in the library"):
        library.rename_piece("gone", "Anything")
    assert library.get_piece(second.id).title == "Second"
    assert save(title="First").title == "First"


# === Finding pieces ===


def saved_on(record, day: date) -> None:
    with session_scope() as session:
        session.get(PieceRecord, record.id).created_at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def titles(query: PieceQuery | None = None, limit: int | None = None) -> list[str]:
    return [piece.title for piece in library.list_pieces(query, limit)]


def test_filters_narrow_the_pieces_and_combine():
    bach = save(title="Bach chorale in D minor", checkpoint="checkpoints/bach-lstm")
    folk = save(
        title="Folk tune_1%",
        checkpoint="checkpoints/folk-transformer",
        model="transformer",
        dataset="irish",
        representation="melody",
        parameters={"sampling": {"strategy": "top_p", "temperature": 1.0}, "programs": [0, 40]},
    )
    beam = save(
        title="Bach beam",
        checkpoint="checkpoints/bach-lstm",
        parameters={"sampling": {"strategy": "beam", "temperature": 1.0}, "programs": [0]},
    )
    saved_on(bach, date(2026, 1, 10))
    saved_on(folk, date(2026, 2, 1))
    saved_on(beam, date(2026, 2, 2))
    assert titles() == ["Bach beam", "Folk tune_1%", "Bach chorale in D minor"]
    assert titles(PieceQuery(checkpoints=("checkpoints/bach-lstm",))) == ["Bach beam", "Bach chorale in D minor"]
    assert titles(PieceQuery(models=("transformer",))) == ["Folk tune_1%"]
    assert titles(PieceQuery(datasets=("irish", "bach-chorales"))) == titles()
    assert titles(PieceQuery(representations=("melody",))) == ["Folk tune_1%"]
    assert titles(PieceQuery(text="  BACH ")) == ["Bach beam", "Bach chorale in D minor"]
    assert titles(PieceQuery(text="_1%")) == ["Folk tune_1%"]  # LIKE's wildcards are plain characters
    assert titles(PieceQuery(text="n_D")) == []  # would match "in D minor" were "_" a wildcard
    assert titles(PieceQuery(since=date(2026, 2, 1))) == ["Bach beam", "Folk tune_1%"]
    assert titles(PieceQuery(until=date(2026, 2, 1))) == ["Folk tune_1%", "Bach chorale in D minor"]
    assert titles(PieceQuery(since=date(2026, 1, 11), until=date(2026, 2, 1))) == ["Folk tune_1%"]
    assert titles(PieceQuery(settings=(("sampling.strategy", "beam"), ("sampling.strategy", "top_p")))) == [
        "Bach beam",
        "Folk tune_1%",
    ]
    both = PieceQuery(settings=(("sampling.strategy", "top_p"), ("programs", (0,))))
    assert titles(both) == []  # one value of every setting named
    assert titles(PieceQuery(settings=(("programs", (0, 40)),))) == ["Folk tune_1%"]
    assert titles(PieceQuery(checkpoints=("checkpoints/bach-lstm",), since=date(2026, 2, 1))) == ["Bach beam"]
    assert titles(PieceQuery(settings=(("sampling.temperature", 1.0),)), limit=1) == ["Bach beam"]
    assert titles(limit=2) == ["Bach beam", "Folk tune_1%"]


def test_settings_are_flattened_and_offered_where_they_tell_pieces_apart():
    parameters = {"sampling": {"strategy": "sample", "top_k": 8}, "programs": [0, 40], "seconds": None}
    assert library.flat_settings(parameters) == {
        "sampling.strategy": "sample",
        "sampling.top_k": 8,
        "programs": (0, 40),
        "seconds": None,
    }
    pieces = [
        save(parameters=parameters),
        save(parameters={**parameters, "sampling": {"strategy": "top_p", "top_k": 8}, "programs": [0]}),
    ]
    assert library.setting_choices(pieces) == {"programs": [(0,), (0, 40)], "sampling.strategy": ["sample", "top_p"]}


# === Downloads ===


def test_a_selection_zips_its_midi_audio_and_a_description(neurotune_home):
    with_audio = save(title="Chorale: take 1/2", audio=b"OggS fake vorbis", audio_suffix=".ogg")
    clash = save(title="Chorale_ take 1_2")  # the same file name once made safe
    lost = save(title="Lost", audio=b"RIFF fake wave")
    Path(lost.midi_path).unlink()
    Path(lost.audio_path).unlink()
    archive = zipfile.ZipFile(io.BytesIO(library.pieces_zip([with_audio, clash, lost])))
    clash_stem = f"Chorale_ take 1_2-{clash.id[:8]}"
    assert sorted(archive.namelist()) == sorted(
        ["Chorale_ take 1_2.mid", "Chorale_ take 1_2.ogg", f"{clash_stem}.mid", "pieces.json"]
    )
    assert archive.read("Chorale_ take 1_2.ogg") == b"OggS fake vorbis"
    assert archive.read(f"{clash_stem}.mid") == Path(clash.midi_path).read_bytes()
    manifest = json.loads(archive.read("pieces.json"))
    assert [entry["title"] for entry in manifest] == ["Chorale: take 1/2", "Chorale_ take 1_2", "Lost"]
    assert manifest[0]["files"] == ["Chorale_ take 1_2.mid", "Chorale_ take 1_2.ogg"]
    assert manifest[2]["files"] == [] and manifest[2]["missing"] == ["Lost.mid", "Lost.wav"]
    assert manifest[0]["model"] == "lstm-bach" and manifest[0]["parameters"]["top_k"] == 8
    assert str(neurotune_home) not in json.dumps(manifest)  # no server paths
    assert library.file_stem(" ..") == "piece"


def test_kept_audio_is_read_back_and_a_lost_one_is_none():
    assert library.piece_audio(save()) is None
    kept = save(audio=b"fLaC fake", audio_suffix=".flac")
    assert library.piece_audio(kept) == (b"fLaC fake", ".flac")
    Path(kept.audio_path).unlink()
    assert library.piece_audio(kept) is None
