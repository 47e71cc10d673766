"""Zips are read safely: traversal, links, bombs and junk are refused; good members go through."""

from __future__ import annotations

import io
import stat
import zipfile

from core.config import ValidationLimits
from core.data.uploads import read_midi_dir, read_uploads, read_zip
from tests.conftest import scale_piece


def _zip(members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def test_nested_folders_are_read_and_junk_is_reported():
    data = _zip({"a/b/one.mid": scale_piece(), "two.MIDI": scale_piece(2), "notes.txt": b"hi", "__MACOSX/._x": b""})
    files, rejections = read_zip("set.zip", data)
    assert [f.name for f in files] == ["set.zip/a/b/one.mid", "set.zip/two.MIDI"]
    assert [(r.name, r.reason) for r in rejections] == [("set.zip/notes.txt", "not a .mid or .midi file; skipped")]


def test_path_traversal_absolute_paths_and_symlinks_are_refused():
    data = _zip(
        {
            "../../evil.mid": scale_piece(),
            "/etc/evil.mid": scale_piece(),
            "link.mid": b"/etc/passwd",
            "ok.mid": scale_piece(),
        },
        symlinks=("link.mid",),
    )
    files, rejections = read_zip("bad.zip", data)
    assert [f.name for f in files] == ["bad.zip/ok.mid"]
    reasons = {r.name: r.reason for r in rejections}
    assert "escape" in reasons["bad.zip/../../evil.mid"]
    assert "absolute" in reasons["bad.zip//etc/evil.mid"]
    assert "symbolic link" in reasons["bad.zip/link.mid"]


def test_zip_bomb_caps():
    many = _zip({f"{i}.mid": b"MThd" for i in range(6)})
    files, rejections = read_zip("many.zip", many, ValidationLimits(max_zip_members=5))
    assert files == [] and "6 files, over the limit of 5" in rejections[0].reason

    big = _zip({"big.mid": b"\0" * 3_000_000})  # compresses to a few KB
    files, rejections = read_zip("bomb.zip", big, ValidationLimits(max_zip_total_bytes=1_000_000))
    assert files == [] and "over the limit" in rejections[0].reason

    files, rejections = read_zip("big.zip", big, ValidationLimits(max_file_bytes=1_000_000))
    assert files == [] and "over the" in rejections[0].reason


def test_not_a_zip():
    files, rejections = read_zip("fake.zip", b"PK but not really")
    assert files == [] and "not a valid zip archive" in rejections[0].reason


def test_read_uploads_mixes_files_and_zips():
    uploads = [("a.mid", scale_piece()), ("b.zip", _zip({"c.mid": scale_piece(1)})), ("d.wav", b"RIFF")]
    files, rejections = read_uploads(uploads)
    assert [f.name for f in files] == ["a.mid", "b.zip/c.mid"]
    assert [r.name for r in rejections] == ["d.wav"]


def test_read_midi_dir_is_recursive(tmp_path):
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "deep.mid").write_bytes(scale_piece())
    (tmp_path / "top.midi").write_bytes(scale_piece())
    (tmp_path / "readme.txt").write_text("no")
    assert [f.name for f in read_midi_dir(tmp_path)] == ["top.midi", "x/y/deep.mid"]
