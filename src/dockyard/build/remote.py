"""Where cached steps come from and go to besides the local cache: the hooks the solver calls.

The solver asks :class:`StepSource` objects (imported ``--cache-from`` caches) for a key it
does not have locally, and hands every step of a finished build to :class:`StepSink`
objects (``--cache-to`` exports). Implementations live in ``build/cache_io.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dockyard.build.layers import CachedStep, Layer
from dockyard.store.store import Store

__all__ = ["BuiltStep", "StepSink", "StepSource"]


class StepSource(Protocol):
    """An imported cache: cached steps by key, and their layer blobs on demand."""

    def lookup(self, key: str) -> CachedStep | None:
        """The step recorded under ``key``, or None."""

    def fetch(self, layer: Layer, store: Store) -> None:
        """Put the layer's blob into ``store`` (verified); raise on failure."""


@dataclass(frozen=True, slots=True)
class BuiltStep:
    """One step of a finished build, as exporters see it."""

    step: CachedStep
    stage: str  # display name of the stage
    final: bool  # whether the step belongs to the exported (target) stage's chain


class StepSink(Protocol):
    """A cache export destination."""

    def export(self, steps: Sequence[BuiltStep], store: Store) -> None:
        """Write the steps (and the layer blobs they need) to the destination."""
