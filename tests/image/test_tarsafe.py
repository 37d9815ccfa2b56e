"""Unsafe tarballs: ../ paths, absolute paths, symlinks and hard links leaving the root."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.errors import ArchiveError
from dockyard.image.tarfiles import TarFiles
from dockyard.image.tarsafe import clean_name, extract


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    data = data or {}
    with tarfile.open(path, "w") as tar:
        for info in members:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


UNSAFE = [
    ([_file("../evil")], {"../evil": b"x"}),
    ([_file("a/../../evil")], {"a/../../evil": b"x"}),
    ([_file("/etc/evil")], {"/etc/evil": b"x"}),
    ([_link("ln", "/etc/passwd", tarfile.SYMTYPE)], {}),
    ([_link("a/ln", "../../etc", tarfile.SYMTYPE)], {}),
    ([_link("hard", "/etc/passwd", tarfile.LNKTYPE)], {}),
    ([_link("hard", "../outside", tarfile.LNKTYPE)], {}),
]


@pytest.mark.parametrize(("members", "data"), UNSAFE)
def test_unsafe_members_are_refused(
    tmp_path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]
) -> None:
    archive = _tar(tmp_path / "bad.tar", members, data)
    target = tmp_path / "root" / "target"
    with tarfile.open(archive) as tar, pytest.raises(ArchiveError) as info:
        extract(tar, target)
    assert info.value.exit_code == 2
    assert not (tmp_path / "root" / "evil").exists()
    assert not (tmp_path / "evil").exists()
    with pytest.raises(ArchiveError):
        TarFiles(archive)


def test_symlink_then_file_through_it_is_refused(tmp_path: Path) -> None:
    # a relative symlink that stays inside is fine, but writing through one that
    # was planted to point elsewhere must not escape
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "dir").symlink_to(outside)  # pre-existing symlink on disk
    archive = _tar(tmp_path / "t.tar", [_file("dir/evil")], {"dir/evil": b"x"})
    with tarfile.open(archive) as tar, pytest.raises(ArchiveError, match="symlink"):
        extract(tar, target)
    assert not (outside / "evil").exists()


def test_safe_archive_extracts(tmp_path: Path) -> None:
    members = [
        _file("./a/b.txt"),
        _link("a/rel", "b.txt", tarfile.SYMTYPE),
        _link("a/up", "../a/b.txt", tarfile.SYMTYPE),
        _link("hard", "a/b.txt", tarfile.LNKTYPE),
    ]
    archive = _tar(tmp_path / "ok.tar", members, {"./a/b.txt": b"data"})
    with tarfile.open(archive) as tar:
        names = extract(tar, tmp_path / "out")
    assert names == ["a/b.txt", "a/rel", "a/up", "hard"]
    assert (tmp_path / "out" / "a" / "rel").read_bytes() == b"data"
    assert (tmp_path / "out" / "hard").read_bytes() == b"data"
    files = TarFiles(archive)
    assert files.read("a/b.txt") == b"data"
    assert files.read("hard") == b"data"


def test_devices_are_refused(tmp_path: Path) -> None:
    dev = tarfile.TarInfo("dev")
    dev.type = tarfile.CHRTYPE
    archive = _tar(tmp_path / "dev.tar", [dev])
    with tarfile.open(archive) as tar, pytest.raises(ArchiveError, match="device"):
        extract(tar, tmp_path / "out")


def test_clean_name() -> None:
    assert clean_name("./a//b/./c") == "a/b/c"
    assert clean_name("a/../b") == "b"
    assert clean_name(".") == ""
    for bad in ("..", "../x", "/x", "a/../../x", "a\x00b"):
        with pytest.raises(ArchiveError):
            clean_name(bad)


def test_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(b"this is not a tarball" * 100)
    with pytest.raises(ArchiveError):
        TarFiles(path)


def test_gzip_compressed_tar_is_read(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "ok.tar", [_file("f")], {"f": b"content"})
    import gzip

    gz = tmp_path / "ok.tar.gz"
    gz.write_bytes(gzip.compress(archive.read_bytes()))
    files = TarFiles(gz)
    assert files.read("f") == b"content"
    files.close()
