"""``python -m core ...``: the command line, on the same engine as the app."""

from core.cli import main

raise SystemExit(main())
