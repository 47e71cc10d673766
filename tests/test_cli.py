"""``python -m core dataset ...``: same engine, exit codes a script can rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.cli import main
from tests.conftest import scale_piece, tiny_dataset


def _folder(tmp_path):
    folder = tmp_path / "midi"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (folder / f"good{i}.mid").write_bytes(scale_piece(offset=i, length=24))
    (folder / "sub" / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06junk")
    return folder


def test_build_list_show_rename_delete(tmp_path, capsys):
    build = ["dataset", "build", "--midi-dir", str(_folder(tmp_path)), "--name", "mine"]
    build += ["--steps-per-quarter", "2", "--representation", "events", "--transpose", "2"]
    assert main(build) == 0
    out, err = capsys.readouterr()
    assert "dataset 'mine' built: 3 pieces" in out and "1 files rejected" in out
    assert "rejected sub/broken.mid: corrupt or truncated MIDI" in err

    assert main(["dataset", "list"]) == 0
    assert capsys.readouterr().out.startswith("mine\tfolder:")

    assert main(["dataset", "show", "mine"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["stats"]["pieces"] == 3 and shown["config"]["steps_per_quarter"] == 2
    assert shown["config"]["representations"] == ["events"] and shown["config"]["transpose_semitones"] == 2
    assert sorted(shown["accepted"]) == ["good0.mid", "good1.mid", "good2.mid"]
    assert shown["rejected"][0]["name"] == "sub/broken.mid"

    assert main(build) == 0
    assert "already built (cache hit)" in capsys.readouterr().out

    assert main(["dataset", "rename", "mine", "yours"]) == 0
    assert main(["dataset", "delete", "yours"]) == 0
    capsys.readouterr()
    assert main(["dataset", "show", "yours"]) == 2
    assert "no dataset named 'yours'" in capsys.readouterr().err


def test_build_takes_a_split_file_and_show_counts_the_test_split(tmp_path, capsys):
    folder = _folder(tmp_path)
    split_file = tmp_path / "splits.csv"
    split_file.write_text("file,split\ngood0.mid,train\ngood1.mid,valid\ngood2.mid,test\nsub/broken.mid,train\n")
    build = ["dataset", "build", "--folder", str(folder), "--split-file", str(split_file), "--name", "given"]
    assert main([*build, "--representation", "events"]) == 0
    assert "1 train, 1 validation, 1 test (split by the split file splits.csv)" in capsys.readouterr().out
    assert main(["dataset", "show", "given"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["stats"]["split"] == {"train": 1, "validation": 1, "test": 1}
    assert shown["split_method"] == "by the split file splits.csv"
    split_file.write_text("file,split\ngood0.mid,train\n")
    assert main([*build, "--overwrite"]) == 2
    assert "leaves 3 files (good1.mid, good2.mid, sub/broken.mid) in no split" in capsys.readouterr().err


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["dataset", "build", "--midi-dir", str(empty), "--name", "x"]) == 2
    assert "no .mid or .midi files" in capsys.readouterr().err
    (empty / "bad.mid").write_bytes(b"nonsense")
    assert main(["dataset", "build", "--midi-dir", str(empty), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "rejected bad.mid: not a MIDI file" in err  # each file's reason, not only the count
    assert err.endswith("error: no usable pieces: all 1 files were rejected\n")
    assert (
        main(["dataset", "build", "--midi-dir", str(_folder(tmp_path)), "--name", "x", "--steps-per-quarter", "0"]) == 2
    )
    assert "steps_per_quarter must be between 1 and 96" in capsys.readouterr().err
    assert main(["dataset", "build", "--corpus", "nope", "--name", "x"]) == 2
    assert "nope" in capsys.readouterr().err


def test_python_dash_m_core_runs_as_a_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "core", "dataset", "list"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "no datasets yet" in result.stdout


def test_size_and_length_limits_are_flags(tmp_path, capsys):
    from tests.conftest import make_midi_bytes

    folder = _folder(tmp_path)
    (folder / "long.mid").write_bytes(make_midi_bytes([(60 + i % 12, i * 10.0, i * 10.0 + 5) for i in range(14)]))
    assert (
        main(["dataset", "build", "--midi-dir", str(folder), "--name", "limited", "--max-duration-seconds", "120"]) == 0
    )
    err = capsys.readouterr().err
    assert "rejected long.mid: the piece lasts 2min 15s, over the limit of 2min 00s" in err


def test_train_then_list_show_and_export_the_run(tmp_path, capsys):
    tiny_dataset()
    assert main(["train", "--model", "lstm"]) == 2
    assert "give --dataset and --model" in capsys.readouterr().err

    train = ["train", "--dataset", "tiny", "--model", "lstm", "--epochs", "1", "--batch-size", "8", "--seq-len", "16"]
    train += ["--steps-per-epoch", "2", "--validation-steps", "1", "--lr", "0.01"]
    for option in ("units=16", "embedding-dim=8", "layers=1"):
        train += ["--model-option", option]
    assert main(train) == 0
    out, err = capsys.readouterr()
    run_id = out.split()[1].rstrip(":")
    assert f"run {run_id} finished after 1 epochs, 2 steps" in out
    assert "step 2/2" in err

    assert main(["runs", "list"]) == 0
    assert capsys.readouterr().out.startswith(f"{run_id}\tfinished\tlstm\ttiny\tepoch 1\tstep 2")
    assert main(["runs", "show", run_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"]["model_config"]["units"] == 16 and shown["config"]["train"]["learning_rate"] == 0.01
    assert (shown["strategy"], shown["replicas"], shown["precision"]) == ("default", 1, "float32")
    assert shown["device"].startswith("CPU (")

    assert main(["runs", "export", run_id, "--to", str(tmp_path / "exported")]) == 0
    assert json.loads((tmp_path / "exported" / "config.json").read_text())["shipped"] is True
    assert (tmp_path / "exported" / "model.keras").is_file()


def _generate_flags(*flags: str):
    from core.cli import build_parser

    return build_parser().parse_args(["generate", "--checkpoint", "c", "--out", "p.mid", *flags])


def test_generate_sampling_flags_come_from_the_config_and_the_shortcuts_stand_for_them():
    from core.cli.generate import request_from_flags
    from core.generation.sampling import SampleConfig

    def sampling(*flags):
        return request_from_flags(_generate_flags(*flags)).sampling

    assert sampling() == SampleConfig()
    assert sampling("--beam", "3", "--n", "2") == sampling(
        "--strategy", "beam", "--beam-width", "3", "--variations", "2"
    )
    assert sampling("--greedy") == SampleConfig(strategy="greedy")
    assert sampling("--temperature", "0.7", "--top-k", "9", "--top-p", "0.5", "--seed", "4") == SampleConfig(
        temperature=0.7, top_k=9, top_p=0.5, seed=4
    )


def test_generate_request_takes_every_flag_by_its_field_name():
    from core.cli.generate import request_from_flags

    request = request_from_flags(
        _generate_flags(
            "--seconds", "12", "--bpm", "80", "--program", "40", "--program", "41", "--mode", "dark",
            "--guidance", "3", "--scale", "D minor", "--keep-duplicates", "--max-polyphony", "2", "--phrase-rests",
        )
    )  # fmt: skip
    assert (request.seconds, request.bpm, request.programs) == (12.0, 80.0, (40, 41))
    assert (request.controls.mode, request.controls.guidance) == ("minor", 3.0)
    assert (request.post.scale, request.post.remove_duplicates, request.post.max_polyphony) == ("D minor", False, 2)
    assert request.post.phrase_rests and request.primer is None


def test_generate_starts_from_the_checkpoints_measured_settings_and_flags_win():
    from core.cli.generate import describe_defaults, request_from_flags

    defaults = {"temperature": 0.8, "top_p": 0.9, "guidance": 1.0, "remove_duplicates": False}
    request = request_from_flags(_generate_flags(), defaults)
    assert (request.sampling.temperature, request.sampling.top_p) == (0.8, 0.9)
    assert request.controls.guidance == 1.0 and not request.post.remove_duplicates
    flags = _generate_flags("--temperature", "1.2", "--guidance", "0")
    request = request_from_flags(flags, defaults)
    assert (request.sampling.temperature, request.sampling.top_p, request.controls.guidance) == (1.2, 0.9, 0.0)
    assert describe_defaults(defaults, flags) == (
        "top_p 0.9, remove_duplicates False (your --temperature, --guidance instead)"
    )


def test_generate_shortcuts_against_their_own_flags_are_refused(capsys):
    for flags, message in [
        (["--beam", "2", "--strategy", "sample"], "--beam contradicts --strategy sample"),
        (["--beam", "2", "--beam-width", "5"], "--beam contradicts --beam-width 5"),
        (["--greedy", "--strategy", "beam"], "--greedy contradicts --strategy beam"),
        (["--strategy", "magic"], "strategy must be one of sample, greedy, beam, stochastic_beam, noise, got 'magic'"),
    ]:
        assert main(["generate", "--checkpoint", "nope", "--out", "p.mid", *flags]) == 2
        assert capsys.readouterr().err.startswith(f"error: {message}")
