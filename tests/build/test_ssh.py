"""--ssh: specs, and the agents a build starts for key files (a real ssh-agent)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dockyard.build.options import SshSpec, parse_ssh
from dockyard.build.ssh import SshAgents
from dockyard.errors import UsageError


def test_parse_ssh() -> None:
    assert parse_ssh("default") == SshSpec("default")
    assert parse_ssh("gh=/run/agent.sock") == SshSpec("gh", ("/run/agent.sock",))
    assert parse_ssh("gh=/k/a,/k/b") == SshSpec("gh", ("/k/a", "/k/b"))
    for bad in ("", "=x", "gh="):
        with pytest.raises(UsageError):
            parse_ssh(bad)


def make_key(tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dy-test", "-f", str(key)],
        check=True,
    )
    return key


def test_an_agent_is_started_for_key_files_and_stopped(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    agents = SshAgents([parse_ssh(f"default={key}")], tmp_path)
    sock = agents.socket("default")
    assert sock is not None
    listed = subprocess.run(
        ["ssh-add", "-l"], env={**os.environ, "SSH_AUTH_SOCK": str(sock)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "dy-test" in listed.stdout
    assert agents.socket("default") == sock  # one agent per id
    assert agents.socket("other") is None
    agents.close()
    assert not sock.exists()


def test_bad_specs_are_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(UsageError, match="SSH_AUTH_SOCK is not set"):
        SshAgents([parse_ssh("default")], tmp_path).socket("default")
    with pytest.raises(UsageError, match="neither a key file nor a socket"):
        SshAgents([parse_ssh(f"x={tmp_path / 'missing'}")], tmp_path).socket("x")
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path))
    with pytest.raises(UsageError, match="is not an agent socket"):
        SshAgents([parse_ssh("default")], tmp_path).socket("default")
