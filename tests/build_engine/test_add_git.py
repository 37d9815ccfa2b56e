"""ADD of a git repository, served by a real `git daemon` on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.build.git import GitRef, is_git_ref, parse_git_ref
from dockyard.errors import UsageError
from tests.build_engine.test_build import build, write
from tests.conftest import free_port

pytestmark = pytest.mark.runc

BASE = "dybase:1"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A repository with a tag and a subdirectory, and its git:// URL on loopback."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "a.txt").write_text("a v1\n")
    (work / "sub").mkdir()
    (work / "sub" / "b.txt").write_text("b v1\n")
    (work / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (work / "run.sh").chmod(0o755)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "one")
    git(work, "tag", "-a", "v1", "-m", "v1")
    served = tmp_path / "served"
    served.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(work), str(served / "repo.git"))
    port = free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}",
         "--listen=127.0.0.1", f"--port={port}", str(served)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "git daemon did not start"
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}/repo.git", work
    finally:
        daemon.terminate()
        daemon.wait()


def test_git_references() -> None:
    assert is_git_ref("https://github.com/moby/buildkit.git#v0.10.1")
    assert is_git_ref("git@github.com:moby/buildkit.git")
    assert is_git_ref("git://host/repo")
    assert is_git_ref("https://github.com/moby/buildkit")
    assert not is_git_ref("https://example.com/tool.tar.gz")
    assert not is_git_ref("src/")
    assert parse_git_ref("git://h/r.git#main:docs/") == GitRef("git://h/r.git", "main", "docs")
    assert parse_git_ref("git://h/r.git") == GitRef("git://h/r.git")
    with pytest.raises(UsageError):
        parse_git_ref("git://h/r.git#main:../etc")


def test_add_a_git_repository(busybox_oci: Path, tmp_path: Path, repo: tuple[str, Path]) -> None:
    url, work = repo
    ctx = write(
        tmp_path / "ctx",
        f"FROM {BASE}\n"
        f"ADD {url}#v1 /src\n"
        f"ADD {url}#main:sub /sub\n"
        f"ADD --keep-git-dir=true {url} /withgit\n",
    )
    out = tmp_path / "out"
    first = build(busybox_oci, ctx, "-o", f"type=local,dest={out}", "--format", "json")
    assert first.exit_code == 0, first.output
    assert (out / "src" / "a.txt").read_text() == "a v1\n"
    assert (out / "src" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert not (out / "src" / ".git").exists()
    assert (out / "sub" / "b.txt").read_text() == "b v1\n"
    assert not (out / "sub" / "a.txt").exists()
    assert (out / "withgit" / ".git").is_dir()
    assert (out / "src" / "a.txt").stat().st_uid == 0

    # a new commit on main: the subdir step and the HEAD step are built again, the tag hits
    (work / "sub" / "b.txt").write_text("b v2\n")
    git(work, "commit", "-q", "-am", "two")
    served = tmp_path / "served" / "repo.git"
    git(work, "push", "-q", str(served), "main")
    second = build(busybox_oci, ctx, "--explain-cache", "--format", "json")
    assert second.exit_code == 0, second.output
    steps = json.loads(second.stdout)["dockyard.cache"]["steps"]
    assert [s["cached"] for s in steps] == [True, False, False]
    assert steps[1]["reason"].startswith(f"git {url} moved: ")


def test_a_missing_ref_is_a_clear_error(
    busybox_oci: Path, tmp_path: Path, repo: tuple[str, Path]
) -> None:
    url, _ = repo
    ctx = write(tmp_path / "ctx", f"FROM {BASE}\nADD {url}#no-such-branch /src\n")
    result = build(busybox_oci, ctx)
    assert result.exit_code == 1
    assert "has no ref 'no-such-branch'" in result.stderr
