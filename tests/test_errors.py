"""Bad input gives one clear error a user can act on, never a traceback: configs, names, the data folder, the CLI."""

from __future__ import annotations

import errno
import math
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from core.cli import main
from core.config import DataConfig, TrainConfig
from core.data import datasets
from core.data.build import build_dataset
from core.data.uploads import SourceFile
from core.errors import ConfigError, DatasetError, GenerationError, StoreError, describe_os_error
from core.folders import data_folder
from core.generation.compose import CompositionRequest, Controls
from core.generation.postprocess import PostProcessing
from core.generation.sampling import MAX_BEAM_WIDTH, SampleConfig
from core.names import MAX_NAME_LENGTH, check_name
from core.store import datasets as store
from core.store.db import database_error, database_location
from tests.conftest import scale_piece

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder this user may not write to: a read-only one, or for root, whom chmod does not stop,
    /proc/sys where containers mount it read-only."""
    if not IS_ROOT:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
    elif not os.access("/proc/sys", os.W_OK):
        yield Path("/proc/sys")
    else:
        pytest.skip("root may write everywhere on this machine")


# === Configs: every number finite, every choice known ===


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("build", "field", "error"),
    [
        (lambda x: DataConfig(min_duration_seconds=x), "min_duration_seconds", ConfigError),
        (lambda x: DataConfig(max_duration_seconds=x), "max_duration_seconds", ConfigError),
        (lambda x: DataConfig(validation_fraction=x), "validation_fraction", ConfigError),
        (lambda x: TrainConfig(learning_rate=x), "learning_rate", ConfigError),
        (lambda x: TrainConfig(clip_norm=x), "clip_norm", ConfigError),
        (lambda x: SampleConfig(temperature=x), "temperature", GenerationError),
        (lambda x: SampleConfig(top_p=x), "top_p", GenerationError),
        (lambda x: SampleConfig(length_penalty=x), "length_penalty", GenerationError),
        (lambda x: CompositionRequest(bpm=x), "bpm", GenerationError),
        (lambda x: CompositionRequest(bars=x), "bars", GenerationError),
        (lambda x: CompositionRequest(seconds=x), "seconds", GenerationError),
        (lambda x: Controls(guidance=x), "guidance", GenerationError),
        (lambda x: PostProcessing(max_note_beats=x), "max_note_beats", GenerationError),
    ],
)
def test_every_config_refuses_numbers_that_are_not_finite(build, field, error, bad):
    with pytest.raises(error, match=f"{field} must be a finite number, got {bad}"):
        build(bad)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SampleConfig(temperature=1e9), "temperature must be between 0.01 and 100"),
        (lambda: SampleConfig(temperature=1e-40), "temperature must be between 0.01 and 100"),
        (lambda: SampleConfig(beam_width=0), f"beam width must be between 1 and {MAX_BEAM_WIDTH}"),
        (lambda: SampleConfig(beam_width=MAX_BEAM_WIDTH + 1), "every beam is a row the compiled loop runs"),
        (lambda: SampleConfig(top_k=2**40), "top-k must be 0"),
        (lambda: SampleConfig(seed=2**63), "seed must be between 0 and 2147483647"),
        (lambda: PostProcessing(max_polyphony=2**40), "max_polyphony must be 0"),
        (lambda: Controls(mode="purple"), "unknown mode 'purple'; use major or minor, or a mood: bright"),
        (lambda: Controls(density="frantic"), "unknown density 'frantic'; use sparse, medium, dense"),
        (lambda: Controls(tonic="H"), "unknown tonic 'H'; use a note name: C, C#, D"),
    ],
)
def test_numbers_out_of_range_and_unknown_choices_are_refused(build, message):
    with pytest.raises(GenerationError, match=message):
        build()


def test_a_mood_names_its_mode_in_any_case():
    assert Controls(mode=" Dark", density="Sparse") == Controls(mode="minor", density="sparse")


# === Names ===


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("  ", "give the dataset a name"),
        ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH} characters, this one has 101"),
        ("two\nlines", r"cannot contain line breaks, tabs or other control characters \(found U\+000A"),
        ("tab\tbed", r"found U\+0009"),
        ("bell\x07", r"found U\+0007"),
        ("para\u2029graph", r"found U\+2029"),
    ],
)
def test_bad_names_are_refused(name, message):
    with pytest.raises(DatasetError, match=message):
        check_name("dataset", name, DatasetError)


def test_names_keep_their_words_and_lose_their_edges():
    assert check_name("dataset", "  Bach chorales – 2ème ✓ ", DatasetError) == "Bach chorales – 2ème ✓"


def test_datasets_with_bad_names_are_neither_built_nor_renamed(capsys):
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i, length=24)) for i in range(2)]
    with pytest.raises(DatasetError, match="control characters"):
        build_dataset("a\nb", files)
    assert store.list_dataset_records() == []
    build_dataset("good", files)
    with pytest.raises(DatasetError, match="at most 100 characters"):
        datasets.rename_dataset("good", "y" * 101)
    assert main(["dataset", "rename", "good", "bad\tname"]) == 2
    assert "cannot contain line breaks, tabs" in capsys.readouterr().err
    assert [record.name for record in store.list_dataset_records()] == ["good"]


# === The data folder and the database ===


def test_a_data_folder_that_is_a_file_is_one_clear_line_for_every_command(neurotune_home, capsys):
    neurotune_home.parent.mkdir(parents=True, exist_ok=True)
    neurotune_home.write_text("not a folder")
    for command in (["dataset", "list"], ["dataset", "show", "x"], ["runs", "list"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot use the data folder {neurotune_home}: a file is in the way"), err
        assert err.count("\n") == 1 and "NEUROTUNE_HOME" in err


def test_a_read_only_data_folder_is_one_clear_line(unwritable_folder, monkeypatch, capsys):
    monkeypatch.setenv("NEUROTUNE_HOME", str(unwritable_folder))
    assert main(["dataset", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot use the data folder {unwritable_folder}: this user may not write to it"), err


def test_a_read_only_database_is_a_store_error(neurotune_home, monkeypatch):
    assert store.list_dataset_records() == []  # creates the database
    database = neurotune_home / "neurotune.db"
    monkeypatch.setenv("NEUROTUNE_DB_URL", f"sqlite:///file:{database}?mode=ro&uri=true")
    assert store.list_dataset_records() == []  # reading still works
    files = [SourceFile("p.mid", scale_piece(length=24))]
    with pytest.raises(StoreError, match=f"cannot use the database file:{database}.*: it is read-only; set"):
        build_dataset("ro", files)


def test_database_problems_are_named_and_passwords_masked():
    url = "postgresql://neuro:s3cret@db.example.org/tunes"
    assert database_location(url) == "postgresql://neuro:***@db.example.org/tunes"
    assert database_location("sqlite:////srv/neurotune.db") == "/srv/neurotune.db"
    full = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))
    message = str(database_error(url, full))
    assert message.startswith("cannot use the database postgresql://neuro:***@db.example.org/tunes: the disk is full")
    assert "s3cret" not in message
    assert describe_os_error(OSError(errno.EROFS, "Read-only file system")) == "the file system is read-only"


def test_a_data_folder_under_a_file_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="a part of the path is a file, not a folder"):
        data_folder(tmp_path / "file" / "home")


# === The CLI: arguments checked before the checkpoint loads ===


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--temperature", "inf"], "temperature must be a finite number, got inf"),
        (["--temperature", "nan"], "temperature must be a finite number, got nan"),
        (["--bpm", "nan"], "bpm must be a finite number, got nan"),
        (["--mode", "purple"], "unknown mode 'purple'; use major or minor, or a mood: bright (major), dark (minor)"),
        (["--density", "frantic"], "unknown density 'frantic'; use sparse, medium, dense"),
        (["--beam", "0"], "beam width must be between 1 and 16"),
        (["--beam", "64"], "beam width must be between 1 and 16"),
        (["--beam", "2", "--greedy"], "give either --beam or --greedy, not both"),
        (["--primer", "x.mid", "--primer-bars", "nan"], "--primer-bars must be in (0, 256], got nan"),
        (["--max-note-beats", "inf"], "max_note_beats must be a finite number, got inf"),
        (["--out", "{tmp}"], "--out {tmp} is a folder; give a file name such as {tmp}/piece.mid"),
        (["--out", "{tmp}/file/x.mid"], "cannot write --out {tmp}/file/x.mid: a file is in the way"),
        (["--wav", "{tmp}/file/sub/x.wav"], "cannot write --wav {tmp}/file/sub/x.wav: a part of the path is a file"),
    ],
)
def test_generate_refuses_bad_arguments_in_one_line_before_loading(tmp_path, capsys, options, message):
    (tmp_path / "file").write_text("x")
    options = [option.replace("{tmp}", str(tmp_path)) for option in options]
    command = ["generate", "--checkpoint", str(tmp_path / "no-checkpoint"), "--out", str(tmp_path / "p.mid")]
    assert main([*command, *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message.replace('{tmp}', str(tmp_path))}"), err
    assert err.count("\n") == 1  # one line, and the checkpoint was never looked at


def test_generate_refuses_an_unwritable_output_folder(unwritable_folder, tmp_path, capsys):
    out = unwritable_folder / "x.mid"
    assert main(["generate", "--checkpoint", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert f"cannot write --out {out}: this user may not write to {unwritable_folder}" in capsys.readouterr().err


@pytest.mark.parametrize("size", ["nan", "inf", "-1", "0"])
def test_dataset_build_refuses_a_bad_size_limit_in_one_line(tmp_path, capsys, size):
    assert main(["dataset", "build", "--midi-dir", str(tmp_path), "--name", "x", "--max-file-mb", size]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --max-file-mb must be a positive number of megabytes") and err.count("\n") == 1


def test_dataset_build_refuses_numbers_that_are_not_finite(tmp_path, capsys):
    for flag in ("--min-duration-seconds", "--validation-fraction"):
        assert main(["dataset", "build", "--midi-dir", str(tmp_path), "--name", "x", flag, "nan"]) == 2
        assert "must be a finite number, got nan" in capsys.readouterr().err


def test_a_full_disk_while_storing_a_dataset_is_one_clear_error_and_leaves_nothing_behind(monkeypatch, neurotune_home):
    import errno

    import numpy as np

    from core.data import build
    from tests.conftest import scale_piece

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    savez = np.savez
    monkeypatch.setattr(np, "savez", full)
    files = [build.SourceFile("a.mid", scale_piece(length=24))]
    with pytest.raises(DatasetError, match="cannot write the dataset under .*the disk is full"):
        build.build_dataset("full-disk", files)
    monkeypatch.setattr(np, "savez", savez)
    assert not list((neurotune_home / "datasets").glob(".*.building"))
    assert (
        build.build_dataset("full-disk", files).dataset.name == "full-disk"
    )  # the same build works once there is room
