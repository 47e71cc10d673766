"""Library pieces for the listening-test tests: what a survey's generated clips are made from."""

from __future__ import annotations

from typing import Any

from core.store import library
from tests.conftest import scale_piece


def library_piece(
    title: str,
    checkpoint: str,
    offset: int = 0,
    *,
    length: int = 16,
    seconds: float = 4.0,
    parameters: dict[str, Any] | None = None,
) -> str:
    """Save a scale of ``length`` steps from ``offset`` as a piece of ``checkpoint`` (an LSTM's); returns its id."""
    return library.save_piece(
        title=title,
        checkpoint=checkpoint,
        model="lstm",
        dataset="tiny",
        representation="events",
        parameters=parameters or {},
        seed=offset,
        variation=1,
        midi=scale_piece(offset=offset, length=length),
        audio=None,
        metrics={},
        duration_seconds=seconds,
    ).id
