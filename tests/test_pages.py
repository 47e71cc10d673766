"""AppTest tests of the pages, driven as a user would."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data import datasets
from core.data.build import build_dataset
from core.data.uploads import SourceFile
from core.training import jobs
from tests.conftest import scale_piece
from ui.text import plain

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def navigation_titles() -> list[str]:
    """The titles of the pages in streamlit_app.py's PAGES, read from its source: importing it would run the app."""
    tree = ast.parse(Path(APP).read_text())
    (pages,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "PAGES" for target in node.targets)
    ]
    return [keyword.value.value for call in pages.elts for keyword in call.keywords if keyword.arg == "title"]


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def test_a_rerun_neither_clears_keras_nor_collects_all_garbage(monkeypatch):
    """Streamlit's clean-up after each run (a cleared Keras session, a full collection) cost 0.2 s of CPU a
    click each with one model loaded, for an app that builds no model in a run: the app turns it off.
    (AppTest's own runner never runs the server's collection after a run: its setting is checked instead.)"""
    import gc

    import keras
    from streamlit import config

    calls = []
    collect = gc.collect
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: calls.append("clear_session"))
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append(("collect", *args)) or collect(*args))
    at = _app().run()
    at.switch_page("pages/library.py").run()
    assert not at.exception
    assert calls == [] and config.get_option("runner.postScriptGC") is False


