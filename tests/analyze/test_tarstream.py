"""The fast tar walker: same entries as tarfile on every format, chunk edges, bad input."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from dockyard.analyze import Entry, EntryKind, read_layer
from dockyard.errors import ArchiveError, IntegrityError
from dockyard.image.base import VerifyingReader
from dockyard.oci import Descriptor, Digest
from tests.analyze.images import layer_tar

_KINDS = {
    tarfile.REGTYPE: EntryKind.FILE,
    tarfile.AREGTYPE: EntryKind.FILE,
    tarfile.DIRTYPE: EntryKind.DIR,
    tarfile.SYMTYPE: EntryKind.SYMLINK,
    tarfile.LNKTYPE: EntryKind.HARDLINK,
}


def _info(name: str, type_: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = type_
    info.linkname = link
    info.mtime = 1_700_000_000
    return info


def _members() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Names and types that exercise long names, ustar prefixes, links, odd bytes, sizes."""
    deep = "/".join(f"dir{i:02d}" for i in range(30))  # > 255 bytes: a long name
    prefixed = "p" * 90 + "/" + "q" * 80 + "/file"  # fits ustar's prefix + name
    out: list[tuple[tarfile.TarInfo, bytes | None]] = [
        (_info("etc/", tarfile.DIRTYPE), None),
        (_info("etc/empty"), b""),
        (_info("etc/block"), b"b" * 512),
        (_info("etc/odd"), os.urandom(1000)),
        (_info(prefixed), b"prefixed"),
        (_info(deep + "/leaf"), b"deep"),
        (_info("usr/lib/caf\u00e9"), b"utf-8 name"),
        (_info("usr/lib/lat\udce9"), b"latin-1 byte kept as a surrogate"),
        (_info("bin/sh", tarfile.SYMTYPE, "busybox"), None),
        (_info("bin/long", tarfile.SYMTYPE, "../" + "t" * 150), None),
        (_info("bin/hard", tarfile.LNKTYPE, "etc/odd"), None),
        (_info("dev/null", tarfile.CHRTYPE), None),
        (_info("run/fifo", tarfile.FIFOTYPE), None),
        (_info("./dot//slashes/"), b"x"),
        (_info("etc/.wh..wh..opq"), b""),
        (_info("etc/.wh.gone"), b""),
        (_info("big"), os.urandom(3 << 20)),  # crosses the reader's chunks
    ]
    return out


def _archive(fmt: int, members: list[tuple[tarfile.TarInfo, bytes | None]] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8") as tar:
        for info, data in members if members is not None else _members():
            if fmt == tarfile.USTAR_FORMAT and (len(info.name) > 255 or len(info.linkname) > 100):
                continue
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _expected(blob: bytes) -> list[Entry]:
    """What the entries are by Python's tarfile (names cleaned as dive does)."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        for member in tar:
            path = os.path.normpath("/" + member.name).lstrip("/")
            if not path or path == ".":
                continue
            kind = _KINDS.get(member.type, EntryKind.OTHER)
            digest = None
            if member.isreg() and member.size >= 1:
                data = tar.extractfile(member)
                assert data is not None
                digest = "sha256:" + hashlib.sha256(data.read()).hexdigest()
            out.append(Entry(path, kind, member.size, digest, member.linkname))
    return out


def _read(stream: object, **kwargs: object) -> tuple[list[Entry], int]:
    found: list[Entry] = []
    size = read_layer(stream, found.append, **kwargs)  # type: ignore[arg-type]
    return found, size


class _Trickle(io.RawIOBase):
    """A stream handing out at most ``step`` bytes per read: every chunk edge gets hit."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize(
    "fmt",
    [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT],
    ids=["gnu", "pax", "ustar"],
)
def test_same_entries_as_tarfile_in_every_format(fmt: int) -> None:
    blob = _archive(fmt)
    entries, size = _read(io.BytesIO(blob))
    assert entries == _expected(blob)
    assert size == len(blob)
    assert any(e.path.startswith("p" * 90 + "/") for e in entries)
    assert ("dot/slashes", EntryKind.FILE) in [(e.path, e.kind) for e in entries]


