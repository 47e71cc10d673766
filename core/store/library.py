"""The piece library: generated pieces kept for later listening tests and evaluation.

Each piece has a folder ``<NEUROTUNE_HOME>/library/<id>/`` holding ``piece.mid`` and, when it was
rendered, ``piece.ogg``/``piece.flac``/``piece.wav``; its record keeps where it came from (checkpoint,
parameters, seed) so it can be made again, and its metrics so it can be compared without re-parsing.
Titles are unique (the database says so too), so a listening test or a table can name a piece by its title.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.checkpoints import write_atomically
from core.errors import LibraryError
from core.names import MAX_NAME_LENGTH, check_name
from core.settings import get_settings
from core.store.db import PieceRecord, session_scope

MIDI_NAME = "piece.mid"
# The longest number suffix a free title gets, " (99999)": every numbered form of a title starts with
# its first MAX_NAME_LENGTH - 8 characters.
_LONGEST_SUFFIX = 8
# Another process may take the free title found before this one stores it: look again this often.
_TITLE_ATTEMPTS = 5
# Characters that no file name may hold on some system (and path separators), in a zip or a download.
_UNSAFE_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


def library_dir() -> Path:
    """The folder holding one sub-folder per piece."""
    return get_settings().home / "library"


def _check_suffix(suffix: str) -> None:
    if not (suffix.startswith(".") and suffix[1:].isalnum()):
        raise LibraryError(f"'{suffix}' is not an audio file suffix such as '.ogg' or '.wav'")


def _numbered(title: str, number: int) -> str:
    """``title (number)``, the title shortened to keep the whole within :data:`MAX_NAME_LENGTH`."""
    suffix = f" ({number})"
    return title[: MAX_NAME_LENGTH - len(suffix)] + suffix


def fitting_title(title: str) -> str:
    """A title the program made (from a checkpoint's name or a file's stem) cut to the longest a name may be,
    with an ellipsis: a long name must not fail the save after the music is composed."""
    title = title.strip()
    return title if len(title) <= MAX_NAME_LENGTH else title[: MAX_NAME_LENGTH - 1].rstrip() + "…"


def free_title(title: str) -> str:
    """``title`` when no piece has it, else the first of ``title (2)``, ``title (3)``... that none has.

    Read in a transaction of its own: SQLite in WAL mode refuses a write in a transaction that read
    before another process wrote, so the write that follows starts afresh (and the unique index settles a race).
    """
    with session_scope() as session:
        stem = title[: MAX_NAME_LENGTH - _LONGEST_SUFFIX]
        taken = set(
            session.scalars(select(PieceRecord.title).where(PieceRecord.title.startswith(stem, autoescape=True)))
        )
    if title not in taken:
        return title
    return next(candidate for number in count(2) if (candidate := _numbered(title, number)) not in taken)


def save_piece(
    *,
    title: str,
    checkpoint: str,
    model: str,
    dataset: str,
    representation: str,
    parameters: dict[str, Any],
    seed: int,
    variation: int,
    midi: bytes,
    audio: bytes | None,
    audio_suffix: str = ".wav",
    metrics: dict[str, Any],
    duration_seconds: float,
) -> PieceRecord:
    """Store a generated piece: its files first, then its record, so no record points at nothing.

    Args:
        title: A name for people (:func:`core.names.check_name`); when another piece has it, the piece
            is saved as ``title (2)``, ``title (3)``...: the returned record has the title it got.
        checkpoint: The checkpoint folder the piece was generated from.
        model: Registry name of the model.
        dataset: Name of the dataset the model was trained on.
        representation: Name of the representation the model reads and writes.
        parameters: Sampling and post-processing parameters (JSON-serializable).
        seed: Random seed of the generation.
        variation: 1-based number of the piece among those of one request.
        midi: The piece as MIDI file bytes.
        audio: A rendering of the piece, or None when there is none.
        audio_suffix: File suffix of ``audio``, such as ".wav" or ".ogg".
        metrics: Evaluation metrics of the piece (JSON-serializable).
        duration_seconds: Length of the piece.

    Returns:
        The new record, its ``id`` naming the piece's folder.

    Raises:
        LibraryError: A bad title, variation or suffix, or files that could not be written.
    """
    title = check_name("piece", title, LibraryError)
    if variation < 1:
        raise LibraryError(f"variation numbers start at 1, not {variation}")
    if audio is not None:
        _check_suffix(audio_suffix)
    piece_id = uuid.uuid4().hex
    folder = library_dir() / piece_id
    midi_path = folder / MIDI_NAME
    audio_path = folder / f"piece{audio_suffix}" if audio is not None else None
    try:
        folder.mkdir(parents=True)
        write_atomically(midi_path, midi)
        if audio is not None and audio_path is not None:
            write_atomically(audio_path, audio)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise LibraryError(f"could not write the piece to {folder}: {error.strerror or error}") from None
    fields: dict[str, Any] = {
        "id": piece_id,
        "checkpoint": checkpoint,
        "model": model,
        "dataset": dataset,
        "representation": representation,
        "parameters": parameters,
        "seed": seed,
        "variation": variation,
        "midi_path": str(midi_path),
        "audio_path": str(audio_path) if audio_path is not None else None,
        "metrics": metrics,
        "duration_seconds": float(duration_seconds),
    }
    try:
        for _attempt in range(_TITLE_ATTEMPTS):
            record = PieceRecord(title=free_title(title), **fields)
            try:
                with session_scope() as session:
                    session.add(record)
                return record
            except IntegrityError:
                continue  # another process took that title a moment ago: look for the next free one
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)  # no files without a record either
        raise
    shutil.rmtree(folder, ignore_errors=True)
    raise LibraryError(f"could not find a free title near '{title}' (pieces are being saved very fast); try again")


def rename_piece(piece_id: str, title: str) -> PieceRecord:
    """Give a piece another title.

    Raises:
        LibraryError: No such piece, a title :func:`core.names.check_name` refuses, or one another piece has.
    """
    title = check_name("piece", title, LibraryError)
    record = get_piece(piece_id)
    if record.title == title:
        return record
    taken = LibraryError(f"another piece is already called '{title}'; choose another title")
    with session_scope() as session:
        if session.scalar(select(PieceRecord.id).where(PieceRecord.title == title)) is not None:
            raise taken
    try:
        with session_scope() as session:  # a write alone in its transaction (see free_title)
            renamed = session.execute(update(PieceRecord).where(PieceRecord.id == piece_id).values(title=title))
    except IntegrityError:
        raise taken from None
    if not renamed.rowcount:
        raise LibraryError(f"no piece '{piece_id}' in the library")
    record.title = title
    return record


# A setting a piece does not have: equal to no value a filter asks for, None included.
_ABSENT = object()


@dataclass(frozen=True)
class PieceQuery:
    """Which pieces to list; an empty field keeps every piece.

    Attributes:
        checkpoints: Checkpoint folders the pieces were generated from (a trained model each).
        models: Registry names of their architectures, such as "lstm".
        datasets: Datasets their models were trained on.
        representations: Representations their models read and write.
        since: First day saved (UTC), included.
        until: Last day saved (UTC), included.
        text: Words the title holds, in any case.
        settings: (name, value) pairs of :func:`flat_settings`: for each name given, a piece must have
            one of the values given with it.
    """

    checkpoints: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    representations: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    text: str = ""
    settings: tuple[tuple[str, Any], ...] = ()

    def matches_settings(self, record: PieceRecord) -> bool:
        wanted: dict[str, set] = {}
        for name, value in self.settings:
            wanted.setdefault(name, set()).add(value)
        settings = flat_settings(record.parameters)
        return all(settings.get(name, _ABSENT) in values for name, values in wanted.items())


def list_pieces(query: PieceQuery | None = None, limit: int | None = None) -> list[PieceRecord]:
    """Pieces, newest first.

    Args:
        query: Only the pieces it keeps; all when None.
        limit: At most this many; all when None.
    """
    query = query or PieceQuery()
    statement = select(PieceRecord).order_by(PieceRecord.created_at.desc(), PieceRecord.id)
    for column, values in (
        (PieceRecord.checkpoint, query.checkpoints),
        (PieceRecord.model, query.models),
        (PieceRecord.dataset, query.datasets),
        (PieceRecord.representation, query.representations),
    ):
        if values:
            statement = statement.where(column.in_(values))
    if query.since is not None:
        statement = statement.where(PieceRecord.created_at >= datetime.combine(query.since, time.min, UTC))
    if query.until is not None:
        next_day = datetime.combine(query.until + timedelta(days=1), time.min, UTC)
        statement = statement.where(PieceRecord.created_at < next_day)
    if query.text.strip():
        statement = statement.where(PieceRecord.title.icontains(query.text.strip(), autoescape=True))
    if limit is not None and not query.settings:
        statement = statement.limit(limit)
    with session_scope() as session:
        records = list(session.scalars(statement))
    if query.settings:  # JSON is queried differently by every database: here, in Python
        records = [record for record in records if query.matches_settings(record)][:limit]
    return records


def flat_settings(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A piece's parameters under dotted names: ``{"sampling": {"top_k": 8}}`` -> ``{"sampling.top_k": 8}``.

    Lists become tuples, so every value can be compared, grouped and offered in a filter.
    """
    flat: dict[str, Any] = {}
    for name, value in parameters.items():
        if isinstance(value, Mapping):
            flat.update(flat_settings(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = tuple(value) if isinstance(value, list) else value
    return flat


def setting_choices(records: Sequence[PieceRecord]) -> dict[str, list[Any]]:
    """The settings a filter can tell these pieces apart by: name -> its values (two or more), sorted."""
    values: dict[str, set] = {}
    for record in records:
        for name, value in flat_settings(record.parameters).items():
            if value is not None:
                values.setdefault(name, set()).add(value)
    return {
        name: sorted(found, key=lambda value: (type(value).__name__, value))
        for name, found in sorted(values.items())
        if len(found) > 1
    }


def get_piece(piece_id: str) -> PieceRecord:
    """One piece by id.

    Raises:
        LibraryError: There is no such piece (deleted, or from another NEUROTUNE_HOME).
    """
    with session_scope() as session:
        record = session.get(PieceRecord, piece_id)
    if record is None:
        raise LibraryError(f"no piece '{piece_id}' in the library")
    return record


def get_pieces(piece_ids: Sequence[str]) -> list[PieceRecord]:
    """Several pieces by id, in the order given, read at once.

    Raises:
        LibraryError: Some are not in the library; the message names every one missing.
    """
    with session_scope() as session:
        found = {
            record.id: record for record in session.scalars(select(PieceRecord).where(PieceRecord.id.in_(piece_ids)))
        }
    missing = [piece_id for piece_id in piece_ids if piece_id not in found]
    if missing:
        names = ", ".join(f"'{piece_id}'" for piece_id in missing)
        raise LibraryError(f"no piece {names} in the library (deleted, or from another NEUROTUNE_HOME)")
    return [found[piece_id] for piece_id in piece_ids]


def model_name(record: PieceRecord) -> str:
    """The name people know a piece's model by: its checkpoint folder's (``bach-lstm``), not its server path."""
    return Path(record.checkpoint).name or record.model


def piece_midi(record: PieceRecord) -> bytes:
    """The MIDI file bytes of a piece.

    Raises:
        LibraryError: The file is gone from the library folder.
    """
    try:
        return Path(record.midi_path).read_bytes()
    except OSError:
        raise LibraryError(f"the MIDI file of piece '{record.title}' is missing ({record.midi_path})") from None


def piece_audio(record: PieceRecord) -> tuple[bytes, str] | None:
    """The rendering kept with a piece and its suffix (".ogg", ".flac", ".wav"); None when it has none (left)."""
    if record.audio_path is None:
        return None
    path = Path(record.audio_path)
    try:
        return path.read_bytes(), path.suffix
    except OSError:
        return None


def file_stem(title: str) -> str:
    """A piece's title as a file name (without suffix) that every system accepts."""
    return _UNSAFE_IN_FILE_NAMES.sub("_", title).strip(" .") or "piece"


def describe(record: PieceRecord) -> dict[str, Any]:
    """What a listener or an analysis needs to know of a piece, as JSON-able data (no server paths)."""
    return {
        "title": record.title,
        "model": model_name(record),
        "architecture": record.model,
        "dataset": record.dataset,
        "representation": record.representation,
        "seed": record.seed,
        "variation": record.variation,
        "saved": record.created_at.isoformat(),
        "duration_seconds": record.duration_seconds,
        "parameters": record.parameters,
        "metrics": record.metrics,
    }


def pieces_zip(records: Sequence[PieceRecord]) -> bytes:
    """The pieces' MIDI files and kept audio in one zip, with ``pieces.json`` describing each.

    A piece whose files are gone is still described, its missing files listed under ``missing``,
    so that one lost file does not cost the whole download.
    """
    buffer = io.BytesIO()
    manifest, used = [], set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            stem = file_stem(record.title)
            if stem.lower() in used:  # titles are unique, their file names need not be
                stem = f"{stem}-{record.id[:8]}"
            used.add(stem.lower())
            entry = {**describe(record), "files": [], "missing": []}
            try:
                archive.writestr(f"{stem}.mid", piece_midi(record))
                entry["files"].append(f"{stem}.mid")
            except LibraryError:
                entry["missing"].append(f"{stem}.mid")
            audio = piece_audio(record)
            if audio is not None:
                archive.writestr(f"{stem}{audio[1]}", audio[0])
                entry["files"].append(f"{stem}{audio[1]}")
            elif record.audio_path is not None:
                entry["missing"].append(f"{stem}{Path(record.audio_path).suffix}")
            manifest.append(entry)
        archive.writestr("pieces.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return buffer.getvalue()


def delete_piece(piece_id: str) -> None:
    """Remove a piece's record and its folder.

    Raises:
        LibraryError: There is no such piece.
    """
    with session_scope() as session:
        record = session.get(PieceRecord, piece_id)
        if record is None:
            raise LibraryError(f"no piece '{piece_id}' in the library")
        folder = Path(record.midi_path).parent
        session.delete(record)
    if folder.name == piece_id:  # never remove a folder that is not the piece's own
        shutil.rmtree(folder, ignore_errors=True)


def count_pieces() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(PieceRecord)) or 0
