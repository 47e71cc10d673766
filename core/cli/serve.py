"""``python -m core serve``: start the app, on this machine only unless an admin password guards it."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import NoReturn

from core.access import check_serving, is_local_address, mask_url
from core.errors import AccessError
from core.settings import PROJECT_ROOT, Settings, get_settings


def add_parser(commands, name: str) -> None:
    parser = commands.add_parser(name, help="start the app (localhost unless NEUROTUNE_ADDRESS says otherwise)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--dry-run", action="store_true", help="print the server command instead of starting it")
    parser.set_defaults(handler=_serve)


def streamlit_command(settings: Settings, port: int) -> list[str]:
    """The Streamlit server command for these settings.

    Whenever strangers may reach the app (a public address, or a password set for serving behind a
    proxy or to participants of a listening test), error details stay in the server log, as a traceback
    tells an attacker more than it tells a listener, and the toolbar is a viewer's: Streamlit's default
    ("auto") shows its developer menu and "Deploy" button to every browser that reaches the app as
    localhost, which includes a participant at the organizer's own machine or through a tunnel.
    """
    if not 1 <= port <= 65535:
        raise AccessError(f"the port must be between 1 and 65535, got {port}")
    shared = not is_local_address(settings.address) or bool(settings.admin_password)
    streamlit = shutil.which("streamlit", path=os.path.dirname(sys.executable)) or "streamlit"
    return [
        streamlit,
        "run",
        str(PROJECT_ROOT / "streamlit_app.py"),
        "--server.address",
        settings.address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.enableXsrfProtection",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none" if shared else "full",
        "--client.toolbarMode",
        "viewer" if shared else "auto",
    ]


def _serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    check_serving(settings)
    command = streamlit_command(settings, args.port)
    guard = "changes need the admin password" if settings.admin_password else "no admin password: this machine only"
    print(
        f"NeuroTune on http://{settings.address}:{args.port} ({guard}); database {mask_url(settings.db_url)}",
        file=sys.stderr,
    )
    if args.dry_run:
        print(" ".join(command))
        return 0
    sys.stdout.flush()
    _run_streamlit(command[1:])


def _run_streamlit(arguments: list[str]) -> NoReturn:
    """Streamlit's own command line (``streamlit run ...``) in this process, with the router owning every URL.

    Next to an entry script with a ``pages/`` folder, Streamlit runs a deep link's page file by itself
    (its first multipage scheme) until the entry script has once called ``st.navigation``: after a restart,
    a first visitor opening ``/library`` got the page without the router's layout, titles and sign-in
    sidebar (streamlit/streamlit#9624). Saying the folder is not used before the server starts sends every
    URL through ``streamlit_app.py``. Signals reach the server as before: it runs in this process.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    PagesManager.uses_pages_directory = False
    cli.main(args=arguments, prog_name="streamlit")  # standalone click: always exits, with the server's status
