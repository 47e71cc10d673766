"""Make a listening test: clips from the library (generated) and from a dataset (the hidden real reference).

Each clip is the first ``clip_seconds`` of its piece, rendered to WAV once, when the survey is made, into
``<NEUROTUNE_HOME>/surveys/<survey id>/``: every participant hears the same audio, and taking the survey
costs no synthesis. WAV because every browser plays it (Safari did not play Ogg Vorbis until 2023).
Clips are numbered in a shuffled order, so a label ("Clip 3") says nothing of where a clip came from.
"""

from __future__ import annotations

import itertools
import math
import random
import shutil
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from core.audio import cut_wav, render_wav
from core.checkpoints import write_atomically
from core.data.datasets import load_dataset
from core.data.midi_io import load_midi
from core.errors import InvalidMidiError, SurveyError, describe_os_error
from core.names import check_name
from core.settings import get_settings
from core.store import surveys as store
from core.store.db import SurveyClipRecord, SurveyPairRecord, SurveyRecord
from core.store.library import fitting_title, get_pieces, model_name, piece_midi
from core.surveys.config import GENERATED, REAL, REAL_SYSTEM, SurveySettings
from core.surveys.questions import PAIR

AUDIO_SUFFIX = ".wav"
# FluidSynth runs as a process per clip: a few at once make a 20-clip survey several times faster.
RENDER_WORKERS = 4
# How long a clip's audio runs on after its last note ends: the note's release, not the reverb's whole tail.
RELEASE_SECONDS = 0.75
# The General MIDI program every clip is played with (0: acoustic grand piano).
CLIP_PROGRAM = 0


@dataclass(frozen=True)
class DatasetPiece:
    """A real piece of a dataset: the dataset's name and the piece's 0-based index in it."""

    dataset: str
    index: int

    def __str__(self) -> str:
        return f"piece {self.index} of the dataset '{self.dataset}'"


@dataclass(frozen=True)
class CreatedSurvey:
    """A survey just made.

    Attributes:
        survey: Its record, status "draft".
        clips: Its clips, by position.
        pairs: Its A/B pairs, by position (none unless "preference" is asked).
        notices: Why some clips were rendered with sine waves instead of FluidSynth, for the page to show.
    """

    survey: SurveyRecord
    clips: list[SurveyClipRecord]
    pairs: list[SurveyPairRecord]
    notices: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    """A piece to cut a clip from, and what the clip's record says of it."""

    source: str
    system: str
    name: str
    midi: bytes
    piece_id: str | None = None
    dataset: str | None = None
    dataset_index: int | None = None


def surveys_dir() -> Path:
    """The folder holding one sub-folder of clips per survey."""
    return get_settings().home / "surveys"


def clip_midi(data: bytes, seconds: float) -> tuple[pretty_midi.PrettyMIDI, float]:
    """The first ``seconds`` of a MIDI file, as every clip of a survey sounds: notes starting before, cut at the
    end, all on one piano (:data:`CLIP_PROGRAM`); drums, controllers and pitch bends left out, so that nothing
    but the notes tells a real piece from a generated one.

    The clip is written afresh (at the source's resolution, its times in seconds unchanged), so no meta
    event after the cut (a tempo, a key signature, the end of a long track) makes the rendering run on
    in silence.

    Returns:
        The clip and how long its notes last: the last one's end, at most ``seconds``.

    Raises:
        InvalidMidiError: ``data`` is not a usable MIDI file.
        SurveyError: No note starts within the first ``seconds``, or the piece is shorter than ``seconds``.
    """
    source = load_midi(data)
    clip = pretty_midi.PrettyMIDI(resolution=source.resolution)
    for instrument in (instrument for instrument in source.instruments if not instrument.is_drum):
        notes = [
            pretty_midi.Note(note.velocity, note.pitch, note.start, min(note.end, seconds))
            for note in instrument.notes
            if note.start < seconds
        ]
        if not notes:
            continue
        # One sound for every clip: a real piece's own instruments, pedal and bends would give it away.
        kept = pretty_midi.Instrument(CLIP_PROGRAM, name=instrument.name)
        kept.notes = notes
        clip.instruments.append(kept)
    if not clip.instruments:
        raise SurveyError(f"no note starts in the first {seconds:g} seconds")
    length = source.get_end_time()
    if length < seconds:  # a shorter clip would stand out from the others by its length alone
        raise SurveyError(
            f"it lasts {length:.1f} s, less than the {seconds:g} s of every clip: make the clips at most "
            f"{math.floor(length)} s long, or leave it out"
        )
    return clip, float(max(note.end for instrument in clip.instruments for note in instrument.notes))


def _library_sources(piece_ids: Sequence[str]) -> list[_Source]:
    records = get_pieces(piece_ids)
    if any(model_name(record) == REAL_SYSTEM for record in records):
        raise SurveyError(
            f"a model called '{REAL_SYSTEM}' would pass for the real pieces; rename its checkpoint folder"
        )
    return [
        _Source(GENERATED, model_name(record), record.title, piece_midi(record), piece_id=record.id)
        for record in records
    ]


