"""Building, caching, splitting, storing and deleting datasets."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest

from core.config import DataConfig, ValidationLimits
from core.data import build, datasets, ingest
from core.data.representations import get_representation
from core.data.uploads import SourceFile
from core.errors import DatasetError
from core.processes import child_environment
from core.settings import get_settings
from tests.conftest import make_midi_bytes, scale_piece


def _files(count: int) -> list[SourceFile]:
    return [SourceFile(f"piece{i}.mid", scale_piece(offset=i, length=24)) for i in range(count)]


def test_build_stores_arrays_manifest_and_record(neurotune_home):
    result = build.build_dataset("tiny", _files(5), DataConfig(validation_fraction=0.2))
    dataset = result.dataset
    assert not result.cache_hit and len(dataset) == 5
    assert dataset.path.parent == neurotune_home / "datasets"
    manifest = json.loads((dataset.path / "manifest.json").read_text())
    assert manifest["stats"]["pieces"] == 5 and manifest["stats"]["notes"] == 5 * 24
    assert sum(manifest["stats"]["pitch_class_histogram"]) == 5 * 24
    assert [r.name for r in datasets.list_datasets()] == ["tiny"]
    # Every representation is prepared and decodes back to the stored notes.
    for name in ("melody", "events", "pianoroll", "notes", "chords"):
        values, offsets = dataset.encoded(name)
        assert len(offsets) == 6
        codec = get_representation(name, dataset.config)
        decoded = codec.decode(values[offsets[0] : offsets[1]])
        assert decoded[:, :3].tolist() == dataset.piece(0).notes[:, :3].tolist()
    assert dataset.source_midi(0) == scale_piece(offset=0, length=24)


def test_a_representation_the_build_did_not_prepare_is_derived_when_first_asked(neurotune_home):
    """A dataset built before a representation existed (or without it) still feeds it: from the stored notes."""
    dataset = build.build_dataset("events-only", _files(2), DataConfig(representations=("events",))).dataset
    assert not (dataset.path / "repr" / "chords.npz").exists()
    values, offsets = dataset.encoded("chords")
    assert (dataset.path / "repr" / "chords.npz").exists() and len(offsets) == 3
    codec = get_representation("chords", dataset.config)
    assert codec.decode(values[: offsets[1]])[:, :3].tolist() == dataset.piece(0).notes[:, :3].tolist()


def test_split_is_by_piece_seeded_and_never_overlaps():
    config = DataConfig(validation_fraction=0.3, seed=3)
    dataset = build.build_dataset("split", _files(10), config).dataset
    train, validation = dataset.split_indices("train"), dataset.split_indices("validation")
    assert len(validation) == 3 and sorted(train + validation) == list(range(10))
    again = build.build_dataset("split2", _files(10), config).dataset
    assert again.split_indices("validation") == validation
    other = build.build_dataset("split3", _files(10), DataConfig(validation_fraction=0.3, seed=4)).dataset
    assert other.split_indices("validation") != validation


def test_rejected_files_are_reported_and_the_rest_go_through():
    files = _files(3) + [
        SourceFile("broken.mid", b"MThd\x00\x00\x00\x06garbage"),
        SourceFile("empty.mid", make_midi_bytes([])),
        SourceFile("drums.mid", make_midi_bytes(drum_notes=[(36, 0, 1)])),
        SourceFile("short.mid", make_midi_bytes([(60, 0, 0.5)])),
        SourceFile("copy.mid", scale_piece(offset=0, length=24)),
    ]
    result = build.build_dataset("mixed", files)
    reasons = {r.name: r.reason for r in result.rejected}
    assert len(result.dataset) == 3
    assert "corrupt or truncated" in reasons["broken.mid"]
    assert "no notes" in reasons["empty.mid"]
    assert "only drum tracks" in reasons["drums.mid"]
    assert "filtered out" in reasons["short.mid"]
    assert reasons["copy.mid"] == "duplicate of piece0.mid"
    stored = {f["name"]: f["status"] for f in result.dataset.files}
    assert stored["broken.mid"] == "rejected" and stored["piece1.mid"] == "accepted"


def test_nothing_usable_raises_with_reports_and_stores_nothing(neurotune_home):
    with pytest.raises(build.EmptyDatasetError, match="all 1 files were rejected") as caught:
        build.build_dataset("bad", [SourceFile("x.mid", b"nope")])
    assert caught.value.reports[0].reason.startswith("not a MIDI file")
    assert datasets.list_datasets() == []
    assert not any((neurotune_home / "datasets").glob("*"))


def test_same_inputs_and_config_is_a_cache_hit(monkeypatch):
    first = build.build_dataset("again", _files(3))
    monkeypatch.setattr(build, "ingest_files", lambda *a, **k: pytest.fail("should not preprocess"))
    second = build.build_dataset("again", _files(3))
    assert second.cache_hit and second.dataset.id == first.dataset.id
    # Another name, same files and config: preprocessing comes from the per-file cache.
    third = build.build_dataset("other", _files(3))
    assert not third.cache_hit and len(third.dataset) == 3


def test_a_different_build_under_a_taken_name_needs_overwrite():
    build.build_dataset("taken", _files(2))
    with pytest.raises(DatasetError, match="already exists"):
        build.build_dataset("taken", _files(3))
    result = build.build_dataset("taken", _files(3), overwrite=True)
    assert len(result.dataset) == 3 and len(datasets.list_datasets()) == 1


def test_rename_and_delete_remove_files():
    dataset = build.build_dataset("old", _files(2)).dataset
    datasets.rename_dataset("old", "new")
    assert datasets.load_dataset("new").id == dataset.id
    with pytest.raises(DatasetError, match="no dataset named 'old'"):
        datasets.load_dataset("old")
    build.build_dataset("other", _files(1))
    with pytest.raises(DatasetError, match="already exists"):
        datasets.rename_dataset("new", "other")
    datasets.delete_dataset("new")
    assert not dataset.path.exists()
    assert [r.name for r in datasets.list_datasets()] == ["other"]


def test_build_from_uploads_reads_zips_and_limits():
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner/a.mid", scale_piece(1, 24))
        archive.writestr("../escape.mid", scale_piece(2, 24))
    uploads = [("top.mid", scale_piece(0, 24)), ("set.zip", buffer.getvalue()), ("huge.mid", scale_piece(3, 200))]
    limits = ValidationLimits(max_file_bytes=len(scale_piece(3, 200)) - 1)
    result = build.build_from_uploads("up", uploads, limits=limits)
    assert sorted(p["name"] for p in result.dataset.piece_meta) == ["set.zip/inner/a.mid", "top.mid"]
    reasons = {r.name: r.reason for r in result.rejected}
    assert "escape" in reasons["set.zip/../escape.mid"] and "limit" in reasons["huge.mid"]


def test_parallel_workers_give_the_same_dataset():
    files = _files(20)
    serial = build.build_dataset("serial", files, workers=1).dataset
    shutil.rmtree(get_settings().cache_dir)  # make the second build preprocess again, in worker processes
    parallel = build.build_dataset("parallel", files, workers=2)
    for i in range(20):
        assert np.array_equal(serial.piece(i).notes, parallel.dataset.piece(i).notes)


def _misbehaving(name: str, data: bytes, config: DataConfig, limits: ValidationLimits):
    """What the workers run in the tests below: a file's name asks for trouble, the rest is read as usual."""
    if name.startswith("spin"):
        while True:
            pass
    if name.startswith("hog"):
        return str(len(bytearray(2 * limits.max_file_memory_bytes)))
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    if name.startswith("bug"):
        return str(1 / 0)
    if name.startswith("burn"):
        started = time.process_time()
        while time.process_time() - started < 0.05:
            pass
    if name.startswith("modules"):
        return "tensorflow was imported" if "tensorflow" in sys.modules else "no tensorflow"
    return ingest.process_file(name, data, config, limits)


