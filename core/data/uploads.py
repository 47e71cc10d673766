"""Turn what a user hands in (files, zips, a folder) into named bytes, safely.

Zips are read in memory, never extracted: nothing can be written outside the
data folder, whatever names the archive holds. Each unusable member becomes a
:class:`Rejection` with its reason; the rest go on.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path, PurePosixPath

from core.config import ValidationLimits
from core.data.midi_io import is_midi_name

_IGNORED_PREFIXES = ("__MACOSX/",)


@dataclass(frozen=True)
class SourceFile:
    """One candidate MIDI file: a display name (unique in a batch) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Rejection:
    name: str
    reason: str


def read_uploads(
    uploads: Iterable[tuple[str, bytes]], limits: ValidationLimits | None = None
) -> tuple[list[SourceFile], list[Rejection]]:
    """Sort uploaded files into MIDI candidates and rejections, expanding zips.

    Args:
        uploads: (file name, content) pairs as the browser sent them.
    """
    limits = limits or ValidationLimits()
    files: list[SourceFile] = []
    rejections: list[Rejection] = []
    for name, data in uploads:
        if name.lower().endswith(".zip"):
            found, rejected = read_zip(name, data, limits)
            files += found
            rejections += rejected
        elif is_midi_name(name):
            files.append(SourceFile(name, data))
        else:
            rejections.append(Rejection(name, "not a .mid, .midi or .zip file"))
    return files, rejections


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "unsafe absolute path in the archive; skipped"
    if ".." in path.parts:
        return "unsafe path in the archive ('..' would escape the folder); skipped"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link in the archive; skipped"
    if info.flag_bits & 0x1:
        return "encrypted member; skipped"
    return None


def _member_error(error: Exception) -> str:
    """Why a member's data could not be read; the other members go on.

    zipfile passes on its decompressors' errors as they are: zlib.error or
    EOFError for damaged deflate data, BadZipFile for a CRC mismatch or a bad
    local header, NotImplementedError for an unsupported compression method,
    lzma and bz2 errors, so every exception counts against the member alone.
    """
    detail = " ".join(str(error).split()) or type(error).__name__
    return f"cannot be read from the archive ({detail[:200]})"


def read_zip(
    name: str, data: bytes, limits: ValidationLimits | None = None
) -> tuple[list[SourceFile], list[Rejection]]:
    """Read the MIDI members of a zip archive, nested folders included.

    The archive is refused whole when it is not a zip or when it declares more
    members or more uncompressed bytes than ``limits`` allow (a zip bomb);
    reading also stops at the byte cap in case the declared sizes lie.
    """
    limits = limits or ValidationLimits()
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        members = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith(_IGNORED_PREFIXES)]
    except Exception as error:  # BadZipFile, NotImplementedError (a later zip version), OSError, ...
        detail = " ".join(str(error).split()) or type(error).__name__
        return [], [Rejection(name, f"not a valid zip archive ({detail[:200]})")]
    if len(members) > limits.max_zip_members:
        return [], [
            Rejection(name, f"the archive holds {len(members)} files, over the limit of {limits.max_zip_members}")
        ]
    declared = sum(i.file_size for i in members)
    if declared > limits.max_zip_total_bytes:
        return [], [
            Rejection(
                name,
                f"the archive unpacks to {declared / 2**20:.0f} MB, over the limit of "
                f"{limits.max_zip_total_bytes / 2**20:.0f} MB",
            )
        ]
    files: list[SourceFile] = []
    rejections: list[Rejection] = []
    budget = limits.max_zip_total_bytes
    for info in members:
        member_name = f"{name}/{info.filename}"
        reason = _unsafe_reason(info)
        if reason is None and not is_midi_name(info.filename):
            reason = "not a .mid or .midi file; skipped"
        if reason is None and info.file_size > limits.max_file_bytes:
            reason = (
                f"the file is {info.file_size / 2**20:.1f} MB, over the {limits.max_file_bytes / 2**20:.1f} MB limit"
            )
        if reason is not None:
            rejections.append(Rejection(member_name, reason))
            continue
        try:
            with archive.open(info) as member:
                content = member.read(min(limits.max_file_bytes, budget) + 1)
        except Exception as error:  # any decompression error is the member's alone (see _member_error)
            rejections.append(Rejection(member_name, _member_error(error)))
            continue
        if len(content) > budget:
            rejections.append(
                Rejection(member_name, "the archive unpacks to more than its declared size; stopped reading")
            )
            break
        if len(content) > limits.max_file_bytes:
            rejections.append(Rejection(member_name, "the file is larger than its declared size and over the limit"))
            continue
        budget -= len(content)
        files.append(SourceFile(member_name, content))
    return files, rejections


def read_midi_dir(folder: Path) -> list[SourceFile]:
    """All .mid/.midi files under ``folder`` (recursively), named relative to it."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and is_midi_name(p.name))
    return [SourceFile(str(p.relative_to(folder)), p.read_bytes()) for p in paths]
