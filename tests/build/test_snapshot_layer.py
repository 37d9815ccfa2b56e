"""Layer extraction, overlay snapshots and upper-dir/plain-dir layer tars (real overlayfs)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockyard.build.layer import Compression, write_layer_from_dir, write_layer_from_upper
from dockyard.build.snapshot import OPAQUE_XATTR, Snapshotter, extract_layer
from dockyard.errors import ArchiveError

pytestmark = pytest.mark.runc


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, **kw: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644 if kind != tarfile.DIRTYPE else 0o755
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def test_extract_busybox(busybox_lower: Path) -> None:
    assert (busybox_lower / "bin" / "busybox").is_file()
    assert (busybox_lower / "bin" / "sh").exists()
    assert (busybox_lower / "etc" / "passwd").is_file()


def test_extract_whiteouts_metadata_and_links(tmp_path: Path) -> None:
    data = _tar(
        [
            (_info("d", tarfile.DIRTYPE, mtime=1000, uid=5, gid=6), b""),
            (_info("d/f", mtime=2000, uid=7, gid=8, mode=0o4750), b"hello"),
            (_info("d/h", tarfile.LNKTYPE, linkname="d/f"), b""),
            (_info("d/s", tarfile.SYMTYPE, linkname="/etc/passwd"), b""),
            (_info("d/.wh.gone"), b""),
            (_info("o", tarfile.DIRTYPE), b""),
            (_info("o/.wh..wh..opq"), b""),
            (_info("x", pax_headers={"SCHILY.xattr.user.k": "v"}, mtime=3), b"x"),
        ]
    )
    dest = tmp_path / "layer"
    extract_layer(io.BytesIO(gzip.compress(data)), dest)
    st = os.lstat(dest / "d" / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime) == (7, 8, 0o4750, 2000)
    assert (dest / "d" / "f").read_bytes() == b"hello"
    assert os.lstat(dest / "d" / "h").st_ino == st.st_ino
    assert os.readlink(dest / "d" / "s") == "/etc/passwd"
    gone = os.lstat(dest / "d" / "gone")
    assert stat.S_ISCHR(gone.st_mode)
    assert gone.st_rdev == 0
    assert os.getxattr(dest / "o", OPAQUE_XATTR) == b"y"
    assert os.getxattr(dest / "x", "user.k") == b"v"
    assert os.lstat(dest / "d").st_mtime == 1000  # set after its children
    # zstd works too
    extract_layer(io.BytesIO(zstandard.ZstdCompressor().compress(data)), tmp_path / "z")
    assert (tmp_path / "z" / "d" / "f").read_bytes() == b"hello"


@pytest.mark.parametrize(
    "entries",
    [
        [(_info("../evil"), b"x")],
        [(_info("a/../../evil"), b"x")],
        [(_info("l", tarfile.SYMTYPE, linkname="/tmp"), b""), (_info("l/evil"), b"x")],
        [(_info("l", tarfile.SYMTYPE, linkname=".."), b""), (_info("l/evil"), b"x")],
        [(_info("h", tarfile.LNKTYPE, linkname="../../etc/passwd"), b"")],
        [(_info("h", tarfile.LNKTYPE, linkname="not/here"), b"")],
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "abs-symlink",
        "rel-symlink",
        "hardlink-out",
        "hardlink-missing",
    ],
)
def test_extract_refuses_escapes(
    tmp_path: Path, entries: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    with pytest.raises(ArchiveError):
        extract_layer(io.BytesIO(_tar(entries)), tmp_path / "layer")
    assert not (tmp_path / "evil").exists()


def test_corrupt_layer_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError):
        extract_layer(io.BytesIO(gzip.compress(b"not a tar" * 100)[:50]), tmp_path / "layer")


def test_snapshot_diff_whiteouts_opaque_and_parents(busybox_lower: Path, tmp_path: Path) -> None:
    snapshots = Snapshotter()
    kept = tmp_path / "step1"
    with snapshots.mount([busybox_lower]) as snap:
        (snap.merged / "x").write_text("hi\n")
        (snap.merged / "bin" / "ls").unlink()
        (snap.merged / "d").mkdir()
        (snap.merged / "etc" / "new").mkdir()
        (snap.merged / "etc" / "new" / "f").write_text("f")
        # replace a lower directory: overlayfs makes it opaque
        shutil.rmtree(snap.merged / "home")
        (snap.merged / "home").mkdir()
        (snap.merged / "home" / "me").write_text("me")
        blob = write_layer_from_upper(snap.upper, [busybox_lower], tmp_path / "out")
        snap.keep_upper(kept)
    names = [m.name for m in _members(blob.path)]
    assert names == [
        "bin",
        "bin/.wh.ls",
        "d",
        "etc",
        "etc/new",
        "etc/new/f",
        "home",
        "home/.wh..wh..opq",
        "home/me",
        "x",
    ]
    assert blob.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert blob.path.name == blob.digest.removeprefix("sha256:")
    # the upper directory survives as the next step's lower layer
    assert stat.S_ISCHR(os.lstat(kept / "bin" / "ls").st_mode)
    with snapshots.mount([busybox_lower, kept]) as snap:
        assert not (snap.merged / "bin" / "ls").exists()
        assert (snap.merged / "x").read_text() == "hi\n"
        assert sorted(os.listdir(snap.merged / "home")) == ["me"]
        blob2 = write_layer_from_upper(snap.upper, [busybox_lower, kept], tmp_path / "out")
    assert blob2.entries == 0


def test_unchanged_copied_up_directory_is_left_out(busybox_lower: Path, tmp_path: Path) -> None:
    with Snapshotter().mount([busybox_lower]) as snap:
        (snap.merged / "etc" / "tmpfile").write_text("x")
        (snap.merged / "etc" / "tmpfile").unlink()  # etc is copied up, but nothing changed
        blob = write_layer_from_upper(snap.upper, [busybox_lower], tmp_path / "out")
    assert [m.name for m in _members(blob.path)] == []


def test_many_lower_layers(tmp_path: Path) -> None:
    """More than the kernel's 500-layer stack and more than a page of mount options."""
    lowers = []
    for i in range(520):
        layer = tmp_path / f"a-rather-long-directory-name-for-layer-number-{i:04d}"
        layer.mkdir()
        (layer / f"f{i}").write_text(str(i))
        lowers.append(layer)
    (lowers[-1] / "f0").write_text("top")
    with Snapshotter().mount(lowers) as snap:
        names = os.listdir(snap.merged)
        assert len(names) == 520
        assert (snap.merged / "f0").read_text() == "top"
        assert (snap.merged / "f519").read_text() == "519"


