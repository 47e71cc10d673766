"""Where the app may serve, the admin password, and secrets kept out of sight."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.access import check_serving, is_local_address, mask_url, password_fingerprint, password_matches
from core.errors import AccessError
from core.settings import get_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1", "127.8.0.1", "::1", "[::1]", "LOCALHOST"])
def test_loopback_addresses_are_local(address):
    assert is_local_address(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.org", ""])
def test_other_addresses_are_not_local(address):
    assert not is_local_address(address)


def test_settings_bind_to_localhost_by_default_and_never_print_secrets(monkeypatch):
    monkeypatch.setenv("NEUROTUNE_DB_URL", "postgresql+psycopg://neuro:s3cret@db/neurotune")
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", "hunter2hunter2")
    settings = get_settings()
    assert settings.address == "localhost"
    assert "s3cret" not in repr(settings) and "hunter2" not in repr(settings)


def test_a_secrets_file_can_hold_the_password(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('NEUROTUNE_ADMIN_PASSWORD = "from the secrets file"\n')
    monkeypatch.setattr("core.settings.SECRETS_FILES", (tmp_path / "missing.toml", secrets))
    assert get_settings().admin_password == "from the secrets file"
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", "from the environment")
    assert get_settings().admin_password == "from the environment"


def test_serving_beyond_this_machine_needs_a_password_of_some_length(monkeypatch):
    monkeypatch.setenv("NEUROTUNE_ADDRESS", "0.0.0.0")
    with pytest.raises(AccessError, match="NEUROTUNE_ADMIN_PASSWORD"):
        check_serving(get_settings())
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", "short")
    with pytest.raises(AccessError, match="too short"):
        check_serving(get_settings())
    monkeypatch.setenv("NEUROTUNE_ADMIN_PASSWORD", "long enough now")
    check_serving(get_settings())
    monkeypatch.setenv("NEUROTUNE_ADDRESS", "127.0.0.1")
    monkeypatch.delenv("NEUROTUNE_ADMIN_PASSWORD")
    check_serving(get_settings())


def test_passwords_compare_exactly_and_fingerprints_hide_them():
    assert password_matches("open sesame", "open sesame")
    assert not password_matches("open sesam", "open sesame")
    assert not password_matches("", "open sesame")
    assert password_matches("naïve ünïcode", "naïve ünïcode")
    assert "open sesame" not in password_fingerprint("open sesame")
    assert password_fingerprint("a") != password_fingerprint("b")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://neuro:s3cret@db.example:5432/neurotune",
            "postgresql+psycopg://neuro:***@db.example:5432/neurotune",
        ),
        ("sqlite:////tmp/neurotune.db", "sqlite:////tmp/neurotune.db"),
        ("not a url://user:pa55@host", "not a url://user:***@host"),
    ],
)
def test_database_urls_are_shown_with_the_password_masked(url, masked):
    assert mask_url(url) == masked


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if k not in ("NEUROTUNE_ADMIN_PASSWORD", "NEUROTUNE_ADDRESS")}
    environment = {**inherited, **env}
    return subprocess.run(
        [sys.executable, "-m", "core", "serve", "--dry-run", "--port", "8599"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_binds_to_localhost_and_refuses_a_public_address_without_a_password():
    local = _serve({"NEUROTUNE_DB_URL": "postgresql://neuro:s3cret@db/neurotune"})
    assert local.returncode == 0, local.stderr
    assert "--server.address localhost" in local.stdout and "--server.port 8599" in local.stdout
    assert "s3cret" not in local.stdout + local.stderr and "neuro:***@db" in local.stderr
    # Only the developer's own browser reaches it: Streamlit's own toolbar and tracebacks are theirs.
    assert "--client.showErrorDetails full" in local.stdout and "--client.toolbarMode auto" in local.stdout

    public = _serve({"NEUROTUNE_ADDRESS": "0.0.0.0"})
    assert public.returncode == 2
    assert "refusing to serve on '0.0.0.0'" in public.stderr and "NEUROTUNE_ADMIN_PASSWORD" in public.stderr
    assert "Traceback" not in public.stderr

    guarded = _serve({"NEUROTUNE_ADDRESS": "0.0.0.0", "NEUROTUNE_ADMIN_PASSWORD": "long enough now"})
    assert guarded.returncode == 0, guarded.stderr
    assert "--server.address 0.0.0.0" in guarded.stdout and "--client.showErrorDetails none" in guarded.stdout
    assert "long enough now" not in guarded.stdout + guarded.stderr
    # Strangers get a viewer's toolbar: no "Deploy" button, no developer menu.
    assert "--client.toolbarMode viewer" in guarded.stdout

    # A password on localhost (participants at the organizer's machine, or behind a proxy): strangers too.
    guarded_local = _serve({"NEUROTUNE_ADMIN_PASSWORD": "long enough now"})
    assert guarded_local.returncode == 0, guarded_local.stderr
    assert "--client.showErrorDetails none" in guarded_local.stdout
    assert "--client.toolbarMode viewer" in guarded_local.stdout


def test_wrong_passwords_slow_down_then_lock_sign_in_for_the_whole_server():
    from core.access import SignInThrottle

    now = [0.0]
    throttle = SignInThrottle(window_seconds=300, lock_after=3, clock=lambda: now[0])
    assert throttle.locked_for() == 0
    assert [throttle.record_failure() for _ in range(2)] == [0.5, 1.0]
    assert throttle.locked_for() == 0
    throttle.record_failure()
    assert throttle.locked_for() == 300
    now[0] = 299.0
    assert throttle.locked_for() == 1
    now[0] = 300.0  # the oldest wrong password no longer counts
    assert throttle.locked_for() == 0