@pytest.mark.parametrize("step", [1000, 511, 4097], ids=["1000", "511", "4097"])
def test_headers_and_data_split_anywhere(step: int) -> None:
    blob = _archive(tarfile.PAX_FORMAT)
    entries, size = _read(_Trickle(blob, step))
    assert entries == _expected(blob)
    assert size == len(blob)


@pytest.mark.parametrize(
    "compress",
    [
        lambda b: gzip.compress(b, compresslevel=1),
        lambda b: b"".join(gzip.compress(b[i : i + 70_001]) for i in range(0, len(b), 70_001)),
        lambda b: zstandard.ZstdCompressor().compress(b[:5000]) + zstandard.ZstdCompressor().compress(b[5000:]),
    ],
    ids=["gzip", "gzip-many-members", "zstd-two-frames"],
)  # fmt: skip
def test_compressed_streams_give_the_same_entries(compress: Callable[[bytes], bytes]) -> None:
    blob = _archive(tarfile.GNU_FORMAT)
    entries, size = _read(io.BytesIO(compress(blob)))
    assert entries == _expected(blob)
    assert size == len(blob)


def test_many_small_files_across_gzip_pieces() -> None:
    members = [(_info(f"d{i // 50}/f{i}"), os.urandom(i % 700)) for i in range(3000)]
    blob = _archive(tarfile.PAX_FORMAT, members)
    entries, _ = _read(io.BytesIO(gzip.compress(blob, compresslevel=1)))
    assert entries == _expected(blob)


def test_global_pax_headers_are_not_entries() -> None:
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "made by git"}
    ) as tar:
        info = _info("a")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    blob = buf.getvalue()
    assert blob[156:157] == tarfile.XGLTYPE
    entries, _ = _read(io.BytesIO(blob))
    assert [(e.path, e.size) for e in entries] == [("a", 3)]


def test_pax_size_and_long_name_win_over_the_header() -> None:
    name = "n/" * 80 + "file"
    blob = _archive(tarfile.PAX_FORMAT, [(_info(name), b"z" * 1234)])
    entries, _ = _read(io.BytesIO(blob))
    assert [(e.path, e.size) for e in entries] == [(name, 1234)]


def test_huge_sizes_in_base_256() -> None:
    info = _info("huge", tarfile.DIRTYPE)  # a header-only type: no data follows
    info.size = 9 << 30
    blob = _archive(tarfile.GNU_FORMAT, [(info, None), (_info("after"), b"1")])
    assert blob[124] & 0x80
    entries, _ = _read(io.BytesIO(blob))
    assert [(e.path, e.size) for e in entries] == [("huge", 9 << 30), ("after", 1)]


def test_a_stream_without_end_blocks_is_complete() -> None:
    blob = _archive(tarfile.GNU_FORMAT, [(_info("a"), b"abc")])
    entries, size = _read(io.BytesIO(blob[:1024]))
    assert [e.path for e in entries] == ["a"]
    assert size == 1024


@pytest.mark.parametrize(
    "cut",
    [
        lambda b: b[:700],  # inside the first file's data
        lambda b: b[:1636],  # inside the second header
        lambda b: b[:100],  # inside the first header
        lambda b: b[:1536] + b"\x01" * 512 + b[2048:],  # a second header that is garbage
        lambda b: b[:148] + b"0000000\x00" + b[156:],  # the first header's checksum
    ],
    ids=["in-data", "in-second-header", "in-first-header", "bad-second-header", "bad-checksum"],
)
def test_broken_tar_streams_are_archive_errors(cut: Callable[[bytes], bytes]) -> None:
    blob = _archive(tarfile.GNU_FORMAT, [(_info("a"), b"x" * 600), (_info("b"), b"y")])
    assert blob[1536:1537] == b"b"  # the second header
    with pytest.raises(ArchiveError):
        _read(io.BytesIO(cut(blob)))


@pytest.mark.parametrize(
    "name", ["../etc/passwd", "a/../../etc/passwd", "x/" * 60 + "../" * 62 + "escape"]
)
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
def test_escaping_names_are_refused_however_encoded(name: str, fmt: int) -> None:
    with pytest.raises(ArchiveError, match="outside the root"):
        _read(io.BytesIO(_archive(fmt, [(_info(name), b"x")])))


