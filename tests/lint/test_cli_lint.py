"""`dockyard lint` on the command line: discovery, formats, exit codes, --fix and --diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dockyard.cli import _app
from dockyard.cli import lint as _lint  # noqa: F401  (registers the command)


def test_cli_formats_and_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sub = tmp_path / "svc"
    sub.mkdir()
    (sub / "Dockerfile").write_text("FROM alpine:3.19\nRUN apk add curl=8\n")
    (sub / "worker.Dockerfile").write_text("FROM alpine:3.19\nUSER app\n")
    runner = CliRunner()
    result = runner.invoke(_app.app, ["lint", "--format", "json", "."])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data[0]["code"] == "DL3019"
    assert data[0]["level"] == "info"
    assert set(data[0]) == {"file", "line", "column", "code", "level", "message", "fix"}
    assert runner.invoke(_app.app, ["lint", "-t", "warning", "svc"]).exit_code == 0
    assert runner.invoke(_app.app, ["lint", "svc/worker.Dockerfile"]).exit_code == 0
    sarif = json.loads(runner.invoke(_app.app, ["lint", "--format", "sarif", "svc"]).stdout)
    assert sarif["runs"][0]["results"][0]["ruleId"] == "DL3019"
    cc = json.loads(runner.invoke(_app.app, ["lint", "--format", "codeclimate", "svc"]).stdout)
    assert cc[0]["location"]["lines"]["begin"] == 2
    assert cc[0]["severity"] == "minor"
    diff = runner.invoke(_app.app, ["lint", "--fix", "--diff", "svc/Dockerfile"])
    assert "+RUN apk add --no-cache curl=8" in diff.stdout
    assert (sub / "Dockerfile").read_text() == "FROM alpine:3.19\nRUN apk add curl=8\n"
    fixed = runner.invoke(_app.app, ["lint", "--fix", "svc/Dockerfile"])
    assert fixed.exit_code == 0, fixed.output
    assert (sub / "Dockerfile").read_text() == "FROM alpine:3.19\nRUN apk add --no-cache curl=8\n"
    missing = runner.invoke(_app.app, ["lint", "nope"])
    assert missing.exit_code == 2
    assert "nope" in missing.output