def test_snapshot_cleans_up_after_an_exception(busybox_lower: Path, dockyard_home: Path) -> None:
    seen: list[Path] = []

    def fail() -> None:
        with Snapshotter().mount([busybox_lower]) as snap:
            seen.append(snap.merged)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    merged = seen[0]
    assert not merged.exists()
    assert str(merged) not in Path("/proc/self/mounts").read_text()
    assert list((dockyard_home / "snapshots" / "active").iterdir()) == []


def test_layer_from_dir_is_reproducible(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "app" / "sub").mkdir(parents=True)
    (root / "app" / "b").write_text("b" * 1000)
    (root / "app" / "a").write_text("a")
    os.link(root / "app" / "a", root / "app" / "sub" / "hard")
    (root / "app" / "link").symlink_to("a")
    os.chown(root / "app" / "b", 1000, 1001)
    blob1 = write_layer_from_dir(root, tmp_path / "o1", source_date_epoch=100)
    for path in root.rglob("*"):
        os.utime(path, (5000, 5000), follow_symlinks=False)
    blob2 = write_layer_from_dir(root, tmp_path / "o2", source_date_epoch=100)
    assert (blob1.digest, blob1.diff_id) == (blob2.digest, blob2.diff_id)
    members = _members(blob1.path)
    assert [m.name for m in members] == [
        "app",
        "app/a",
        "app/b",
        "app/link",
        "app/sub",
        "app/sub/hard",
    ]
    by_name = {m.name: m for m in members}
    assert {m.mtime for m in members} == {100}
    assert by_name["app/sub/hard"].islnk()
    assert by_name["app/sub/hard"].linkname == "app/a"
    assert by_name["app/link"].issym()
    assert (by_name["app/b"].uid, by_name["app/b"].gid) == (1000, 1001)
    assert all(m.uname == "" and m.gname == "" for m in members)
    # the gzip header carries no name and no time
    header = blob1.path.read_bytes()[:10]
    assert header[3] == 0
    assert header[4:8] == b"\0\0\0\0"


def test_diff_id_is_independent_of_compression(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(os.urandom(100_000))
    blobs = {
        c: write_layer_from_dir(root, tmp_path / c.value, compression=c, source_date_epoch=0)
        for c in Compression
    }
    assert len({b.diff_id for b in blobs.values()}) == 1
    assert blobs[Compression.NONE].digest == blobs[Compression.NONE].diff_id
    assert blobs[Compression.ZSTD].media_type.endswith("+zstd")
    with blobs[Compression.ZSTD].path.open("rb") as fh:
        raw = zstandard.ZstdDecompressor().stream_reader(fh).read()
    assert raw == blobs[Compression.NONE].path.read_bytes()
    assert gzip.decompress(blobs[Compression.GZIP].path.read_bytes()) == raw
    for blob in blobs.values():
        assert blob.size == blob.path.stat().st_size
