"""Queries on listening tests: surveys with their clips and A/B pairs, participants and their answers.

What a survey is and how it is taken is :mod:`core.surveys`; this module only keeps the records.
An answer is written with one statement that inserts or replaces (:func:`save_answer`), so two submits
of one answer at once (a double click, two tabs) leave one row, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import StoreError, SurveyError
from core.store.db import (
    SURVEY_STATUSES,
    SurveyAnswerRecord,
    SurveyClipRecord,
    SurveyPairRecord,
    SurveyParticipantRecord,
    SurveyRecord,
    session_scope,
    utcnow,
)

# Each database's INSERT ... ON CONFLICT DO UPDATE: one atomic statement, no read before the write.
_INSERTS: dict[str, Callable[..., Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
# The answer's key: the unique constraint ``uq_survey_answers_item``.
_ANSWER_KEY = ("participant_id", "item_id", "question")


# === Surveys ===


def add_survey(
    survey: SurveyRecord, clips: Sequence[SurveyClipRecord], pairs: Sequence[SurveyPairRecord]
) -> SurveyRecord:
    """Store a survey with its clips and pairs, all or nothing."""
    with session_scope() as session:
        session.add(survey)
        session.flush()  # no relationships tell the session the order: the rows a key points at go first
        session.add_all(clips)
        session.flush()
        session.add_all(pairs)
    return survey


def get_survey(survey_id: str) -> SurveyRecord:
    """The survey ``survey_id``.

    Raises:
        SurveyError: There is no such survey (a mistyped link, or one deleted).
    """
    with session_scope() as session:
        record = session.get(SurveyRecord, survey_id)
    if record is None:
        raise SurveyError(f"there is no survey '{survey_id}'; check the link you were given")
    return record


def list_surveys() -> list[SurveyRecord]:
    """Every survey, newest first."""
    with session_scope() as session:
        return list(session.scalars(select(SurveyRecord).order_by(SurveyRecord.created_at.desc(), SurveyRecord.id)))


def any_survey_open() -> bool:
    """Whether a listening test is taking answers: while one is, the app shows strangers nothing of its pieces."""
    with session_scope() as session:
        return session.scalar(select(SurveyRecord.id).where(SurveyRecord.status == "open").limit(1)) is not None


def set_survey_status(survey_id: str, status: str) -> SurveyRecord:
    """Set a survey's status (:data:`~core.store.db.SURVEY_STATUSES`).

    Raises:
        SurveyError: No such survey, or an unknown status.
    """
    if status not in SURVEY_STATUSES:
        raise SurveyError(f"a survey's status is one of {', '.join(SURVEY_STATUSES)}, not '{status}'")
    with session_scope() as session:
        changed = session.execute(update(SurveyRecord).where(SurveyRecord.id == survey_id).values(status=status))
    if not changed.rowcount:
        raise SurveyError(f"there is no survey '{survey_id}'")
    return get_survey(survey_id)


def delete_survey(survey_id: str) -> None:
    """Remove a survey's records, its answers included (its files are :mod:`core.surveys.build`'s).

    Rows are deleted child first rather than by ``ON DELETE CASCADE``, which SQLite applies only when asked.

    Raises:
        SurveyError: There is no such survey.
    """
    participants = select(SurveyParticipantRecord.id).where(SurveyParticipantRecord.survey_id == survey_id)
    with session_scope() as session:
        session.execute(delete(SurveyAnswerRecord).where(SurveyAnswerRecord.participant_id.in_(participants)))
        for table in (SurveyParticipantRecord, SurveyPairRecord, SurveyClipRecord):
            session.execute(delete(table).where(table.survey_id == survey_id))
        deleted = session.execute(delete(SurveyRecord).where(SurveyRecord.id == survey_id))
        if not deleted.rowcount:
            raise SurveyError(f"there is no survey '{survey_id}'")


def _by_position(table: type[SurveyClipRecord] | type[SurveyPairRecord], survey_id: str) -> Select:
    """The query for a survey's clips or pairs, by position."""
    return select(table).where(table.survey_id == survey_id).order_by(table.position)


def survey_clips(survey_id: str) -> list[SurveyClipRecord]:
    """A survey's clips, by position."""
    with session_scope() as session:
        return list(session.scalars(_by_position(SurveyClipRecord, survey_id)))


def survey_pairs(survey_id: str) -> list[SurveyPairRecord]:
    """A survey's A/B pairs, by position."""
    with session_scope() as session:
        return list(session.scalars(_by_position(SurveyPairRecord, survey_id)))


@dataclass(frozen=True)
class SurveyCounts:
    """How big a survey is: for the organizer's list of surveys."""

    clips: int = 0
    participants: int = 0
    answers: int = 0


