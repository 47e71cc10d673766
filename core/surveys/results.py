"""A survey's answers as one table (:data:`core.surveys.statistics.ANSWER_COLUMNS`), read afresh on each call.

The results update while a survey is open simply by calling :func:`answer_table` again; the statistics
and the exports (:mod:`core.surveys.statistics`) are pure functions of the table.
"""

from __future__ import annotations

import math

import pandas as pd

from core.config import DataConfig
from core.data.datasets import load_dataset
from core.data.preprocess import preprocess_midi
from core.errors import NeuroTuneError
from core.evaluation.metrics import piece_metrics
from core.store import surveys as store
from core.store.db import SurveyClipRecord
from core.store.library import get_piece, piece_midi
from core.surveys.build import clip_midi
from core.surveys.config import SurveySettings
from core.surveys.questions import CLIP, PAIR, QUESTIONS
from core.surveys.statistics import ANSWER_COLUMNS

# The evaluation metrics set beside the ratings: what listeners may be hearing when they rate.
CLIP_METRICS = ("scale_consistency", "pitch_class_entropy", "repetition_rate", "note_density", "polyphony")
# The grid a clip's notes are measured on (the metrics count steps and bars).
METRIC_STEPS_PER_QUARTER = 4


def answer_table(survey_id: str) -> pd.DataFrame:
    """Every answer to a survey, one row each, with what the analysis needs of its item and participant.

    Raises:
        SurveyError: There is no such survey.
    """
    store.get_survey(survey_id)
    clips = {clip.id: clip for clip in store.survey_clips(survey_id)}
    pairs = {pair.id: pair for pair in store.survey_pairs(survey_id)}
    backgrounds = {participant.id: participant.background for participant in store.survey_participants(survey_id)}
    rows = []
    for answer in store.survey_answers(survey_id):
        question = QUESTIONS[answer.question]
        row = {
            "participant": answer.participant_id,
            "background": backgrounds.get(answer.participant_id),
            "item": answer.item_id,
            "question": answer.question,
            "value": answer.value,
            "score": question.score(answer.value),
            "played_share": answer.played_share,
            "elapsed_ms": math.nan if answer.elapsed_ms is None else float(answer.elapsed_ms),
            "answered_at": answer.answered_at,
        }
        if answer.item_id in clips:
            clip = clips[answer.item_id]
            row |= {"item_label": clip.label, "kind": CLIP, "item_seconds": clip.duration_seconds}
            row |= {"system": clip.system, "source": clip.source, "clip_name": clip.name}
        else:
            pair = pairs[answer.item_id]
            first, second = clips[pair.first_clip_id], clips[pair.second_clip_id]
            chosen = clips[answer.value]
            row |= {"item_label": pair.label, "kind": PAIR, "value": chosen.label}
            row |= {"first_system": first.system, "second_system": second.system, "chosen_system": chosen.system}
            row["item_seconds"] = first.duration_seconds + second.duration_seconds
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(ANSWER_COLUMNS))
    table["answered_at"] = pd.to_datetime(table["answered_at"], utc=True)  # SQLite gives naive UTC, PostgreSQL aware
    return table.astype(
        {"score": "float64", "item_seconds": "float64", "played_share": "float64", "elapsed_ms": "float64"}
    )


def participant_table(survey_id: str) -> pd.DataFrame:
    """A survey's participants: columns participant, background, started_at, finished_at (NaT: not yet), answers.

    Raises:
        SurveyError: There is no such survey.
    """
    store.get_survey(survey_id)
    answers = pd.Series([answer.participant_id for answer in store.survey_answers(survey_id)]).value_counts()
    rows = [
        (
            participant.id,
            participant.background,
            participant.started_at,
            participant.finished_at,
            int(answers.get(participant.id, 0)),
        )
        for participant in store.survey_participants(survey_id)
    ]
    table = pd.DataFrame(rows, columns=["participant", "background", "started_at", "finished_at", "answers"])
    for column in ("started_at", "finished_at"):
        table[column] = pd.to_datetime(table[column], utc=True)
    return table


def clip_metrics(survey_id: str) -> pd.DataFrame:
    """The evaluation metrics (:data:`CLIP_METRICS`) of exactly what each clip plays, on one grid for all.

    Computed from each clip's source (a library piece, a dataset's real piece) cut as the clip was; a
    source deleted since gives NaN.

    Returns:
        One row per clip: columns clip (its label), system, then the metrics.

    Raises:
        SurveyError: There is no such survey.
    """
    settings = SurveySettings.from_json(store.get_survey(survey_id).settings)
    config = DataConfig(steps_per_quarter=METRIC_STEPS_PER_QUARTER, min_notes=1, min_duration_seconds=0.0)
    rows = []
    for clip in store.survey_clips(survey_id):
        metrics = dict.fromkeys(CLIP_METRICS, math.nan)
        try:
            played, _ = clip_midi(_source_midi(clip), settings.clip_seconds)
            notes = preprocess_midi(played, clip.name, config).notes
            metrics = piece_metrics(notes, METRIC_STEPS_PER_QUARTER)
        except NeuroTuneError:  # the source is gone or no longer reads as it did
            pass
        rows.append({"clip": clip.label, "system": clip.system, **{name: metrics[name] for name in CLIP_METRICS}})
    return pd.DataFrame(rows, columns=["clip", "system", *CLIP_METRICS])


def _source_midi(clip: SurveyClipRecord) -> bytes:
    if clip.piece_id is not None:
        return piece_midi(get_piece(clip.piece_id))
    return load_dataset(clip.dataset).source_midi(clip.dataset_index)
