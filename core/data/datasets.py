"""Stored datasets: read, list, rename and delete them (building one is :mod:`core.data.build`).

A dataset lives in ``<NEUROTUNE_HOME>/datasets/<id>/``::

    manifest.json   config, pieces (name, hash, split, key, ...), how they were split, file report, statistics
    notes.npz       every accepted piece's quantized notes, concatenated, with offsets
    midi/NNNNN.mid  the accepted source files, for listening and download
    repr/NAME.npz   each representation, derived from the notes once and cached

The quantized notes are kept once; each representation is derived from them
on demand, so a dataset built with default options feeds every model.
"""

from __future__ import annotations

import io
import json
import shutil
from functools import cached_property
from pathlib import Path

import numpy as np

from core.checkpoints import write_atomically
from core.config import DataConfig, from_dict
from core.data.piece import QuantizedPiece
from core.data.representations import get_representation
from core.data.splits import SPLITS
from core.errors import DatasetError
from core.store import datasets as store
from core.store.db import DatasetRecord


class Dataset:
    """A stored dataset, read lazily from its folder."""

    def __init__(self, path: Path, name: str | None = None):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.exists():
            raise DatasetError(f"the dataset folder {self.path} has no manifest.json; rebuild the dataset")
        self.manifest = json.loads(manifest_path.read_text())
        self.name = name or self.manifest["name"]

    @property
    def id(self) -> str:
        return self.manifest["id"]

    @property
    def config(self) -> DataConfig:
        return from_dict(DataConfig, self.manifest["config"])

    @property
    def stats(self) -> dict:
        return self.manifest["stats"]

    @property
    def files(self) -> list[dict]:
        return self.manifest["files"]

    @property
    def piece_meta(self) -> list[dict]:
        return self.manifest["pieces"]

    def __len__(self) -> int:
        return len(self.piece_meta)

    @cached_property
    def _notes(self) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.path / "notes.npz") as arrays:
            return arrays["notes"], arrays["offsets"]

    def piece(self, index: int) -> QuantizedPiece:
        notes, offsets = self._notes
        return QuantizedPiece.from_meta(self.piece_meta[index], notes[offsets[index] : offsets[index + 1]])

    @property
    def split_method(self) -> str:
        """How the pieces were split, in words: "at random", "by the folders", "by the split file NAME"."""
        return self.manifest.get("split_method", "at random")

    def split_indices(self, split: str) -> list[int]:
        """The pieces of ``split`` (train, validation or test; training reads the first two)."""
        if split not in SPLITS:
            raise DatasetError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
        return [i for i, meta in enumerate(self.piece_meta) if meta["split"] == split]

    def source_midi(self, index: int) -> bytes:
        """The accepted file as it was handed in."""
        return (self.path / "midi" / f"{index:05d}.mid").read_bytes()

    def encoded(self, representation: str) -> tuple[np.ndarray, np.ndarray]:
        """Every piece in one representation, concatenated, derived once and cached on disk.

        Returns:
            (values, offsets): piece ``i`` is ``values[offsets[i]:offsets[i + 1]]``;
            ``values`` has the representation's shape per step (tokens: (T,),
            pianoroll: (T, pitches), notes: (n, 4)).
        """
        cache = self.path / "repr" / f"{representation}.npz"
        if cache.exists():
            with np.load(cache) as arrays:
                return arrays["values"], arrays["offsets"]
        codec = get_representation(representation, self.config)
        parts = [codec.encode(self.piece(i).notes) for i in range(len(self))]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        values = np.concatenate(parts) if parts else np.zeros((0,))
        cache.parent.mkdir(exist_ok=True)
        save_npz_atomically(cache, values=values, offsets=offsets)
        return values, offsets


def save_npz_atomically(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` through the one atomic writer, so a reader never sees half a file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())


def load_dataset(name: str) -> Dataset:
    record = store.get_dataset_record(name)
    return Dataset(Path(record.path), record.name)


def list_datasets() -> list[DatasetRecord]:
    return store.list_dataset_records()


def rename_dataset(name: str, new_name: str) -> None:
    store.rename_dataset_record(name, new_name)


def delete_dataset(name: str) -> None:
    """Remove the dataset's record and every file it stored."""
    record = store.delete_dataset_record(name)
    shutil.rmtree(record.path, ignore_errors=True)
