"""The piece library: files and records saved together, found, listed and deleted together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.data.midi_io import load_midi
from core.errors import LibraryError
from core.store import library
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


def test_filter_by_checkpoint():
    first = save(checkpoint="checkpoints/a").id
    save(checkpoint="checkpoints/b")
    third = save(checkpoint="checkpoints/a").id
    assert [piece.id for piece in library.list_pieces(checkpoint="checkpoints/a")] == [third, first]
    assert library.list_pieces(checkpoint="checkpoints/none") == []
    assert library.count_pieces() == 3


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
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"variation": 0}, "variation numbers start at 1"),
        ({"audio": b"x", "audio_suffix": "/../escape"}, "not an audio file suffix"),
    ],
)
def test_bad_requests_store_nothing(neurotune_home, overrides, message):
    with pytest.raises(LibraryError, match=message):
        save(**overrides)
    assert library.count_pieces() == 0
    assert not (neurotune_home / "library").exists() or not any((neurotune_home / "library").iterdir())
