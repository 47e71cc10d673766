"""Given splits: train/valid/test folders, split files (CSV, JSON) for folders and uploads, and their errors."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from core.config import DataConfig
from core.data.build import build_dataset, build_from_folder, build_from_uploads
from core.data.splits import parse_split_file, random_splits, read_split_file
from core.data.uploads import SourceFile
from core.errors import DatasetError
from tests.conftest import scale_piece


def _files(*names: str) -> list[SourceFile]:
    return [SourceFile(name, scale_piece(offset=i, length=16)) for i, name in enumerate(names)]


def _split_of(dataset) -> dict[str, str]:
    return {meta["name"]: meta["split"] for meta in dataset.piece_meta}


def _folder(root, names: list[str]):
    for i, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(scale_piece(offset=i, length=16))
    return root


def test_a_folder_with_train_valid_test_folders_puts_each_file_in_its_split(tmp_path):
    names = ["train/a.mid", "train/b.mid", "train/deep/c.mid", "valid/d.mid", "Test/e.mid"]
    dataset = build_from_folder("jsb", _folder(tmp_path / "jsb", names)).dataset
    splits = {"train": "train", "valid": "validation", "Test": "test"}
    assert _split_of(dataset) == {name: splits[name.split("/")[0]] for name in names}
    assert [dataset.piece_meta[i]["name"] for i in dataset.split_indices("test")] == ["Test/e.mid"]
    assert dataset.stats["split"] == {"train": 3, "validation": 1, "test": 1}
    assert dataset.split_method == "by the folders"


def test_files_outside_the_split_folders_are_refused(tmp_path):
    folder = _folder(tmp_path / "mixed", ["train/a.mid", "validation/b.mid", "loose.mid", "other/c.mid"])
    with pytest.raises(DatasetError, match=re.escape("but 2 files (loose.mid, other/c.mid) lie outside them")):
        build_from_folder("mixed", folder)


def test_a_folder_without_split_folders_is_split_at_random(tmp_path):
    dataset = build_from_folder("plain", _folder(tmp_path / "plain", [f"sub/p{i}.mid" for i in range(4)])).dataset
    assert list(_split_of(dataset).values()) == random_splits(4, DataConfig())
    assert dataset.split_method == "at random" and dataset.stats["split"]["test"] == 0


@pytest.mark.parametrize(
    ("file_name", "content"),
    [
        ("splits.csv", "file,split\na.mid,train\nb.mid,valid\n./sub/c.mid,TEST\nsub\\d.mid,train\n"),
        ("splits.json", json.dumps({"train": ["a.mid", "sub/d.mid"], "validation": ["b.mid"], "test": ["c.mid"]})),
    ],
)
def test_a_split_file_puts_each_file_of_a_folder_in_its_split(tmp_path, file_name, content):
    folder = _folder(tmp_path / "music", ["a.mid", "b.mid", "sub/c.mid", "sub/d.mid"])
    (tmp_path / file_name).write_text(content)
    dataset = build_from_folder("given", folder, splits=read_split_file(tmp_path / file_name)).dataset
    expected = {"a.mid": "train", "b.mid": "validation", "sub/c.mid": "test", "sub/d.mid": "train"}
    assert _split_of(dataset) == expected and dataset.split_method == f"by the split file {file_name}"


def test_a_split_file_overrides_the_split_folders(tmp_path):
    folder = _folder(tmp_path / "music", ["train/a.mid", "train/b.mid"])
    splits = parse_split_file("s.csv", b"file,split\na.mid,train\nb.mid,test\n")
    dataset = build_from_folder("override", folder, splits=splits).dataset
    assert _split_of(dataset) == {"train/a.mid": "train", "train/b.mid": "test"}


def test_uploads_take_a_split_file_by_base_name():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner/a.mid", scale_piece(1, 16))
    uploads = [("top.mid", scale_piece(0, 16)), ("set.zip", buffer.getvalue())]
    splits = parse_split_file("split.json", b'{"train": ["top.mid"], "test": ["a.mid"]}')
    dataset = build_from_uploads("up", uploads, splits=splits).dataset
    assert _split_of(dataset) == {"top.mid": "train", "set.zip/inner/a.mid": "test"}


def test_the_split_is_part_of_what_identifies_a_build():
    files = _files("p0.mid", "p1.mid", "p2.mid")
    first = parse_split_file("s.csv", b"file,split\np0.mid,train\np1.mid,valid\np2.mid,test\n")
    built = build_dataset("given", files, splits=first)
    assert build_dataset("given", files, splits=first).cache_hit
    assert build_dataset("random", files).dataset.manifest["cache_key"] != built.dataset.manifest["cache_key"]
    second = parse_split_file("s.csv", b"file,split\np0.mid,train\np1.mid,train\np2.mid,test\n")
    with pytest.raises(DatasetError, match="already exists with other files or options"):
        build_dataset("given", files, splits=second)
    rebuilt = build_dataset("given", files, splits=second, overwrite=True).dataset
    assert _split_of(rebuilt) == {"p0.mid": "train", "p1.mid": "train", "p2.mid": "test"}


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        (
            "s.csv",
            "file,split\np0.mid,train\np1.mid,train\np2.mid,test\n" + "".join(f"x{i}.mid,test\n" for i in range(7)),
            "the split file s.csv lists 7 files (x0.mid, x1.mid, x2.mid, x3.mid, x4.mid and 2 more) not in the dataset",
        ),
        ("s.csv", "file,split\np0.mid,train\np1.mid,test\n", "leaves 1 file (p2.mid) in no split"),
        ("s.csv", "file,split\np0.mid,train\np1.mid,dev\np2.mid,test\n", "unknown split 'dev' (line 3)"),
        ("s.json", '{"train": ["p0.mid", "p1.mid"], "dev": ["p2.mid"]}', "unknown split 'dev' (under 'dev')"),
        ("s.json", '{"validation": ["p0.mid", "p1.mid"], "test": ["p2.mid"]}', "the train split is empty"),
        ("s.json", '{"train": ["p0.mid", "p1.mid", "p2.mid"], "test": ["p2.mid"]}', "puts p2.mid in two splits"),
        ("s.csv", "name,part\np0.mid,train\n", "needs a header with the columns file and split"),
        ("s.csv", "file,split\n", "lists no files"),
        ("s.json", '["p0.mid"]', "must hold"),
        ("s.json", "{not json", "is not valid JSON"),
        ("s.txt", "p0.mid train", "must be a .csv"),
    ],
)
def test_a_bad_split_file_says_what_is_wrong(file_name, content, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        build_dataset("bad", _files("p0.mid", "p1.mid", "p2.mid"), splits=parse_split_file(file_name, content.encode()))


def test_a_base_name_that_could_be_several_files_asks_for_the_path():
    splits = parse_split_file("s.csv", b"file,split\np.mid,train\n")
    with pytest.raises(DatasetError, match=re.escape("could be any of 2 files (a/p.mid, b/p.mid)")):
        build_dataset("twins", _files("a/p.mid", "b/p.mid"), splits=splits)
