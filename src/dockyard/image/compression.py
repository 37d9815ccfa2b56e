"""Layer compression: recognise gzip/zstd/plain by their first bytes and open a decompressed stream."""

from __future__ import annotations

import io
from typing import BinaryIO, cast

import zstandard
from isal.igzip_lib import IsalError

__all__ = ["DECOMPRESSION_ERRORS", "GZIP_MAGIC", "ZSTD_MAGIC", "open_decompressed", "sniff"]

DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # gzip.BadGzipFile, truncated reads
    EOFError,  # a member cut short
    zstandard.ZstdError,
    cast("type[BaseException]", IsalError),  # ISA-L's own; its stub declares an instance
)
"""What reading a corrupt or truncated compressed layer can raise; callers translate them."""

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


def sniff(head: bytes) -> str:
    """``"gzip"``, ``"zstd"`` or ``"none"`` from the first bytes of a blob."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def open_decompressed(stream: BinaryIO, compression: str | None = None) -> BinaryIO:
    """The uncompressed bytes of a layer blob; the compression is sniffed unless given.

    gzip uses ISA-L when installed (several times faster than zlib) and reads concatenated
    members (pigz output, appended layers); zstd reads across frames. Closing the result
    closes ``stream``. Decompression errors surface as OSError/EOFError/zstandard.ZstdError.
    """
    if compression is None:
        buffered = (
            stream
            if isinstance(stream, io.BufferedReader)
            else io.BufferedReader(cast("io.RawIOBase", stream), _CHUNK)
        )
        compression = sniff(buffered.peek(4)[:4])
        stream = cast("BinaryIO", buffered)
    if compression == "gzip":
        from isal import igzip

        return cast("BinaryIO", igzip.IGzipFile(fileobj=stream, mode="rb"))  # type: ignore[no-untyped-call]
    if compression == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(
            stream, read_size=_CHUNK, read_across_frames=True, closefd=True
        )
        return cast("BinaryIO", reader)
    return stream