@pytest.fixture
def misbehaving(monkeypatch):
    monkeypatch.setattr(build, "ingest_files", functools.partial(ingest.ingest_files, process=_misbehaving))


def _named(*names: str) -> list[SourceFile]:
    return [SourceFile(name, scale_piece(offset=i, length=24)) for i, name in enumerate(names)]


def test_a_file_over_a_limit_or_crashing_its_worker_is_rejected_and_the_batch_goes_on(misbehaving):
    files = _named("a.mid", "spin.mid", "b.mid", "hog.mid", "crash.mid", "bug.mid", "c.mid")
    limits = ValidationLimits(max_file_cpu_seconds=0.3, max_file_memory_bytes=32 * 2**20)
    result = build.build_dataset("limits", files, limits=limits, workers=1)
    assert sorted(p["name"] for p in result.dataset.piece_meta) == ["a.mid", "b.mid", "c.mid"]
    reasons = {r.name: r.reason for r in result.rejected}
    assert reasons == {
        "spin.mid": "took more than 0.3 s of CPU to read",
        "hog.mid": "needed more than 32 MB of memory to read",
        "crash.mid": "the MIDI reader crashed on this file (SIGKILL)",
        "bug.mid": "could not be read: internal error (ZeroDivisionError: division by zero)",
    }


