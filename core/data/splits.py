"""Which split each piece of a dataset belongs to: drawn at random, or given with the files.

By default whole pieces are drawn into train and validation, seeded
(:func:`random_splits`). A published split (JSB chorales' train/valid/test)
is given instead as :class:`FileSplits`: by the top-level folders of a
folder build (:func:`folder_splits`), or by a split file
(:func:`read_split_file`): CSV with columns ``file,split``, or JSON
``{"train": [...], "validation": [...], "test": [...]}``. A given split
names every file: a file in no split is an error, never a guess.

Training reads train and validation; test is held out for evaluation.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import DataConfig
from core.errors import DatasetError, describe_os_error

SPLITS = ("train", "validation", "test")
# What a split file or a folder may call each split.
SPLIT_NAMES = {"train": "train", "valid": "validation", "validation": "validation", "test": "test"}
# File names an error lists before "and N more".
LISTED = 5


def random_splits(count: int, config: DataConfig) -> list[str]:
    """Assign whole pieces to train or validation, seeded; train never empty, validation non-empty when asked."""
    order = np.random.default_rng(config.seed).permutation(count)
    n_validation = min(int(round(count * config.validation_fraction)), max(count - 1, 0))
    if config.validation_fraction > 0 and count >= 2:
        n_validation = max(n_validation, 1)
    splits = ["train"] * count
    for index in order[:n_validation]:
        splits[index] = "validation"
    return splits


def _files(names: Sequence[str]) -> str:
    """``"3 files (a.mid, b.mid, c.mid)"``, the names cut after :data:`LISTED`."""
    shown = ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
    return f"{len(names)} file{'' if len(names) == 1 else 's'} ({shown})"


def _normalized(name: str) -> str:
    """A listed file name as the build names files: forward slashes, no leading ``./``."""
    name = name.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


@dataclass(frozen=True)
class FileSplits:
    """The split of each file of a build, as the user gave it.

    Attributes:
        source: Where the splits come from (``"the folders"``, ``"the split file NAME"``),
            for messages and the dataset's manifest.
        entries: ``(file, split)`` pairs; ``file`` is a name relative to the built folder,
            or its end (a base name, as an upload is named), ``split`` one of :data:`SPLITS`.
    """

    source: str
    entries: tuple[tuple[str, str], ...]

    def key(self) -> list[list[str]]:
        """What identifies the assignment (not where it came from), for the dataset's cache key."""
        return sorted([file, split] for file, split in self.entries)

    def assign(self, names: Sequence[str], refused: Sequence[str] = ()) -> dict[str, str]:
        """The split of every file in ``names``.

        An entry matches the file of that name, else the one file whose name ends with
        ``/`` and the entry: ``bwv1.6.mid`` matches ``chorales.zip/bwv1.6.mid``.

        Args:
            names: The files handed in; each must be listed.
            refused: Files refused before reading (unsafe zip members): an entry may
                name them, they need no split.

        Returns:
            ``{name: split}`` for every name in ``names``.

        Raises:
            DatasetError: an entry names no file or several; a file is listed in two
                splits; a file is in no split.
        """
        by_ending: dict[str, list[str]] = defaultdict(list)
        for name in (*names, *refused):
            parts = name.split("/")
            for first in range(1, len(parts)):
                by_ending["/".join(parts[first:])].append(name)
        known = set(names) | set(refused)
        split_of: dict[str, str] = {}
        unknown = []
        for entry, split in self.entries:
            matches = [entry] if entry in known else by_ending.get(entry, [])
            if not matches:
                unknown.append(entry)
            elif len(matches) > 1:
                raise DatasetError(
                    f"{self.source} lists '{entry}', which could be any of {_files(matches)}; "
                    "write its path relative to the folder"
                )
            elif split_of.setdefault(matches[0], split) != split:
                raise DatasetError(f"{self.source} puts {matches[0]} in two splits: {split_of[matches[0]]} and {split}")
        if unknown:
            raise DatasetError(f"{self.source} lists {_files(unknown)} not in the dataset; check the names")
        missing = [name for name in names if name not in split_of]
        if missing:
            raise DatasetError(
                f"{self.source} leaves {_files(missing)} in no split; list every file in train, valid or test"
            )
        return {name: split_of[name] for name in names}


