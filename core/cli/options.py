"""Command-line flags generated from config dataclasses, so the CLI never falls behind the configs."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def add_dataclass_flags(
    parser: argparse.ArgumentParser, config_class: type, title: str, aliases: dict[str, list[str]] | None = None
) -> None:
    """One ``--field-name`` flag per field; tuples take repeated flags; booleans get ``--no-...``."""
    group = parser.add_argument_group(title)
    for field in dataclasses.fields(config_class):
        flags = [f"--{field.name.replace('_', '-')}", *(aliases or {}).get(field.name, [])]
        kind = str(field.type)
        if kind == "bool":
            group.add_argument(*flags, dest=field.name, action=argparse.BooleanOptionalAction, default=None)
        elif kind.startswith("tuple"):
            item = int if "int" in kind else str
            group.add_argument(*flags, dest=field.name, type=item, action="append", default=None)
        else:
            group.add_argument(*flags, dest=field.name, type={"int": int, "float": float}.get(kind, str), default=None)


def dataclass_from_flags(config_class: type, args: argparse.Namespace) -> Any:
    """The config with every flag the user gave; defaults for the rest (validated by the dataclass)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)}
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None})
