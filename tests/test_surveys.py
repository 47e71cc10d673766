"""Listening tests: building a survey, taking it by token, answers checked then stored once, the answer table.

Store tests run on SQLite and PostgreSQL (``on_both``). Clips are "rendered" by a stub, so FluidSynth runs in
one test only (two 1-second clips).
"""

from __future__ import annotations

import io
import math
import shutil
import threading
import wave
from pathlib import Path

import pretty_midi
import pytest
from sqlalchemy import func, select

from core.audio import Rendering, fluidsynth_available, render_wav
from core.errors import LibraryError, SurveyError
from core.store import library
from core.store import surveys as store
from core.store.db import SurveyAnswerRecord, SurveyClipRecord, session_scope
from core.surveys import build, participants, results
from core.surveys.build import DatasetPiece, clip_midi, create_survey
from core.surveys.config import SurveySettings
from core.surveys.participants import Item, join, record_answer, resume
from core.surveys.questions import QUESTIONS, ChoiceQuestion, PreferenceQuestion, RatingQuestion
from core.surveys.statistics import ANSWER_COLUMNS
from tests.conftest import make_midi_bytes
from tests.survey_pieces import library_piece, silent_rendering

on_both = pytest.mark.usefixtures("db_url")


@pytest.fixture(autouse=True)
def quick_audio(monkeypatch):
    """Clips rendered in no time: the real renderer is :mod:`core.audio`'s, tested there and once here."""
    monkeypatch.setattr(build, "render_wav", silent_rendering)


def piece(model: str, number: int = 0) -> str:
    """A library piece of ``model`` (its checkpoint folder's name), 4 s long; returns its id."""
    return library_piece(f"{model} #{number}", f"checkpoints/{model}", number)


def survey(models: tuple[str, ...] = ("lstm", "transformer"), per_model: int = 2, **settings) -> str:
    """An open survey of ``per_model`` pieces of each model; returns its id."""
    pieces = [piece(model, number) for model in models for number in range(per_model)]
    made = create_survey("Which is Bach?", pieces=pieces, settings=SurveySettings(**{"clip_seconds": 2, **settings}))
    build.open_survey(made.survey.id)
    return made.survey.id


def answer_value(question) -> object:
    return {RatingQuestion: 4, ChoiceQuestion: "human", PreferenceQuestion: "A"}[type(question)]


def answer_all(survey_id: str, token: str) -> None:
    for item in resume(survey_id, token).items:
        for question in item.questions:
            record_answer(survey_id, token, item.id, question.name, answer_value(question), played_share=1.0)


def first_clip(survey_id: str, token: str) -> Item:
    return next(item for item in resume(survey_id, token).items if item.kind == "clip")


def answer_rows() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(SurveyAnswerRecord)) or 0


# === Building ===


def test_a_clip_is_the_first_seconds_of_its_piece():
    midi = make_midi_bytes([(60, 0.0, 1.0), (62, 1.5, 3.0), (64, 4.0, 5.0)])
    clip, seconds = clip_midi(midi, 2.0)
    assert [(note.pitch, note.start, note.end) for note in clip.instruments[0].notes] == [(60, 0, 1), (62, 1.5, 2)]
    assert seconds == 2.0
    with pytest.raises(
        SurveyError, match=r"it lasts 5.0 s, less than the 10 s of every clip: make the clips at most 5 s"
    ):
        clip_midi(midi, 10.0)  # a shorter clip would stand out by its length
    with pytest.raises(SurveyError, match="no note starts in the first 0.5 seconds"):
        clip_midi(make_midi_bytes([(60, 1.0, 2.0)]), 0.5)


def test_every_clip_sounds_alike_whatever_its_source_played_it_with():
    """A real piece's violin, drums, pedal or bends would tell it from a generated one."""
    source = pretty_midi.PrettyMIDI()
    violin = pretty_midi.Instrument(40)
    violin.notes = [pretty_midi.Note(90, 67, 0.0, 1.0)]
    violin.control_changes = [pretty_midi.ControlChange(64, 127, 0.0)]
    violin.pitch_bends = [pretty_midi.PitchBend(2000, 0.5)]
    drums = pretty_midi.Instrument(0, is_drum=True)
    drums.notes = [pretty_midi.Note(100, 36, 0.0, 0.1)]
    source.instruments = [violin, drums]
    buffer = io.BytesIO()
    source.write(buffer)
    clip, _ = clip_midi(buffer.getvalue(), 1.0)
    (instrument,) = clip.instruments
    assert (instrument.program, instrument.is_drum) == (0, False)
    assert [(note.pitch, note.velocity) for note in instrument.notes] == [(67, 90)]
    assert not instrument.control_changes and not instrument.pitch_bends


