"""Many-entry COPY goes through tar; the result is the same as copying entry by entry."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.build import copy as copy_module
from dockyard.build.context import BuildContext
from dockyard.build.copy import CopyRequest, copy_selection


def _context(root: Path) -> Path:
    for d in range(6):
        sub = root / "src" / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(60):
            (sub / f"f{f}.txt").write_text(f"{d}-{f}\n")
    (root / "src" / "d0" / "run.sh").write_text("#!/bin/sh\n")
    (root / "src" / "d0" / "run.sh").chmod(0o755)
    (root / "src" / "link").symlink_to("d0/run.sh")
    (root / "src" / "d1" / "skip.log").write_text("ignored\n")
    os.link(root / "src" / "d2" / "f1.txt", root / "src" / "d2" / "hard.txt")
    (root / ".dockerignore").write_text("**/*.log\n")
    os.utime(
        root / "src" / "d3" / "f3.txt", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789)
    )
    return root


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            content = (
                path.read_bytes()
                if stat.S_ISREG(st.st_mode)
                else os.readlink(path)
                if path.is_symlink()
                else b""
            )
            out[rel] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                content,
                st.st_mtime_ns if stat.S_ISREG(st.st_mode) else 0,
            )
    return out


@pytest.mark.parametrize("chown", [None, (1000, 1000)])
def test_tar_path_equals_entry_by_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chown: tuple[int, int] | None
) -> None:
    ctx = BuildContext(_context(tmp_path / "ctx"))
    selection = ctx.select(["src"])
    assert len(selection.matches[0].entries) > copy_module._TAR_FROM
    request = CopyRequest(sources=("src",), dest="/app", dest_is_dir=True, chown=chown)
    by_tar = tmp_path / "tar"
    by_tar.mkdir()
    copy_selection(ctx.root, selection.matches, by_tar, request)
    monkeypatch.setattr(copy_module, "_TAR_FROM", 10**9)
    by_python = tmp_path / "python"
    by_python.mkdir()
    copy_selection(ctx.root, selection.matches, by_python, request)
    assert _tree(by_tar) == _tree(by_python)
    assert not (by_tar / "app" / "d1" / "skip.log").exists()
    assert (by_tar / "app" / "link").is_symlink()
    assert (by_tar / "app" / "d3" / "f3.txt").stat().st_mtime_ns == 1_600_000_000_123_456_789
