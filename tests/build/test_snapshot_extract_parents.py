"""Layer extraction remembers checked parent directories, yet never writes through a replaced one."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.build.snapshot import extract_layer
from dockyard.errors import ArchiveError


def _tar(entries: list[tuple[str, bytes, str]]) -> bytes:
    """(name, type, linkname) entries; regular files hold b"x"."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.linkname = link
            data = b"x" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


D, F, S, L = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


@pytest.mark.parametrize(
    "entries",
    [
        # a checked directory replaced by a symlink, then written through
        [("a/", D, ""), ("a/b/", D, ""), ("a/b/x", F, ""), ("a", S, "OUT"), ("a/evil", F, "")],
        # the same one level down, with a relative link climbing out
        [("a/b/x", F, ""), ("a/b", S, "../.."), ("a/b/evil", F, "")],
        # replaced by a hard link to a file, then used as a parent
        [("f", F, ""), ("a/x", F, ""), ("a", L, "f"), ("a/evil", F, "")],
    ],
    ids=["dir-then-abs-symlink", "nested-rel-symlink", "dir-then-hardlink"],
)
def test_replaced_parent_is_checked_again(
    tmp_path: Path, entries: list[tuple[str, bytes, str]]
) -> None:
    dest = tmp_path / "layer"
    outside = tmp_path / "outside"
    outside.mkdir()
    entries = [(n, k, str(outside) if link == "OUT" else link) for n, k, link in entries]
    try:
        extract_layer(io.BytesIO(_tar(entries)), dest)
    except ArchiveError:
        pass
    else:  # a hard link replacing a dir: "a/evil" must then replace the file, not escape
        assert (dest / "a").is_dir()
        assert not (dest / "a").is_symlink()
    assert not (tmp_path / "evil").exists()
    assert not (outside / "evil").exists()


def test_whiteout_then_symlink_then_child(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    entries = [
        ("d/sub/f", F, ""),
        ("d/.wh.sub", F, ""),  # the checked "d/sub" becomes a whiteout device
        ("d/sub", S, str(outside)),
        ("d/sub/evil", F, ""),
    ]
    with pytest.raises(ArchiveError):
        extract_layer(io.BytesIO(_tar(entries)), tmp_path / "layer")
    assert not (outside / "evil").exists()


def test_many_files_in_deep_directories(tmp_path: Path) -> None:
    entries = [(f"a/b/c/d{i % 7}/f{i}", F, "") for i in range(300)]
    extract_layer(io.BytesIO(_tar(entries)), tmp_path / "layer")
    assert len(list((tmp_path / "layer").rglob("f*"))) == 300
    assert (tmp_path / "layer" / "a" / "b" / "c" / "d3" / "f3").read_bytes() == b"x"