@on_both
def test_a_survey_gets_shuffled_hidden_labels_and_pairs_between_systems(neurotune_home):
    from tests.conftest import tiny_dataset  # builds a dataset: only the tests that need real pieces pay for it

    tiny_dataset()
    pieces = [piece("lstm", 0), piece("lstm", 1), piece("transformer", 0)]
    made = create_survey(
        "Bach or not",
        instructions="Listen with headphones.",
        consent="I agree.",
        pieces=pieces,
        real=[DatasetPiece("tiny", 0), DatasetPiece("tiny", 1)],
        settings=SurveySettings(clip_seconds=1.5),
    )
    assert made.survey.status == "draft" and made.notices == ()
    assert [clip.label for clip in made.clips] == [f"Clip {n}" for n in range(1, 6)]
    assert sorted(clip.system for clip in made.clips) == ["lstm", "lstm", "real", "real", "transformer"]
    assert {clip.source for clip in made.clips if clip.system == "real"} == {"real"}
    assert sorted(clip.piece_id for clip in made.clips if clip.piece_id) == sorted(pieces)
    assert sorted(clip.dataset_index for clip in made.clips if clip.dataset) == [0, 1]
    for clip in made.clips:
        assert Path(clip.audio_path).read_bytes()[:4] == b"RIFF"
        assert Path(clip.audio_path).parent == neurotune_home / "surveys" / made.survey.id
        assert 0 < clip.duration_seconds <= 1.5
    systems = {clip.id: clip.system for clip in made.clips}
    compared = sorted(tuple(sorted((systems[p.first_clip_id], systems[p.second_clip_id]))) for p in made.pairs)
    # Two pairs at most for each two systems, as many as the smaller has clips.
    assert compared == [("lstm", "real"), ("lstm", "real"), ("lstm", "transformer"), ("real", "transformer")]
    stored = store.get_survey(made.survey.id)
    assert (stored.title, stored.instructions, stored.consent) == ("Bach or not", "Listen with headphones.", "I agree.")
    assert SurveySettings.from_json(stored.settings) == SurveySettings(clip_seconds=1.5)
    assert [clip.id for clip in store.survey_clips(made.survey.id)] == [clip.id for clip in made.clips]


@pytest.mark.skipif(not fluidsynth_available(), reason="the fluidsynth binary is not installed")
def test_clips_are_rendered_once_when_the_survey_is_made(monkeypatch):
    monkeypatch.setattr(build, "render_wav", render_wav)
    made = create_survey(
        "Rendered",
        pieces=[piece("lstm"), piece("gan")],
        settings=SurveySettings(clip_seconds=1, questions=("overall",)),
    )
    for clip in made.clips:
        assert Path(clip.audio_path).read_bytes()[:4] == b"RIFF"
        # FluidSynth's reverb rings on for seconds: the clip keeps its last note's release only.
        assert clip.duration_seconds == pytest.approx(1.0 + build.RELEASE_SECONDS, abs=0.01)
        with wave.open(str(clip.audio_path)) as audio:
            assert clip.duration_seconds == pytest.approx(audio.getnframes() / audio.getframerate())
    assert made.pairs == []  # no preference asked


BAD_REQUESTS = [
    ({"pieces": []}, "pick at least one piece"),
    ({"pieces": ["twice", "twice"]}, "picked twice: twice"),
    ({"pieces": ["nowhere"]}, "no piece 'nowhere' in the library"),
    ({"real": [DatasetPiece("tiny", 99)]}, r"the dataset 'tiny' has pieces 0 to 4, not 99"),
    ({"models": ("lstm",)}, "A/B preference compares systems: pick pieces of at least two"),
    ({"models": ("lstm", "real")}, "a model called 'real' would pass for the real pieces"),
    ({"title": " "}, "give the survey a name"),
]


