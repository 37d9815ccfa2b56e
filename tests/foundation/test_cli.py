"""The CLI skeleton: help, version, error handling, exit codes."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from dockyard import __version__
from dockyard.cli import app
from dockyard.cli._app import DockyardGroup
from dockyard.errors import DockyardError, InputError, UsageError

COMMANDS = ["build", "lint", "analyze", "scan", "copy", "inspect", "dockerfile"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_console_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dockyard", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "dockyard" in proc.stdout


def _app_raising(exc: Exception) -> click.Group:
    @click.group(cls=DockyardGroup)
    @click.option("--debug", is_flag=True)
    def root(debug: bool) -> None:
        pass

    @root.command()
    def boom() -> None:
        raise exc

    return root


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (UsageError("bad flag"), 2),
        (InputError("bad file", location="Dockerfile:3"), 2),
        (DockyardError("failed"), 1),
    ],
)
def test_errors_print_one_line_and_exit_code(exc: DockyardError, code: int) -> None:
    result = CliRunner().invoke(_app_raising(exc), ["boom"])
    assert result.exit_code == code
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output


def test_unexpected_exception_has_no_traceback_without_debug() -> None:
    result = CliRunner().invoke(_app_raising(RuntimeError("kaput")), ["boom"])
    assert result.exit_code == 1
    assert "internal error: RuntimeError: kaput" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_traceback() -> None:
    result = CliRunner().invoke(_app_raising(DockyardError("failed")), ["--debug", "boom"])
    assert result.exit_code == 1
    assert "Traceback" in result.output


def test_error_str_joins_location_and_hint() -> None:
    err = InputError(
        "unknown instruction: ECHO", location="Dockerfile:7", hint="did you mean RUN echo?"
    )
    assert str(err) == "Dockerfile:7: unknown instruction: ECHO (did you mean RUN echo?)"
