"""A form generated from a config dataclass: one widget per field, typed by the field.

A field may name its allowed values with ``field(metadata={"choices": (...)})``
and a help text with ``metadata={"help": ...}``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st


def dataclass_form(config_class: type, key: str, columns: int = 3, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Widgets for every field of ``config_class`` (defaults preset); returns the values the user chose."""
    values: dict[str, Any] = {}
    fields = [f for f in dataclasses.fields(config_class) if f.name not in skip]
    slots = st.columns(columns)
    for index, field in enumerate(fields):
        default = field.default
        label = field.name.replace("_", " ").capitalize()
        widget_key = f"{key}-{field.name}"
        help_text = field.metadata.get("help")
        with slots[index % columns]:
            if field.metadata.get("choices"):
                choices = list(field.metadata["choices"])
                values[field.name] = st.selectbox(
                    label, choices, index=choices.index(default), key=widget_key, help=help_text
                )
            elif isinstance(default, bool):
                values[field.name] = st.checkbox(label, default, key=widget_key, help=help_text)
            elif isinstance(default, int):
                values[field.name] = int(st.number_input(label, value=default, step=1, key=widget_key, help=help_text))
            elif isinstance(default, float):
                values[field.name] = float(
                    st.number_input(
                        label,
                        value=default,
                        step=abs(default) / 10 or 0.01,
                        format="%g",
                        key=widget_key,
                        help=help_text,
                    )
                )
            else:
                values[field.name] = st.text_input(label, str(default), key=widget_key, help=help_text)
    return values
