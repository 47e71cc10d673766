"""``python -m core ...``: the command line, on the same engine as the app."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the output

from core.cli import main  # noqa: E402

raise SystemExit(main())
