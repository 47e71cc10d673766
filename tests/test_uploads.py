"""Zips are read safely: traversal, links, bombs and junk are refused; good members go through."""

from __future__ import annotations

import io
import stat
import struct
import zipfile

import pytest

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


def _damage_member(archive: bytes, name: str, how: str) -> bytes:
    """Damage one member of a real zip: its checksum, its deflated bytes or its compression method."""
    data = bytearray(archive)
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 46 + struct.unpack_from("<H", data, central + 28)[0]] != name.encode():
        central = data.find(b"PK\x01\x02", central + 4)
    if how == "crc":
        struct.pack_into("<I", data, central + 16, info.CRC ^ 0xFFFF)
    elif how == "deflate":  # an invalid block type
        name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
        start = info.header_offset + 30 + name_length + extra_length
        data[start : start + info.compress_size] = b"\xff" * info.compress_size
    else:  # method 99 (AES), in the local and the central header
        struct.pack_into("<H", data, info.header_offset + 8, 99)
        struct.pack_into("<H", data, central + 10, 99)
    return bytes(data)


@pytest.mark.parametrize(
    ("how", "detail"), [("crc", "Bad CRC-32"), ("deflate", "invalid block type"), ("method", "not supported")]
)
def test_a_member_whose_data_is_damaged_is_reported_and_the_others_kept(how, detail):
    members = {"a.mid": scale_piece(0, 64), "b.mid": scale_piece(3, 64), "c.mid": scale_piece(5, 64)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    damaged = _damage_member(buffer.getvalue(), "b.mid", how)
    files, rejections = read_zip("set.zip", damaged)
    assert [f.name for f in files] == ["set.zip/a.mid", "set.zip/c.mid"]
    assert [f.data for f in files] == [members["a.mid"], members["c.mid"]]
    assert [r.name for r in rejections] == ["set.zip/b.mid"]
    assert rejections[0].reason.startswith("cannot be read from the archive (") and detail in rejections[0].reason
