"""The bundled example (examples/shop): it lints clean, builds, its image runs and answers, and rebuilds hit the cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.runc]

EXAMPLE = REPO_ROOT / "examples" / "shop"
DOCKYARD = REPO_ROOT / ".venv" / "bin" / "dockyard"
BUILD_TIMEOUT = 900  # seconds; the first build compiles Go's standard library
# What make-base-images says when it cannot run here (no mirror, not root, no debootstrap).


def _dockyard() -> str:
    found = DOCKYARD if DOCKYARD.exists() else shutil.which("dockyard")
    if found is None:
        pytest.fail("no dockyard executable: run scripts/setup")
    return str(found)


@dataclass(frozen=True)
class Example:
    """A copy of examples/shop and a dockyard home to build it in."""

    context: Path
    home: Path
    contexts: tuple[str, ...]

    def build(self, *args: str) -> dict[str, Any]:
        """``dockyard build`` of the copy; returns its JSON report (buildx metadata + cache)."""
        flags = [f"--build-context={c}" for c in self.contexts]
        proc = subprocess.run(
            [_dockyard(), "build", "--progress=plain", "--format=json", *flags, *args],
            cwd=self.context,
            env={**os.environ, "DOCKYARD_HOME": str(self.home)},
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_TIMEOUT,
        )
        if proc.returncode != 0:
            pytest.fail(f"dockyard build {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
        report: dict[str, Any] = json.loads(proc.stdout)
        return report

    def dockyard(self, *args: str) -> str:
        proc = subprocess.run(
            [_dockyard(), *args],
            env={**os.environ, "DOCKYARD_HOME": str(self.home)},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@dataclass(frozen=True)
class Built:
    example: Example
    first: dict[str, Any]
    noop: dict[str, Any]
    rootfs: Path
    config: dict[str, Any]


def _cache(report: dict[str, Any]) -> dict[str, bool]:
    return {step["step"]: step["cached"] for step in report["dockyard.cache"]["steps"]}


@pytest.fixture(scope="session")
def built(base_contexts: list[str], tmp_path_factory: pytest.TempPathFactory) -> Built:
    """examples/shop built once, then rebuilt unchanged, and its final filesystem exported."""
    work = tmp_path_factory.mktemp("example")
    context = work / "shop"
    shutil.copytree(EXAMPLE, context)
    home = work / "home"
    home.mkdir()
    example = Example(context, home, tuple(base_contexts))
    first = example.build("-t", "shop:test", ".")
    noop = example.build("-t", "shop:test", ".")
    rootfs = work / "rootfs"
    example.build("-o", f"type=local,dest={rootfs}", ".")
    config = json.loads(example.dockyard("inspect", "--config", "shop:test"))
    return Built(example, first, noop, rootfs, config)


def test_example_lints_clean() -> None:
    proc = subprocess.run(
        [_dockyard(), "lint", str(EXAMPLE), str(REPO_ROOT / "examples" / "base-images")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_is_a_small_nonroot_runtime(built: Built) -> None:
    config = built.config["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/usr/local/bin/shop"]
    assert "8080/tcp" in config["ExposedPorts"]
    # Three layers: CA certificates, passwd/group, the binary. No toolchain, no shell.
    assert len(built.config["rootfs"]["diff_ids"]) == 3
    files = sorted(
        str(p.relative_to(built.rootfs)) for p in built.rootfs.rglob("*") if not p.is_dir()
    )
    assert files == [
        "etc/group",
        "etc/passwd",
        "etc/ssl/certs/ca-certificates.crt",
        "usr/local/bin/shop",
    ]
    assert (built.rootfs / "usr/local/bin/shop").stat().st_size < 20 * 1024 * 1024


def test_noop_rebuild_is_all_cache_hits(built: Built) -> None:
    assert built.first["dockyard.cache"]["misses"] > 0
    steps = _cache(built.noop)
    assert steps
    assert all(steps.values()), steps
    assert built.noop["dockyard.cache"]["misses"] == 0


def test_go_change_keeps_the_dependency_layer(built: Built) -> None:
    main = built.example.context / "cmd" / "shop" / "main.go"
    original = main.read_text()
    main.write_text(original + "\n// changed by the test\n")
    try:
        steps = _cache(built.example.build("-t", "shop:changed", "."))
    finally:
        main.write_text(original)

    def cached(prefix: str) -> bool:
        matches = [hit for step, hit in steps.items() if prefix in step]
        assert len(matches) == 1, (prefix, steps)
        return matches[0]

    assert cached("COPY go.mod go.sum* ./")
    assert cached("go mod download")
    assert not cached("COPY . .")
    assert not cached("go build")


def _bundle(rootfs: Path, config: dict[str, Any], bundle: Path, port: int) -> None:
    """An OCI runtime bundle running the image's entrypoint on 127.0.0.1:port (host network)."""
    bundle.mkdir()
    subprocess.run([_runc(), "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    image = config["config"]
    uid, _, gid = image["User"].partition(":")
    env = [e for e in image["Env"] if not e.startswith("SHOP_ADDR=")]
    spec["process"].update(
        terminal=False,
        args=image["Entrypoint"] + (image.get("Cmd") or []),
        env=[*env, f"SHOP_ADDR=127.0.0.1:{port}"],
        cwd=image.get("WorkingDir") or "/",
        user={"uid": int(uid), "gid": int(gid)},
    )
    spec["root"] = {"path": str(rootfs), "readonly": True}
    spec["linux"]["namespaces"] = [
        ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"
    ]
    (bundle / "config.json").write_text(json.dumps(spec))


def _runc() -> str:
    runc = shutil.which("runc")
    if runc is None:
        pytest.fail("runc is not installed: run scripts/setup")
    return runc


@pytest.fixture
def service(built: Built, tmp_path: Path) -> Iterator[str]:
    """The image's service running in runc; yields its base URL."""
    runc = _runc()
    port = free_port()
    _bundle(built.rootfs, built.config, tmp_path / "bundle", port)
    state = tmp_path / "runc-state"
    name = f"dockyard-example-test-{os.getpid()}"
    log = tmp_path / "shop.log"
    with log.open("wb") as out:
        subprocess.run(
            [
                runc,
                "--root",
                str(state),
                "run",
                "--detach",
                "--bundle",
                str(tmp_path / "bundle"),
                name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=60,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([runc, "--root", str(state), "kill", name, "KILL"], check=False)
        subprocess.run([runc, "--root", str(state), "delete", "--force", name], check=False)


def _get(url: str) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer from {url}") from None
            time.sleep(0.1)


def test_image_runs_and_answers(service: str) -> None:
    health = _get(f"{service}/healthz")
    assert health.status_code == 200
    assert health.text.strip() == "ok"
    index = _get(f"{service}/")
    assert index.status_code == 200
    assert index.json() == {"service": "shop", "version": "dev", "products": 3}
    assert _get(f"{service}/products/nope").status_code == 404
