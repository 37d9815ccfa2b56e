"""Output for the CLI: --format and --progress options, JSON printing, progress renderers."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dockyard.progress import Event, EventKind, ProgressSink

if TYPE_CHECKING:  # rich is imported only when a terminal shows progress
    from rich.console import Console
    from rich.progress import TaskID

F = TypeVar("F", bound=Callable[..., Any])

PROGRESS_MODES = ("auto", "plain", "tty", "quiet")
OUTPUT_FORMATS = ("text", "json")


def format_option(func: F) -> F:
    """Add ``--format text|json`` (as ``output_format``) to a command that reports something."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(OUTPUT_FORMATS),
        default="text",
        show_default=True,
        help="Report as human-readable text or as JSON on stdout.",
    )(func)


def progress_option(func: F) -> F:
    """Add ``--progress auto|plain|tty|quiet`` to a command that shows progress."""
    return click.option(
        "--progress",
        type=click.Choice(PROGRESS_MODES),
        default="auto",
        show_default=True,
        envvar="DOCKYARD_PROGRESS",
        help="Progress on stderr: rich on a terminal (auto/tty), plain lines for CI, or none.",
    )(func)


def print_json(value: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


class PlainRenderer:
    """BuildKit-style plain progress: numbered tasks, one line per event, for CI logs."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._numbers: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._last_percent: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        with self._lock:
            line = self._line(event)
            if line is not None:
                print(line, file=self._stream, flush=True)

    def _line(self, event: Event) -> str | None:
        number = self._numbers.setdefault(event.task, len(self._numbers) + 1)
        prefix = f"#{number}"
        kind = event.kind
        if kind is EventKind.START:
            self._started[event.task] = time.monotonic()
            return f"{prefix} {event.message or event.task}"
        elapsed = time.monotonic() - self._started.get(event.task, time.monotonic())
        if kind is EventKind.PROGRESS:
            if not event.total:
                return None
            percent = int(100 * (event.current or 0) / event.total)
            if percent // 25 == self._last_percent.get(event.task, -1) // 25:
                return None  # a line per quarter is plenty in a CI log
            self._last_percent[event.task] = percent
            return f"{prefix} {event.task} {event.current}/{event.total} bytes ({percent}%)"
        if kind is EventKind.LOG:
            return f"{prefix} {elapsed:.3f} {event.message}"
        if kind is EventKind.CACHED:
            return f"{prefix} CACHED" + (f" {event.message}" if event.message else "")
        if kind is EventKind.DONE:
            return f"{prefix} DONE {elapsed:.1f}s" + (f" {event.message}" if event.message else "")
        if kind is EventKind.ERROR:
            return f"{prefix} ERROR: {event.message}"
        return f"{prefix} WARNING: {event.message}"


class RichRenderer:
    """Live progress bars on a terminal; log lines scroll above them."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        self._console = console
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichRenderer:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: Event) -> None:
        with self._lock:
            task = self._tasks.get(event.task)
            if task is None:
                task = self._progress.add_task(event.message or event.task, total=event.total)
                self._tasks[event.task] = task
            kind = event.kind
            if kind is EventKind.PROGRESS:
                self._progress.update(task, completed=event.current or 0, total=event.total)
            elif kind is EventKind.LOG:
                self._progress.console.print(
                    f"[dim]{event.task}[/dim] {event.message}", markup=True, highlight=False
                )
            elif kind is EventKind.CACHED:
                self._progress.update(
                    task, description=f"[cyan]CACHED[/cyan] {event.task}", completed=1, total=1
                )
            elif kind is EventKind.DONE:
                total = self._progress.tasks[task].total or 1
                self._progress.update(task, completed=total, total=total)
            elif kind is EventKind.ERROR:
                self._progress.console.print(f"[red]ERROR[/red] {event.task}: {event.message}")
            elif kind is EventKind.WARNING:
                self._progress.console.print(f"[yellow]WARNING[/yellow] {event.message}")


@contextmanager
def progress_sink(mode: str) -> Iterator[ProgressSink]:
    """Yield the sink for ``--progress MODE``; rich only when stderr is a terminal."""
    if mode == "quiet":
        yield _quiet_sink
        return
    if mode == "plain" or (mode == "auto" and not sys.stderr.isatty()):
        yield PlainRenderer()
        return
    from rich.console import Console

    console = Console(stderr=True)
    if mode == "tty" or console.is_terminal:
        with RichRenderer(console) as renderer:
            yield renderer
        return
    yield PlainRenderer()


def _quiet_sink(event: Event) -> None:
    """Show only errors and warnings."""
    if event.kind in (EventKind.ERROR, EventKind.WARNING):
        print(f"{event.kind.value.upper()}: {event.message}", file=sys.stderr, flush=True)
