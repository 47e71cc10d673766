"""A survey's settings: one typed dataclass, checked once, kept as JSON in ``surveys.settings``; and the words
its clip records use for where a clip came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import check_config, from_dict, to_dict
from core.errors import SurveyError
from core.surveys.questions import QUESTIONS, RATINGS

# A clip's source: a library piece, or a dataset's real piece (the hidden reference).
GENERATED = "generated"
REAL = "real"
# The system every real piece belongs to, in the results and the screening.
REAL_SYSTEM = "real"
# Bumped when a field changes meaning; a stored survey keeps the version it was made with.
SETTINGS_VERSION = 1
# Longer clips tire listeners and make a test nobody finishes (webMUSHRA's guidance: under 20 s each).
MAX_CLIP_SECONDS = 120.0
# How far a browser's report of the share played may fall short of the share required: its played
# ranges can miss the last few milliseconds of a clip heard to the end.
PLAYED_SHARE_TOLERANCE = 0.01


@dataclass(frozen=True)
class SurveySettings:
    """How a survey is built and taken.

    Attributes:
        clip_seconds: Each clip is the first this many seconds of its piece.
        questions: Keys of :data:`core.surveys.questions.QUESTIONS` asked, in the order shown.
        played_share: The share of a clip (of both clips of a pair) that must have been played before it
            may be answered, as the browser reports it: 0.9 lets a listener skip the last tenth.
        background_question: Ask each participant about their musical background (optional to answer).
        pairs_per_comparison: A/B pairs made for each two systems (when "preference" is asked).
        version: :data:`SETTINGS_VERSION` when the survey was made.
    """

    clip_seconds: float = 20.0
    questions: tuple[str, ...] = (*RATINGS, "human", "preference")
    played_share: float = 0.9
    background_question: bool = True
    pairs_per_comparison: int = 2
    version: int = SETTINGS_VERSION

    def __post_init__(self) -> None:
        check_config(
            [
                (
                    0 < self.clip_seconds <= MAX_CLIP_SECONDS,
                    f"clips must last more than 0 and at most {MAX_CLIP_SECONDS:g} seconds, not {self.clip_seconds}",
                ),
                (bool(self.questions), "choose at least one question"),
                (
                    all(name in QUESTIONS for name in self.questions),
                    f"the questions must be among {', '.join(QUESTIONS)}, not {', '.join(self.questions)}",
                ),
                (len(set(self.questions)) == len(self.questions), "each question may be asked once"),
                (0 <= self.played_share <= 1, f"played_share must be between 0 and 1, not {self.played_share}"),
                (
                    1 <= self.pairs_per_comparison <= 10,
                    f"pairs_per_comparison must be between 1 and 10, not {self.pairs_per_comparison}",
                ),
            ],
            SurveyError,
            self,
        )

    def asks(self, item_kind: str) -> tuple[str, ...]:
        """The questions asked of an item of ``item_kind`` ("clip" or "pair"), in order."""
        return tuple(name for name in self.questions if QUESTIONS[name].item_kind == item_kind)

    def to_json(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SurveySettings:
        return from_dict(cls, data)