def test_even_a_single_file_is_read_in_a_worker_without_tensorflow(misbehaving):
    with pytest.raises(build.EmptyDatasetError) as caught:
        build.build_from_uploads("one", [("crash.mid", scale_piece())])
    assert caught.value.reports[0].reason == "the MIDI reader crashed on this file (SIGKILL)"
    with pytest.raises(build.EmptyDatasetError) as caught:
        build.build_from_uploads("one", [("modules.mid", scale_piece())])
    assert caught.value.reports[0].reason == "no tensorflow"


def test_a_reading_worker_starts_without_the_database_layer_or_tensorflow():
    """What a reader's module imports is paid by every new reader: on a first upload, and after readers retire."""
    script = "import sys, core.data.ingest; print(sorted({'sqlalchemy', 'alembic', 'tensorflow'} & set(sys.modules)))"
    imported = subprocess.run(
        [sys.executable, "-c", script], env=child_environment(), capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]"


def test_once_the_upload_cpu_budget_is_spent_the_remaining_files_are_rejected(misbehaving):
    files = _named("burn0.mid", "burn1.mid", "burn2.mid")
    result = build.build_dataset("budget", files, limits=ValidationLimits(max_upload_cpu_seconds=0.02), workers=1)
    assert [p["name"] for p in result.dataset.piece_meta] == ["burn0.mid"]
    assert {r.name: r.reason for r in result.rejected} == {
        name: "not read: this upload used up its CPU budget of 0.02 s on earlier files"
        for name in ("burn1.mid", "burn2.mid")
    }


class _Stopped(Exception):
    """What Streamlit raises inside the next st.* call when the user presses Stop."""


def _nothing_stored(home) -> bool:
    return datasets.list_datasets() == [] and not any((home / "datasets").glob("*"))


def _workers_left() -> list[psutil.Process]:
    """This process's readers still running, but the idle spares kept from earlier builds (not the build under
    test's); a browser test's server keeps its own spares, as its children."""
    spares = set(ingest.SPARES.pids())
    return [
        child
        for child in psutil.Process().children()
        if "worker_main" in " ".join(child.cmdline()) and child.pid not in spares
    ]


def test_a_raising_progress_callback_kills_the_workers_at_once_and_stores_nothing(misbehaving, neurotune_home):
    def progress(done: int, total: int, name: str) -> None:
        if done:
            raise _Stopped

    started = time.monotonic()
    with pytest.raises(_Stopped):
        build.build_dataset("stopped", _named("a.mid", "spin1.mid", "spin2.mid"), workers=2, progress=progress)
    assert time.monotonic() - started < 8  # the spinning worker was killed, not given its 10 s of CPU
    assert _workers_left() == []
    assert _nothing_stored(neurotune_home)