def test_home_page_says_what_each_page_does_and_neither_it_nor_the_dataset_page_imports_tensorflow():
    # In a fresh interpreter: other tests in this process may have imported TensorFlow.
    script = textwrap.dedent(
        f"""
        import json, sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=30).run()
        page = {{
            "exception": [str(e.value) for e in at.exception],
            "title": at.title[0].value,
            "markdown": " ".join(m.value for m in at.markdown),
            "links": sorted(e.proto.label for e in at.main if e.type == "page_link"),
            "tensorflow": "tensorflow" in sys.modules,
        }}
        at.switch_page("pages/dataset.py").run()
        page["exception"] += [str(e.value) for e in at.exception]
        page["dataset_tensorflow"] = "tensorflow" in sys.modules
        print(json.dumps(page))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout.strip().splitlines()[-1])
    assert page["exception"] == []
    assert "NeuroTune" in page["title"]
    assert "bundled corpus" in page["markdown"]
    # A link and a paragraph for every page of the navigation but Home itself.
    assert page["links"] == sorted(f"**{title}**" for title in navigation_titles() if title != "Home")
    assert "blind survey" in page["markdown"]
    assert page["tensorflow"] is False
    assert page["dataset_tensorflow"] is False


def test_dataset_page_builds_a_bach_subset_and_shows_statistics():
    at = _app().run()
    at.switch_page("pages/dataset.py").run()
    assert not at.exception
    assert at.selectbox[0].value == "bach-chorales"
    at.number_input[0].set_value(3)
    at.text_input[0].set_value("bach-tiny")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert any(plain("bach-tiny") in s.value and "is ready" in s.value for s in at.success)
    # The browse tab shows the new dataset's statistics and a piece.
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Files accepted"] == "3" and metrics["Files rejected"] == "0"
    charts = at.get("plotly_chart")
    assert len(charts) >= 7  # six statistics charts and the piano roll
    (tempo,) = [json.loads(c.proto.spec) for c in charts if '"text":"Tempo"' in c.proto.spec.replace(" ", "")]
    (bars,) = tempo["data"]
    assert all(label.endswith(" BPM") for label in bars["x"]) and sum(bars["y"]) == 3  # a bar per tempo
    roll = json.loads(charts[-1].proto.spec)
    assert {trace["name"] for trace in roll["data"]} == {"Soprano", "Alto", "Tenor", "Bass"}  # a chorale's voices
    assert at.get("audio")
    assert len(datasets.load_dataset("bach-tiny")) == 3


def test_dataset_page_reports_a_rejected_upload_and_keeps_the_good_ones():
    at = _app().run()
    at.switch_page("pages/dataset.py").run()
    at.radio[0].set_value("Upload MIDI files").run()
    at.file_uploader[0].set_value(
        [("good.mid", scale_piece(length=24), "audio/midi"), ("broken.mid", b"this is not midi", "audio/midi")]
    )
    at.text_input[0].set_value("uploaded")
    at.button[0].click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert plain("broken.mid") in errors and "not a MIDI file" in errors
    assert any("uploaded" in s.value for s in at.success)
    assert len(datasets.load_dataset("uploaded")) == 1
    # Browsing it: the rejected file is a count of its own, not a red fall in the accepted ones.
    metrics = {m.label: m for m in at.metric}
    assert (metrics["Files accepted"].value, metrics["Files rejected"].value) == ("1", "1")
    assert not any(m.delta for m in at.metric)


def test_dataset_page_only_bad_uploads_gives_a_clear_error():
    at = _app().run()
    at.switch_page("pages/dataset.py").run()
    at.radio[0].set_value("Upload MIDI files").run()
    at.file_uploader[0].set_value(("bad.mid", b"nope", "audio/midi"))
    at.button[0].click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "no usable pieces" in errors and plain("bad.mid") in errors


def test_dataset_page_builds_uploads_in_the_splits_of_a_split_file():
    at = _app().run()
    at.switch_page("pages/dataset.py").run()
    at.radio[0].set_value("Upload MIDI files").run()
    pieces = [
        ("a.mid", scale_piece(length=24), "audio/midi"),
        ("b.mid", scale_piece(offset=2, length=24), "audio/midi"),
    ]
    at.file_uploader[0].set_value(pieces)
    at.file_uploader[1].set_value(("splits.json", b'{"train": ["a.mid"], "test": ["c.mid"]}', "application/json"))
    at.text_input[0].set_value("given")
    [box for box in at.selectbox if box.label == "Notes on the grid"][0].set_value("sounding")
    at.button[0].click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert plain("lists 1 file (c.mid) not in the dataset") in errors
    at.file_uploader[1].set_value(("splits.json", b'{"train": ["a.mid"], "test": ["b.mid"]}', "application/json"))
    at.button[0].click().run()
    assert not at.exception, at.exception
    given = datasets.load_dataset("given")
    assert [meta["split"] for meta in given.piece_meta] == ["train", "test"] and given.config.quantize == "sounding"
    assert any(
        c.value == "On a grid of 4 steps per quarter note, notes as they sound at each step." for c in at.caption
    )


@pytest.fixture
def stored_dataset():
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i, length=24)) for i in range(3)]
    return build_dataset("stored", files).dataset


def test_browse_rename_and_delete(stored_dataset):
    at = _app().run()
    at.switch_page("pages/dataset.py").run()
    rename_box = [t for t in at.text_input if t.label == "New name"][0]
    rename_box.set_value("renamed")
    [b for b in at.button if b.label == "Rename"][0].click().run()
    assert not at.exception
    assert [r.name for r in datasets.list_datasets()] == ["renamed"]
    [c for c in at.checkbox if c.label.startswith("I want to delete")][0].check().run()
    [b for b in at.button if b.label == "Delete dataset"][0].click().run()
    assert not at.exception
    assert datasets.list_datasets() == [] and not stored_dataset.path.exists()


def _pick_model(at: AppTest, name: str) -> None:
    """Choose checkpoint ``name`` on the Generate page (shipped ones come first, by name: bach-chords, bach-lstm, ...)."""
    choices = at.selectbox[0].options
    at.selectbox[0].select_index(next(i for i, label in enumerate(choices) if label.startswith(name))).run()


ADMIN_PASSWORD = "correct horse battery"


def _texts(at: AppTest) -> str:
    """Every piece of text the page shows, as Markdown source."""
    kinds = ("markdown", "caption", "code", "text", "info", "warning", "error", "success", "title", "subheader")
    return " ".join(str(element.value) for kind in kinds for element in at.get(kind))


def test_home_page_never_shows_the_database_password(monkeypatch):
    from core.access import mask_url

    url = "postgresql+psycopg://neuro:s3cret-pw@db.example/neurotune"
    monkeypatch.setenv("NEUROTUNE_DB_URL", url)
    at = _app().run()
    assert not at.exception, at.exception
    shown = _texts(at)
    assert "s3cret" not in shown
    assert plain(mask_url(url)) in shown  # the URL itself is still there, masked
    # With a password set, a visitor who has not signed in sees no server paths at all.
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", ADMIN_PASSWORD)
    shown = _texts(_app().run())
    assert "s3cret" not in shown and "neurotune-home" not in shown


def _click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def _sign_in(at: AppTest, password: str) -> AppTest:
    next(t for t in at.text_input if t.label == "Admin password").set_value(password)
    return _click(at, "Sign in")


def test_with_an_admin_password_every_change_needs_signing_in_and_sign_out_closes_it(monkeypatch, stored_dataset):
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", ADMIN_PASSWORD)
    guarded = {"Build dataset", "Rename", "Delete dataset", "Start training", "Estimate run time"}
    guarded |= {"Stop", "Resume", "Delete run"}
    jobs.create_run("lstm", stored_dataset.name)  # queued: its Stop, Resume and Delete are drawn for the admin only
    at = _app().run()
    at.switch_page("pages/dataset.py").run()
    assert not at.exception, at.exception
    assert guarded.isdisjoint(b.label for b in at.button)
    assert next(m for m in at.metric if m.label == "Files accepted").value == "3"  # browsing stays open
    _sign_in(at, "correct horse")
    assert any(e.value == "Wrong password." for e in at.error)
    assert guarded.isdisjoint(b.label for b in at.button)
    at.switch_page("pages/train.py").run()
    assert guarded.isdisjoint(b.label for b in at.button)

    _sign_in(at, ADMIN_PASSWORD)
    assert not at.exception, at.exception
    assert {"Start training", "Estimate run time", "Stop", "Resume", "Delete run"} <= {b.label for b in at.button}
    at.switch_page("pages/dataset.py").run()
    assert {"Build dataset", "Rename", "Delete dataset"} <= {b.label for b in at.button}
    # The shared sidebar is drawn by the entry script (AppTest runs a switched-to page on its own).
    at.switch_page("streamlit_app.py").run()
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    at.switch_page("pages/dataset.py").run()
    assert guarded.isdisjoint(b.label for b in at.button)
    # A changed password signs everybody out.
    _sign_in(at, ADMIN_PASSWORD)
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", ADMIN_PASSWORD + "!")
    at.run()
    assert "Build dataset" not in [b.label for b in at.button]


def test_composing_needs_the_password_unless_the_organizer_opens_it(monkeypatch):
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", ADMIN_PASSWORD)
    at = _app().run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception, at.exception
    assert "Compose" not in [b.label for b in at.button]
    assert any("Composing needs the admin password" in i.value for i in at.info)
    monkeypatch.setenv("NEUROTUNE_OPEN_COMPOSE", "1")
    at.run()
    assert "Compose" in [b.label for b in at.button]


def test_file_names_are_shown_as_text_not_markdown():
    name = "![x](https://images.example/probe.png) **bold** <b>.mid"
    at = _app().run()
    at.switch_page("pages/dataset.py").run()
    at.radio[0].set_value("Upload MIDI files").run()
    at.file_uploader[0].set_value([("good.mid", scale_piece(length=24), "audio/midi"), (name, b"nope", "audio/midi")])
    at.text_input[0].set_value("names")
    at.button[0].click().run()
    assert not at.exception, at.exception
    shown = _texts(at)
    assert plain(name) in shown
    assert "![x](" not in shown and "**bold**" not in shown


def test_the_chosen_model_stays_chosen_while_its_run_validates_again(tmp_path):
    """A training run's label carries its latest validation figure; a new epoch must not reset the choice."""
    import shutil

    from core.checkpoints import SHIPPED_CHECKPOINTS
    from core.settings import get_settings

    run = get_settings().checkpoints / "run-in-training"
    shutil.copytree(SHIPPED_CHECKPOINTS / "irish-lstm", run)
    history = run / "history.json"
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "shipped": False}))
    at = _app().run()
    at.switch_page("pages/generate.py").run()
    _pick_model(at, "run-in-training")
    chosen = at.selectbox[0].value
    rows = json.loads(history.read_text())
    history.write_text(json.dumps([*rows, {**rows[-1], "epoch": rows[-1]["epoch"] + 1, "val_loss": 0.123}]))
    at.run()
    assert at.selectbox[0].value == chosen
    assert "0.123" in next(label for label in at.selectbox[0].options if label.startswith("run-in-training"))