def _real_sources(pieces: Sequence[DatasetPiece]) -> list[_Source]:
    sources = []
    for name in dict.fromkeys(piece.dataset for piece in pieces):
        dataset = load_dataset(name)
        for piece in (piece for piece in pieces if piece.dataset == name):
            if not 0 <= piece.index < len(dataset):
                raise SurveyError(f"the dataset '{name}' has pieces 0 to {len(dataset) - 1}, not {piece.index}")
            sources.append(
                _Source(
                    REAL,
                    REAL_SYSTEM,
                    dataset.piece_meta[piece.index]["name"],
                    dataset.source_midi(piece.index),
                    dataset=name,
                    dataset_index=piece.index,
                )
            )
    return sources


def _render(source: _Source, path: Path, seconds: float) -> tuple[float, str | None]:
    """Cut and render one clip to ``path``; its duration and the renderer's notice (None for FluidSynth)."""
    try:
        clip, duration = clip_midi(source.midi, seconds)
    except (InvalidMidiError, SurveyError) as error:
        raise SurveyError(f"cannot make a clip of '{source.name}': {error}") from None
    rendering = render_wav(clip)
    # The last note rings on for a moment, not for the reverb's whole tail; the clip lasts what its audio does.
    wav, length = cut_wav(rendering.wav, duration + RELEASE_SECONDS)
    write_atomically(path, wav)
    return length, rendering.notice


def _pairs(survey_id: str, clips: Sequence[SurveyClipRecord], per_comparison: int) -> list[SurveyPairRecord]:
    """For each two systems, their first ``per_comparison`` clips (in the shuffled order) side by side."""
    by_system: dict[str, list[SurveyClipRecord]] = {}
    for clip in clips:
        by_system.setdefault(clip.system, []).append(clip)
    matched = [
        (first, second)
        for system_a, system_b in itertools.combinations(sorted(by_system), 2)
        for first, second in list(zip(by_system[system_a], by_system[system_b]))[:per_comparison]
    ]
    random.shuffle(matched)
    return [
        SurveyPairRecord(
            id=uuid.uuid4().hex,
            survey_id=survey_id,
            position=position,
            label=f"Pair {position}",
            first_clip_id=first.id,
            second_clip_id=second.id,
        )
        for position, (first, second) in enumerate(matched, start=1)
    ]


def _new_folder(survey_id: str) -> Path:
    folder = surveys_dir() / survey_id
    try:
        folder.mkdir(parents=True)
    except OSError as error:
        raise SurveyError(f"cannot make the survey's folder {folder}: {describe_os_error(error)}") from None
    return folder


def create_survey(
    title: str,
    *,
    instructions: str = "",
    consent: str = "",
    pieces: Sequence[str] = (),
    real: Sequence[DatasetPiece] = (),
    settings: SurveySettings | None = None,
) -> CreatedSurvey:
    """Make a survey (status "draft") from library pieces and real dataset pieces, rendering each clip once.

    Args:
        title: What participants see at the top (:func:`core.names.check_name`).
        instructions: Shown before the first clip.
        consent: What a participant agrees to by joining.
        pieces: Ids of library pieces: the generated clips, each labelled with its model's name.
        real: Real pieces of datasets: the hidden reference, labelled "real".
        settings: Clip length, questions and playback required; the defaults when None.

    Returns:
        The survey, its clips and pairs, and any notice about the rendering.

    Raises:
        SurveyError: A bad title, no pieces, a piece picked twice, an index outside its dataset, a piece
            with no note in its first seconds, A/B preference asked with a single system, or files that
            could not be written.
        LibraryError: A piece is not in the library (or its MIDI file is gone).
        DatasetError: A dataset cannot be found.
    """
    title = check_name("survey", title, SurveyError)
    settings = settings or SurveySettings()
    if not pieces and not real:
        raise SurveyError("pick at least one piece from the library or a dataset")
    twice = [str(piece) for piece, count in Counter([*pieces, *real]).items() if count > 1]
    if twice:
        raise SurveyError(f"each piece may be picked once; picked twice: {', '.join(twice)}")
    sources = _library_sources(pieces) + _real_sources(real)
    random.shuffle(sources)  # positions, hence labels, in no order a participant could read anything into
    if settings.asks(PAIR) and len({source.system for source in sources}) < 2:
        raise SurveyError("an A/B preference compares systems: pick pieces of at least two (real pieces count)")
    survey_id = uuid.uuid4().hex
    folder = _new_folder(survey_id)
    try:
        clip_ids = [uuid.uuid4().hex for _source in sources]
        with ThreadPoolExecutor(RENDER_WORKERS) as pool:
            rendered = list(
                pool.map(
                    lambda source, clip_id: _render(source, folder / f"{clip_id}{AUDIO_SUFFIX}", settings.clip_seconds),
                    sources,
                    clip_ids,
                )
            )
        fell_back = [source.name for source, (_duration, notice) in zip(sources, rendered) if notice is not None]
        if fell_back and len(fell_back) < len(sources):  # sine waves beside a SoundFont: the odd ones stand out
            raise SurveyError(
                f"FluidSynth could not render {', '.join(repr(name) for name in fell_back)}, so those clips would "
                "sound unlike the others; leave them out of the survey"
            )
        clips = [
            SurveyClipRecord(
                id=clip_id,
                survey_id=survey_id,
                position=position,
                label=f"Clip {position}",
                source=source.source,
                system=source.system,
                name=source.name,
                piece_id=source.piece_id,
                dataset=source.dataset,
                dataset_index=source.dataset_index,
                audio_path=str(folder / f"{clip_id}{AUDIO_SUFFIX}"),
                duration_seconds=duration,
            )
            for position, (source, clip_id, (duration, _notice)) in enumerate(zip(sources, clip_ids, rendered), 1)
        ]
        pairs = _pairs(survey_id, clips, settings.pairs_per_comparison) if settings.asks(PAIR) else []
        survey = SurveyRecord(
            id=survey_id,
            title=title,
            instructions=instructions,
            consent=consent,
            status="draft",
            settings=settings.to_json(),
        )
        store.add_survey(survey, clips, pairs)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise SurveyError(f"could not write the survey's clips to {folder}: {describe_os_error(error)}") from None
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)  # no files without a survey
        raise
    notices = tuple(dict.fromkeys(notice for _duration, notice in rendered if notice is not None))
    return CreatedSurvey(survey, clips, pairs, notices)