def folder_splits(names: Sequence[str]) -> FileSplits | None:
    """The splits given by top-level folders named ``train``, ``valid`` (or ``validation``) and ``test``.

    Args:
        names: The files of a folder build, named relative to the folder.

    Returns:
        Each file in the split of its top-level folder; None when no top-level folder is a split's.

    Raises:
        DatasetError: files lie outside the split folders (listed).
    """
    tops = [name.split("/", 1)[0].lower() if "/" in name else "" for name in names]
    if not any(top in SPLIT_NAMES for top in tops):
        return None
    outside = [name for name, top in zip(names, tops) if top not in SPLIT_NAMES]
    if outside:
        raise DatasetError(
            f"the folder has train/valid/test sub-folders, but {_files(outside)} lie outside them; "
            "move each into its split's folder, or give a split file"
        )
    return FileSplits("the folders", tuple((name, SPLIT_NAMES[top]) for name, top in zip(names, tops)))


def read_split_file(path: Path) -> FileSplits:
    """Read a split file from disk (:func:`parse_split_file`).

    Raises:
        DatasetError: the file cannot be read, or is not a valid split file.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DatasetError(f"cannot read the split file {path}: {describe_os_error(error)}") from error
    return parse_split_file(Path(path).name, data)


def _csv_rows(name: str, text: str) -> list[tuple[str, str, str]]:
    """(file, split, where) of each row of a CSV split file with columns ``file`` and ``split``."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [(column or "").strip().lower() for column in reader.fieldnames or []]
    if not {"file", "split"} <= set(columns):
        raise DatasetError(f"the split file {name} needs a header with the columns file and split")
    reader.fieldnames = columns
    rows = []
    for row in reader:
        where = f"line {reader.line_num}"
        if not (row["file"] or "").strip():
            raise DatasetError(f"the split file {name} has a row without a file name ({where})")
        rows.append((row["file"], row["split"] or "", where))
    return rows


def _json_rows(name: str, text: str) -> list[tuple[str, str, str]]:
    """(file, split, where) of each file of a JSON split file ``{split: [file, ...]}``."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise DatasetError(f"the split file {name} is not valid JSON ({error})") from error
    if not isinstance(data, dict) or not all(
        isinstance(files, list) and all(isinstance(file, str) for file in files) for files in data.values()
    ):
        raise DatasetError(f'the split file {name} must hold {{"train": [file names], "test": [...], ...}}')
    return [(file, split, f"under '{split}'") for split, files in data.items() for file in files]


_READERS = {".csv": _csv_rows, ".json": _json_rows}


def parse_split_file(name: str, data: bytes) -> FileSplits:
    """The splits a split file gives: CSV ``file,split`` rows or JSON ``{split: [files]}``, told by its suffix.

    Split names are ``train``, ``valid`` or ``validation``, and ``test``, in any case.

    Raises:
        DatasetError: another suffix, text that is not UTF-8, a malformed file, an unknown
            split name, or no file listed.
    """
    reader = _READERS.get(Path(name).suffix.lower())
    if reader is None:
        raise DatasetError(f"the split file {name} must be a .csv (columns file,split) or a .json file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(f"the split file {name} is not UTF-8 text") from error
    entries = []
    for file, split, where in reader(name, text):
        canonical = SPLIT_NAMES.get(split.strip().lower())
        if canonical is None:
            raise DatasetError(
                f"the split file {name} names an unknown split '{split}' ({where}); use train, valid or test"
            )
        entries.append((_normalized(file), canonical))
    if not entries:
        raise DatasetError(f"the split file {name} lists no files")
    return FileSplits(f"the split file {name}", tuple(entries))
