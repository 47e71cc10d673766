"""Names people give things (datasets; later runs and pieces): one rule for what a name may be.

A name is shown on one line of a list, a select box or a table cell, so it may
not hold line breaks, tabs or other control characters, and it is capped well
below the database column (200 characters).
"""

from __future__ import annotations

import unicodedata

from core.errors import NeuroTuneError

MAX_NAME_LENGTH = 100
# Unicode categories a name may not contain: controls (newline, tab, escape), surrogates (not encodable),
# line and paragraph separators.
_FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}


def check_name(kind: str, name: str, error: type[NeuroTuneError]) -> str:
    """The name without surrounding spaces, or ``error`` saying what is wrong with it.

    Args:
        kind: What is named, for the message: ``"dataset"``.
        name: As typed.
        error: The domain's error type, e.g. :class:`~core.errors.DatasetError`.

    Raises:
        error: An empty name, one longer than :data:`MAX_NAME_LENGTH`, or one holding a control character.
    """
    name = name.strip()
    if not name:
        raise error(f"give the {kind} a name")
    if len(name) > MAX_NAME_LENGTH:
        raise error(f"a {kind} name may have at most {MAX_NAME_LENGTH} characters, this one has {len(name)}")
    bad = next((c for c in name if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        raise error(
            f"a {kind} name cannot contain line breaks, tabs or other control characters "
            f"(found U+{ord(bad):04X} in {name!r})"
        )
    return name
