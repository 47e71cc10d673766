"""Benchmark: how fast the landing page renders, in a fresh interpreter, and what it imports.

Baseline in the same run: a one-line Streamlit script rendered the same way, so
``overhead_s`` is what NeuroTune adds. Target: the landing page under 2 s, without TensorFlow.

    .venv/bin/python bench/landing.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
    elapsed = time.perf_counter() - started
    assert not at.exception, at.exception
    print(json.dumps({"render_s": round(elapsed, 3), "tensorflow_imported": "tensorflow" in sys.modules}))
    """
)


def render(script: Path, home: str) -> dict:
    env = {"NEUROTUNE_HOME": home, "PATH": "/usr/bin:/bin"}
    output = subprocess.run(
        [sys.executable, "-c", _PROBE, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        baseline_script = Path(home) / "hello.py"
        baseline_script.write_text("import streamlit as st\nst.title('hello')\n")
        baseline = min((render(baseline_script, home) for _ in range(3)), key=lambda r: r["render_s"])
        landing = min((render(ROOT / "streamlit_app.py", home) for _ in range(3)), key=lambda r: r["render_s"])
    print(
        json.dumps(
            {
                "benchmark": "landing-page",
                "landing_render_s": landing["render_s"],
                "baseline_render_s": baseline["render_s"],
                "overhead_s": round(landing["render_s"] - baseline["render_s"], 3),
                "ratio": round(landing["render_s"] / baseline["render_s"], 2),
                "tensorflow_imported": landing["tensorflow_imported"],
                "target_s": 2.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
