"""Browser fixtures: the app served by a real Streamlit process, driven by Debian's Chromium.

Playwright cannot download its own browser here (no internet), so the tests
launch the system Chromium that ``make test`` installs, and are skipped when it
is missing: Debian's headless shell of it (package ``chromium-headless-shell``), the
same engine without the desktop browser around it, which is what Playwright itself runs
headless; it takes a fifth less CPU over the browser tests than the full ``chromium``
(52.8 against 66.9 CPU-seconds), which is still used where only that is installed.
The server runs against its own temporary ``NEUROTUNE_HOME``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next(
    (path for path in (Path("/usr/bin/chromium-headless-shell"), Path("/usr/bin/chromium")) if path.exists()),
    Path("/usr/bin/chromium-headless-shell"),
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_TIMEOUT_SECONDS = 60
DEFAULT_TIMEOUT_MS = 60_000
# Streamlit reruns asynchronously: assertions wait this long for the page to catch up.
EXPECT_TIMEOUT_MS = 20_000
VIEWPORT = {"width": 1400, "height": 1000}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: browser end-to-end test (a real Streamlit server and Chromium)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="Debian chromium-headless-shell is not installed: run make test, which installs it")
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    """Terminate the server and everything it started (its own process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# The guarded server's admin password (served through ``python -m core serve``, as ``make run`` does).
ADMIN_PASSWORD = "e2e admin password"


def _serve(workdir: Path, command: list[str], extra_env: dict[str, str]) -> Iterator[str]:
    """Run a server command on a free localhost port against a temporary NEUROTUNE_HOME; yield its URL."""
    log_path = workdir / "streamlit.log"
    port = _free_port()
    env = {
        **os.environ,
        "NEUROTUNE_HOME": str(workdir / "neurotune-home"),
        "NEUROTUNE_CHECKPOINTS": str(workdir / "checkpoints"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        # The app as it runs for users: XLA and oneDNN (the other tests compose through plain graphs on TensorFlow's
        # own kernels, tests/conftest.py).
        "NEUROTUNE_XLA": "1",
        "TF_ENABLE_ONEDNN_OPTS": "1",
        **extra_env,
    }
    for unset in (
        "NEUROTUNE_DB_URL",
        *(k for k in ("NEUROTUNE_ADMIN_PASSWORD", "NEUROTUNE_ADDRESS") if k not in extra_env),
    ):
        env.pop(unset, None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
        while not _healthy(f"{base_url}/_stcore/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {process.returncode}" if process.poll() is not None else "timed out"
                pytest.fail(f"Streamlit server did not start ({state}). Log:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.25)
        yield base_url
    finally:
        _stop(process)


def streamlit_command(script: str) -> list[str]:
    """``streamlit run script`` for :func:`_serve`: on localhost, headless, its port filled in there."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.port",
        "{port}",
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def serve_test_app(workdir: Path, app_template: str, wav_path: Path) -> Iterator[str]:
    """A Streamlit server running only a small test app: ``app_template`` with ``{wav_path}`` filled in, written
    into ``workdir`` (outside the repository, so it imports ui/ through PYTHONPATH)."""
    script = workdir / "test_app.py"
    script.write_text(app_template.format(wav_path=str(wav_path)))
    yield from _serve(workdir, streamlit_command(str(script)), {"PYTHONPATH": str(REPO_ROOT)})


@pytest.fixture(scope="session")
def app_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The open app's folder: its NEUROTUNE_HOME is ``neurotune-home`` in it, for a test to put data there."""
    return tmp_path_factory.mktemp("e2e-server")


@pytest.fixture(scope="session")
def app_url(app_workdir: Path) -> Iterator[str]:
    """Base URL of the app, open (no admin password), as on a developer's own machine."""
    # No background warm-up (tests/test_generate_page.py covers it): its compiles of lengths no journey asks for
    # would take the CPU from the journeys.
    yield from _serve(app_workdir, streamlit_command("streamlit_app.py"), {"NEUROTUNE_WARM_UP": "0"})


@pytest.fixture(scope="session")
def guarded_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the app started by NeuroTune's own launcher with an admin password set."""
    command = [sys.executable, "-m", "core", "serve", "--port", "{port}"]
    env = {"NEUROTUNE_ADDRESS": "127.0.0.1", "NEUROTUNE_ADMIN_PASSWORD": ADMIN_PASSWORD}
    yield from _serve(tmp_path_factory.mktemp("e2e-guarded-server"), command, env)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under sync Playwright, shared by every e2e test."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page per test."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()
