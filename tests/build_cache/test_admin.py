"""``dockyard cache du|prune``, the GC roots of cached layers, the size cap and the build lease."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dockyard.build.cache_admin import CacheLease, prune
from dockyard.cli import app
from dockyard.store.store import Store
from tests.build_cache.test_shared_cache import SERVICE, build, cache_stats, context


def cli(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def du() -> dict[str, dict[str, int]]:
    data: dict[str, dict[str, int]] = json.loads(cli("cache", "du", "--format", "json").stdout)
    return data


@pytest.mark.runc
def test_du_and_rmi_never_deletes_blobs_the_cache_records(
    busybox_oci: Path, tmp_path: Path
) -> None:
    ctx = context(tmp_path / "ctx")
    assert cache_stats(build(busybox_oci, ctx, "-t", "app:1")) == (0, 7)
    usage = du()
    assert usage["records"]["count"] == 7
    assert usage["layers"]["count"] >= 7  # the base layer's directory too
    assert usage["blobs"]["count"] == 5  # the build stage's layers: in no tagged image
    assert usage["blobs"]["bytes"] > 0
    assert usage["layers"]["bytes"] > 0
    assert usage["total"] >= usage["layers"]["bytes"] + usage["blobs"]["bytes"]
    text = cli("cache", "du").stdout
    assert "step records" in text
    assert "Total:" in text

    cli("rmi", "app:1")
    assert cache_stats(build(busybox_oci, ctx)) == (7, 0)


@pytest.mark.runc
def test_prune_default_filter_keep_storage_and_all(busybox_oci: Path, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx")
    other = context(tmp_path / "other", "FROM dybase:1\nRUN echo other > /other\n")
    assert cache_stats(build(busybox_oci, ctx, "-t", "app:1")) == (0, 7)
    assert cache_stats(build(busybox_oci, other)) == (0, 1)

    # LRU: every record is old, then a no-op rebuild of `other` touches its record
    old = time.time() - 3 * 3600
    for record in (Path(os.environ["DOCKYARD_HOME"]) / "cache" / "steps").iterdir():
        os.utime(record, (old, old))
    assert cache_stats(build(busybox_oci, other)) == (1, 0)
    pruned = json.loads(cli("cache", "prune", "--filter", "until=1h", "--format", "json").stdout)
    assert pruned["records"] == 7
    assert pruned["reclaimed"] > 0
    assert cache_stats(build(busybox_oci, other)) == (1, 0)
    assert du()["records"]["count"] == 1

    # default prune: keeps what a tagged image uses, drops the rest
    assert cache_stats(build(busybox_oci, ctx, "-t", "app:1")) == (0, 7)
    cli("cache", "prune")
    assert cache_stats(build(busybox_oci, ctx, "-t", "app:1")) == (2, 5)

    out = cli("cache", "prune", "--keep-storage", "1B").stdout
    assert "Total reclaimed space" in out
    assert du()["records"]["count"] == 0
    assert cache_stats(build(busybox_oci, other)) == (0, 1)

    cli("cache", "prune", "--all")
    usage = du()
    assert usage["records"]["count"] == 0
    assert usage["layers"]["count"] == 0
    assert usage["blobs"]["count"] == 0
    assert Store.open().has("app:1")  # images are never pruned


@pytest.mark.runc
def test_the_automatic_cap_prunes_after_a_build(
    busybox_oci: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = context(tmp_path / "ctx", SERVICE)
    monkeypatch.setenv("DOCKYARD_CACHE_MAX", "1KB")
    assert cache_stats(build(busybox_oci, ctx, "-t", "app:1")) == (0, 7)
    assert du()["records"]["count"] == 0
    monkeypatch.setenv("DOCKYARD_CACHE_MAX", "0")  # off
    assert cache_stats(build(busybox_oci, ctx)) == (0, 7)
    assert du()["records"]["count"] == 7


def test_prune_waits_for_running_builds() -> None:
    store = Store.open()
    lease = CacheLease.acquire(store)
    assert prune(store, all=True, wait=False) is None
    done = threading.Event()

    def run() -> None:
        prune(store, all=True)
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert not done.wait(0.3)
    lease.release()
    assert done.wait(10)
    thread.join()


def test_bad_prune_options_are_usage_errors() -> None:
    for args in (
        ["--filter", "type=regular"],
        ["--keep-storage", "lots"],
        ["-a", "--filter", "until=1h"],
    ):
        result = CliRunner().invoke(app, ["cache", "prune", *args])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ")


@pytest.mark.runc
def test_two_builds_and_a_prune_at_once_share_one_home(
    busybox_oci: Path, tmp_path: Path, dockyard_home: Path
) -> None:
    exe = Path(sys.executable).with_name("dockyard")
    env = {**os.environ, "DOCKYARD_HOME": str(dockyard_home)}
    contexts = [
        context(tmp_path / "one"),
        context(tmp_path / "two", "FROM dybase:1\nRUN sleep 1 && echo two > /two\n"),
    ]

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(exe), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    builds = [
        start(
            "build",
            "--progress",
            "plain",
            "--build-context",
            f"dybase:1=oci-layout://{busybox_oci}:1",
            str(ctx),
        )
        for ctx in contexts
    ]
    lock = dockyard_home / "locks" / "buildcache.lock"
    deadline = time.monotonic() + 60
    while _shared_holders(lock) < 2:  # both builds hold their lease
        assert time.monotonic() < deadline
        assert all(b.poll() is None for b in builds)
        time.sleep(0.05)
    pruner = start("cache", "prune", "--all")
    for proc in [*builds, pruner]:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    # the prune waited for both builds, then removed everything they left
    assert du()["records"]["count"] == 0
    assert cache_stats(build(busybox_oci, contexts[1])) == (0, 1)


def _shared_holders(lock: Path) -> int:
    """How many shared flocks are held on ``lock`` (from /proc/locks)."""
    try:
        inode = lock.stat().st_ino
    except FileNotFoundError:
        return 0
    count = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        held = "->" not in fields and "FLOCK" in fields and "READ" in fields
        if held and fields[-3].endswith(f":{inode}"):
            count += 1
    return count
