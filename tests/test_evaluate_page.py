"""The Evaluate page (AppTest): an evaluation of the shipped model through its background job, read after a reload.

Every test here shares one home holding a small Bach subset (built once for the module); its corpus
conversion is kept in pytest's cache, so later sessions skip music21.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from core.checkpoints import SHIPPED_CHECKPOINTS
from core.config import DataConfig
from core.data.build import build_from_corpus
from core.data.datasets import load_dataset
from core.evaluation import jobs
from core.evaluation.evaluate import BASELINE_NAMES, evaluate
from core.store import evaluations as store
from tests.conftest import scale_piece, share_corpora
from tests.test_library_page import save

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
PAGE = "pages/evaluate.py"
NAME = "bach8"
SHIPPED = str((SHIPPED_CHECKPOINTS / "bach-lstm").resolve())
WAIT_SECONDS = 180
LIBRARY_ROW = "Library: bach-lstm (2 pieces)"


@pytest.fixture(scope="module")
def bach_home(request, tmp_path_factory):
    """Eight chorales, four held out, in a home of this module."""
    home = tmp_path_factory.mktemp("evaluate-page-home")
    share_corpora(request, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEUROTUNE_HOME", str(home))
        config = DataConfig(validation_fraction=0.5, representations=("events",))
        build_from_corpus(NAME, "bach-chorales", config, limit=8, workers=1)
    return home


@pytest.fixture
def home(bach_home, monkeypatch):
    monkeypatch.setenv("NEUROTUNE_HOME", str(bach_home))
    return bach_home


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def buttons(at: AppTest) -> list[str]:
    return [button.label for button in at.button]


def test_a_four_piece_evaluation_of_the_shipped_model_runs_as_a_job_and_survives_a_reload(home):
    saved = [save(f"Saved {i}", SHIPPED, dataset="bach", midi=scale_piece(length=16)) for i in range(2)]
    at = open_page()
    assert at.title[0].value == "📊 Evaluate"
    at.multiselect(key=f"evaluate-models-{NAME}").set_value([SHIPPED])
    offered = at.multiselect(key=f"evaluate-library-{NAME}")
    assert offered.options == ["bach-lstm · 2 pieces · other data"]  # the shipped model's saved pieces
    offered.set_value([SHIPPED])
    at.number_input[0].set_value(4)  # pieces per system
    at.number_input[1].set_value(2.0)  # bars
    next(button for button in at.button if button.label == "Evaluate").click().run()
    assert not at.exception, at.exception
    job = jobs.latest_job()
    assert job.status in jobs.ACTIVE and job.checkpoints == [SHIPPED] and job.settings["n"] == 4
    assert job.library == [[piece.id for piece in saved]]
    assert any("in the background" in info.value for info in at.info)

    deadline = time.monotonic() + WAIT_SECONDS
    while (job := store.get_job(job.id)).status in jobs.ACTIVE:
        assert time.monotonic() < deadline, jobs.log_path(job.id).read_text(errors="replace")
        jobs.reconcile()
        time.sleep(0.5)
    assert job.status == "finished", job.error

    at = open_page()  # a reload: a new session finds the finished job and shows its result at once
    board = at.dataframe[0].value
    assert list(board.index) == ["bach-lstm", LIBRARY_ROW, *BASELINE_NAMES.values()]
    assert board.loc["bach-lstm", "Pieces"] == 4 and board.loc[BASELINE_NAMES["real"], "Pieces"] == 4
    assert board.loc[LIBRARY_ROW, "Pieces"] == 2
    assert any("Next-token top-1" in column for column in board.columns)
    assert any("trained on 'bach'" in warning.value for warning in at.warning)
    assert {"Download CSV", "Download JSON"} <= {button.label for button in at.get("download_button")}
    assert len(at.get("plotly_chart")) >= 18 + 4 + 5  # every metric, four histograms, five heatmaps
    assert "pitch accuracy" in at.table[0].value.index.tolist()
    originality = at.dataframe[1].value
    assert len(originality) == 18  # every piece of the five rows; the library's link to the Library page
    assert set(originality["Library"].dropna()) == {f"library?piece={piece.id}" for piece in saved}
    assert at.get("audio")


def test_a_running_job_shows_its_progress_and_can_be_cancelled(home, monkeypatch):
    monkeypatch.setattr(jobs, "schedule", lambda: [])  # no worker: this test plays it
    job = jobs.create_job(NAME, [], n=3, bars=1)
    alive = psutil.Process()
    store.update_job(job.id, status="running", pid=alive.pid, pid_started_at=alive.create_time())
    store.add_job_step(job.id, 2, 5, "sampling the baselines", 0.1)
    at = open_page()
    assert at.get("progress")[0].proto.value == 40
    next(button for button in at.button if button.label == "Cancel").click().run()
    assert not at.exception, at.exception
    assert store.get_job(job.id).cancel_requested
    assert any("Cancelling at the next step" in caption.value for caption in at.caption)
    store.update_job(job.id, status="cancelled")
    assert any("was cancelled" in info.value for info in open_page().info)


def test_the_evaluate_button_waits_for_the_admin_to_sign_in(home, monkeypatch):
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", "evaluation secret")
    at = open_page()
    assert "Evaluate" not in buttons(at)
    assert any("Evaluating models needs the admin password" in info.value for info in at.info)
    at.text_input(key="password-evaluate").set_value("evaluation secret")
    at.button[0].click().run()  # the form's Sign in
    assert not at.exception, at.exception
    assert "Evaluate" in buttons(at)


def test_the_page_does_not_import_tensorflow(home):
    evaluate(load_dataset(NAME), [], n=2, bars=1)  # a stored result: the page draws every section
    # In a fresh interpreter: other tests in this process may have imported TensorFlow.
    script = textwrap.dedent(
        f"""
        import json, sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({APP!r}, default_timeout=60).run()
        at.switch_page({PAGE!r}).run()
        print(json.dumps({{
            "exception": [str(e.value) for e in at.exception],
            "charts": len(at.get("plotly_chart")),
            "tensorflow": "tensorflow" in sys.modules,
        }}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout.strip().splitlines()[-1])
    assert page["exception"] == [] and page["charts"] > 0
    assert page["tensorflow"] is False
