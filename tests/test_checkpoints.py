"""Checkpoints: the versioned run config, old layouts migrated on read, foreign ones refused, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.checkpoints import (
    FORMAT_VERSION,
    SHIPPED_CHECKPOINTS,
    CheckpointFolder,
    RunConfig,
    checkpoint_info,
    export_checkpoint,
    file_sha256,
    list_checkpoints,
    run_config,
    write_atomically,
)
from core.errors import CheckpointError
from core.store import runs as run_store
from core.store.db import RunRecord

SHIPPED = ("bach-lstm", "irish-lstm")


def format_0(name: str = "bach-lstm") -> dict:
    """A shipped checkpoint's config as every run wrote it before the format was versioned."""
    data = json.loads((SHIPPED_CHECKPOINTS / name / "config.json").read_text())
    data.pop("format_version", None)
    return data


def checkpoint_with(tmp_path: Path, config: object, name: str = "run") -> Path:
    """A checkpoint folder with ``config`` (a dict, or raw text) as its config.json; the model is a placeholder."""
    folder = CheckpointFolder(tmp_path / name)
    folder.path.mkdir()
    folder.model.write_bytes(b"placeholder: these tests never load it")
    folder.config.write_text(config if isinstance(config, str) else json.dumps(config))
    return folder.path


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoints_are_of_the_current_format(name):
    info = checkpoint_info(SHIPPED_CHECKPOINTS / name)
    assert json.loads(info.folder.config.read_text())["format_version"] == FORMAT_VERSION
    assert info.shipped and info.model == "lstm" and info.conditioning is not None and info.val_loss is not None
    assert info.config.model_config.units == 256 and info.config.train.seq_len == 256
    assert RunConfig.from_json(info.config.to_json()) == info.config


@pytest.mark.parametrize("name", (*SHIPPED, "bach-gan"))
def test_shipped_checkpoints_load_and_compose(name):
    from core.generation.compose import Composer, CompositionRequest
    from core.generation.sampling import SampleConfig

    composer = Composer.load(SHIPPED_CHECKPOINTS / name)
    strategy = composer.defaults.get("strategy", "sample")  # the GAN composes by noise
    result = composer.compose(CompositionRequest(sampling=SampleConfig(strategy, seed=1, variations=1), bars=1))
    assert len(result.compositions) == 1 and len(result.compositions[0].notes) > 0


def test_the_unversioned_layout_is_migrated_on_read(tmp_path):
    old = format_0()
    info = checkpoint_info(checkpoint_with(tmp_path, old))
    assert info.config.format_version == FORMAT_VERSION
    # Nothing lost; fields added since take their defaults (the quantization: rounding, the only way then).
    data = {**old["data"], "quantize": "nearest"}
    assert info.config.to_dict() == {"format_version": FORMAT_VERSION, **old, "data": data}
    assert info.config.conditioning.styles == ("bach-chorales",) and info.tokens_per_step == old["tokens_per_step"]


def test_the_earliest_unversioned_layout_reads_as_unmeasured_and_unconditioned():
    old = {
        k: v
        for k, v in format_0("irish-lstm").items()
        if k not in ("estimated_steps", "tokens_per_step", "conditioning", "shipped")
    }
    config = RunConfig.from_dict(old)
    assert config.estimated_steps == 0 and config.tokens_per_step is None and config.conditioning is None
    assert not config.shipped


def test_a_run_record_of_the_unversioned_layout_is_migrated():
    old = format_0("irish-lstm")
    run_store.add_run(
        RunRecord(id="old", model="lstm", dataset="irish", representation="melody", config=old, checkpoint_dir="x")
    )
    config = run_config(run_store.get_run("old"))
    assert config.dataset_id == old["dataset_id"] and config.train.epochs == old["train"]["epochs"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}', "is not a NeuroTune run config"),
        ("[1, 2, 3]", "is not a NeuroTune run config"),
        ("\x00\x01 garbage", r"config.json of .* is damaged"),
        ('{"format_version": 99, "model": "lstm"}', r"written by a newer NeuroTune \(format 99"),
        ('{"format_version": "one"}', "is damaged"),
    ],
)
def test_a_foreign_or_garbage_config_is_refused_clearly(tmp_path, text, message):
    folder = checkpoint_with(tmp_path, text)
    with pytest.raises(CheckpointError, match=message):
        checkpoint_info(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("dataset_id"), r"older NeuroTune \(format 0\) and lacks dataset_id"),
        (
            lambda d: d.update(conditioning={"base_size": 304, "styles": ["bach"], "modes": 2}),
            r"older NeuroTune \(format 0\) whose control tokens were style, mode and density",
        ),
        (lambda d: d.update(model="gpt9"), "damaged .*unknown model 'gpt9'"),
        (lambda d: d["model_config"].update(units="many"), "damaged .*units must be int"),
        (lambda d: d.update(tokens_per_step=-1), r"checkpoints/old is damaged \(tokens_per_step must be positive\)"),
    ],
)
def test_an_old_layout_that_cannot_be_read_without_loss_is_refused(change, message):
    old = format_0()
    change(old)
    with pytest.raises(CheckpointError, match=message):
        RunConfig.from_dict(old, "the config.json of checkpoints/old")


def test_unreadable_folders_are_left_out_of_the_list(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROTUNE_CHECKPOINTS", str(tmp_path))
    checkpoint_with(tmp_path, format_0(), "old")
    checkpoint_with(tmp_path, '{"model_type": "gpt2"}', "foreign")
    listed = [info.name for info in list_checkpoints()]
    assert "old" in listed and "foreign" not in listed
    assert listed[:4] == ["bach-chords", "bach-gan", *SHIPPED]  # shipped first, by name


def test_a_run_config_round_trips_and_checks_itself():
    config = RunConfig.from_dict(format_0())
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(CheckpointError, match="the lstm model takes melody, events, pianoroll, chords, not 'notes'"):
        dataclasses.replace(config, representation="notes")
    with pytest.raises(CheckpointError, match="tokens_per_step must be a finite number"):
        dataclasses.replace(config, tokens_per_step=float("nan"))


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "piece.mid"
    write_atomically(target, b"old")

    def full_disk(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["piece.mid"]


def test_the_history_rewinds_to_the_checkpoint_it_names(tmp_path):
    folder = CheckpointFolder(tmp_path)
    folder.last.write_bytes(b"epoch 1")
    folder.append_history({"epoch": 1, "step": 4, "checkpoint_sha256": file_sha256(folder.last)})
    folder.append_history({"epoch": 2, "step": 8, "checkpoint_sha256": "a save a crash cut short"})
    (tmp_path / ".last.tmp.keras").write_bytes(b"partial")
    assert [p.name for p in folder.remove_temporary_files()] == [".last.tmp.keras"]
    assert [entry["step"] for entry in folder.rewind_history()] == [4]
    assert len(folder.read_history()) == 1


def test_listing_checkpoints_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from core.checkpoints import list_checkpoints\n"
        "assert list_checkpoints()\n"
        "heavy = sorted({'tensorflow', 'keras'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_an_exported_checkpoint_copies_no_vocabulary_file(tmp_path):
    source = tmp_path / "bach"
    shutil.copytree(SHIPPED_CHECKPOINTS / "bach-lstm", source)
    CheckpointFolder(source).write_config(dataclasses.replace(RunConfig.from_dict(format_0()), shipped=False))
    exported = export_checkpoint(source, tmp_path / "exported")
    assert sorted(p.name for p in exported.iterdir()) == ["config.json", "history.json", "model.keras"]
    assert CheckpointFolder(exported).read_config().shipped
