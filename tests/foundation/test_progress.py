"""Plain progress output stays readable in CI logs."""

from __future__ import annotations

import io

from dockyard.cli._output import PlainRenderer
from dockyard.progress import Event, EventKind, Recorder


def test_plain_renderer_numbers_tasks() -> None:
    out = io.StringIO()
    render = PlainRenderer(out)
    render(Event("a", EventKind.START, "[1/2] RUN echo hi"))
    render(Event("b", EventKind.START, "[2/2] COPY . ."))
    render(Event("a", EventKind.LOG, "hi"))
    render(Event("b", EventKind.CACHED))
    render(Event("a", EventKind.DONE))
    lines = out.getvalue().splitlines()
    assert lines[0] == "#1 [1/2] RUN echo hi"
    assert lines[1] == "#2 [2/2] COPY . ."
    assert lines[2].startswith("#1 ")
    assert lines[2].endswith(" hi")
    assert lines[3] == "#2 CACHED"
    assert lines[4].startswith("#1 DONE")


def test_recorder_keeps_events() -> None:
    rec = Recorder()
    rec(Event("t", EventKind.START))
    assert rec.events == [Event("t", EventKind.START)]