def survey_counts() -> dict[str, SurveyCounts]:
    """Clips, participants and answers of every survey, counted by the database (three queries in all)."""
    with session_scope() as session:
        clips = dict(
            session.execute(select(SurveyClipRecord.survey_id, func.count()).group_by(SurveyClipRecord.survey_id)).all()
        )
        participants = dict(
            session.execute(
                select(SurveyParticipantRecord.survey_id, func.count()).group_by(SurveyParticipantRecord.survey_id)
            ).all()
        )
        answers = dict(
            session.execute(
                select(SurveyParticipantRecord.survey_id, func.count())
                .join(SurveyAnswerRecord, SurveyAnswerRecord.participant_id == SurveyParticipantRecord.id)
                .group_by(SurveyParticipantRecord.survey_id)
            ).all()
        )
    return {
        survey_id: SurveyCounts(clips.get(survey_id, 0), participants.get(survey_id, 0), answers.get(survey_id, 0))
        for survey_id in {*clips, *participants, *answers}
    }


# === Participants ===


@dataclass(frozen=True)
class TakenSurvey:
    """What taking part reads, all in one transaction: the survey, its clips and pairs, one participant.

    Attributes:
        survey: The survey.
        participant: The participant asked for; None when the survey has none by that id.
        clips: The survey's clips, by position.
        pairs: The survey's pairs, by position.
        answers: The participant's answers in the order given, when asked for; else empty.
    """

    survey: SurveyRecord
    participant: SurveyParticipantRecord | None
    clips: list[SurveyClipRecord]
    pairs: list[SurveyPairRecord]
    answers: list[SurveyAnswerRecord]


def taken_survey(survey_id: str, participant_id: str, *, answers: bool = False) -> TakenSurvey:
    """A survey with its clips and pairs and one of its participants (with their answers when ``answers``).

    One transaction rather than one per record: each answer a participant gives reads all of it.

    Raises:
        SurveyError: There is no such survey.
    """
    with session_scope() as session:
        survey = session.get(SurveyRecord, survey_id)
        if survey is None:
            raise SurveyError(f"there is no survey '{survey_id}'; check the link you were given")
        participant = session.get(SurveyParticipantRecord, participant_id) if participant_id else None
        if participant is not None and participant.survey_id != survey_id:
            participant = None
        clips = session.scalars(_by_position(SurveyClipRecord, survey_id))
        pairs = session.scalars(_by_position(SurveyPairRecord, survey_id))
        given = (
            session.scalars(
                select(SurveyAnswerRecord)
                .where(SurveyAnswerRecord.participant_id == participant.id)
                .order_by(SurveyAnswerRecord.answered_at, SurveyAnswerRecord.id)
            )
            if answers and participant is not None
            else []
        )
        return TakenSurvey(survey, participant, list(clips), list(pairs), list(given))


def add_participant(record: SurveyParticipantRecord) -> SurveyParticipantRecord:
    """Store a new participant (:func:`core.surveys.participants.join` makes the record)."""
    with session_scope() as session:
        session.add(record)
    return record


def survey_participants(survey_id: str) -> list[SurveyParticipantRecord]:
    """A survey's participants, first joined first."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(SurveyParticipantRecord)
                .where(SurveyParticipantRecord.survey_id == survey_id)
                .order_by(SurveyParticipantRecord.started_at, SurveyParticipantRecord.id)
            )
        )


def set_finished(participant_id: str, finished_at: datetime) -> None:
    """Mark a participant as done: from then on their answers can no longer change."""
    with session_scope() as session:
        session.execute(
            update(SurveyParticipantRecord)
            .where(SurveyParticipantRecord.id == participant_id)
            .values(finished_at=finished_at)
        )


# === Answers ===


def save_answer(
    participant_id: str,
    item_id: str,
    question: str,
    value: str,
    *,
    played_share: float,
    elapsed_ms: int | None,
) -> None:
    """Write an answer, replacing the one given before to the same item and question.

    Raises:
        StoreError: The database is neither SQLite nor PostgreSQL, or cannot be written.
    """
    fields = {"value": value, "played_share": played_share, "elapsed_ms": elapsed_ms, "answered_at": utcnow()}
    with session_scope() as session:
        backend = session.get_bind().dialect.name
        if backend not in _INSERTS:
            raise StoreError(f"listening tests need SQLite or PostgreSQL to store answers, not {backend}")
        statement = _INSERTS[backend](SurveyAnswerRecord).values(
            participant_id=participant_id, item_id=item_id, question=question, **fields
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=list(_ANSWER_KEY), set_={name: statement.excluded[name] for name in fields}
            )
        )


def survey_answers(survey_id: str) -> list[SurveyAnswerRecord]:
    """Every answer to a survey, by participant, then in the order given."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(SurveyAnswerRecord)
                .join(SurveyParticipantRecord, SurveyParticipantRecord.id == SurveyAnswerRecord.participant_id)
                .where(SurveyParticipantRecord.survey_id == survey_id)
                .order_by(
                    SurveyParticipantRecord.started_at,
                    SurveyAnswerRecord.participant_id,
                    SurveyAnswerRecord.answered_at,
                    SurveyAnswerRecord.id,
                )
            )
        )
