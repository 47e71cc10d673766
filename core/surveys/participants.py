"""Taking a survey: join, come back by token, the items in one's own order, answer, finish.

A participant is known by a token handed out once when they join (:func:`join`) and carried in their
link: ``<participant id>.<secret>``. Only the secret's SHA-256 is stored, so the database cannot hand a
token out again, and a token cut short or changed matches nothing. Each participant gets a random seed
that orders their items (:func:`resume` always rebuilds the same order from it) and decides which clip of
an A/B pair plays as "A". An answer is checked before it is written: the survey is open, the item and
question belong to it, the clip was played (the share the browser reported), the value is in range, the
audio is still there; then it is written at once, replacing an earlier answer to the same question.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import SurveyError
from core.store import surveys as store
from core.store.db import (
    SurveyAnswerRecord,
    SurveyClipRecord,
    SurveyPairRecord,
    SurveyParticipantRecord,
    SurveyRecord,
    utcnow,
)
from core.store.surveys import TakenSurvey
from core.surveys.config import PLAYED_SHARE_TOLERANCE, SurveySettings
from core.surveys.questions import BACKGROUND, CLIP, PAIR, PreferenceQuestion, Question, get_question

# 32 random bytes: a secret nobody guesses, 43 characters in a link.
TOKEN_BYTES = 32
# Between the participant's id and the secret; token_urlsafe never writes it.
TOKEN_SEPARATOR = "."
_BAD_TOKEN = (
    "this participant link is not valid (cut short, changed, or for another survey); "
    "open the link exactly as you were given it, or start the survey again from its first link"
)


@dataclass(frozen=True)
class Clip:
    """A clip as a participant meets it: a label and its audio, nothing of where it came from.

    Attributes:
        id: The clip's id.
        label: What the participant reads ("Clip 3").
        duration_seconds: How long the clip lasts.
        audio_path: Where its WAV file is on the server; read it with :meth:`audio`, never show it.
    """

    id: str
    label: str
    duration_seconds: float
    audio_path: str = field(repr=False)

    def audio(self) -> bytes:
        """The clip's WAV file, for the audio player.

        Raises:
            SurveyError: The file is gone from the server.
        """
        try:
            return Path(self.audio_path).read_bytes()
        except OSError:
            raise _vanished(self) from None


@dataclass(frozen=True)
class Item:
    """One thing a participant answers: a clip, or an A/B pair of clips.

    Attributes:
        id: The clip's or the pair's id: what :func:`record_answer` takes.
        kind: "clip" or "pair".
        label: What the participant reads ("Clip 3", "Pair 2").
        clips: One clip, or two in the order they play: "A", then "B".
        questions: The questions asked of it, in order.
        answers: Question name -> the answer given so far, as :func:`record_answer` took it but as text
            ("4", "human", "A").
    """

    id: str
    kind: str
    label: str
    clips: tuple[Clip, ...]
    questions: tuple[Question, ...]
    answers: dict[str, str]

    @property
    def complete(self) -> bool:
        return all(question.name in self.answers for question in self.questions)

    @property
    def seconds(self) -> float:
        """How long playing every clip of the item takes."""
        return sum(clip.duration_seconds for clip in self.clips)


@dataclass(frozen=True)
class Participation:
    """A participant's survey as they left it.

    Attributes:
        survey: The survey (title, instructions, consent, status).
        settings: Its settings (the playback share required, whether to ask the background question).
        participant_id: Who is taking it.
        background: Their answer to :data:`~core.surveys.questions.BACKGROUND`, None when not given.
        items: Everything to answer, in this participant's order.
        finished: They finished; only a thank-you remains to show.
    """

    survey: SurveyRecord
    settings: SurveySettings
    participant_id: str
    background: str | None
    items: tuple[Item, ...]
    finished: bool

    @property
    def is_open(self) -> bool:
        return self.survey.status == "open"

    @property
    def answered(self) -> int:
        """Items with every question answered."""
        return sum(item.complete for item in self.items)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def next_item(self) -> Item | None:
        """The first item not fully answered; None when all are."""
        return next((item for item in self.items if not item.complete), None)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _vanished(clip: Clip) -> SurveyError:
    return SurveyError(
        f"the audio of {clip.label} is missing on the server, so it cannot be played or answered; "
        "please tell the survey's organizer"
    )


def _check_open(survey: SurveyRecord) -> None:
    if survey.status == "draft":
        raise SurveyError(f"the survey '{survey.title}' is not open yet; try the link again later")
    if survey.status != "open":
        raise SurveyError(f"the survey '{survey.title}' is closed and takes no more answers; thank you for coming")


def join(survey_id: str, background: str | None = None) -> str:
    """Start a new participant on an open survey.

    Args:
        survey_id: The survey from the link.
        background: An answer to :data:`~core.surveys.questions.BACKGROUND`, or None (it is optional).

    Returns:
        The participant's token, shown this once: put it in their link, it is how they come back.

    Raises:
        SurveyError: No such survey, one not open, or a background answer that is not an option.
    """
    survey = store.get_survey(survey_id)
    _check_open(survey)
    if background is not None:
        background = BACKGROUND.check(background)
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    participant = SurveyParticipantRecord(
        id=uuid.uuid4().hex,
        survey_id=survey.id,
        token_hash=_hash(secret),
        seed=secrets.randbelow(2**31),
        background=background,
    )
    store.add_participant(participant)
    return f"{participant.id}{TOKEN_SEPARATOR}{secret}"


def _authenticate(survey_id: str, token: str, *, answers: bool = False) -> tuple[TakenSurvey, SurveyParticipantRecord]:
    """The survey with its clips and pairs (and the participant's answers when ``answers``), and the participant
    a token names.

    Raises:
        SurveyError: No such survey, or a token that names no participant of it (unknown, cut, changed).
    """
    participant_id, separator, secret = token.partition(TOKEN_SEPARATOR)
    taken = store.taken_survey(survey_id, participant_id if separator and secret else "", answers=answers)
    # The hash is compared in constant time even for an unknown participant, so timing tells nothing.
    participant = taken.participant
    stored = participant.token_hash if participant is not None else _hash("")
    if not hmac.compare_digest(_hash(secret), stored) or participant is None:
        raise SurveyError(_BAD_TOKEN)
    return taken, participant


def _swapped(seed: int, pair_id: str) -> bool:
    """Whether a participant hears a pair's second clip as "A": half the time, the same every visit."""
    return random.Random(f"{seed}:{pair_id}").random() < 0.5


def _clip(record: SurveyClipRecord) -> Clip:
    return Clip(record.id, record.label, record.duration_seconds, record.audio_path)


def _pair_clips(pair: SurveyPairRecord, clips: dict[str, SurveyClipRecord], seed: int) -> tuple[Clip, Clip]:
    """A pair's clips in the order this participant hears them: "A", then "B"."""
    first, second = _clip(clips[pair.first_clip_id]), _clip(clips[pair.second_clip_id])
    return (second, first) if _swapped(seed, pair.id) else (first, second)


def _items(
    settings: SurveySettings,
    clips: list[SurveyClipRecord],
    pairs: list[SurveyPairRecord],
    seed: int,
    answers: list[SurveyAnswerRecord],
) -> tuple[Item, ...]:
    """Every item in the order ``seed`` gives: the clips shuffled, then the pairs shuffled."""
    given: dict[str, dict[str, str]] = {}
    for answer in answers:
        given.setdefault(answer.item_id, {})[answer.question] = answer.value
    by_id = {clip.id: clip for clip in clips}
    order = random.Random(seed)
    items: list[Item] = []
    clip_questions = tuple(get_question(name) for name in settings.asks(CLIP))
    if clip_questions:
        shuffled = list(clips)
        order.shuffle(shuffled)
        items += [
            Item(clip.id, CLIP, clip.label, (_clip(clip),), clip_questions, given.get(clip.id, {})) for clip in shuffled
        ]
    pair_questions = tuple(get_question(name) for name in settings.asks(PAIR))
    if pair_questions:
        shuffled_pairs = list(pairs)
        order.shuffle(shuffled_pairs)
        for pair in shuffled_pairs:
            played = _pair_clips(pair, by_id, seed)
            letters = dict(zip((clip.id for clip in played), PreferenceQuestion.letters))
            answered = {name: letters.get(value, value) for name, value in given.get(pair.id, {}).items()}
            items.append(Item(pair.id, PAIR, pair.label, played, pair_questions, answered))
    return tuple(items)


def _participation(taken: TakenSurvey, participant: SurveyParticipantRecord) -> Participation:
    settings = SurveySettings.from_json(taken.survey.settings)
    items = _items(settings, taken.clips, taken.pairs, participant.seed, taken.answers)
    return Participation(
        taken.survey, settings, participant.id, participant.background, items, participant.finished_at is not None
    )


def resume(survey_id: str, token: str) -> Participation:
    """A participant's survey as they left it: their items in their order, with the answers given.

    It works on a closed survey too (see :attr:`Participation.is_open`), so a page can say it is closed.

    Raises:
        SurveyError: No such survey, or a token that is not one of its participants'.
    """
    return _participation(*_authenticate(survey_id, token, answers=True))


def record_answer(
    survey_id: str,
    token: str,
    item_id: str,
    question: str,
    value: object,
    *,
    played_share: float,
    elapsed_ms: int | None = None,
) -> None:
    """Check an answer and write it at once, replacing an earlier answer to the same item and question.

    Args:
        survey_id: The survey from the link.
        token: The participant's token from the link.
        item_id: :attr:`Item.id`.
        question: The question's name (:attr:`RatingQuestion.name` ...).
        value: A whole number for a rating, an option's value for a choice, "A" or "B" for a preference.
        played_share: How much of the item's audio was played, 0-1, as the browser's player reported it
            (for a pair, the smaller share of its two clips).
        elapsed_ms: Milliseconds from the item shown to this answer, for listener screening; None: unknown.

    Raises:
        SurveyError: No such survey or one not open, a bad token, a participant who finished, an item or
            question not in the survey, audio gone from the server, too little of it played, or a value
            out of range. Nothing is written then.
    """
    taken, participant = _authenticate(survey_id, token, answers=True)
    survey = taken.survey
    _check_open(survey)
    if participant.finished_at is not None:
        raise SurveyError("you have finished this survey, so answers can no longer be changed")
    asked = get_question(question)
    settings = SurveySettings.from_json(survey.settings)
    if question not in settings.questions:
        raise SurveyError(f"this survey does not ask '{asked.label}'")
    items = _items(settings, taken.clips, taken.pairs, participant.seed, [])
    item = next((item for item in items if item.id == item_id), None)
    if item is None:
        raise SurveyError(f"this survey has no clip or pair '{item_id}' to answer; reload the page")
    if asked.item_kind != item.kind:
        raise SurveyError(f"'{asked.label}' is asked of each {asked.item_kind}, not of {item.label}")
    if not (isinstance(played_share, int | float) and math.isfinite(played_share) and 0 <= played_share <= 1):
        raise SurveyError(f"the share of the audio played must be between 0 and 1, not {played_share!r}")
    if elapsed_ms is not None and elapsed_ms < 0:
        raise SurveyError(f"the time taken to answer cannot be negative ({elapsed_ms} ms)")
    missing = next((clip for clip in item.clips if not Path(clip.audio_path).is_file()), None)
    if missing is not None:
        raise _vanished(missing)
    # Heard: the browser reports enough (up to its rounding), or an earlier answer to the item was accepted
    # after playback (a reload forgets what the browser played). What is stored is what the browser said.
    heard_before = any(answer.item_id == item.id for answer in taken.answers)
    if played_share + PLAYED_SHARE_TOLERANCE < settings.played_share and not heard_before:
        what, of = (item.label, "it") if item.kind == CLIP else ("both clips", "each")
        enough = "to the end" if settings.played_share >= 1 else f"at least {settings.played_share:.0%} of {of}"
        raise SurveyError(f"listen to {what} {enough} before answering")
    stored = asked.check(value)
    if isinstance(asked, PreferenceQuestion):
        stored = item.clips[PreferenceQuestion.letters.index(stored)].id  # the clip, whatever its letter
    store.save_answer(
        participant.id, item.id, question, stored, played_share=float(played_share), elapsed_ms=elapsed_ms
    )


def finish(survey_id: str, token: str) -> None:
    """Mark a participant finished: their answers are final. Finishing twice is harmless.

    Raises:
        SurveyError: No such survey or one not open, a bad token, or items still unanswered.
    """
    taken, participant = _authenticate(survey_id, token, answers=True)
    if participant.finished_at is not None:
        return
    _check_open(taken.survey)
    participation = _participation(taken, participant)
    if participation.next_item is not None:
        raise SurveyError(
            f"answer every question before finishing: {participation.answered} of {participation.total} items done"
        )
    store.set_finished(participant.id, utcnow())
