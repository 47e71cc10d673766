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

from core.checkpoints import checkpoint_info
from core.data import datasets
from core.data.build import build_dataset
from core.data.midi_io import load_score, note_table
from core.data.piece import PITCH
from core.data.uploads import SourceFile
from core.store.library import list_pieces, piece_midi
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
    assert metrics["Files accepted"] == "3"
    charts = at.get("plotly_chart")
    assert len(charts) >= 7  # six statistics charts and the piano roll
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
    at.button[0].click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert plain("lists 1 file (c.mid) not in the dataset") in errors
    at.file_uploader[1].set_value(("splits.json", b'{"train": ["a.mid"], "test": ["b.mid"]}', "application/json"))
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert [meta["split"] for meta in datasets.load_dataset("given").piece_meta] == ["train", "test"]


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


def test_train_page_starts_a_run_and_the_chart_gets_points(stored_dataset):
    import time

    from core.store import runs as run_store
    from core.training import jobs

    at = _app().run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    [s for s in at.selectbox if s.label == "Model"][0].set_value("lstm").run()
    for key, value in {
        "model-lstm-units": 16,
        "model-lstm-embedding_dim": 8,
        "model-lstm-layers": 1,
        "train-epochs": 30,
        "train-seq_len": 16,
        "train-batch_size": 8,
        "train-log_every_steps": 1,
    }.items():
        at.number_input(key=key).set_value(value)
    [b for b in at.button if b.label == "Start training"][0].click().run()
    assert not at.exception, at.exception
    assert any("is running" in s.value for s in at.success), [e.value for e in at.error]
    run = run_store.list_runs()[0]
    try:
        deadline = time.monotonic() + 120
        while not run_store.get_metrics([run.id]) and time.monotonic() < deadline:
            time.sleep(0.5)
        at.run()  # the live fragment redraws from the store
        assert [m.value for m in at.metric if m.label == "Status"] == ["running"]
        device = at.get("progress")[0].proto.text
        assert device.startswith("Device: CPU (") and device.endswith("· default strategy, 1 replica · float32")
        loss_charts = [c for c in at.get("plotly_chart") if "Loss" in c.proto.spec]
        assert loss_charts, "the live loss chart should be drawn once metrics exist"
        assert '"x":[' in loss_charts[0].proto.spec.replace(" ", "")
    finally:
        jobs.request_stop(run.id)
        while run_store.get_run(run.id).status == "running" and time.monotonic() < deadline + 60:
            time.sleep(0.5)


def _pick_model(at: AppTest, name: str) -> None:
    """Choose checkpoint ``name`` on the Generate page (shipped ones come first, by name: bach-chords, bach-lstm, ...)."""
    choices = at.selectbox[0].options
    at.selectbox[0].select_index(next(i for i, label in enumerate(choices) if label.startswith(name))).run()


def test_generate_page_composes_with_the_shipped_checkpoint():
    at = _app().run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception, at.exception
    _pick_model(at, "bach-lstm")
    info = checkpoint_info(at.selectbox[0].value)  # chosen by folder
    assert info.name == "bach-lstm" and info.shipped
    assert {m.label for m in at.metric} >= {"Architecture", "Dataset", "Validation loss"}
    bounds = info.config.bounds
    assert any(c.value.startswith("This model's training music: notes C2 to A5") for c in at.caption)
    measured = info.config.compose_defaults
    # The page starts from the checkpoint's measured settings.
    assert next(n for n in at.number_input if n.label == "Temperature").value == measured["temperature"]
    next(s for s in at.selectbox if s.label == "Strategy").set_value("sample").run()
    next(n for n in at.number_input if n.label == "Seed").set_value(7)
    next(s for s in at.selectbox if s.label == "Mood").set_value("minor").run()
    next(s for s in at.selectbox if s.label == "Key centre").set_value("D")
    next(b for b in at.button if b.label == "Compose").click().run(timeout=180)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    saved = list_pieces(limit=1)[0].parameters["controls"]
    assert (saved["mode"], saved["tonic"]) == ("minor", "D")
    variations = sum(1 for h in at.subheader if h.value.startswith("Variation"))
    assert variations == 2
    assert len(at.get("plotly_chart")) == variations
    assert len(at.get("audio")) == variations
    labels = [button.label for button in at.get("download_button")]
    assert labels.count("Download MIDI") == variations and labels.count("Download WAV") == variations
    assert any("Saved to the library" in caption.value for caption in at.caption)
    assert at.dataframe[0].value["metric"].str.contains("Pitch range").any()
    for piece in list_pieces(limit=2):  # composed within the training music's bounds
        pitches = note_table(load_score(piece_midi(piece)))[:, PITCH]
        assert bounds.pitch_low <= pitches.min() and pitches.max() <= bounds.pitch_high