def test_cancel_stops_the_build_between_files_and_stores_nothing(neurotune_home):
    cancel = threading.Event()
    seen = []

    def progress(done: int, total: int, name: str) -> None:
        seen.append(name)
        if done:
            cancel.set()

    with pytest.raises(DatasetError, match="cancelled"):
        build.build_dataset("cancelled", _files(4), workers=1, progress=progress, cancel=cancel)
    assert len(seen) == 2 and _workers_left() == []
    with pytest.raises(DatasetError, match="cancelled"):
        build.build_from_uploads("cancelled", [("a.mid", scale_piece())], cancel=lambda: True)
    assert _nothing_stored(neurotune_home)


def test_readers_that_read_within_the_limits_serve_the_next_upload_until_they_idle_too_long(monkeypatch):
    spares, started = ingest.SpareReaders(), []
    monkeypatch.setattr(ingest, "SPARES", spares)  # this test's own
    start = ingest._start_worker
    monkeypatch.setattr(ingest, "_start_worker", lambda: started.append(1) or start())
    try:
        build.build_dataset("first", _files(2), workers=2)
        assert len(started) == 2 and len(spares.pids()) == 2
        kept = list(spares._workers)
        assert all(worker.process.poll() is None for worker in kept)
        files = [SourceFile(f"new{i}.mid", scale_piece(length=30 + i)) for i in range(3)]
        second = build.build_dataset("second", files, workers=2)
        assert len(second.dataset) == 3 and len(started) == 2  # read by the first build's readers
        # A spare idle for nearly as long as it waits before exiting could exit as a file comes: it is stopped.
        monkeypatch.setattr(ingest, "SPARE_IDLE_SECONDS", 0.0)
        assert spares.take() is None and spares.pids() == []
        assert all(worker.process.poll() is not None for worker in kept)
    finally:
        ingest._stop(spares._workers, kill=True)


def test_a_reader_whose_parent_is_gone_ends_quietly(capfd):
    """A command-line build exits with its spare readers idle, one perhaps still starting: that one's "ready",
    unread, makes the exit a reset of its connection, which it once answered with a traceback under the
    build's summary."""
    worker = ingest._start_worker()
    try:
        assert worker.connection.poll(60)  # its "ready" has come, and stays unread
        worker.connection.close()
        assert worker.process.wait(timeout=60) == 0
        assert "Traceback" not in capfd.readouterr().err
    finally:
        ingest._stop([worker], kill=True)


def test_the_same_bytes_uploaded_again_are_read_once_and_rejected_as_duplicates(monkeypatch):
    read = []

    def counting(items, *args, **kwargs):
        read.extend(name for name, _ in items)
        return ingest.ingest_files(items, *args, **kwargs)

    monkeypatch.setattr(build, "ingest_files", counting)
    data = scale_piece(length=24)
    files = [SourceFile(name, data) for name in ("a.mid", "copy1.mid", "copy2.mid")] + [
        SourceFile("b.mid", scale_piece(offset=2, length=24))
    ]
    result = build.build_dataset("dupes", files)
    assert read == ["a.mid", "b.mid"]
    assert {r.name: r.reason for r in result.rejected} == {
        "copy1.mid": "duplicate of a.mid",
        "copy2.mid": "duplicate of a.mid",
    }
    assert len(result.dataset) == 2


def test_homes_pointed_at_one_cache_read_each_file_once(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROTUNE_CACHE", str(tmp_path / "shared-cache"))
    first = build.build_dataset("first", _files(3))
    monkeypatch.setenv("NEUROTUNE_HOME", str(tmp_path / "another-home"))
    monkeypatch.setattr(build, "ingest_files", lambda *a, **k: pytest.fail("should not preprocess"))
    second = build.build_dataset("second", _files(3))
    assert get_settings().cache_dir == tmp_path / "shared-cache"
    assert second.dataset.path.parent == tmp_path / "another-home" / "datasets"
    for i in range(3):
        assert np.array_equal(first.dataset.piece(i).notes, second.dataset.piece(i).notes)
