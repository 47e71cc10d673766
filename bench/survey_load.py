"""Benchmark: many participants answering one listening test at once, against the storage layer.

In an empty NEUROTUNE_HOME (SQLite in WAL mode with a busy timeout, or ``--db-url``): a survey of
``--clips`` clips (short silent WAV files; nothing is rendered) asking "overall" and "human or computer?"
of each, opened; then ``--participants`` threads, started together as a Streamlit server's sessions would
run, each joining, resuming and answering every question through
:func:`core.surveys.participants.record_answer` (the function the page calls), and submitting every
third answer twice (a double click: the same value) and every fifth again with another value (a changed
mind), then finishing. Between two answers a participant pauses ``--pause-ms`` (0.5-1.5 times it, at
random): 500 ms by default, 50 participants offering ~100 answers a second, eight times what 50 people
give when all of them answer the five questions of a 20-second clip the moment it ends. ``--pause-ms 0``
is a burst: every thread writes back to back, and the time measured is mostly the wait for the others'
writes (one at a time in SQLite, one Python thread at a time under the GIL), not the write. Counted afterwards from the database: ``lost`` answers (given, not stored),
``duplicated`` ones (more than one row for a participant, item and question) and ``wrong`` ones (a row
not holding the last value given). Timed: each answer write, checks included (``answer_write_ms``,
target p95 < 50 ms on SQLite). Timings share the CPU with anything else running (``load_average_1m``).
These figures are the ``storage`` section of the JSON printed.

The ``sessions`` section drives the page instead: ``--sessions`` browser-less sessions (20 by default),
each its own Streamlit ``AppTest`` of ``streamlit_app.py`` opened at ``?survey=<id>``, in a process of its
own (AppTest cannot run in threads: it swaps a global around each script run), all released together once
every one has imported Streamlit and the app. Each consents, answers the background question, joins, and
for every clip of a ``--session-clips`` survey reports it played to its end (the player's state fed in as
``tests/test_survey_taking.py`` does: AppTest runs no JavaScript), answers both questions and moves on,
then finishes. Counted from the database as above (``lost``, ``duplicated``, ``wrong`` against what each
session chose), and timed: seconds per answered item (the play report, both answers and the Next/Finish
click: four script runs) and the wall time. A server runs its sessions' scripts in threads of one process
instead; on a machine with fewer cores than sessions either way they queue for the CPU, which the figures
include.

    .venv/bin/python bench/survey_load.py [--participants 50] [--clips 10] [--pause-ms 500] [--db-url URL]
        [--sessions 20] [--session-clips 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0
QUESTIONS = ("overall", "human")
SYSTEMS = ("lstm", "transformer", "real")
CLIP_SECONDS = 0.5


def make_survey(clips: int) -> str:
    """An open survey of ``clips`` clips of three systems, written straight to the store; returns its id."""
    from core.store import surveys as store
    from core.store.db import SurveyClipRecord, SurveyRecord
    from core.surveys.build import open_survey, surveys_dir
    from core.surveys.config import REAL, REAL_SYSTEM, SurveySettings
    from tests.survey_pieces import silent_wav

    survey_id = uuid.uuid4().hex
    folder = surveys_dir() / survey_id
    folder.mkdir(parents=True)
    records = []
    for position in range(1, clips + 1):
        clip_id, system = uuid.uuid4().hex, SYSTEMS[position % len(SYSTEMS)]
        path = folder / f"{clip_id}.wav"
        path.write_bytes(silent_wav(CLIP_SECONDS))
        records.append(
            SurveyClipRecord(
                id=clip_id,
                survey_id=survey_id,
                position=position,
                label=f"Clip {position}",
                source=REAL if system == REAL_SYSTEM else "generated",
                system=system,
                name=f"piece {position}",
                audio_path=str(path),
                duration_seconds=CLIP_SECONDS,
            )
        )
    settings = SurveySettings(clip_seconds=CLIP_SECONDS, questions=QUESTIONS)
    survey = SurveyRecord(id=survey_id, title="Load", instructions="", consent="", settings=settings.to_json())
    store.add_survey(survey, records, [])
    open_survey(survey_id)
    return survey_id


def participant(
    survey_id: str, number: int, pause_s: float, start: threading.Barrier, given: dict, timings: list, errors: list
) -> None:
    """One participant: join, then answer every question of every clip, some twice, then finish."""
    from core.surveys.participants import finish, join, record_answer, resume

    jitter = random.Random(number)
    try:
        start.wait(timeout=120)
        token = join(survey_id, background="amateur")
        items = resume(survey_id, token).items
        submissions = 0
        for item in items:
            for question in QUESTIONS:
                value = 1 + (number + submissions) % 5 if question == "overall" else ("human", "computer")[number % 2]
                repeats = [value] * (2 if submissions % 3 == 0 else 1)
                if submissions % 5 == 0:
                    repeats.append(1 + value % 5 if question == "overall" else "human")
                for answer in repeats:
                    time.sleep(pause_s * jitter.uniform(0.5, 1.5))
                    started = time.perf_counter()
                    record_answer(survey_id, token, item.id, question, answer, played_share=1.0, elapsed_ms=600)
                    timings.append((time.perf_counter() - started) * 1000)
                given[(token.split(".")[0], item.id, question)] = str(repeats[-1])
                submissions += 1
        finish(survey_id, token)
    except Exception as error:  # reported in the figures, never lost in a thread
        errors.append(f"{type(error).__name__}: {error}")


def _quantiles(values: list[float]) -> list[float]:
    """The 99 percentiles of ``values`` (NaN for fewer than two), within their range even for a few values."""
    return statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [float("nan")] * 99


def run(participants: int, clips: int, pause_ms: float) -> dict:
    from core.store import surveys as store

    survey_id = make_survey(clips)
    given: dict[tuple[str, str, str], str] = {}
    timings: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(participants)
    threads = [
        threading.Thread(target=participant, args=(survey_id, number, pause_ms / 1000, start, given, timings, errors))
        for number in range(participants)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    rows = store.survey_answers(survey_id)
    stored: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        stored.setdefault((row.participant_id, row.item_id, row.question), []).append(row.value)
    expected = participants * clips * len(QUESTIONS)
    quantiles = _quantiles(timings)
    finished = sum(record.finished_at is not None for record in store.survey_participants(survey_id))
    return {
        "participants": participants,
        "clips": clips,
        "pause_ms": pause_ms,
        "questions": list(QUESTIONS),
        "answers_expected": expected,
        "submissions": len(timings),
        "rows_stored": len(rows),
        "lost": expected - len(stored.keys() & given.keys()),
        "duplicated": len(rows) - len(stored),
        "wrong": sum(stored.get(key, [value])[-1] != value for key, value in given.items()),
        "finished": finished,
        "errors": errors[:5],
        "answer_write_ms": {
            "p50": round(quantiles[49], 2),
            "p95": round(quantiles[94], 2),
            "max": round(max(timings, default=float("nan")), 2),
        },
        "answers_per_s": round(len(timings) / wall, 1),
        "wall_s": round(wall, 2),
    }


def session_values(number: int, position: int) -> dict[str, object]:
    """What session ``number`` answers at its ``position``-th item: varied, so that a mix-up would show."""
    return {"overall": 1 + (number + position) % 5, "human": ("human", "computer")[(number + position) % 2]}


def session(survey_id: str, number: int, clips: int, start: Barrier, results: Queue) -> None:
    """One browser-less session through the page: consent, join, play and answer every item, finish.

    Runs in a process of its own: AppTest swaps a global (``Runtime._instance``) around every script run,
    so two AppTests in threads of one process break each other's runs. Puts ``(number, token, seconds per
    item, error)`` on ``results``.
    """
    sys.path.insert(0, str(ROOT))
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    from core.surveys.questions import QUESTIONS as ASKED
    from tests.test_survey_taking import play, radio

    set_log_level("error")  # AppTest's "missing ScriptRunContext" warnings, a few per session
    token, timings, error = None, [], None
    try:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
        at.query_params["survey"] = survey_id
        start.wait(timeout=300)
        at.run()
        at.button(key="survey-agree").click().run()
        at.radio(key="survey-background").set_value("amateur").run()
        at.button(key="survey-start").click().run()
        token = at.query_params["p"]
        for position in range(clips):
            started = time.perf_counter()
            play(at)
            for question, value in session_values(number, position).items():
                radio(at, ASKED[question].prompt).set_value(value).run()
            at.button(key="survey-next" if position < clips - 1 else "survey-finish").click().run()
            if at.exception:
                raise RuntimeError(at.exception[0].value)
            timings.append(time.perf_counter() - started)
    except Exception as failure:  # reported in the figures, never lost in a process
        error = f"session {number}: {type(failure).__name__}: {failure}"
    results.put((number, token, timings, error))


def run_sessions(sessions: int, clips: int) -> dict:
    """``sessions`` AppTest sessions taking one ``clips``-clip survey at once, a process each; their figures."""
    from core.store import surveys as store
    from core.surveys.participants import resume

    survey_id = make_survey(clips)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no database connection inherited
    start, results = context.Barrier(sessions + 1), context.Queue()
    processes = [
        context.Process(target=session, args=(survey_id, number, clips, start, results)) for number in range(sessions)
    ]
    for process in processes:
        process.start()
    start.wait(timeout=300)  # every session has imported Streamlit and the app: the clock starts now
    started = time.perf_counter()
    reports = [results.get(timeout=1800) for _process in processes]
    wall = time.perf_counter() - started
    for process in processes:
        process.join()
    tokens = {number: token for number, token, _timings, _error in reports if token is not None}
    timings = [seconds for _number, _token, times, _error in reports for seconds in times]
    errors = sorted(error for _number, _token, _timings, error in reports if error is not None)
    rows = store.survey_answers(survey_id)
    stored = {(row.participant_id, row.item_id, row.question) for row in rows}
    wrong = 0
    for number, token in tokens.items():
        for position, item in enumerate(resume(survey_id, token).items):
            given = {question: str(value) for question, value in session_values(number, position).items()}
            wrong += sum(item.answers.get(question) not in (None, value) for question, value in given.items())
    quantiles = _quantiles(timings)
    participants = store.survey_participants(survey_id)
    return {
        "sessions": sessions,
        "clips": clips,
        "questions": list(QUESTIONS),
        "joined": len(participants),
        "finished": sum(record.finished_at is not None for record in participants),
        "answers_expected": sessions * clips * len(QUESTIONS),
        "rows_stored": len(rows),
        "lost": sessions * clips * len(QUESTIONS) - len(stored),
        "duplicated": len(rows) - len(stored),
        "wrong": wrong,
        "errors": errors[:5],
        "seconds_per_item": {
            "p50": round(quantiles[49], 3),
            "p95": round(quantiles[94], 3),
            "max": round(max(timings, default=float("nan")), 3),
        },
        "items_answered": len(timings),
        "wall_s": round(wall, 2),
    }


def _clean(figures: dict) -> bool:
    return not (figures["lost"] or figures["duplicated"] or figures["wrong"] or figures["errors"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--pause-ms", type=float, default=500.0, help="between two answers of a participant")
    parser.add_argument("--db-url", help="a database to use instead of SQLite in a temporary home (PostgreSQL)")
    parser.add_argument("--sessions", type=int, default=20, help="AppTest sessions through the page (0: none)")
    parser.add_argument("--session-clips", type=int, default=5, help="clips of the survey the sessions take")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as home:
        os.environ["NEUROTUNE_HOME"] = home  # read on every call (core.settings), so set before the first
        if args.db_url:
            os.environ["NEUROTUNE_DB_URL"] = args.db_url
        else:
            os.environ.pop("NEUROTUNE_DB_URL", None)
        from core.access import mask_url
        from core.settings import get_settings

        database = mask_url(get_settings().db_url)
        storage = run(args.participants, args.clips, args.pause_ms)
        storage["target"] = {"lost": 0, "duplicated": 0, "answer_write_p95_ms": TARGET_P95_MS}
        storage["met"] = _clean(storage) and storage["answer_write_ms"]["p95"] < TARGET_P95_MS
        result = {
            "benchmark": "survey-load",
            "database": "sqlite" if database.startswith("sqlite") else database,
            "cores": os.cpu_count(),
            "storage": storage,
        }
        if args.sessions:
            sessions = run_sessions(args.sessions, args.session_clips)
            sessions["target"] = {"lost": 0, "duplicated": 0}
            sessions["met"] = _clean(sessions) and sessions["finished"] == args.sessions
            result["sessions"] = sessions
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    result["met"] = all(section["met"] for section in (storage, result.get("sessions", {"met": True})))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