def test_a_bad_request_makes_no_survey_and_no_files(neurotune_home):
    from tests.conftest import tiny_dataset

    tiny_dataset()
    pieces = {model: piece(model) for model in ("lstm", "transformer", "real")}
    for request, message in BAD_REQUESTS:
        arguments = {
            "title": "Test",
            "pieces": [pieces[model] for model in request.get("models", ("lstm", "transformer"))],
        }
        arguments |= {name: value for name, value in request.items() if name != "models"}
        with pytest.raises((SurveyError, LibraryError), match=message):
            create_survey(**arguments)
    assert store.list_surveys() == []
    assert not list((neurotune_home / "surveys").glob("*"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"clip_seconds": 0}, "clips must last more than 0"),
        ({"clip_seconds": float("nan")}, "clip_seconds must be a finite number"),
        ({"questions": ()}, "choose at least one question"),
        ({"questions": ("overall", "tempo")}, "the questions must be among"),
        ({"questions": ("overall", "overall")}, "each question may be asked once"),
        ({"played_share": 1.5}, "played_share must be between 0 and 1"),
        ({"pairs_per_comparison": 0}, "pairs_per_comparison must be between 1 and 10"),
    ],
)
def test_settings_out_of_range_are_refused(settings, message):
    with pytest.raises(SurveyError, match=message):
        SurveySettings(**settings)


@on_both
def test_open_close_duplicate_and_delete(neurotune_home):
    survey_id = survey(questions=("overall", "preference"))
    assert store.get_survey(survey_id).status == "open"
    assert build.close_survey(survey_id).status == "closed"
    copy = build.duplicate_survey(survey_id)
    assert (copy.title, copy.status, copy.settings) == (
        "Which is Bach? (copy)",
        "draft",
        store.get_survey(survey_id).settings,
    )
    originals, copies = store.survey_clips(survey_id), store.survey_clips(copy.id)
    assert [(c.label, c.system, c.name) for c in copies] == [(c.label, c.system, c.name) for c in originals]
    assert {c.id for c in copies}.isdisjoint(c.id for c in originals)
    assert all(Path(c.audio_path).parent.name == copy.id and Path(c.audio_path).is_file() for c in copies)
    copied_pairs = store.survey_pairs(copy.id)
    assert len(copied_pairs) == len(store.survey_pairs(survey_id)) == 2
    assert {p.first_clip_id for p in copied_pairs} | {p.second_clip_id for p in copied_pairs} <= {c.id for c in copies}
    build.delete_survey(survey_id)
    assert [record.id for record in store.list_surveys()] == [copy.id]
    assert not (neurotune_home / "surveys" / survey_id).exists()
    with pytest.raises(SurveyError, match=f"there is no survey '{survey_id}'"):
        build.open_survey(survey_id)


# === Taking part ===


@on_both
def test_the_order_differs_between_participants_and_is_the_same_on_return():
    survey_id = survey(models=("lstm", "transformer", "gan"), per_model=2)
    tokens = [join(survey_id) for _participant in range(6)]
    orders = [[item.id for item in resume(survey_id, token).items] for token in tokens]
    assert len({tuple(order) for order in orders}) > 1
    assert all(sorted(order) == sorted(orders[0]) for order in orders)
    for token, order in zip(tokens, orders):
        again = resume(survey_id, token)
        assert [item.id for item in again.items] == order
        assert [[clip.id for clip in item.clips] for item in again.items] == [
            [clip.id for clip in item.clips] for item in resume(survey_id, token).items
        ]
    kinds = [item.kind for item in resume(survey_id, tokens[0]).items]
    assert kinds == ["clip"] * 6 + ["pair"] * 6  # the ratings first, then the comparisons


def test_a_participant_sees_labels_only():
    survey_id = survey()
    item = first_clip(survey_id, join(survey_id))
    assert item.label.startswith("Clip ") and item.clips[0].label == item.label
    assert "lstm" not in repr(item) and "transformer" not in repr(item) and "surveys" not in repr(item)
    clip = next(clip for clip in store.survey_clips(survey_id) if clip.id == item.clips[0].id)
    assert item.clips[0].audio() == Path(clip.audio_path).read_bytes()


