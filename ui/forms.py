"""A form generated from a config dataclass: one widget per field, typed by the field.

Field metadata shapes a widget: ``label`` (else the field name), ``help``,
``choices`` (a selectbox; ``format`` names each choice), ``min``/``max``/``step``
(number bounds), and ``advanced`` (machine-learning knobs, gathered last in an
"Advanced" expander).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any

import streamlit as st


def dataclass_form(
    config_class: type,
    key: str,
    columns: int = 3,
    skip: tuple[str, ...] = (),
    initial: Any = None,
    disabled: Callable[[dict[str, Any]], Collection[str]] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    advanced_in: Any = None,
) -> dict[str, Any]:
    """Widgets for every field of ``config_class``; returns the values the user chose.

    Args:
        initial: A ``config_class`` whose values the widgets start from; None: the field defaults.
        disabled: Given the values chosen so far (the widgets' current state), the names of the
            fields that do not apply: they are greyed out and left out of the result, so the
            config's own default stands for them.
        overrides: Per field, metadata that replaces the field's own for this form: the choices
            that apply to this model, a label in its own sense.
        advanced_in: A container (a page's own "Advanced" expander) for the advanced fields;
            None: an expander of this form's own.
    """
    fields = [f for f in dataclasses.fields(config_class) if f.name not in skip]
    starts = {f.name: getattr(initial, f.name) if initial is not None else _default(f) for f in fields}
    current = {name: st.session_state.get(f"{key}-{name}", value) for name, value in starts.items()}
    off = set(disabled(current)) if disabled else set()
    values: dict[str, Any] = {}
    basic = [f for f in fields if not f.metadata.get("advanced")]
    advanced = [f for f in fields if f.metadata.get("advanced")]
    basic_container = st.container()  # before the expander: the plain fields come first
    advanced_container = advanced_in if advanced_in is not None else st.expander("Advanced") if advanced else None
    for group, container in ((basic, basic_container), (advanced, advanced_container)):
        if not group:
            continue
        with container:
            slots = st.columns(columns)
            for index, field in enumerate(group):
                with slots[index % columns]:
                    meta = {**field.metadata, **(overrides or {}).get(field.name, {})}
                    values[field.name] = _widget(
                        field.name, meta, starts[field.name], f"{key}-{field.name}", field.name in off
                    )
    return {name: value for name, value in values.items() if name not in off}


def _default(field: dataclasses.Field) -> Any:
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def _widget(name: str, meta: Mapping[str, Any], value: Any, key: str, disabled: bool) -> Any:
    label = meta.get("label") or name.replace("_", " ").capitalize()
    common = {"key": key, "help": meta.get("help"), "disabled": disabled}
    if meta.get("choices"):
        choices = list(meta["choices"])
        return st.selectbox(label, choices, index=choices.index(value), format_func=meta.get("format", str), **common)
    if isinstance(value, bool):
        return st.checkbox(label, value, **common)
    if isinstance(value, int):
        bounds = {f"{end}_value": int(meta[end]) for end in ("min", "max") if end in meta}
        return int(st.number_input(label, value=value, step=int(meta.get("step", 1)), **bounds, **common))
    if isinstance(value, float):
        bounds = {f"{end}_value": float(meta[end]) for end in ("min", "max") if end in meta}
        step = float(meta.get("step", abs(value) / 10 or 0.01))
        return float(st.number_input(label, value=value, step=step, format="%g", **bounds, **common))
    return st.text_input(label, str(value), **common)
