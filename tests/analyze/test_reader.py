"""Reading layer blobs: compression, hashing while streaming, one read per blob, bad input."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import tracemalloc
from pathlib import Path

import pytest
import zstandard

from dockyard.analyze import Entry, EntryKind, analyze_image, read_layer
from dockyard.errors import ArchiveError
from tests.analyze.images import BuiltImage, layer_tar, scenarios

LAYER = layer_tar([("etc/", "d", b""), ("etc/motd", "f", b"hello\n"), ("bin/sh", "l", b"busybox")])


def _entries(blob: bytes, **kwargs: object) -> tuple[list[Entry], int]:
    found: list[Entry] = []
    size = read_layer(io.BytesIO(blob), found.append, **kwargs)  # type: ignore[arg-type]
    return found, size


@pytest.mark.parametrize(
    "compress",
    [
        lambda b: b,
        gzip.compress,
        lambda b: gzip.compress(b[:700]) + gzip.compress(b[700:]),  # concatenated members
        lambda b: zstandard.ZstdCompressor().compress(b),
    ],
    ids=["tar", "gzip", "gzip-multi-member", "zstd"],
)
def test_every_compression_gives_the_same_entries(compress: object) -> None:
    entries, size = _entries(compress(LAYER))  # type: ignore[operator]
    assert size == len(LAYER)
    assert [(e.path, e.kind) for e in entries] == [
        ("etc", EntryKind.DIR),
        ("etc/motd", EntryKind.FILE),
        ("bin/sh", EntryKind.SYMLINK),
    ]
    assert entries[1].digest == "sha256:" + hashlib.sha256(b"hello\n").hexdigest()
    assert entries[2].link == "busybox"


def test_hashing_can_be_turned_off_or_limited() -> None:
    assert all(e.digest is None for e in _entries(LAYER, hash_min_size=None)[0])
    assert all(e.digest is None for e in _entries(LAYER, hash_min_size=7)[0])


def test_empty_blob_is_an_empty_layer() -> None:
    assert _entries(b"") == ([], 0)


@pytest.mark.parametrize(
    "blob",
    [
        gzip.compress(LAYER)[:-40],
        b"this is not a tar file at all" * 40,
        layer_tar([("big", "f", b"b" * 5000)])[:3000],
    ],
    ids=["truncated-gzip", "garbage", "truncated-tar"],
)
def test_broken_layers_are_archive_errors(blob: bytes) -> None:
    with pytest.raises(ArchiveError):
        _entries(blob)


def test_entry_leaving_the_root_is_refused() -> None:
    with pytest.raises(ArchiveError, match="outside the root"):
        _entries(layer_tar([("../etc/passwd", "f", b"x")]))


def test_names_are_cleaned_like_dive_does() -> None:
    entries, _ = _entries(
        layer_tar([("./", "d", b""), ("./usr//bin/", "d", b""), ("/x", "f", b"")])
    )
    assert [e.path for e in entries] == ["usr/bin", "x"]


def test_each_blob_is_opened_once() -> None:
    image = scenarios()["overwrite-whiteout-opaque"].image()
    analyze_image(image)
    layer_digests = [d.digest for d in image.layers]
    assert sorted(image.opened, key=str) == sorted(
        [image.manifest.config.digest, *layer_digests], key=str
    )


def test_memory_is_bounded_by_paths_not_bytes(tmp_path: Path) -> None:
    big = tmp_path / "big.tar"
    with tarfile.open(big, "w") as tar:
        info = tarfile.TarInfo("huge.bin")
        info.size = 64 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    blob = gzip.compress(big.read_bytes(), compresslevel=1)
    tracemalloc.start()
    try:
        entries, size = _entries(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size >= 64 << 20
    assert entries[0].digest == "sha256:" + hashlib.sha256(bytes(64 << 20)).hexdigest()
    assert peak < 16 << 20  # a few chunk buffers, never the file


def test_gzip_layers_through_an_image() -> None:
    test = BuiltImage.of([("a", "f", b"1" * 100)], [("a", "f", b"2" * 200)])
    test.layers = [gzip.compress(b) for b in test.layers]
    test.gzip_layers = True
    report = analyze_image(test.image())
    assert report.layers[0].compressed_size == len(test.layers[0])
    assert report.layers[0].size == len(gzip.decompress(test.layers[0]))
    assert report.overwritten_bytes == 100
    assert report.layers[1].diff_id.startswith("sha256:")
