"""Command-line flags generated from config dataclasses, so the CLI never falls behind the configs."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def _help(field: dataclasses.Field) -> str | None:
    """The flag's help from the field's metadata: its ``help``, its ``choices``, its ``min``-``max`` range."""
    meta = field.metadata
    parts = [meta["help"]] if meta.get("help") else []
    if meta.get("choices"):
        parts.append(f"one of {', '.join(map(str, meta['choices']))}")
    if "min" in meta or "max" in meta:
        parts.append(" to ".join(f"{meta[end]:g}" if end in meta else "..." for end in ("min", "max")))
    return "; ".join(parts).replace("%", "%%") or None


def add_dataclass_flags(
    parser: argparse.ArgumentParser, config_class: type, title: str, aliases: dict[str, list[str]] | None = None
) -> argparse._ArgumentGroup:
    """One ``--field-name`` flag per field; tuples take repeated flags; booleans get ``--no-...``.

    Help comes from the field metadata (``help``, ``choices``, ``min``, ``max``); the values
    themselves are checked by the dataclass, so a flag and a form refuse a value with one message.

    Returns:
        The group of flags, for a command to add its own shortcuts to.
    """
    group = parser.add_argument_group(title)
    for field in dataclasses.fields(config_class):
        flags = [f"--{field.name.replace('_', '-')}", *(aliases or {}).get(field.name, [])]
        kind = str(field.type)
        common = {"dest": field.name, "default": None, "help": _help(field)}
        if kind == "bool":
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
        elif kind.startswith("tuple"):
            item = int if "int" in kind else str
            group.add_argument(*flags, type=item, action="append", **common)
        else:
            group.add_argument(*flags, type={"int": int, "float": float}.get(kind, str), **common)
    return group


def dataclass_from_flags(config_class: type, args: argparse.Namespace) -> Any:
    """The config with every flag the user gave; defaults for the rest (validated by the dataclass)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)}
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None})
