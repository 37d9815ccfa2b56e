"""Shared fixtures: the shared conformance data, a real docker-registry, a dockyard home."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import settings

# The suite gates CI, so property tests draw the same examples every run; a
# developer hunting for new failures sets DOCKYARD_HYPOTHESIS=explore.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", max_examples=2000)
settings.load_profile(os.environ.get("DOCKYARD_HYPOTHESIS", "repeatable"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DOCKYARD_SHARED", REPO_ROOT.parent / "shared")).resolve()


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (set DOCKYARD_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``shared/`` folder beside the repository."""
    return _require(SHARED)


@pytest.fixture(scope="session")
def conformance_dir(shared_dir: Path) -> Path:
    return _require(shared_dir / "conformance")


@pytest.fixture(scope="session")
def busybox_oci(conformance_dir: Path) -> Path:
    """The busybox OCI image layout (tag ``1``), read-only: copy it before writing."""
    return _require(conformance_dir / "base" / "busybox-oci")


@pytest.fixture(autouse=True)
def dockyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``$DOCKYARD_HOME`` for every test, so no test touches the user's store."""
    home = tmp_path / "dockyard-home"
    home.mkdir()
    monkeypatch.setenv("DOCKYARD_HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    return home


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Registry:
    """A running registry on loopback."""

    host: str  # "127.0.0.1:PORT", the form used in image references
    root: Path  # its storage directory

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"docker-registry exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"docker-registry did not answer on {url}:\n{log.read_text()}")


def start_registry(workdir: Path) -> tuple[Registry, subprocess.Popen[bytes]]:
    """Start the Debian ``docker-registry`` (CNCF Distribution) on a free loopback port."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: run scripts/test (it apt-installs it)")
    port = free_port()
    root = workdir / "storage"
    root.mkdir(parents=True)
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = workdir / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    _wait_for(f"http://127.0.0.1:{port}/v2/", proc, log)
    return Registry(host=f"127.0.0.1:{port}", root=root), proc


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A real docker-registry on loopback for the whole session, stopped afterwards."""
    reg, proc = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield reg
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


MAKE_BASE_IMAGES = REPO_ROOT / "scripts" / "make-base-images"
_BASE_IMAGE_PROBLEMS = ("cannot reach Debian's mirror", "needs root", "is not installed")


def unavailable(message: str) -> None:
    """Skip on a developer machine that lacks something a slow test needs; fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must have this: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def base_contexts() -> list[str]:
    """``NAME=oci-layout://...`` for debian:12, golang:1.19 and static:12 (scripts/make-base-images).

    Made once per machine (debootstrap + Debian's golang-go; a few minutes), then cached.
    """
    if os.geteuid() != 0:
        unavailable("making the base images needs root (debootstrap, runc)")
    proc = subprocess.run(
        [str(MAKE_BASE_IMAGES), "--no-load", "--print-build-contexts"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        if any(problem in proc.stderr for problem in _BASE_IMAGE_PROBLEMS):
            unavailable(f"cannot make the example's base images here: {tail}")
        pytest.fail(f"scripts/make-base-images failed (exit {proc.returncode}):\n{tail}")
    contexts = proc.stdout.split()
    assert [c.split("=", 1)[0] for c in contexts] == ["debian:12", "golang:1.19", "static:12"]
    return contexts
