"""Bundled corpora: music21's own corpus converted to MIDI on first use.

The corpora ship inside the music21 package, so they work offline. Each is
converted once into ``get_settings().corpora_dir / <name>/``, one MIDI file per
piece, next to an ``index.json`` that lists every piece of the corpus in a
stable order and why some were skipped. A later call that asks only for known
pieces reads that folder and never imports music21.

Conversion choices:

* Repeats are expanded by music21's MIDI writer; a piece whose repeats it
  cannot expand (1 chorale, 38 fiddle tunes) is skipped, not patched.
* Chorales keep only their voices, not the cantata's doubling instruments.
* A score without a tempo mark gets the corpus default
  (:attr:`CorpusSpec.default_tempo_bpm`): 100 BPM for the chorales, which
  music21 would otherwise play at its 120, and 120 for the folk tunes.
* Repeated entries are dropped: the 371 Riemenschneider numbers name 21
  chorales twice, and O'Neill's collection holds some tunes in two
  transcriptions (the first file in name order wins).
"""

from __future__ import annotations

import copy
import io
import json
import multiprocessing
import os
import re
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.data.midi_io import load_score, midi_to_bytes
from core.errors import DatasetError, NeuroTuneError
from core.folders import data_folder
from core.settings import get_settings

if TYPE_CHECKING:
    from music21 import stream

INDEX_NAME = "index.json"
# Bump when the conversion changes, so existing caches are rebuilt rather than mixed.
# 2: music21's MIDI rewritten by pretty_midi (one note-off per note-on).
INDEX_VERSION = 2
# Below this many pieces to convert, starting worker processes costs more than it saves.
MIN_PIECES_FOR_POOL = 16
# Each worker holds its own music21 (about 150 MB); more than this rarely pays off.
MAX_DEFAULT_WORKERS = 8
MAX_REASON_CHARS = 200
VOICE_NAMES = ("soprano", "alto", "tenor", "bass")


@dataclass(frozen=True)
class Piece:
    """One piece of a corpus, enough for a worker process to convert it.

    Attributes:
        id: Stable name, also the MIDI file's stem (``r001-bwv269``, ``oneill-0001``).
        source: The music21 corpus file it comes from.
        abc_tune: For ABC files holding many tunes, this tune's text (``X:`` line to
            the next one); None to parse ``source`` whole.
    """

    id: str
    source: Path
    abc_tune: str | None = None


@dataclass(frozen=True)
class CorpusSpec:
    """A bundled corpus, as pages list it and :func:`build_corpus` builds it.

    Attributes:
        default_tempo_bpm: Tempo of a score that has no tempo mark.
        voices_only: Drop the instrumental parts of scores that name their voices
            (some chorales come with their cantata's trumpets, horns and continuo).
        list_pieces: Every piece, in the stable order ``limit`` cuts.
    """

    name: str
    title: str
    description: str
    default_tempo_bpm: float
    voices_only: bool
    list_pieces: Callable[[], list[Piece]] = field(repr=False, compare=False)


@dataclass
class CorpusBuild:
    """The result of :func:`build_corpus`.

    Attributes:
        name: The corpus name.
        files: MIDI files, sorted; their names are stable across builds.
        skipped: (piece id, reason) for the pieces that could not be converted.
    """

    name: str
    files: list[Path]
    skipped: list[tuple[str, str]]


def _music21_corpus_dir() -> Path:
    from music21 import common

    return Path(common.getCorpusFilePath())


def _split_abc(path: Path) -> list[tuple[int, str]]:
    """(reference number, text) of every tune in an ABC file; text before the first X: is dropped."""
    text = path.read_text(encoding="utf-8", errors="replace")
    tunes = re.split(r"(?m)^(?=X:)", text)[1:]
    return [(int(re.match(r"X:\s*(\d+)", tune).group(1)), tune) for tune in tunes]


def _bach_chorale_pieces() -> list[Piece]:
    from music21 import corpus
    from music21.corpus.chorales import ChoraleListRKBWV

    by_number = ChoraleListRKBWV().byRiemenschneider
    pieces, seen = [], set()
    for number in sorted(by_number):
        work = f"bwv{by_number[number]['bwv']}"
        if work in seen:
            continue
        seen.add(work)
        found = corpus.getWork(f"bach/{work}")
        if isinstance(found, list):  # "bwv112.5" also matches "bwv112.5-sc"
            found = next((path for path in found if path.stem == work), found[0])
        pieces.append(Piece(id=f"r{number:03d}-{work}", source=Path(found)))
    return pieces


def _irish_folk_pieces() -> list[Piece]:
    root = _music21_corpus_dir()
    oneill: dict[int, Piece] = {}
    for path in sorted((root / "oneills1850").glob("*.abc")):
        for number, tune in _split_abc(path):
            oneill.setdefault(number, Piece(id=f"oneill-{number:04d}", source=path, abc_tune=tune))
    ryan_dir = root / "ryansMammoth"
    ryan = [Piece(id=f"ryan-{path.stem}", source=path) for path in sorted(ryan_dir.glob("*.abc"))]
    return [oneill[number] for number in sorted(oneill)] + ryan


