"""Bundled corpora convert to MIDI once, skip bad pieces with a reason, then come from the cache."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import music21.converter
import pretty_midi
import pytest

from core.data import corpora
from core.errors import DatasetError

# Two bars of rests: music21 reads it, but it has no notes.
RESTS_ABC = "X:1\nT:Rests\nM:4/4\nL:1/4\nK:C\nz4|z4|]\n"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROTUNE_HOME", str(tmp_path))
    return tmp_path


def count_conversions(monkeypatch) -> list[str]:
    """Record the id of every piece converted from now on."""
    converted: list[str] = []
    original = corpora._convert_piece

    def recording(spec, piece, out_path):
        converted.append(piece.id)
        original(spec, piece, out_path)

    monkeypatch.setattr(corpora, "_convert_piece", recording)
    return converted


def test_list_corpora():
    assert [spec.name for spec in corpora.list_corpora()] == ["bach-chorales", "irish-folk", "essen-folk"]


def test_bach_chorales_have_four_voices(home):
    progress: list[tuple[int, int]] = []
    build = corpora.build_corpus("bach-chorales", limit=3, progress=lambda *args: progress.append(args))
    assert [path.name for path in build.files] == ["r001-bwv269.mid", "r002-bwv347.mid", "r003-bwv153.1.mid"]
    assert build.skipped == []
    assert all(path.parent == home / "corpora" / "bach-chorales" for path in build.files)
    for path in build.files:
        midi = pretty_midi.PrettyMIDI(str(path))
        assert len(midi.instruments) == 4
        assert all(len(voice.notes) >= 20 for voice in midi.instruments)
        assert midi.get_tempo_changes()[1][0] == pytest.approx(100.0)  # the corpus default: no tempo mark
    assert progress[0] == (0, 3) and progress[-1] == (3, 3)


def test_second_call_is_a_cache_hit(monkeypatch):
    first = corpora.build_corpus("bach-chorales", limit=3)

    def no_music21(*args, **kwargs):
        raise AssertionError("music21 was used on a cache hit")

    monkeypatch.setattr(corpora, "_convert_piece", no_music21)
    monkeypatch.setattr(music21.converter, "parse", no_music21)
    spec = corpora.CORPORA["bach-chorales"]
    monkeypatch.setitem(corpora.CORPORA, spec.name, dataclasses.replace(spec, list_pieces=no_music21))
    progress: list[tuple[int, int]] = []
    second = corpora.build_corpus("bach-chorales", limit=3, progress=lambda *args: progress.append(args))
    assert second == first
    assert progress == [(3, 3)]


def test_a_larger_limit_converts_only_the_new_pieces(monkeypatch):
    corpora.build_corpus("essen-folk", limit=2)
    converted = count_conversions(monkeypatch)
    build = corpora.build_corpus("essen-folk", limit=4)
    assert len(build.files) == 4
    assert converted == [path.stem for path in build.files[2:]]


def test_a_failing_piece_is_skipped_with_its_reason(monkeypatch, home):
    original = corpora._convert_piece

    def second_fails(spec, piece, out_path):
        if piece.id == "r002-bwv347":
            raise ValueError("cannot expand Stream: badly formed repeats")
        original(spec, piece, out_path)

    monkeypatch.setattr(corpora, "_convert_piece", second_fails)
    build = corpora.build_corpus("bach-chorales", limit=3)
    assert [path.name for path in build.files] == ["r001-bwv269.mid", "r003-bwv153.1.mid"]
    assert build.skipped == [("r002-bwv347", "ValueError: cannot expand Stream: badly formed repeats")]
    index = json.loads((home / "corpora" / "bach-chorales" / "index.json").read_text())
    assert index["skipped"] == {"r002-bwv347": "ValueError: cannot expand Stream: badly formed repeats"}
    assert sorted(path.name for path in (home / "corpora" / "bach-chorales").glob("*.mid")) == [
        "r001-bwv269.mid",
        "r003-bwv153.1.mid",
    ]
    assert len(index["pieces"]) == 350
    # A known failure is not retried.
    converted = count_conversions(monkeypatch)
    assert corpora.build_corpus("bach-chorales", limit=3) == build
    assert converted == []


def test_a_piece_without_notes_is_skipped(monkeypatch):
    rests = corpora.Piece(id="rests", source=Path("rests.abc"), abc_tune=RESTS_ABC)
    spec = dataclasses.replace(corpora.CORPORA["essen-folk"], name="rests", list_pieces=lambda: [rests])
    monkeypatch.setitem(corpora.CORPORA, "rests", spec)
    build = corpora.build_corpus("rests")
    assert build.files == []
    assert build.skipped == [("rests", "the file contains no notes")]


@pytest.mark.parametrize("name", ["irish-folk", "essen-folk"])
def test_folk_corpora_are_melodies(name):
    build = corpora.build_corpus(name, limit=2)
    assert len(build.files) == 2 and build.skipped == []
    for path in build.files:
        midi = pretty_midi.PrettyMIDI(str(path))
        assert len(midi.instruments) == 1
        assert len(midi.instruments[0].notes) >= 8


def test_worker_processes_convert_like_inline(monkeypatch):
    monkeypatch.setattr(corpora, "MIN_PIECES_FOR_POOL", 2)
    pooled = corpora.build_corpus("essen-folk", limit=4, workers=2)
    assert len(pooled.files) == 4
    pooled_bytes = [path.read_bytes() for path in pooled.files]
    for path in pooled.files:
        path.unlink()
    inline = corpora.build_corpus("essen-folk", limit=4, workers=1)
    assert [path.read_bytes() for path in inline.files] == pooled_bytes


def test_a_dead_worker_process_is_a_dataset_error(monkeypatch, home):
    class DeadPool:
        """A pool whose workers were killed: every future fails."""

        def __init__(self, max_workers, mp_context):
            pass

        def submit(self, function, *args):
            future = Future()
            future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
            return future

        def shutdown(self, cancel_futures):
            pass

    monkeypatch.setattr(corpora, "MIN_PIECES_FOR_POOL", 2)
    monkeypatch.setattr(corpora, "ProcessPoolExecutor", DeadPool)
    with pytest.raises(DatasetError, match="workers=1"):
        corpora.build_corpus("essen-folk", limit=3, workers=2)
    assert (home / "corpora" / "essen-folk" / "index.json").is_file()


def test_unknown_corpus_names_the_valid_ones():
    with pytest.raises(DatasetError, match="bach-chorales, irish-folk, essen-folk"):
        corpora.build_corpus("mozart")
