"""SSH agent sockets for ``RUN --mount=type=ssh``: the user's agent, or one started for key files.

``--ssh default`` forwards ``$SSH_AUTH_SOCK``; ``--ssh ID=/path/agent.sock`` a given
socket; ``--ssh ID=KEY[,KEY...]`` starts a private ``ssh-agent`` holding those keys for
the build and stops it afterwards (buildx does the same with an in-process agent). The
socket is bind-mounted into the RUN; keys never enter the container, a layer or a key.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from dockyard.build.options import SshSpec
from dockyard.errors import BuildError, UsageError

__all__ = ["SshAgents"]

_AGENT_START_SECONDS = 10.0


class SshAgents:
    """The agent sockets of one build, made on first use; :meth:`close` stops what it started."""

    def __init__(self, specs: Sequence[SshSpec], scratch: Path) -> None:
        self.specs = {spec.id: spec for spec in specs}
        self.scratch = scratch
        self._sockets: dict[str, Path] = {}
        self._agents: list[tuple[subprocess.Popen[bytes], Path]] = []
        self._lock = threading.Lock()

    def socket(self, ssh_id: str) -> Path | None:
        """The agent socket for ``ssh_id``; None when ``--ssh`` did not name it."""
        spec = self.specs.get(ssh_id)
        if spec is None:
            return None
        with self._lock:
            found = self._sockets.get(ssh_id)
            if found is None:
                found = self._sockets[ssh_id] = self._make(spec)
            return found

    def _make(self, spec: SshSpec) -> Path:
        if not spec.paths:
            env = os.environ.get("SSH_AUTH_SOCK")
            if not env:
                raise UsageError(
                    f"--ssh {spec.id}: SSH_AUTH_SOCK is not set",
                    hint="start an agent (eval $(ssh-agent); ssh-add) or pass --ssh ID=KEYFILE",
                )
            return _existing_socket(Path(env), spec.id)
        if len(spec.paths) == 1 and _is_socket(Path(spec.paths[0])):
            return Path(spec.paths[0])
        return self._start_agent(spec)

    def _start_agent(self, spec: SshSpec) -> Path:
        agent = shutil.which("ssh-agent")
        add = shutil.which("ssh-add")
        if agent is None or add is None:
            raise UsageError(
                f"--ssh {spec.id}: key files need ssh-agent and ssh-add",
                hint="install openssh-client, or pass an agent socket",
            )
        for key in spec.paths:
            if not Path(key).is_file():
                raise UsageError(f"--ssh {spec.id}: {key} is neither a key file nor a socket")
        directory = Path(tempfile.mkdtemp(prefix="ssh-", dir=self.scratch))
        sock = directory / "agent.sock"
        proc = subprocess.Popen(
            [agent, "-D", "-a", str(sock)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._agents.append((proc, directory))
        deadline = time.monotonic() + _AGENT_START_SECONDS
        while not _is_socket(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BuildError(f"--ssh {spec.id}: ssh-agent did not start")
            time.sleep(0.01)
        for key in spec.paths:
            added = subprocess.run(
                [add, "-q", key],
                env={**os.environ, "SSH_AUTH_SOCK": str(sock), "SSH_ASKPASS_REQUIRE": "never"},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
            if added.returncode != 0:
                why = added.stderr.decode(errors="replace").strip().splitlines()
                raise UsageError(
                    f"--ssh {spec.id}: cannot load {key}: {why[-1] if why else 'ssh-add failed'}",
                    hint="keys with a passphrase need an agent: pass --ssh default",
                )
        return sock

    def close(self) -> None:
        """Stop the agents this build started and remove their sockets."""
        for proc, directory in self._agents:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(directory, ignore_errors=True)
        self._agents.clear()


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def _existing_socket(path: Path, ssh_id: str) -> Path:
    if not _is_socket(path):
        raise UsageError(f"--ssh {ssh_id}: {path} is not an agent socket")
    return path
