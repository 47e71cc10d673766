"""Library pieces as an evaluated system: pieces composed before, measured as the engine measures composed ones.

A selection is its pieces' ids: the job and the result keep them, so the row can be made again. What it
adds to an evaluation's cache key is every id with its MIDI file's content hash, so a result stays tied
to the very files it measured: a deleted piece is an error naming it, never a smaller set under the old
key. The MIDI is quantized onto the dataset's grid by the datasets' own
:func:`~core.data.preprocess.quantize` (it is kept in ticks, so it fits any grid; a piece composed on a
finer grid than the dataset's has its notes snapped, and the row says so), then cut to the same excerpt
and measured in 4/4 as composed pieces are.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.datasets import Dataset
from core.data.midi_io import load_score, note_table
from core.data.piece import END
from core.data.preprocess import quantize
from core.errors import EvaluationError, InvalidMidiError, LibraryError
from core.store import library
from core.store.db import PieceRecord

# A set of one piece has no spread to compare (as EvaluationSettings.n).
MIN_PIECES = 2
# A row's name lists at most this many models.
_NAMED_MODELS = 3


@dataclass(frozen=True)
class PieceSelection:
    """Library pieces evaluated together as one row, by id, in the order given.

    Raises:
        EvaluationError: Fewer than :data:`MIN_PIECES` ids, or one given twice.
    """

    piece_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        ids = tuple(self.piece_ids)
        object.__setattr__(self, "piece_ids", ids)
        twice = sorted(piece_id for piece_id, times in Counter(ids).items() if times > 1)
        if twice:
            raise EvaluationError(f"piece '{twice[0]}' is listed twice in one selection; give each piece once")
        if len(ids) < MIN_PIECES:
            raise EvaluationError(
                f"a selection of library pieces needs at least {MIN_PIECES} pieces to compare as a set, got {len(ids)}"
            )

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path) -> PieceSelection:
        """Every library piece composed with ``checkpoint`` (its folder as given or resolved), oldest first.

        Raises:
            EvaluationError: The library holds fewer than :data:`MIN_PIECES` of its pieces.
        """
        names = (str(checkpoint), str(Path(checkpoint).resolve()))
        records = library.list_pieces(library.PieceQuery(checkpoints=names))
        if len(records) < MIN_PIECES:
            raise EvaluationError(
                f"the library holds {len(records)} pieces composed with {checkpoint}, {MIN_PIECES} are needed: "
                "compose some on the Generate page (or with `python -m core generate --save`)"
            )
        return cls(tuple(record.id for record in reversed(records)))


@dataclass(frozen=True)
class LibraryPieces:
    """A selection read from the library: its records and MIDI files, what the engine measures.

    Attributes:
        records: The pieces, in the selection's order.
        midi: Each piece's MIDI file bytes.
    """

    records: list[PieceRecord]
    midi: list[bytes]

    @classmethod
    def read(cls, selection: PieceSelection) -> LibraryPieces:
        """Read a selection's pieces.

        Raises:
            EvaluationError: A piece is not in the library, or its MIDI file is gone.
        """
        try:
            records = library.get_pieces(selection.piece_ids)
            return cls(records, [library.piece_midi(record) for record in records])
        except LibraryError as error:
            raise EvaluationError(f"cannot evaluate these library pieces: {error}") from error

    @property
    def piece_ids(self) -> list[str]:
        return [record.id for record in self.records]

    @property
    def name(self) -> str:
        """The row's name: ``Library: bach-lstm (12 pieces)``, the models' names, at most three."""
        models = list(dict.fromkeys(library.model_name(record) for record in self.records))
        shown = ", ".join(models[:_NAMED_MODELS]) + (
            f" and {len(models) - _NAMED_MODELS} more" if len(models) > _NAMED_MODELS else ""
        )
        return f"Library: {shown} ({len(self.records)} pieces)"

    def key(self) -> list[list[str]]:
        """What decides this row: each piece's id and the SHA-256 of its MIDI file."""
        return [[record.id, hashlib.sha256(midi).hexdigest()] for record, midi in zip(self.records, self.midi)]

    def notes(self, dataset: Dataset, steps: int, bar_steps: int) -> tuple[list[np.ndarray], list[str]]:
        """Each piece on the dataset's grid, and what the user should know of how they were read.

        Args:
            steps: The excerpt's length in steps: pieces ending a bar (``bar_steps``) or more before it are
                counted in a warning.

        Returns:
            (int32 notes, shape=(n, 6), per piece; the warnings, each to follow the row's name).

        Raises:
            EvaluationError: A MIDI file that cannot be read.
        """
        spq = dataset.config.steps_per_quarter
        grid = dataset.config.grid()  # read as its pieces were
        pieces, snapped = [], 0
        for record, midi in zip(self.records, self.midi):
            try:
                score = load_score(midi)
            except InvalidMidiError as error:
                raise EvaluationError(f"cannot read the MIDI file of piece '{record.title}': {error}") from error
            on_grid = note_table(score)[:, :2] * spq / score.ticks_per_quarter
            snapped += not np.allclose(on_grid, np.rint(on_grid))
            pieces.append(quantize(score, grid))
        last_bar = steps - bar_steps
        counts = [
            (snapped, f"were composed on a finer grid than this dataset's {spq} steps per quarter note: snapped to it"),
            (
                sum(len(notes) == 0 or notes[:, END].max() <= last_bar for notes in pieces),
                "end a bar or more before the length asked: their features are those of shorter pieces",
            ),
            (
                sum(record.dataset != dataset.name for record in self.records),
                f"come from models trained on other data than '{dataset.name}': pieces held out here may have "
                "been in their training set",
            ),
        ]
        return pieces, [f"{count} of {len(pieces)} pieces {what}" for count, what in counts if count]


@dataclass(frozen=True)
class LibraryChoice:
    """The library pieces of one checkpoint, offered as a row beside the checkpoints.

    Attributes:
        checkpoint: The checkpoint folder, as its pieces name it.
        name: The checkpoint folder's name.
        selection: Its pieces, oldest first.
        trained_here: Composed by a model trained on a dataset of this name.
    """

    checkpoint: str
    name: str
    selection: PieceSelection
    trained_here: bool

    @property
    def label(self) -> str:
        return f"{self.name} · {len(self.selection.piece_ids)} pieces" + ("" if self.trained_here else " · other data")


def library_choices(dataset: Dataset) -> list[LibraryChoice]:
    """Every checkpoint's library pieces as a row to offer (those of models trained here first).

    Checkpoints with fewer than :data:`MIN_PIECES` pieces are left out; every grid is offered, pieces being
    quantized onto the dataset's.
    """
    groups: dict[str, list[PieceRecord]] = {}
    for record in reversed(library.list_pieces()):  # oldest first
        groups.setdefault(record.checkpoint, []).append(record)
    choices = [
        LibraryChoice(
            checkpoint,
            library.model_name(records[0]),
            PieceSelection(tuple(record.id for record in records)),
            all(record.dataset == dataset.name for record in records),
        )
        for checkpoint, records in groups.items()
        if len(records) >= MIN_PIECES
    ]
    return sorted(choices, key=lambda choice: (not choice.trained_here, choice.name))