def test_a_rating_before_the_clip_was_played_is_refused():
    survey_id = survey(played_share=0.9)
    token = join(survey_id)
    item = first_clip(survey_id, token)
    with pytest.raises(SurveyError, match=f"listen to {item.label} at least 90% of it before answering"):
        record_answer(survey_id, token, item.id, "overall", 4, played_share=0.5)
    pair = resume(survey_id, token).items[-1]
    with pytest.raises(SurveyError, match="listen to both clips at least 90% of each before answering"):
        record_answer(survey_id, token, pair.id, "preference", "A", played_share=0.0)
    assert answer_rows() == 0
    record_answer(survey_id, token, item.id, "overall", 4, played_share=0.895)  # the browser's rounding
    assert answer_rows() == 1
    # Back after a reload, the browser has played nothing this time; the item was heard before.
    record_answer(survey_id, token, item.id, "human", "human", played_share=0.0)
    assert sorted(row.played_share for row in store.survey_answers(survey_id)) == [0.0, 0.895]  # as reported


@on_both
def test_a_second_answer_replaces_the_first_even_at_the_same_moment():
    survey_id = survey()
    token = join(survey_id)
    item = first_clip(survey_id, token)
    record_answer(survey_id, token, item.id, "overall", 2, played_share=1.0, elapsed_ms=2500)
    record_answer(survey_id, token, item.id, "overall", 5, played_share=1.0, elapsed_ms=4000)
    assert resume(survey_id, token).items[0].answers == {"overall": "5"}
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def submit(value: int) -> None:  # a double click, or the same answer in two tabs
        try:
            start.wait(timeout=30)
            record_answer(survey_id, token, item.id, "musicality", value, played_share=1.0)
        except BaseException as error:  # handed to the test's thread
            failures.append(error)

    threads = [threading.Thread(target=submit, args=(3 + n % 2,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert answer_rows() == 2
    table = results.answer_table(survey_id)
    assert table.loc[table["question"] == "overall", ["value", "elapsed_ms"]].values.tolist() == [["5", 4000.0]]
    assert table.loc[table["question"] == "musicality", "value"].iloc[0] in ("3", "4")


BAD_ANSWERS = [
    ("overall", 0, "the overall rating must be a whole number from 1 to 5, not 0"),
    ("overall", 6, "from 1 to 5, not 6"),
    ("overall", 3.5, "from 1 to 5, not 3.5"),
    ("overall", True, "from 1 to 5, not True"),
    ("overall", "4", "from 1 to 5, not '4'"),
    ("human", "maybe", "must be one of human, computer, not 'maybe'"),
    ("tempo", 3, "unknown question 'tempo'"),
    ("preference", "A", "'Preference' is asked of each pair, not of Clip"),
]


def test_an_answer_out_of_range_is_refused_and_nothing_stored():
    survey_id = survey()
    token = join(survey_id)
    item = first_clip(survey_id, token)
    for question, value, message in BAD_ANSWERS:
        with pytest.raises(SurveyError, match=message):
            record_answer(survey_id, token, item.id, question, value, played_share=1.0)
    assert answer_rows() == 0


def test_bad_reports_and_items_are_refused():
    survey_id = survey(questions=("overall", "preference"))
    token = join(survey_id)
    item = first_clip(survey_id, token)
    pair = resume(survey_id, token).items[-1]
    for share in (1.5, -0.1, float("nan")):
        with pytest.raises(SurveyError, match="the share of the audio played must be between 0 and 1"):
            record_answer(survey_id, token, item.id, "overall", 3, played_share=share)
    with pytest.raises(SurveyError, match="cannot be negative"):
        record_answer(survey_id, token, item.id, "overall", 3, played_share=1.0, elapsed_ms=-1)
    with pytest.raises(SurveyError, match="this survey does not ask 'Human or computer'"):
        record_answer(survey_id, token, item.id, "human", "human", played_share=1.0)
    with pytest.raises(SurveyError, match="no clip or pair 'elsewhere'"):
        record_answer(survey_id, token, "elsewhere", "overall", 3, played_share=1.0)
    with pytest.raises(SurveyError, match="must be A or B, not 'C'"):
        record_answer(survey_id, token, pair.id, "preference", "C", played_share=1.0)
    assert answer_rows() == 0


def test_a_preference_is_stored_as_the_clip_and_shown_as_the_letter():
    survey_id = survey(questions=("preference",))
    token = join(survey_id)
    pair = resume(survey_id, token).items[0]
    record_answer(survey_id, token, pair.id, "preference", "B", played_share=1.0)
    with session_scope() as session:
        assert session.scalar(select(SurveyAnswerRecord.value)) == pair.clips[1].id
    assert resume(survey_id, token).items[0].answers == {"preference": "B"}
    row = results.answer_table(survey_id).iloc[0]
    clips = {clip.id: clip for clip in store.survey_clips(survey_id)}
    assert (row["kind"], row["value"], row["chosen_system"]) == (
        "pair",
        pair.clips[1].label,
        clips[pair.clips[1].id].system,
    )
    assert {row["first_system"], row["second_system"]} == {"lstm", "transformer"}
    assert row["item_seconds"] == pytest.approx(sum(clip.duration_seconds for clip in pair.clips))


@on_both
def test_a_closed_draft_or_unknown_survey_is_refused():
    survey_id = survey()
    token = join(survey_id)
    item = first_clip(survey_id, token)
    build.close_survey(survey_id)
    with pytest.raises(SurveyError, match="is closed and takes no more answers"):
        record_answer(survey_id, token, item.id, "overall", 3, played_share=1.0)
    with pytest.raises(SurveyError, match="is closed"):
        join(survey_id)
    assert not resume(survey_id, token).is_open  # the page can still say so
    draft = build.duplicate_survey(survey_id)
    with pytest.raises(SurveyError, match="is not open yet"):
        join(draft.id)
    with pytest.raises(SurveyError, match="there is no survey 'nope'; check the link"):
        join("nope")
    with pytest.raises(SurveyError, match="there is no survey 'nope'"):
        record_answer("nope", token, item.id, "overall", 3, played_share=1.0)
    assert answer_rows() == 0


@on_both
def test_a_tampered_or_foreign_token_is_refused():
    survey_id, other_id = survey(), survey()
    token = join(survey_id)
    participant_id, secret = token.split(".")
    other_token = join(other_id)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in (f"{participant_id}.{flipped}", participant_id, f"{participant_id}.", "", "x.y", other_token):
        with pytest.raises(SurveyError, match="this participant link is not valid"):
            resume(survey_id, bad)
        with pytest.raises(SurveyError, match="this participant link is not valid"):
            record_answer(survey_id, bad, "item", "overall", 3, played_share=1.0)
    stored = store.taken_survey(survey_id, participant_id).participant
    assert stored is not None and len(stored.token_hash) == 64 and secret not in stored.token_hash  # its hash only
    assert store.taken_survey(other_id, participant_id).participant is None  # not a participant of that survey


def test_a_clip_whose_file_vanished_gives_a_clear_message(neurotune_home):
    survey_id = survey()
    token = join(survey_id)
    item = first_clip(survey_id, token)
    Path(item.clips[0].audio_path).unlink()
    with pytest.raises(SurveyError, match=f"the audio of {item.label} is missing on the server.*organizer"):
        item.clips[0].audio()
    with pytest.raises(SurveyError, match=f"the audio of {item.label} is missing on the server"):
        record_answer(survey_id, token, item.id, "overall", 3, played_share=1.0)
    assert answer_rows() == 0
    build.close_survey(survey_id)
    with pytest.raises(
        SurveyError, match=rf"the audio of {item.label} \('(lstm|transformer) #\d', .*missing from the server"
    ):
        build.open_survey(survey_id)
    with pytest.raises(SurveyError, match="is missing from the server"):
        build.duplicate_survey(survey_id)
    shutil.rmtree(neurotune_home / "surveys" / survey_id)
    with pytest.raises(SurveyError, match="is missing from the server"):
        build.clip_audio(store.survey_clips(survey_id)[0])


def test_finishing_needs_every_answer_and_makes_them_final():
    survey_id = survey(questions=("overall", "human"))
    token = join(survey_id, background="amateur")
    with pytest.raises(SurveyError, match="answer every question before finishing: 0 of 4 items done"):
        participants.finish(survey_id, token)
    answer_all(survey_id, token)
    taken = resume(survey_id, token)
    assert (taken.answered, taken.total, taken.next_item, taken.finished) == (4, 4, None, False)
    participants.finish(survey_id, token)
    participants.finish(survey_id, token)  # twice is harmless
    assert resume(survey_id, token).finished
    with pytest.raises(SurveyError, match="you have finished this survey"):
        record_answer(survey_id, token, taken.items[0].id, "overall", 1, played_share=1.0)
    people = results.participant_table(survey_id)
    assert people[["background", "answers"]].values.tolist() == [["amateur", 8]]
    assert people["finished_at"].notna().all()
    with pytest.raises(SurveyError, match="must be one of none, amateur, professional"):
        join(survey_id, background="virtuoso")


def test_progress_follows_the_answers():
    survey_id = survey(questions=("overall", "human"))
    token = join(survey_id)
    first = resume(survey_id, token).next_item
    assert first is not None
    record_answer(survey_id, token, first.id, "overall", 3, played_share=1.0)
    taken = resume(survey_id, token)
    assert (taken.answered, taken.next_item.id) == (0, first.id)  # one of its two questions answered
    record_answer(survey_id, token, first.id, "human", "computer", played_share=1.0)
    taken = resume(survey_id, token)
    assert taken.answered == 1 and taken.next_item.id != first.id
    assert taken.items[0].answers == {"overall": "3", "human": "computer"}


def test_the_answer_table_has_one_row_per_answer_with_its_item():
    survey_id = survey(questions=tuple(QUESTIONS))
    token = join(survey_id, background="none")
    answer_all(survey_id, token)
    table = results.answer_table(survey_id)
    assert list(table.columns) == list(ANSWER_COLUMNS)
    assert len(table) == 4 * 5 + 2  # four clips of five questions, two pairs
    clips = table[table["kind"] == "clip"]
    assert set(clips["system"]) == {"lstm", "transformer"} and set(clips["source"]) == {"generated"}
    assert clips.loc[clips["question"] == "overall", "score"].tolist() == [4.0] * 4
    assert clips.loc[clips["question"] == "human", "score"].tolist() == [1.0] * 4
    assert table["background"].eq("none").all() and table["answered_at"].dt.tz is not None
    assert table["elapsed_ms"].isna().all()
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(SurveyClipRecord)) == 4


def test_clips_that_only_sine_waves_could_render_are_refused_beside_others(monkeypatch, neurotune_home):
    """Sine waves beside a SoundFont would mark those clips out."""

    def render(midi):  # FluidSynth fails on the piece that starts on C#
        rendering = silent_rendering(midi)
        if midi.instruments[0].notes[0].pitch == 61:
            return Rendering(rendering.wav, rendering.sample_rate, "pretty_midi", notice="fell back")
        return rendering

    monkeypatch.setattr(build, "render_wav", render)
    pieces = [piece("lstm", 0), piece("transformer", 1)]
    with pytest.raises(SurveyError, match="FluidSynth could not render 'transformer #1'"):
        create_survey("Mixed", pieces=pieces, settings=SurveySettings(clip_seconds=1, questions=("overall",)))
    assert store.list_surveys() == [] and not list((neurotune_home / "surveys").glob("*"))


def test_each_clip_is_measured_as_it_plays_and_a_deleted_source_reads_nan():
    pieces = [piece("lstm", 0), piece("transformer", 1)]
    made = create_survey("Measured", pieces=pieces, settings=SurveySettings(clip_seconds=2, questions=("overall",)))
    measured = results.clip_metrics(made.survey.id).set_index("system")
    assert list(measured.columns) == ["clip", *results.CLIP_METRICS]
    assert 0.5 <= measured.loc["lstm", "scale_consistency"] <= 1.0  # the first 2 s of a rising scale
    assert measured.loc["lstm", "polyphony"] <= 1.0  # one note at a time at most
    library.delete_piece(pieces[1])
    assert math.isnan(results.clip_metrics(made.survey.id).set_index("system").loc["transformer", "note_density"])


@on_both
def test_the_organizers_list_counts_clips_participants_and_answers_of_each_survey():
    answered = survey(questions=("overall",))
    quiet = survey(per_model=1, questions=("overall",))
    for _ in range(2):
        answer_all(answered, join(answered))
    join(quiet)
    counts = store.survey_counts()
    assert counts[answered] == store.SurveyCounts(clips=4, participants=2, answers=8)
    assert counts[quiet] == store.SurveyCounts(clips=2, participants=1, answers=0)
