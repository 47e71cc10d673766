"""Shared fixtures: every test runs against its own temporary NEUROTUNE_HOME."""

from __future__ import annotations

import functools
import gc
import io
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import suppress
from glob import glob
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
from sqlalchemy import create_engine

from core.config import DataConfig
from core.data.build import build_dataset
from core.data.uploads import SourceFile
from core.settings import get_settings
from core.store.migrations import migrate
from tests.collector import collect_less

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's own kernels rather than oneDNN's (set before any test module imports TensorFlow; the processes the
# tests start inherit it): on the suite's tiny models oneDNN costs more than it computes, about 8% of the CPU of
# tests/test_models.py and tests/test_generation.py. The browser journeys' servers run the app as users do, with
# oneDNN, whose speed on real sizes bench/train.py measures; TF_ENABLE_ONEDNN_OPTS=1 runs the whole suite with it.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def pytest_configure(config: pytest.Config) -> None:
    collect_less()  # and the loader's own collection, which tests/test_generation.py puts back to prove it


def pytest_collection_finish(session: pytest.Session) -> None:
    # TensorFlow and Keras too, which the test modules imported: full collections walk only the tests' objects.
    gc.freeze()


# The test files that take longest, in order: started first, so that the workers of ``make test`` (which hand
# out whole files in this order) do not end with one of them alone on a long file.
SLOW_FILES = (
    "tests/e2e/test_journeys.py",
    "tests/test_distributed.py",
    "tests/test_training.py",
    "tests/test_models.py",
    "tests/test_generation.py",
    "tests/test_gan.py",
    "tests/test_generate_page.py",
    "tests/e2e/test_survey_journey.py",
    "tests/test_pages.py",
    "tests/test_gan_pages.py",
    "tests/test_evaluate_page.py",
    "tests/test_store.py",
    "tests/test_datasets.py",
    "tests/test_train_page.py",
    "tests/test_sampling_constraints.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


# Test files about reading files: every test of theirs starts from an empty cache of preprocessed pieces, so
# that their files really go through the sandboxed workers. Every other test shares one cache per test process.
FRESH_PIECE_CACHE_FILES = (
    "tests/test_datasets.py",
    "tests/test_ingest_fuzz.py",
    "tests/test_uploads.py",
    "tests/test_corpora.py",
)


@pytest.fixture(scope="session")
def shared_piece_cache(tmp_path_factory) -> Path:
    """NEUROTUNE_CACHE: preprocessed pieces kept across a test process's tests: a test that builds a dataset
    (most build the same tiny one) then starts no worker processes for files an earlier test has read."""
    return tmp_path_factory.mktemp("piece-cache")


@pytest.fixture(autouse=True)
def neurotune_home(tmp_path, monkeypatch, request):
    home = tmp_path / "neurotune-home"
    if request.node.nodeid.split("::")[0] in FRESH_PIECE_CACHE_FILES:
        monkeypatch.delenv("NEUROTUNE_CACHE", raising=False)
    else:
        monkeypatch.setenv("NEUROTUNE_CACHE", str(request.getfixturevalue("shared_piece_cache")))
    monkeypatch.setenv("NEUROTUNE_HOME", str(home))
    monkeypatch.delenv("NEUROTUNE_DB_URL", raising=False)
    monkeypatch.delenv("NEUROTUNE_SOUNDFONT", raising=False)
    monkeypatch.setenv("NEUROTUNE_CHECKPOINTS", str(tmp_path / "checkpoints"))
    for access in ("NEUROTUNE_ADMIN_PASSWORD", "NEUROTUNE_ADDRESS", "NEUROTUNE_OPEN_COMPOSE"):
        monkeypatch.delenv(access, raising=False)
    for device in ("NEUROTUNE_DEVICES", "NEUROTUNE_PRECISION", "NEUROTUNE_MULTI_WORKER", "TF_CONFIG"):
        monkeypatch.delenv(device, raising=False)  # tests choose their devices themselves
    # Every compose of a test is its own: no background compiling on the 2 cores (test_generate_page turns it on).
    monkeypatch.setenv("NEUROTUNE_WARM_UP", "0")
    # Sampling loops as plain graphs: XLA's compile of every new loop was most of the suite's composing time.
    # The browser journeys' servers and the tests marked ``xla`` keep XLA, the app's default;
    # NEUROTUNE_TEST_XLA=all runs every test with it.
    with_xla = request.node.get_closest_marker("xla") or os.environ.get("NEUROTUNE_TEST_XLA") == "all"
    monkeypatch.setenv("NEUROTUNE_XLA", "1" if with_xla else "0")
    monkeypatch.setattr("core.settings.SECRETS_FILES", ())  # a developer's own secrets file must not guard tests
    # An AppTest script runs as __main__ and may stay there; a later worker process started by
    # spawn would then try to import that script (gone with its temporary folder) as its own main.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    return home


@pytest.fixture(scope="session", autouse=True)
def components_scanned_once():
    """Every new AppTest scans the metadata of every installed package for Streamlit components (0.1-0.2 s of
    CPU each, hundreds of times a session); what is installed does not change while the tests run."""
    from streamlit.components.v2 import manifest_scanner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            manifest_scanner, "scan_component_manifests", functools.cache(manifest_scanner.scan_component_manifests)
        )
        yield


class PostgresUnavailable(Exception):
    """PostgreSQL is not installed here or would not start: its tests are skipped with this reason."""


class PostgresServer:
    """A throwaway PostgreSQL server for the test session: its own data folder, a free local port, trust logins.

    Debian's ``postgresql`` package puts its programs in ``/usr/lib/postgresql/<version>/bin``; ``initdb``
    refuses to run as root, so as root the server runs as the package's ``postgres`` user (else ``nobody``).
    Each test gets its own database, copied from a template that the migrations made once.
    """

    USER = "neurotune"  # the database's superuser, trusted from this machine only
    TEMPLATE = "neurotune_template"

    def __init__(self) -> None:
        binaries = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
        initdb = binaries[-1] if binaries else shutil.which("initdb")
        if initdb is None:
            raise PostgresUnavailable("PostgreSQL is not installed (make test installs the 'postgresql' package)")
        self.bin = Path(initdb).parent
        self.run_as = _unprivileged_user() if os.geteuid() == 0 else None
        # Under /tmp when the server runs as another user: the temporary folder may be root's own.
        shared = "/tmp" if self.run_as is not None and os.path.isdir("/tmp") else None
        self.folder = Path(tempfile.mkdtemp(prefix="neurotune-pg-", dir=shared))
        if self.run_as is not None:
            os.chown(self.folder, self.run_as.pw_uid, self.run_as.pw_gid)
        self.port = 0
        self._names = itertools.count()
        self._admin: Any = None

    def start(self) -> None:
        """initdb, then pg_ctl start on a free port (tried again on another port if that one was taken).

        Raises:
            PostgresUnavailable: The server could not be made or started; the reason and its log say why.
        """
        self._command("initdb", "-D", "data", "-U", self.USER, "--auth=trust", "--encoding=UTF8", "--no-sync")
        for _attempt in range(3):
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # a test server: speed over safety
            )
            try:
                self._command("pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t", "30", "-o", options, "start")
                break
            except PostgresUnavailable:
                if "already in use" not in self.log():
                    raise
        import psycopg  # here, not above: without it the PostgreSQL tests skip, the others run

        self._admin = psycopg.connect(self.url("postgres", driver=False), autocommit=True)
        self._admin.execute(f"CREATE DATABASE {self.TEMPLATE}")
        engine = create_engine(self.url(self.TEMPLATE))
        migrate(engine)  # once: every test database is a copy of it
        engine.dispose()

    def url(self, database: str, *, driver: bool = True) -> str:
        scheme = "postgresql+psycopg" if driver else "postgresql"
        return f"{scheme}://{self.USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, *, empty: bool = False) -> str:
        """A new database, at the newest schema revision (or with no tables when ``empty``); returns its URL."""
        name = f"test_{next(self._names)}"
        self._admin.execute(f"CREATE DATABASE {name} TEMPLATE {'template0' if empty else self.TEMPLATE}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._admin.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def log(self) -> str:
        try:
            return (self.folder / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        if self.port:
            with suppress(PostgresUnavailable):  # it never started, or is gone already
                self._command("pg_ctl", "-D", "data", "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _command(self, program: str, *arguments: str) -> None:
        user = self.run_as
        try:
            subprocess.run(
                [str(self.bin / program), *arguments],
                cwd=self.folder,
                env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "TZ": "UTC"},
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
        except subprocess.CalledProcessError as error:
            raise PostgresUnavailable(f"{program} failed: {(error.stderr or error.stdout).strip()[-500:]}") from None
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PostgresUnavailable(f"{program} could not run: {error}") from None


def _version_key(path: str) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin/initdb`` -> (15,): the newest installed version sorts last."""
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root, and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the whole session, stopped at its end; its tests skip, saying why, without one."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL tests skipped: the psycopg driver is not installed (make test installs it)")
    server = None
    try:
        server = PostgresServer()
        server.start()
    except Exception as error:  # any failure to start is a reason to skip, shown to the reader
        log = server.log()[-500:] if server else ""
        if server:
            server.stop()
        pytest.skip(f"PostgreSQL tests skipped: {error}{' | log: ' + log if log else ''}")
    yield server
    server.stop()


def _database_url(request, monkeypatch, *, empty: bool):
    """NEUROTUNE_DB_URL for one test: unset (the SQLite file in its home) or a new PostgreSQL database."""
    if request.param == "sqlite":
        get_settings().home.mkdir(parents=True, exist_ok=True)
        yield get_settings().db_url
        return
    server = request.getfixturevalue("postgres_server")
    url = server.new_database(empty=empty)
    monkeypatch.setenv("NEUROTUNE_DB_URL", url)
    yield url
    server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, neurotune_home, monkeypatch):
    """Runs a store test on SQLite and again on PostgreSQL, each time a fresh database at the newest schema."""
    yield from _database_url(request, monkeypatch, empty=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request, neurotune_home, monkeypatch):
    """As :func:`db_url`, but with no tables yet: the migrations make them."""
    yield from _database_url(request, monkeypatch, empty=True)


def share_corpora(request, home: Path) -> None:
    """Keep ``home``'s converted corpora in pytest's cache, so that later sessions skip music21's conversion."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        (home / "corpora").symlink_to(cache.mkdir("neurotune-corpora"), target_is_directory=True)


def make_midi_bytes(
    notes: list[tuple[int, float, float]] | None = None,
    *,
    tempo: float = 120.0,
    program: int = 0,
    drum_notes: list[tuple[int, float, float]] | None = None,
    velocity: int = 80,
) -> bytes:
    """A small MIDI file: ``notes`` as (pitch, start_seconds, end_seconds)."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    if notes:
        instrument = pretty_midi.Instrument(program=program)
        instrument.notes = [pretty_midi.Note(velocity, p, s, e) for p, s, e in notes]
        midi.instruments.append(instrument)
    if drum_notes:
        drums = pretty_midi.Instrument(program=0, is_drum=True)
        drums.notes = [pretty_midi.Note(velocity, p, s, e) for p, s, e in drum_notes]
        midi.instruments.append(drums)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def scale_piece(offset: int = 0, length: int = 16, step: float = 0.25) -> bytes:
    """A monophonic run of ``length`` notes, one every ``step`` seconds (a 16th at 60 BPM... 8th at 120)."""
    pitches = [60 + offset + (i * 2) % 12 for i in range(length)]
    return make_midi_bytes([(p, i * step, (i + 1) * step) for i, p in enumerate(pitches)])


def tiny_dataset():
    """The dataset ``tiny``: eight 48-note scales, a quarter held out; a tiny model trains on it in seconds."""
    files = [SourceFile(f"p{i}.mid", scale_piece(offset=i % 5, length=48)) for i in range(8)]
    return build_dataset("tiny", files, DataConfig(validation_fraction=0.25)).dataset


def make_notes(*rows: tuple[int, ...]) -> np.ndarray:
    """A notes array from rows of (start, end, pitch[, velocity[, program[, is_drum]]]); velocity defaults to 80."""
    notes = np.zeros((len(rows), 6), dtype=np.int32)
    notes[:, 3] = 80
    for index, row in enumerate(rows):
        notes[index, : len(row)] = row
    return notes
