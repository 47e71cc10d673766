"""Python's cycle collector, set for test processes: they trace many Keras models.

The collector runs each time 700 new objects outlive their creation and walks every young object; tracing a
Keras model makes millions of them. What is imported by the time this is called is frozen out of the walks
(and again once the test modules are imported, tests/conftest.py), and the collector runs less often:
tests/test_models.py and tests/test_gan.py take 14% less CPU at the same peak memory, the multi-device
harness 7%. Called before the test modules are collected: with the default thresholds, collecting them
takes about 2.5 CPU-s more in each test process.

The loader's full collection before each load (``core.generation.loading.free_dropped_models``) is skipped
too: a test process holds every model its earlier tests traced, so each walk took 0.25 to 0.4 s (59 full
collections, 21.6 CPU-seconds, in one run of the suite). tests/test_generation.py proves the collection with
:data:`LOADER_COLLECTION`.
"""

from __future__ import annotations

import gc

from core.generation import loading

LOADER_COLLECTION = loading.free_dropped_models


def collect_less() -> None:
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    loading.free_dropped_models = _left_to_the_collector


def _left_to_the_collector() -> None:
    """Dropped models are freed when the collector next runs in full, as it does in every test process."""
