"""Progress events that library code emits and the CLI renders (no terminal code here)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = ["NULL_SINK", "Event", "EventKind", "ProgressSink", "Recorder"]


class EventKind(Enum):
    START = "start"  # a task begins; message is its title
    PROGRESS = "progress"  # bytes or items done so far (current/total)
    LOG = "log"  # one line of output from the task (e.g. a RUN step's stdout)
    CACHED = "cached"  # the task was satisfied from a cache
    DONE = "done"  # the task finished successfully
    ERROR = "error"  # the task failed; message says why
    WARNING = "warning"  # something the user should know, the task goes on


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to one task (a build step, a blob upload, ...)."""

    task: str
    kind: EventKind
    message: str = ""
    current: int | None = None
    total: int | None = None


ProgressSink = Callable[[Event], None]
"""Receives events; may be called from several threads at once."""


def NULL_SINK(event: Event) -> None:  # noqa: N802 - a constant-like default sink
    """Drop every event."""


class Recorder:
    """A thread-safe sink that keeps every event, for tests and JSON reports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
