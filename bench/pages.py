"""Benchmark: how long each page takes to answer a widget change, and how long until the first composed piece.

In a fresh NEUROTUNE_HOME holding two small Bach datasets (12 and 6 chorales, built first, not timed), through Streamlit's
``AppTest`` in one process, as a session would:

- ``reruns``: per page, the seconds of a rerun after changing one widget that does not compose or train
  (the median of ``--repeats`` changes, toggling between two values). Target: < 0.5 s each. AppTest reruns
  the whole page script, so a page whose widget sits in a fragment is timed as a full rerun (an upper bound
  of what a browser waits for).
- ``first_piece``: the Generate page's default model (the shipped ``bach-chords``), each in a fresh process:
  ``cold`` with no background warm-up (``NEUROTUNE_WARM_UP=0``: the first Compose compiles the sampling
  loop), ``warm`` once the page's background warm-up has finished. ``open_s`` is the page's first run
  (the model loaded), ``compose_s`` the run that the Compose click starts, until both variations are
  drawn and saved to the library. Target: ``warm`` ``compose_s`` < 5 s on 2 cores.

Timings share the CPU with anything else running (``load_average_1m``). Prints JSON.

    .venv/bin/python bench/pages.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
APP = str(ROOT / "streamlit_app.py")
TARGET_RERUN_S = 0.5
TARGET_WARM_COMPOSE_S = 5.0
DATASET = "bench-bach"
# Per page: a widget that changes what is shown but starts no work, and the two values it toggles between.
WIDGET_CHANGES = {
    "pages/home.py": None,  # no widget: its first run is timed instead
    "pages/dataset.py": ("selectbox", "Corpus", 0, 1),
    "pages/train.py": ("selectbox", "Dataset", 0, 1),
    "pages/generate.py": ("number_input", "Tempo (BPM)", 90, 100),
    "pages/library.py": ("selectbox", "Piece", 0, 1),
    "pages/evaluate.py": ("selectbox", "Dataset", 0, 1),
    "pages/surveys.py": None,
}


def _widget(at, kind: str, label: str):
    return next(widget for widget in getattr(at, kind) if widget.label == label)


def _set(widget, kind: str, value) -> None:
    if kind == "selectbox":
        widget.select_index(value)
    else:
        widget.set_value(value)


def page_reruns(repeats: int) -> dict[str, dict]:
    """Seconds of one rerun per page after a widget change (median), or of its first run when it has no widget."""
    from streamlit.testing.v1 import AppTest

    results = {}
    for page, change in WIDGET_CHANGES.items():
        at = AppTest.from_file(APP, default_timeout=180).run()
        started = time.perf_counter()
        at.switch_page(page).run()
        first = time.perf_counter() - started
        if at.exception:
            results[page] = {"error": str(at.exception[0].value)}
            continue
        if change is None:
            results[page] = {"first_run_s": round(first, 3), "widget": None}
            continue
        kind, label, one, other = change
        times = []
        for index in range(repeats):
            widget = _widget(at, kind, label)
            _set(widget, kind, other if index % 2 == 0 else one)
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
        results[page] = {
            "widget": label,
            "first_run_s": round(first, 3),
            "rerun_s": round(statistics.median(times), 3),
            "meets_target": statistics.median(times) < TARGET_RERUN_S,
        }
    return results


_FIRST_PIECE = """
import json, sys, threading, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=600).run()
started = time.perf_counter()
at.switch_page("pages/generate.py").run()
opened = time.perf_counter() - started
for thread in threading.enumerate():
    if thread.name.startswith("warm-up"):
        thread.join()
waited = time.perf_counter() - started - opened
at = AppTest.from_file(sys.argv[1], default_timeout=600).run()  # a new session, as a visitor's
at.switch_page("pages/generate.py").run()
started = time.perf_counter()
next(b for b in at.button if b.label == "Compose").click().run()
composed = time.perf_counter() - started
assert not at.exception and not at.error, (at.exception, at.error)
variations = sum(1 for m in at.markdown if m.value.startswith("**Variation"))
print(json.dumps({"model": at.selectbox[0].value.rsplit("/", 1)[-1], "open_s": round(opened, 2),
                  "warm_up_wait_s": round(waited, 2), "compose_s": round(composed, 2), "variations": variations}))
"""


def first_piece(home: str, warm: bool) -> dict:
    env = {**os.environ, "NEUROTUNE_HOME": home, "NEUROTUNE_WARM_UP": "1" if warm else "0"}
    output = subprocess.run(
        [sys.executable, "-c", _FIRST_PIECE, APP], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["NEUROTUNE_HOME"] = home
        os.environ["NEUROTUNE_WARM_UP"] = "0"
        for name, limit in ((DATASET, 12), (f"{DATASET}-small", 6)):  # two: the Train and Evaluate pages switch
            subprocess.run(
                [sys.executable, "-m", "core", "dataset", "build", "--corpus", "bach-chorales", "--name", name]
                + ["--limit", str(limit)],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        cold = first_piece(home, warm=False)  # also fills the library for the Library page
        warm = first_piece(home, warm=True)
        reruns = page_reruns(args.repeats)
    print(
        json.dumps(
            {
                "benchmark": "pages",
                "reruns": reruns,
                "first_piece": {"cold": cold, "warm": warm},
                "warm_meets_target": warm["compose_s"] < TARGET_WARM_COMPOSE_S,
                "targets": {"rerun_s": TARGET_RERUN_S, "warm_compose_s": TARGET_WARM_COMPOSE_S},
                "load_average_1m": round(os.getloadavg()[0], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
