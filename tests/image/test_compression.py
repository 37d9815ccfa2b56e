"""One way to open compressed layers; corrupt ones fail as ArchiveError, never as a traceback."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockyard.build.snapshot import extract_layer
from dockyard.errors import ArchiveError
from dockyard.image.compression import DECOMPRESSION_ERRORS, open_decompressed, sniff


def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("f")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    ("blob", "kind"),
    [
        (gzip.compress(_tar()), "gzip"),
        (gzip.compress(_tar()[:512]) + gzip.compress(_tar()[512:]), "gzip"),  # two members (pigz)
        (zstandard.ZstdCompressor().compress(_tar()), "zstd"),
        (_tar(), "none"),
    ],
)
def test_every_compression_reads_back(blob: bytes, kind: str) -> None:
    assert sniff(blob[:4]) == kind
    with open_decompressed(io.BytesIO(blob)) as stream:
        assert stream.read() == _tar()


def test_corrupt_gzip_raises_a_known_error() -> None:
    blob = bytearray(gzip.compress(_tar() * 20))
    blob[40] ^= 0xFF
    with pytest.raises(DECOMPRESSION_ERRORS), open_decompressed(io.BytesIO(bytes(blob))) as stream:
        stream.read()


def test_corrupt_layer_is_an_archive_error(tmp_path: Path) -> None:
    # regression: ISA-L's error is not an OSError; extraction used to let it escape
    blob = bytearray(gzip.compress(_tar() * 20))
    blob[40] ^= 0xFF
    with pytest.raises(ArchiveError):
        extract_layer(io.BytesIO(bytes(blob)), tmp_path / "layer")