def test_generate_page_composes_a_dark_sparse_fiddle_tune_with_the_irish_checkpoint():
    at = _app().run()
    at.switch_page("pages/generate.py").run()
    _pick_model(at, "irish-lstm")
    assert next(m for m in at.metric if m.label == "Dataset").value == "irish"
    next(s for s in at.selectbox if s.label == "Mood").set_value("minor").run()
    next(s for s in at.selectbox if s.label == "Note density").set_value("sparse")
    next(b for b in at.button if b.label == "Compose").click().run(timeout=180)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert sum(1 for h in at.subheader if h.value.startswith("Variation")) >= 1
    saved = list_pieces(limit=1)[0]
    assert saved.model == "lstm" and saved.representation == "melody"
    assert (saved.parameters["controls"]["mode"], saved.parameters["controls"]["density"]) == ("minor", "sparse")
    assert any(caption.value.startswith("Heard key: ") for caption in at.caption)


@pytest.mark.parametrize(
    ("widgets", "flags"),
    [
        (
            {"Temperature": 0.8, "Top-k (0: off)": 20, "Top-p (nucleus)": 0.9, "Seed": 7, "Variations": 3},
            ["--temperature", "0.8", "--top-k", "20", "--top-p", "0.9", "--seed", "7", "--n", "3"],
        ),
        (
            {"Strategy": "beam", "Beam width": 3, "Length normalization": 0.5, "Variations": 2},
            ["--beam", "3", "--length-penalty", "0.5", "--n", "2"],
        ),
    ],
)
def test_generate_page_and_cli_flags_give_the_same_sampling_config(widgets, flags, monkeypatch):
    """Both are built from SampleConfig's fields; settings a strategy ignores keep their defaults on the page.

    The page's request is caught on its way to the composer (composing itself is tested above).
    """
    from core.checkpoints import SHIPPED_CHECKPOINTS, checkpoint_info
    from core.cli import build_parser
    from core.cli.generate import request_from_flags
    from core.errors import GenerationError
    from core.generation.compose import Composer

    requests = []

    def catch(self, request):
        requests.append(request)
        raise GenerationError("caught by the test")

    monkeypatch.setattr(Composer, "compose", catch)
    at = _app().run()
    at.switch_page("pages/generate.py").run()
    _pick_model(at, "bach-lstm")
    next(n for n in at.number_input if n.label == "Length (bars)").set_value(1.0)
    for label, value in widgets.items():
        next(w for w in [*at.selectbox, *at.number_input] if w.label == label).set_value(value).run()
    next(b for b in at.button if b.label == "Compose").click().run(timeout=180)
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["caught by the test"]
    args = build_parser().parse_args(["generate", "--checkpoint", "c", "--out", "p.mid", *flags])
    # Both start from the checkpoint's measured settings.
    measured = checkpoint_info(SHIPPED_CHECKPOINTS / "bach-lstm").config.compose_defaults
    assert requests[-1].sampling == request_from_flags(args, measured).sampling


def test_generate_page_shows_a_bad_primer_as_an_error():
    at = _app().run()
    at.switch_page("pages/generate.py").run()
    primer = next(r for r in at.radio if r.label == "Continue from")
    primer.set_value("Type notes").run()
    next(t for t in at.text_input if t.label == "Notes").set_value("C4 H9").run()
    next(b for b in at.button if b.label == "Compose").click().run(timeout=180)
    assert not at.exception, at.exception
    assert any("'H9'" in e.value for e in at.error)


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
    guarded = {"Build dataset", "Rename", "Delete dataset", "Start training", "Stop", "Resume", "Delete run"}
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
    assert "Start training" in [b.label for b in at.button]
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