def _essen_folk_pieces() -> list[Piece]:
    root = _music21_corpus_dir() / "essenFolksong"
    return [
        Piece(id=f"{path.stem}-{number:04d}", source=path, abc_tune=tune)
        for path in sorted(root.glob("*.abc"))
        if not path.stem.startswith("test")  # music21's parser test files, not songs
        for number, tune in _split_abc(path)
    ]


CORPORA: dict[str, CorpusSpec] = {
    spec.name: spec
    for spec in (
        CorpusSpec(
            name="bach-chorales",
            title="Bach chorales",
            description="The 371 four-part chorales of J. S. Bach in Riemenschneider's numbering "
            "(350 distinct harmonizations): soprano, alto, tenor and bass.",
            default_tempo_bpm=100.0,
            voices_only=True,
            list_pieces=_bach_chorale_pieces,
        ),
        CorpusSpec(
            name="irish-folk",
            title="Irish and American fiddle tunes",
            description="O'Neill's Music of Ireland (1850 tunes, 1903) and Ryan's Mammoth Collection "
            "(1883): about 2,900 single-line melodies, mostly reels, jigs and hornpipes.",
            default_tempo_bpm=120.0,
            voices_only=False,
            list_pieces=_irish_folk_pieces,
        ),
        CorpusSpec(
            name="essen-folk",
            title="Essen folk songs",
            description="The Essen Folksong Collection: about 8,500 single-line melodies, "
            "mostly German, with Chinese (Han) and other European folk songs.",
            default_tempo_bpm=120.0,
            voices_only=False,
            list_pieces=_essen_folk_pieces,
        ),
    )
}


def list_corpora() -> list[CorpusSpec]:
    return list(CORPORA.values())


def _unshare_context_objects(score: stream.Stream) -> None:
    """Give each measure its own time/key signature and tempo objects.

    music21's ABC reader puts one TimeSignature object into two measures after a
    mid-tune pickup bar; its MIDI writer then fails with "already found in this
    Stream". A copy per measure avoids that.
    """
    from music21 import key, meter, stream, tempo

    context_classes = (meter.TimeSignature, key.KeySignature, tempo.MetronomeMark)
    seen: set[int] = set()
    for measure in score[stream.Measure]:
        for element in list(measure.getElementsByClass(context_classes)):
            if id(element) in seen:
                measure.replace(element, copy.deepcopy(element))
            seen.add(id(element))


def _drop_instrumental_parts(score: stream.Score) -> None:
    """Keep the parts named after a voice ("Soprano", "Bass Continuo"), if any are."""
    voices = [part for part in score.parts if (part.partName or "").lower().startswith(VOICE_NAMES)]
    if voices:
        for part in list(score.parts):
            if part not in voices:
                score.remove(part)


def _convert_piece(spec: CorpusSpec, piece: Piece, out_path: Path) -> None:
    """Parse one piece with music21 and write it as a validated MIDI file.

    The file appears atomically, so an existing ``out_path`` is always complete.

    Raises:
        Exception: whatever music21 raises for a piece it cannot read or write.
        InvalidMidiError: the result has no notes.
    """
    from music21 import converter, tempo
    from music21.midi.translate import music21ObjectToMidiFile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21 warns about every odd ABC or MusicXML detail
        if piece.abc_tune is None:
            score = converter.parse(piece.source, forceSource=True)
        else:
            score = converter.parse(piece.abc_tune, format="abc")
        if spec.voices_only:
            _drop_instrumental_parts(score)
        if not score[tempo.MetronomeMark].first():
            score.insert(0, tempo.MetronomeMark(number=spec.default_tempo_bpm))
        _unshare_context_objects(score)
        data = music21ObjectToMidiFile(score).writestr()
    data = _balanced(data)
    load_score(data)
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, out_path)


def _balanced(data: bytes) -> bytes:
    """music21's MIDI rewritten with exactly one note-off per note-on.

    music21 sometimes starts a pitch again before ending it (112 of the first 300 Irish tunes,
    one Bach chorale). Readers pair such events differently: symusic, which validates uploads,
    drops the later note, pretty_midi ends both at the next note-off. Writing the file through
    pretty_midi once, here, settles it, so every reader sees the same notes.
    """
    import pretty_midi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return midi_to_bytes(pretty_midi.PrettyMIDI(io.BytesIO(data)))


def _short_reason(error: BaseException) -> str:
    if isinstance(error, NeuroTuneError):
        return str(error)
    message = " ".join(str(error).split()) or "no message"
    reason = f"{type(error).__name__}: {message}"
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."


