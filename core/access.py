"""Who may change things: the admin password, where the app may serve, and secrets never shown.

NeuroTune is one link away from strangers once it serves beyond this machine
(a listening test does exactly that). So it binds to ``localhost`` unless told
otherwise, refuses any other address until an admin password is set, and, with
a password set, asks for it before anything that changes state or costs a lot.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import threading
import time
from collections import deque
from collections.abc import Callable

from core.errors import AccessError
from core.settings import PASSWORD_VARIABLE, Settings

LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
MIN_PASSWORD_LENGTH = 8
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*):[^@/\s]*@", re.IGNORECASE)


def is_local_address(address: str) -> bool:
    """True for loopback addresses only: the app cannot be reached from another machine."""
    address = address.strip().strip("[]")
    if address.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_serving(settings: Settings) -> None:
    """Refuse to serve beyond this machine without an admin password.

    Raises:
        AccessError: a non-local ``NEUROTUNE_ADDRESS`` and no password, or a password too short to protect it.
    """
    if is_local_address(settings.address):
        return
    how = (
        f"set {PASSWORD_VARIABLE} in the environment (or in .streamlit/secrets.toml) to a password of at least "
        f"{MIN_PASSWORD_LENGTH} characters, or serve on localhost behind a reverse proxy with TLS (see the README)"
    )
    if not settings.admin_password:
        raise AccessError(
            f"refusing to serve on {settings.address!r} without an admin password: anyone who reaches it could "
            f"start training, delete datasets and runs; {how}"
        )
    if len(settings.admin_password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"the admin password is too short to serve on {settings.address!r}; {how}")


def password_matches(given: str, expected: str) -> bool:
    """Compare in constant time, so response times do not leak how much of a guess was right."""
    return hmac.compare_digest(given.encode(), expected.encode())


def password_fingerprint(password: str) -> str:
    """What a signed-in session remembers instead of the password: changing the password signs everyone out."""
    return hashlib.sha256(b"neurotune-admin:" + password.encode()).hexdigest()


def mask_url(url: str) -> str:
    """A database URL fit to show: the password replaced by ``***``."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: mask by pattern
        return _URL_PASSWORD.sub(r"\g<head>:***@", url)


class SignInThrottle:
    """Wrong passwords, counted for the whole server: each one waits longer, and many lock sign-in.

    A password that strangers can reach must not be guessable at network speed. Every
    session shares one throttle (Streamlit serves all sessions from one process), so
    opening new sessions does not reset it.

    Args:
        window_seconds: How long a wrong password counts.
        lock_after: Wrong passwords within the window that close sign-in until the oldest expires.
        clock: Seconds, monotonic (a test passes a fake).
    """

    def __init__(
        self, window_seconds: float = 300.0, lock_after: int = 20, clock: Callable[[], float] = time.monotonic
    ):
        self.window_seconds = window_seconds
        self.lock_after = lock_after
        self._clock = clock
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def _recent(self) -> deque[float]:
        now = self._clock()
        while self._failures and self._failures[0] <= now - self.window_seconds:
            self._failures.popleft()
        return self._failures

    def locked_for(self) -> float:
        """Seconds until sign-in opens again; 0 when it is open."""
        with self._lock:
            recent = self._recent()
            if len(recent) < self.lock_after:
                return 0.0
            return max(recent[len(recent) - self.lock_after] + self.window_seconds - self._clock(), 0.0)

    def record_failure(self) -> float:
        """Count a wrong password; returns how long to wait before answering (0.5 s per recent failure, at most 5 s)."""
        with self._lock:
            self._recent().append(self._clock())
            return min(0.5 * len(self._failures), 5.0)


SIGN_IN_THROTTLE = SignInThrottle()
