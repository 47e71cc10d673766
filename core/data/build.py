"""Build a dataset: read the files, preprocess them in sandboxed workers, split, store and register.

The result is a :class:`core.data.datasets.Dataset` in
``<NEUROTUNE_HOME>/datasets/<id>/`` (its layout is described there). Rebuilding
the same name from the same files, options and split is a cache hit, and every
file's preprocessed notes are cached across datasets. Pieces are split at
random, or as the folders or a split file say (:mod:`core.data.splits`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import DataConfig, ValidationLimits, stable_hash, to_dict
from core.data.corpora import build_corpus
from core.data.datasets import Dataset, delete_dataset, save_npz_atomically
from core.data.ingest import Cancel, check_cancel, ingest_files
from core.data.piece import QuantizedPiece
from core.data.splits import FileSplits, folder_splits, random_splits
from core.data.stats import dataset_statistics
from core.data.uploads import Rejection, SourceFile, read_midi_dir, read_uploads
from core.errors import DatasetError, describe_os_error
from core.folders import data_folder
from core.names import check_name
from core.settings import get_settings
from core.store import datasets as store
from core.store.db import DatasetRecord

Progress = Callable[[int, int, str], None]


@dataclass
class FileReport:
    """What happened to one input file."""

    name: str
    accepted: bool
    reason: str = ""
    sha256: str = ""

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "status": "accepted" if self.accepted else "rejected",
            "reason": self.reason,
            "sha256": self.sha256,
        }


class EmptyDatasetError(DatasetError):
    """Nothing usable remained; ``reports`` says why for each file."""

    def __init__(self, message: str, reports: list[FileReport]):
        super().__init__(message)
        self.reports = reports


@dataclass
class BuildResult:
    dataset: Dataset
    reports: list[FileReport] = field(default_factory=list)
    cache_hit: bool = False

    @property
    def rejected(self) -> list[FileReport]:
        return [r for r in self.reports if not r.accepted]


def _piece_cache_path(sha256: str, config: DataConfig, limits: ValidationLimits) -> Path:
    key = stable_hash([config.cache_key(), to_dict(limits)])
    return get_settings().cache_dir / "pieces" / f"{sha256[:32]}-{key}.npz"


def _load_cached_piece(path: Path):
    try:
        with np.load(path) as arrays:
            return json.loads(str(arrays["meta"])), arrays["notes"]
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache entry is recomputed


def _preprocess_all(
    files: Sequence[SourceFile],
    hashes: Sequence[str],
    config: DataConfig,
    limits: ValidationLimits,
    workers: int,
    progress: Progress | None,
    cancel: Cancel | None = None,
) -> list:
    """Preprocess every file, using the per-file cache; results in input order.

    Files not in the cache are read in sandboxed worker processes
    (:mod:`core.data.ingest`), even a single one. ``progress`` is called as
    each result comes in; if it raises, the workers are killed and the
    exception goes on up.
    """
    results: list = [None] * len(files)
    todo = []
    first_of: dict[str, int] = {}  # the same bytes again are read once (and rejected as duplicates later)
    for index, sha in enumerate(hashes):
        if sha in first_of:
            continue
        first_of[sha] = index
        cached = _load_cached_piece(_piece_cache_path(sha, config, limits))
        if cached is None:
            todo.append(index)
        else:
            results[index] = cached
    total, done = len(first_of), len(first_of) - len(todo)

    def finish(index: int, result) -> None:
        nonlocal done
        results[index] = result
        if not isinstance(result, str):
            meta, notes = result
            path = _piece_cache_path(hashes[index], config, limits)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                save_npz_atomically(path, meta=np.array(json.dumps(meta)), notes=notes)
            except OSError:
                pass  # the cache only saves time; storing the dataset itself reports a full disk
        done += 1
        if progress:
            progress(done, total, files[index].name)

    if progress:
        progress(done, total, "cached" if done else "starting")
    check_cancel(cancel)
    if todo:
        outcomes = ingest_files(
            [(files[i].name, files[i].data) for i in todo], config, limits, workers=workers, cancel=cancel
        )
        with closing(outcomes):
            for outcome in outcomes:
                finish(todo[outcome.index], outcome.result)
                check_cancel(cancel)
    return [results[first_of[sha]] for sha in hashes]


def build_dataset(
    name: str,
    files: Sequence[SourceFile],
    config: DataConfig | None = None,
    *,
    source: str = "upload",
    rejections: Sequence[Rejection] = (),
    limits: ValidationLimits | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    overwrite: bool = False,
    splits: FileSplits | None = None,
) -> BuildResult:
    """Preprocess ``files`` into a stored, registered dataset called ``name``.

    Rebuilding the same name from the same files, config and split is a cache
    hit; files already preprocessed with the same config (in any dataset) are
    read from the per-file cache.

    Args:
        rejections: Files refused before preprocessing (e.g. unsafe zip
            members), kept in the report.
        progress: Called as ``progress(done, total, current_file_name)`` as
            each file's result comes in; an exception it raises stops the
            build (workers killed, nothing stored) and goes on up.
        cancel: A ``threading.Event`` or a callable returning True to stop
            the build between files.
        overwrite: Replace an existing dataset of that name built differently.
        splits: Each file's split (train, validation, test); default: pieces drawn
            into train and validation by the config's fraction and seed.

    Raises:
        DatasetError: empty name, a name taken by a different build, cancelled, a
            split that does not fit the files (:meth:`FileSplits.assign`).
        EmptyDatasetError: no file was usable, or none for the train split (its ``reports`` say why).
    """
    config = config or DataConfig()
    limits = limits or ValidationLimits()
    name = name.strip()
    if not name:
        raise DatasetError("give the dataset a name")
    check_name("dataset", name, DatasetError)
    hashes = [hashlib.sha256(f.data).hexdigest() for f in files]
    # A given split is checked before any file is read; a random split is fixed by the config.
    split_of = splits.assign([f.name for f in files], [r.name for r in rejections]) if splits else None
    identity = [
        config.identity_dict(),
        to_dict(limits),
        sorted(zip((f.name for f in files), hashes)),
        sorted((r.name, r.reason) for r in rejections),
    ]
    cache_key = stable_hash([*identity, splits.key()] if splits else identity)
    existing = store.find_dataset(name)
    if existing is not None:
        if existing.cache_key == cache_key and (Path(existing.path) / "manifest.json").exists():
            dataset = Dataset(Path(existing.path), existing.name)
            reports = [
                FileReport(f["name"], f["status"] == "accepted", f["reason"], f["sha256"]) for f in dataset.files
            ]
            return BuildResult(dataset, reports, cache_hit=True)
        if not overwrite:
            raise DatasetError(
                f"a dataset named '{name}' already exists with other files or options; "
                "choose another name or overwrite it"
            )
        delete_dataset(name)

    results = _preprocess_all(files, hashes, config, limits, workers or os.cpu_count() or 1, progress, cancel)
    reports = [FileReport(r.name, False, r.reason) for r in rejections]
    accepted: list[tuple[SourceFile, str, dict, np.ndarray]] = []
    first_seen: dict[str, str] = {}
    for source_file, sha, result in zip(files, hashes, results):
        if isinstance(result, str):
            reports.append(FileReport(source_file.name, False, result, sha))
        elif sha in first_seen:
            reports.append(FileReport(source_file.name, False, f"duplicate of {first_seen[sha]}", sha))
        else:
            first_seen[sha] = source_file.name
            reports.append(FileReport(source_file.name, True, "", sha))
            accepted.append((source_file, sha, *result))
    if not accepted:
        raise EmptyDatasetError(
            f"no usable pieces: all {len(reports)} files were rejected" if reports else "no MIDI files were given",
            reports,
        )
    if split_of is None:
        piece_splits = random_splits(len(accepted), config)
    else:
        piece_splits = [split_of[source_file.name] for source_file, *_ in accepted]
    if "train" not in piece_splits:
        raise EmptyDatasetError(
            f"the train split is empty: {splits.source} puts none of the {len(accepted)} usable pieces in it",
            reports,
        )

    dataset_id = uuid.uuid4().hex[:12]
    root = data_folder(get_settings().datasets_dir)
    staging = root / f".{dataset_id}.building"
    try:
        head = {
            "id": dataset_id,
            "name": name,
            "source": source,
            "cache_key": cache_key,
            "split_method": f"by {splits.source}" if splits else "at random",
        }
        manifest = _write_dataset(staging, head, config, limits, accepted, piece_splits, reports)
        final = root / dataset_id
        os.replace(staging, final)
    except OSError as error:  # a full disk or a folder taken away: nothing half-written stays behind
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetError(f"cannot write the dataset under {root}: {describe_os_error(error)}") from error
    stats = manifest["stats"]
    dataset = Dataset(final)
    for representation in config.representations:
        dataset.encoded(representation)
    store.add_dataset(
        DatasetRecord(
            id=dataset_id,
            name=name,
            source=source,
            path=str(final),
            cache_key=cache_key,
            config=manifest["config"],
            files=manifest["files"],
            stats=stats,
        )
    )
    return BuildResult(dataset, reports, cache_hit=False)


def _write_dataset(
    staging: Path,
    head: dict,
    config: DataConfig,
    limits: ValidationLimits,
    accepted: list[tuple[SourceFile, str, dict, np.ndarray]],
    splits: list[str],
    reports: list[FileReport],
) -> dict:
    """Write the accepted (file, sha256, meta, notes) and their splits into ``staging`` with the manifest; returns it."""
    (staging / "midi").mkdir(parents=True)
    pieces_meta = []
    for number, ((source_file, sha, meta, _), split) in enumerate(zip(accepted, splits)):
        (staging / "midi" / f"{number:05d}.mid").write_bytes(source_file.data)
        pieces_meta.append({**meta, "name": source_file.name, "sha256": sha, "split": split})
    notes = [n for *_, n in accepted]
    offsets = np.concatenate([[0], np.cumsum([len(n) for n in notes])]).astype(np.int64)
    np.savez(staging / "notes.npz", notes=np.concatenate(notes).astype(np.int32), offsets=offsets)
    pieces = [QuantizedPiece.from_meta(m, n) for m, n in zip(pieces_meta, notes)]
    stats = dataset_statistics(pieces, splits)
    stats["files_accepted"] = len(accepted)
    stats["files_rejected"] = len(reports) - len(accepted)
    manifest = {
        **head,
        "config": to_dict(config),
        "limits": to_dict(limits),
        "pieces": pieces_meta,
        "files": [r.to_json() for r in reports],
        "stats": stats,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def build_from_uploads(
    name: str,
    uploads: Sequence[tuple[str, bytes]],
    config: DataConfig | None = None,
    *,
    limits: ValidationLimits | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    overwrite: bool = False,
    splits: FileSplits | None = None,
) -> BuildResult:
    """Build from uploaded ``.mid/.midi`` files and zips of them (read safely).

    ``splits`` (a split file, :func:`core.data.splits.parse_split_file`) may name
    each upload by its base name; zip members are named ``archive.zip/path``.
    """
    limits = limits or ValidationLimits()
    files, rejections = read_uploads(uploads, limits)
    return build_dataset(
        name,
        files,
        config,
        source="upload",
        rejections=rejections,
        limits=limits,
        progress=progress,
        cancel=cancel,
        overwrite=overwrite,
        splits=splits,
    )


def build_from_folder(
    name: str, folder: Path, config: DataConfig | None = None, *, splits: FileSplits | None = None, **options
) -> BuildResult:
    """Build from every ``.mid/.midi`` file under ``folder``.

    Top-level sub-folders named ``train``, ``valid`` (or ``validation``) and ``test``
    put each file in their split (:func:`core.data.splits.folder_splits`), unless
    ``splits`` (a split file, naming files relative to ``folder``) is given.
    ``options`` are :func:`build_dataset`'s (limits, workers, progress, cancel, overwrite).
    """
    if not Path(folder).is_dir():
        raise DatasetError(f"{folder} is not a folder")
    files = read_midi_dir(Path(folder))
    if not files:
        raise DatasetError(f"no .mid or .midi files under {folder}")
    splits = splits or folder_splits([f.name for f in files])
    return build_dataset(name, files, config, source=f"folder:{folder}", splits=splits, **options)


def build_from_corpus(
    name: str,
    corpus: str,
    config: DataConfig | None = None,
    *,
    limit: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    overwrite: bool = False,
    splits: FileSplits | None = None,
) -> BuildResult:
    """Build from a bundled corpus, converting it to MIDI first (cached after the first time).

    Pieces music21 cannot convert are listed as rejected files with the reason;
    ``splits`` (a split file) names the converted files.
    """

    def converting(done: int, total: int) -> None:
        if progress:
            progress(done, total, "converting the corpus to MIDI")

    corpus_build = build_corpus(corpus, limit=limit, workers=workers, progress=converting)
    files = [SourceFile(path.name, path.read_bytes()) for path in corpus_build.files]
    rejections = [Rejection(piece, reason) for piece, reason in corpus_build.skipped]
    return build_dataset(
        name,
        files,
        config,
        source=f"corpus:{corpus}",
        rejections=rejections,
        workers=workers,
        progress=progress,
        cancel=cancel,
        overwrite=overwrite,
        splits=splits,
    )