def _convert_or_reason(spec: CorpusSpec, piece: Piece, out_path: Path) -> str | None:
    """Run in a worker process: None on success, else why the piece was skipped."""
    try:
        _convert_piece(spec, piece, out_path)
    except Exception as error:  # music21 raises dozens of types for pieces it cannot handle
        return _short_reason(error)
    return None


def _read_index(folder: Path) -> dict:
    """The cache's index; an index of another version is discarded with its MIDI files."""
    try:
        index = json.loads((folder / INDEX_NAME).read_text())
    except (OSError, ValueError):
        return {}
    if index.get("version") != INDEX_VERSION:
        for path in folder.glob("*.mid"):
            path.unlink()
        return {}
    return index


def _write_index(folder: Path, pieces: list[str], skipped: dict[str, str]) -> None:
    """The converted pieces are the MIDI files in ``folder``; the index lists the rest."""
    index = {"version": INDEX_VERSION, "pieces": pieces, "skipped": skipped}
    partial = folder / f".{INDEX_NAME}.{os.getpid()}.part"
    partial.write_text(json.dumps(index, indent=1))
    os.replace(partial, folder / INDEX_NAME)


def _convert_all(
    spec: CorpusSpec,
    todo: list[Piece],
    folder: Path,
    workers: int,
    on_result: Callable[[Piece, str | None], None],
) -> None:
    """Convert ``todo`` inline or in a spawn-started process pool, reporting each result."""
    if workers == 1 or len(todo) < MIN_PIECES_FOR_POOL:
        for piece in todo:
            on_result(piece, _convert_or_reason(spec, piece, folder / f"{piece.id}.mid"))
        return
    # spawn, not fork: callers may run inside a threaded Streamlit server.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context)
    try:
        pending = {}
        for piece in todo:
            pending[pool.submit(_convert_or_reason, spec, piece, folder / f"{piece.id}.mid")] = piece
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(pending.pop(future), future.result())
    except BrokenProcessPool as error:
        raise DatasetError(
            f"a worker process converting '{spec.name}' stopped ({error}); the pieces converted so far "
            'are kept. A script calling this needs an `if __name__ == "__main__":` guard; '
            "otherwise try again with workers=1."
        ) from error
    finally:  # on an error or an interrupted caller, drop the queued pieces rather than wait for them
        pool.shutdown(cancel_futures=True)


def build_corpus(
    name: str,
    limit: int | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CorpusBuild:
    """Convert a bundled corpus to MIDI files, or return them from the cache.

    Args:
        name: A key of :data:`CORPORA`.
        limit: Only the first ``limit`` pieces in the corpus's stable order; a later
            call with a larger limit converts only the pieces not yet known.
        workers: Processes converting in parallel; defaults to the CPU count (at most
            :data:`MAX_DEFAULT_WORKERS`). 1, or fewer than :data:`MIN_PIECES_FOR_POOL`
            pieces to convert, converts in this process.
        progress: Called with (pieces done, pieces asked for) as pieces complete.

    Returns:
        The MIDI files of the pieces asked for and the pieces skipped, with why.

    Raises:
        DatasetError: ``name`` is not a bundled corpus, or a worker process died.
    """
    spec = CORPORA.get(name)
    if spec is None:
        raise DatasetError(f"unknown corpus '{name}'; choose one of: {', '.join(CORPORA)}")
    folder = data_folder(get_settings().corpora_dir / name)
    index = _read_index(folder)
    skipped: dict[str, str] = index.get("skipped", {})
    piece_ids: list[str] = index.get("pieces", [])

    def is_known(piece_id: str) -> bool:
        return piece_id in skipped or (folder / f"{piece_id}.mid").exists()

    wanted = piece_ids[:limit]
    if not piece_ids or not all(is_known(piece_id) for piece_id in wanted):
        pieces = spec.list_pieces()
        piece_ids = [piece.id for piece in pieces]
        wanted = piece_ids[:limit]
        todo = [piece for piece in pieces[:limit] if not is_known(piece.id)]
        done = len(wanted) - len(todo)
        if progress:
            progress(done, len(wanted))

        def on_result(piece: Piece, reason: str | None) -> None:
            nonlocal done
            if reason is not None:
                skipped[piece.id] = reason
            done += 1
            if progress:
                progress(done, len(wanted))

        try:
            workers = workers or min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)
            _convert_all(spec, todo, folder, workers, on_result)
        finally:  # keep what was converted even if the build is interrupted
            _write_index(folder, piece_ids, skipped)
    elif progress:
        progress(len(wanted), len(wanted))
    return CorpusBuild(
        name=name,
        files=sorted(folder / f"{piece_id}.mid" for piece_id in wanted if piece_id not in skipped),
        skipped=[(piece_id, skipped[piece_id]) for piece_id in wanted if piece_id in skipped],
    )