def missing_audio(clips: Sequence[SurveyClipRecord]) -> list[SurveyClipRecord]:
    """The clips whose audio file is gone from the survey's folder."""
    return [clip for clip in clips if not Path(clip.audio_path).is_file()]


def _vanished(clips: Sequence[SurveyClipRecord]) -> SurveyError:
    labels = ", ".join(f"{clip.label} ('{clip.name}', {clip.audio_path})" for clip in clips)
    return SurveyError(f"the audio of {labels} is missing from the server; duplicate the survey or make it again")


def clip_audio(clip: SurveyClipRecord) -> bytes:
    """A clip's WAV file, for the audio player.

    Raises:
        SurveyError: The file is gone (deleted by hand, or another NEUROTUNE_HOME).
    """
    try:
        return Path(clip.audio_path).read_bytes()
    except OSError:
        raise _vanished([clip]) from None


def open_survey(survey_id: str) -> SurveyRecord:
    """Let participants join and answer.

    Raises:
        SurveyError: No such survey, or some of its clips' audio files are gone.
    """
    missing = missing_audio(store.survey_clips(store.get_survey(survey_id).id))
    if missing:
        raise _vanished(missing)
    return store.set_survey_status(survey_id, "open")


def close_survey(survey_id: str) -> SurveyRecord:
    """Stop taking answers; what was given stays, for the results.

    Raises:
        SurveyError: No such survey.
    """
    return store.set_survey_status(survey_id, "closed")


def duplicate_survey(survey_id: str, title: str | None = None) -> SurveyRecord:
    """A new draft with the same texts, settings, clips (their audio copied, not rendered again) and pairs.

    Args:
        survey_id: The survey to copy.
        title: The copy's title; "<title> (copy)" when None.

    Raises:
        SurveyError: No such survey, a bad title, or a clip's audio file is gone.
    """
    original = store.get_survey(survey_id)
    title = check_name("survey", title if title is not None else fitting_title(f"{original.title} (copy)"), SurveyError)
    clips = store.survey_clips(survey_id)
    missing = missing_audio(clips)
    if missing:
        raise _vanished(missing)
    copy_id = uuid.uuid4().hex
    folder = _new_folder(copy_id)
    new_ids = {clip.id: uuid.uuid4().hex for clip in clips}
    try:
        copies = []
        for clip in clips:
            path = folder / f"{new_ids[clip.id]}{AUDIO_SUFFIX}"
            shutil.copyfile(clip.audio_path, path)
            fields = {column.key: getattr(clip, column.key) for column in SurveyClipRecord.__table__.columns}
            copies.append(
                SurveyClipRecord(**{**fields, "id": new_ids[clip.id], "survey_id": copy_id, "audio_path": str(path)})
            )
        pairs = [
            SurveyPairRecord(
                id=uuid.uuid4().hex,
                survey_id=copy_id,
                position=pair.position,
                label=pair.label,
                first_clip_id=new_ids[pair.first_clip_id],
                second_clip_id=new_ids[pair.second_clip_id],
            )
            for pair in store.survey_pairs(survey_id)
        ]
        survey = SurveyRecord(
            id=copy_id,
            title=title,
            instructions=original.instructions,
            consent=original.consent,
            status="draft",
            settings=original.settings,
        )
        return store.add_survey(survey, copies, pairs)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise SurveyError(f"could not copy the survey's clips to {folder}: {describe_os_error(error)}") from None
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def delete_survey(survey_id: str) -> None:
    """Remove a survey, its answers and its clips' folder.

    Raises:
        SurveyError: No such survey.
    """
    store.delete_survey(survey_id)
    shutil.rmtree(surveys_dir() / survey_id, ignore_errors=True)
