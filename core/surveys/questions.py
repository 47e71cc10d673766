"""The question blocks of a listening test, in one registry (:data:`QUESTIONS`).

Each question is a small frozen dataclass that knows which kind of item it is asked of (a clip or an A/B
pair), checks an answer and turns it into the text stored in ``survey_answers.value``, and turns a stored
answer into a number for the statistics. A page picks its widget by the question's class: a 1-5 scale
for :class:`RatingQuestion`, a choice for :class:`ChoiceQuestion` and :class:`PreferenceQuestion`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

from core.errors import SurveyError

CLIP = "clip"
PAIR = "pair"


@dataclass(frozen=True)
class RatingQuestion:
    """A rating on a scale of whole numbers, ``low`` to ``high``: the 1-5 opinion scores averaged into a MOS.

    Attributes:
        name: Key in :data:`QUESTIONS` and in the stored answers.
        label: A short name for tables and charts ("Musicality").
        prompt: The question as a participant reads it.
        low_label: What the lowest number means.
        high_label: What the highest number means.
        low: The lowest rating.
        high: The highest rating.
    """

    item_kind: ClassVar[str] = CLIP

    name: str
    label: str
    prompt: str
    low_label: str = "not at all"
    high_label: str = "very much"
    low: int = 1
    high: int = 5

    def check(self, value: object) -> str:
        """The rating as stored (``"4"``).

        Raises:
            SurveyError: Not a whole number from ``low`` to ``high``.
        """
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not self.low <= value <= self.high:
            raise SurveyError(
                f"the {self.label.lower()} rating must be a whole number from {self.low} to {self.high}, not {value!r}"
            )
        return str(int(value))

    def score(self, stored: str) -> float:
        """The rating as a number."""
        return float(stored)


@dataclass(frozen=True)
class ChoiceQuestion:
    """One of a few named options, such as "composed by a human or a computer?".

    Attributes:
        name: Key in :data:`QUESTIONS` (or :data:`BACKGROUND`'s own).
        label: A short name for tables and charts.
        prompt: The question as a participant reads it.
        options: (stored value, what a participant reads) pairs, in the order shown.
        scored: The option that scores 1 (others 0), so a mean is the share choosing it; None: not scored.
    """

    item_kind: ClassVar[str] = CLIP

    name: str
    label: str
    prompt: str
    options: tuple[tuple[str, str], ...]
    scored: str | None = None

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for value, _text in self.options)

    def check(self, value: object) -> str:
        """The option as stored.

        Raises:
            SurveyError: Not one of the options' values.
        """
        if value not in self.values:
            raise SurveyError(f"the answer to '{self.label}' must be one of {', '.join(self.values)}, not {value!r}")
        return str(value)

    def score(self, stored: str) -> float:
        """1.0 for the scored option, else 0.0; NaN when the question scores none."""
        if self.scored is None:
            return math.nan
        return 1.0 if stored == self.scored else 0.0


@dataclass(frozen=True)
class PreferenceQuestion:
    """Which of two clips, played as "A" and "B", a participant prefers.

    The answer is given as the letter the participant saw; :mod:`core.surveys.participants` stores the id
    of the clip it stood for, since which clip plays as "A" is each participant's own.
    """

    item_kind: ClassVar[str] = PAIR
    letters: ClassVar[tuple[str, str]] = ("A", "B")

    name: str
    label: str
    prompt: str

    def check(self, value: object) -> str:
        """The letter chosen.

        Raises:
            SurveyError: Neither "A" nor "B".
        """
        if value not in self.letters:
            raise SurveyError(f"the answer to '{self.label}' must be A or B, not {value!r}")
        return str(value)

    def score(self, stored: str) -> float:
        """NaN: a preference is counted per pair of systems (:func:`core.surveys.statistics.preferences`)."""
        return math.nan


Question = RatingQuestion | ChoiceQuestion | PreferenceQuestion

QUESTIONS: dict[str, Question] = {
    "musicality": RatingQuestion("musicality", "Musicality", "How musical does this clip sound?"),
    "coherence": RatingQuestion(
        "coherence", "Coherence", "How well does it hold together: a clear structure, a sense of direction?"
    ),
    "creativity": RatingQuestion("creativity", "Creativity", "How creative or surprising is it?"),
    "overall": RatingQuestion("overall", "Overall", "Overall, how much do you like it?", "bad", "excellent"),
    "human": ChoiceQuestion(
        "human",
        "Human or computer",
        "Was this composed by a human or by a computer?",
        options=(("human", "A human"), ("computer", "A computer")),
        scored="human",
    ),
    "preference": PreferenceQuestion("preference", "Preference", "Which of the two clips do you prefer?"),
}
RATINGS = tuple(name for name, question in QUESTIONS.items() if isinstance(question, RatingQuestion))

# Asked once per participant, before the clips, when the survey's settings say so; answering is optional.
BACKGROUND = ChoiceQuestion(
    "background",
    "Musical background",
    "How would you describe your musical background? (optional)",
    options=(
        ("none", "No musical training"),
        ("amateur", "I play, sing or compose as an amateur"),
        ("professional", "Professional musician or music student"),
    ),
)


def get_question(name: str) -> Question:
    """The question called ``name``.

    Raises:
        SurveyError: No question has that name.
    """
    if name not in QUESTIONS:
        raise SurveyError(f"unknown question '{name}'; the questions are {', '.join(QUESTIONS)}")
    return QUESTIONS[name]
