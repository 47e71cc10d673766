"""The piece library: generated pieces kept for later listening tests and evaluation.

Each piece has a folder ``<NEUROTUNE_HOME>/library/<id>/`` holding ``piece.mid`` and, when it was
rendered, ``piece.ogg``/``piece.flac``/``piece.wav``; its record keeps where it came from (checkpoint,
parameters, seed) so it can be made again, and its metrics so it can be compared without re-parsing.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.checkpoints import write_atomically
from core.errors import LibraryError
from core.settings import get_settings
from core.store.db import PieceRecord, session_scope

MIDI_NAME = "piece.mid"
MAX_TITLE_LENGTH = 200


def library_dir() -> Path:
    """The folder holding one sub-folder per piece."""
    return get_settings().home / "library"


def _check_suffix(suffix: str) -> None:
    if not (suffix.startswith(".") and suffix[1:].isalnum()):
        raise LibraryError(f"'{suffix}' is not an audio file suffix such as '.ogg' or '.wav'")


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
        title: A name for people, at most 200 characters.
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
    title = title.strip()
    if not 0 < len(title) <= MAX_TITLE_LENGTH:
        raise LibraryError(f"a piece needs a title of 1 to {MAX_TITLE_LENGTH} characters")
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
    record = PieceRecord(
        id=piece_id,
        title=title,
        checkpoint=checkpoint,
        model=model,
        dataset=dataset,
        representation=representation,
        parameters=parameters,
        seed=seed,
        variation=variation,
        midi_path=str(midi_path),
        audio_path=str(audio_path) if audio_path is not None else None,
        metrics=metrics,
        duration_seconds=float(duration_seconds),
    )
    try:
        with session_scope() as session:
            session.add(record)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)  # no files without a record either
        raise
    return record


def list_pieces(limit: int | None = None, checkpoint: str | None = None) -> list[PieceRecord]:
    """Pieces, newest first.

    Args:
        limit: At most this many; all when None.
        checkpoint: Only pieces generated from this checkpoint folder.
    """
    query = select(PieceRecord).order_by(PieceRecord.created_at.desc())
    if checkpoint is not None:
        query = query.where(PieceRecord.checkpoint == checkpoint)
    if limit is not None:
        query = query.limit(limit)
    with session_scope() as session:
        return list(session.scalars(query))


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


def piece_midi(record: PieceRecord) -> bytes:
    """The MIDI file bytes of a piece.

    Raises:
        LibraryError: The file is gone from the library folder.
    """
    try:
        return Path(record.midi_path).read_bytes()
    except OSError:
        raise LibraryError(f"the MIDI file of piece '{record.title}' is missing ({record.midi_path})") from None


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