def test_corrupt_compressed_data_is_an_archive_error() -> None:
    packed = gzip.compress(layer_tar([("a", "f", os.urandom(100_000))]))
    with pytest.raises(ArchiveError, match="not a readable tar stream"):
        read_layer(io.BytesIO(packed[:40] + bytes(300) + packed[340:]), lambda _e: None, where="L")
    frames = zstandard.ZstdCompressor().compress(layer_tar([("a", "f", b"z" * 5000)]))
    with pytest.raises(ArchiveError):
        _read(io.BytesIO(frames[:-10] + b"garbage!!!"))


def test_negative_pax_size_is_refused() -> None:
    info = _info("a")
    info.pax_headers = {"size": "-5"}
    blob = info.tobuf(tarfile.PAX_FORMAT) + bytes(1024)
    with pytest.raises(ArchiveError, match="negative size"):
        _read(io.BytesIO(blob))


def test_oversized_metadata_is_refused() -> None:
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = 64 << 20
    blob = header.tobuf(tarfile.GNU_FORMAT)
    with pytest.raises(ArchiveError, match="metadata"):
        _read(io.BytesIO(blob + bytes(1024)))


def test_gzip_padding_after_the_last_member_is_read_and_ignored() -> None:
    blob = layer_tar([("a", "f", b"abc")])
    packed = gzip.compress(blob) + bytes(5000)
    entries, size = _read(io.BytesIO(packed))
    assert [e.path for e in entries] == ["a"]
    assert size == len(blob)


def _verifying(blob: bytes, claimed: bytes) -> io.BufferedReader:
    descriptor = Descriptor("application/vnd.oci.image.layer.v1.tar", Digest.of(claimed), len(blob))
    return io.BufferedReader(VerifyingReader(io.BytesIO(blob), descriptor), 1 << 20)  # type: ignore[arg-type]


def test_the_blob_is_read_to_its_end_so_its_digest_is_checked() -> None:
    blob = layer_tar([("a", "f", b"abc")]) + bytes(4096)  # padding after the end blocks
    tampered = blob[:-1] + b"\x01"  # a change the tar walk itself never looks at
    entries, _ = _read(_verifying(blob, blob))
    assert [e.path for e in entries] == ["a"]
    with pytest.raises(IntegrityError):
        _read(_verifying(tampered, blob))


def test_a_failing_consumer_stops_the_reading_thread() -> None:
    blob = _archive(tarfile.PAX_FORMAT, [(_info(f"f{i}"), os.urandom(4096)) for i in range(2000)])
    before = threading.active_count()

    def add(entry: Entry) -> None:
        if entry.path == "f10":
            raise RuntimeError("consumer gave up")

    with pytest.raises(RuntimeError, match="gave up"):
        read_layer(io.BytesIO(blob), add)
    assert threading.active_count() == before


def test_progress_counts_the_blob_bytes() -> None:
    blob = gzip.compress(_archive(tarfile.GNU_FORMAT), compresslevel=1)
    seen: list[int] = []
    read_layer(io.BytesIO(blob), lambda _e: None, on_read=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == len(blob)


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is needed to write sparse files")
@pytest.mark.parametrize(
    "options",
    [["--format=gnu"], ["--format=pax", "--sparse-version=0.1"], ["--format=pax", "--sparse-version=1.0"]],
    ids=["gnu", "pax-0.1", "pax-1.0"],
)  # fmt: skip
def test_sparse_files_have_their_real_size(tmp_path: Path, options: list[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with (src / "sparse").open("wb") as out:
        out.truncate(3 << 20)
        out.seek(3 << 20)
        out.write(b"tail")
    (src / "after").write_bytes(b"after")
    subprocess.run(
        ["tar", *options, "-S", "-cf", str(tmp_path / "s.tar"), "-C", str(src), "sparse", "after"],
        check=True,
    )
    entries, _ = _read(io.BytesIO((tmp_path / "s.tar").read_bytes()))
    sizes = {e.path: (e.size, e.digest) for e in entries}
    assert sizes["sparse"] == ((3 << 20) + 4, None)  # sparse contents are not hashed
    assert sizes["after"] == (5, "sha256:" + hashlib.sha256(b"after").hexdigest())
