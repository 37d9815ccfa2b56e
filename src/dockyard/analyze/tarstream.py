"""A fast single-pass tar walker over a layer blob decompressed on a reading thread.

Python's tarfile costs tens of microseconds per entry and copies every byte several times
through its stream buffers. Here a thread reads the blob into large reusable buffers (and
decompresses gzip with ISA-L, zstd with zstandard), while the caller's thread parses the
512-byte headers in place (ustar, GNU long names and sparse files, PAX records, base-256
numbers) and hashes file contents straight out of those buffers. hashlib, ISA-L and file
reads release the GIL, so reading, decompressing and hashing overlap on two cores.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import queue
import threading
import zlib
from collections.abc import Callable
from typing import BinaryIO, cast

import zstandard
from isal import isal_zlib

from dockyard.analyze.model import Entry, EntryKind
from dockyard.errors import ArchiveError, DockyardError

__all__ = ["CHUNK", "clean_path", "walk_tar"]

CHUNK = 1 << 20
"""Size of the buffers the reading thread fills (and of each decompressed piece)."""

_DEPTH = 4  # chunks in flight between the reading thread and the walker
_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
_MAX_META = 8 << 20  # PAX records and GNU long names larger than this are refused
_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    zlib.error,
    cast("type[BaseException]", isal_zlib.error),  # the stub calls it an instance
    zstandard.ZstdError,
    EOFError,
)
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_USTAR = b"ustar\x00"
_META_TYPES = frozenset((b"x", b"X", b"g", b"L", b"K"))
_HEADER_ONLY = (b"1", b"2", b"3", b"4", b"5", b"6")  # no data follows, whatever the size says

_KINDS = {
    b"0": EntryKind.FILE,
    b"\x00": EntryKind.FILE,
    b"7": EntryKind.FILE,
    b"S": EntryKind.FILE,
    b"5": EntryKind.DIR,
    b"2": EntryKind.SYMLINK,
    b"1": EntryKind.HARDLINK,
}


class _StoppedError(Exception):
    """The walker gave up: the reading thread stops quietly."""


class _Pump:
    """Reads (and decompresses) a blob on its own thread, handing over chunks in order.

    Items are ``(data, length, compressed bytes read so far)``; ``None`` ends the stream,
    an exception instance reports a failure. Plain and zstd data come in reusable
    bytearrays that the walker gives back once done with them.
    """

    def __init__(self, stream: BinaryIO, where: str) -> None:
        self._stream = stream
        self._where = where
        self._queue: queue.Queue[tuple[bytes | bytearray, int, int] | BaseException | None]
        self._queue = queue.Queue(_DEPTH)
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(_DEPTH + 2):
            self._free.put(bytearray(CHUNK))
        self._stop = threading.Event()
        self._read = 0
        self._readinto: Callable[[memoryview], int | None] | None = getattr(
            stream, "readinto", None
        )
        self._thread = threading.Thread(target=self._run, name="dockyard-layer-read", daemon=True)
        self._thread.start()

    # -- the walker's side ----------------------------------------------------------------

    def get(self) -> tuple[bytes | bytearray, int, int] | None:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def give_back(self, buffer: bytearray) -> None:
        self._free.put(buffer)

    def close(self) -> None:
        """Stop the thread (if still running) and wait for it."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # unblock a put on a full queue
                self._queue.get(timeout=0.05)
        self._thread.join()

    # -- the reading thread -----------------------------------------------------------------

    def _put(self, item: tuple[bytes | bytearray, int, int] | BaseException | None) -> None:
        while True:
            if self._stop.is_set():
                raise _StoppedError
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _take(self) -> bytearray:
        while True:
            if self._stop.is_set():
                raise _StoppedError
            try:
                return self._free.get(timeout=0.05)
            except queue.Empty:
                continue

    def _fill(self, buffer: bytearray) -> int:
        """Fill ``buffer`` from the blob as far as it goes; 0 at the end."""
        view = memoryview(buffer)
        got = 0
        size = len(buffer)
        readinto = self._readinto
        while got < size:
            if readinto is not None:
                n = readinto(view[got:]) or 0
            else:
                data = self._stream.read(size - got)
                n = len(data)
                view[got : got + n] = data
            if not n:
                break
            got += n
        self._read += got
        return got

    def _run(self) -> None:
        try:
            buffer = self._take()
            n = self._fill(buffer)
            if n == 0:
                self._free.put(buffer)
            elif buffer.startswith(_GZIP):
                self._gunzip(buffer, n)
            elif buffer.startswith(_ZSTD):
                self._unzstd(buffer, n)
            else:
                self._plain(buffer, n)
            self._put(None)
        except _StoppedError:
            return
        except DockyardError as exc:
            self._report(exc)
        except _STREAM_ERRORS as exc:
            error = ArchiveError(f"layer is not a readable tar stream: {exc}", location=self._where)
            error.__cause__ = exc
            self._report(error)
        except OSError as exc:
            error = ArchiveError(f"cannot read layer: {exc}", location=self._where)
            error.__cause__ = exc
            self._report(error)
        except BaseException as exc:  # noqa: BLE001 - handed over to the walker's thread
            self._report(exc)

    def _report(self, exc: BaseException) -> None:
        with contextlib.suppress(_StoppedError):
            self._put(exc)

    def _plain(self, buffer: bytearray, n: int) -> None:
        while n:
            self._put((buffer, n, self._read))
            buffer = self._take()
            n = self._fill(buffer)
        self._free.put(buffer)

    def _drain(self, buffer: bytearray) -> None:
        """Read the blob to its end (a verifying stream checks its digest there)."""
        while self._fill(buffer):
            if self._stop.is_set():
                raise _StoppedError

    def _gunzip(self, buffer: bytearray, n: int) -> None:
        """Every gzip member in turn (pigz output, appended layers); trailing junk ignored."""
        view = memoryview(buffer)
        data: bytes | memoryview = view[:n]
        inflater = isal_zlib.decompressobj(31)
        while True:
            out = inflater.decompress(data, CHUNK)
            data = inflater.unconsumed_tail
            if out:
                self._put((out, len(out), self._read))
            if inflater.eof:
                rest: bytes | memoryview = inflater.unused_data
                if len(rest) < len(_GZIP):
                    n = self._fill(buffer)
                    rest = bytes(rest) + view[:n].tobytes() if rest else view[:n]
                if not rest:
                    return
                if bytes(rest[: len(_GZIP)]) != _GZIP:
                    self._drain(buffer)  # padding after the last member
                    return
                inflater = isal_zlib.decompressobj(31)
                data = rest
                continue
            if data or len(out) == CHUNK:
                continue  # more input left, or output pending inside the inflater
            n = self._fill(buffer)
            if not n:
                raise ArchiveError(
                    "gzip stream ends in the middle of a member", location=self._where
                )
            data = view[:n]

    def _unzstd(self, buffer: bytearray, n: int) -> None:
        head = bytes(buffer[:n])
        pump = self

        class _Source:
            def read(self, size: int = -1) -> bytes:
                nonlocal head
                if head:
                    data, head = head, b""
                    return data
                data = pump._stream.read(size)
                pump._read += len(data)
                return data

        reader = zstandard.ZstdDecompressor().stream_reader(
            cast(BinaryIO, _Source()), read_size=CHUNK, read_across_frames=True
        )
        while True:
            view = memoryview(buffer)
            got = 0
            while got < CHUNK:
                step = reader.readinto(view[got:])
                if not step:
                    break
                got += step
            if not got:
                self._free.put(buffer)
                return
            self._put((buffer, got, self._read))
            buffer = self._take()


class _Walker:
    """The tar stream as chunks: small exact reads for headers, skips that may hash."""

    __slots__ = (
        "_buffer", "_end", "_eof", "_on_read", "_pos", "_pump", "_reported", "_view", "total",
    )  # fmt: skip

    def __init__(self, pump: _Pump, on_read: Callable[[int], None]) -> None:
        self._pump = pump
        self._view = memoryview(b"")
        self._pos = 0
        self._end = 0
        self._buffer: bytearray | None = None
        self._on_read = on_read
        self._reported = 0
        self._eof = False
        self.total = 0

    def _next(self) -> bool:
        """Move to the next chunk; False at the end of the stream."""
        if self._buffer is not None:
            self._view.release()
            self._pump.give_back(self._buffer)
            self._buffer = None
        item = None if self._eof else self._pump.get()
        if item is None:
            self._eof = True
            self._view = memoryview(b"")
            self._pos = self._end = 0
            return False
        data, n, read = item
        if isinstance(data, bytearray):
            self._buffer = data
        self._view = memoryview(data)
        self._pos = 0
        self._end = n
        self.total += n
        if read != self._reported:
            self._reported = read
            self._on_read(read)
        return True

    def take(self, n: int) -> bytes | None:
        """Exactly ``n`` bytes; None if the stream ends before the first; ArchiveError if
        it ends inside them.
        """
        pos = self._pos
        if self._end - pos >= n:
            self._pos = pos + n
            return self._view[pos : pos + n].tobytes()
        parts: list[bytes] = []
        want = n
        while want:
            avail = self._end - self._pos
            if not avail:
                if not self._next():
                    if want == n:
                        return None
                    raise ArchiveError("tar stream is truncated inside a header")
                continue
            step = min(avail, want)
            parts.append(self._view[self._pos : self._pos + step].tobytes())
            self._pos += step
            want -= step
        return b"".join(parts)

    def skip(self, n: int, hasher: hashlib._Hash | None = None) -> None:
        """Move ``n`` bytes on, feeding them to ``hasher`` if given."""
        while n:
            avail = self._end - self._pos
            if not avail:
                if not self._next():
                    raise ArchiveError("tar stream is truncated inside a file's data")
                continue
            avail = min(avail, n)
            if hasher is not None:
                hasher.update(self._view[self._pos : self._pos + avail])
            self._pos += avail
            n -= avail

    @property
    def offset(self) -> int:
        """Bytes of the tar stream consumed so far."""
        return self.total - self._end + self._pos

    def drain(self) -> None:
        """Read what follows the end-of-archive marker (counted in the tar size)."""
        self._pos = self._end
        while self._next():
            self._pos = self._end


def _nts(field: bytes) -> bytes:
    end = field.find(0)
    return field if end < 0 else field[:end]


def _number(field: bytes) -> int:
    """A numeric header field: octal text, or GNU base-256 (high bit of the first byte)."""
    if field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative
            value -= 1 << (8 * (len(field) - 1))
        return value
    return int(_nts(field).strip() or b"0", 8)


def _checksum_ok(header: bytes) -> bool:
    """The header checksum: the byte sum with the checksum field as spaces (unsigned, or
    signed as some old tars wrote it).
    """
    stored = _number(header[148:156])
    field = header[148:156]
    # adler32's low half is 1 + the byte sum (mod 65521): the unsigned sum at C speed; the
    # sum cannot exceed 2 * 65521, so only a crafted header could pass by a multiple
    if ((zlib.adler32(header) & 0xFFFF) - 1 - sum(field) + 256 - stored) % 65521 == 0:
        return True
    signed = sum(b - 256 if b > 127 else b for b in header)
    return stored == signed - sum(b - 256 if b > 127 else b for b in field) + 256


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    """The records of a PAX extended header (``LENGTH KEY=VALUE`` and a newline each)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1] != 0x0A:
            raise ArchiveError("tar stream has a malformed PAX header")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise ArchiveError("tar stream has a malformed PAX record")
        records[_text(key)] = _text(value)
        pos = end
    return records


def clean_path(name: str, where: str = "") -> str | None:
    """The entry name as a relative path (``./usr//bin/`` → ``usr/bin``); None for the root.

    ArchiveError when it climbs out of the root (``../x``), as dive and the extractors refuse.
    """
    if name and name[0] not in "./" and "//" not in name and "/." not in name:
        return name.rstrip("/")  # the common case: already clean
    path = posixpath.normpath("/" + name).lstrip("/")
    if not path or path == ".":
        return None
    if posixpath.normpath(name.lstrip("/")).startswith("../"):
        raise ArchiveError(f"layer entry {name!r} points outside the root", location=where)
    return path


def walk_tar(
    stream: BinaryIO,
    add: Callable[[Entry], None],
    *,
    hash_min_size: int | None = 1,
    where: str = "",
    on_read: Callable[[int], None] = lambda _count: None,
) -> int:
    """Walk one layer blob (tar, tar+gzip or tar+zstd) once, calling ``add`` per entry.

    Regular files of at least ``hash_min_size`` bytes are hashed (sha256) on the way;
    ``None`` hashes nothing. The blob is read to its end. Returns the uncompressed size.
    ``on_read`` gets the count of blob bytes read so far, from the caller's thread.
    """
    pump = _Pump(stream, where)
    walker = _Walker(pump, on_read)
    try:
        _walk(walker, add, hash_min_size, where)
        walker.drain()
        return walker.total
    except ArchiveError as exc:
        if exc.location or not where:
            raise
        raise ArchiveError(exc.message, location=where or None, hint=exc.hint) from exc
    finally:
        pump.close()


def _walk(
    walker: _Walker, add: Callable[[Entry], None], hash_min_size: int | None, where: str
) -> None:
    take = walker.take
    skip = walker.skip
    kinds = _KINDS
    sha256 = hashlib.sha256
    hash_from = hash_min_size if hash_min_size is not None else -1
    global_pax: dict[str, str] = {}
    pax: dict[str, str] | None = None
    long_name: bytes | None = None
    long_link: bytes | None = None
    adler32 = zlib.adler32
    while True:
        header = take(_BLOCK)
        if header is None or header == _ZERO_BLOCK:
            return  # the end-of-archive marker, or a stream that simply stops at a member
        try:
            # the common case inline: octal size and checksum, the checksum as adler32's
            # low half (1 + the byte sum, mod 65521; the sum never reaches 2 * 65521)
            field = header[148:156]
            stored = int(field.split(b"\0", 1)[0] or b"0", 8)
            if ((adler32(header) & 0xFFFF) + 255 - sum(field) - stored) % 65521 and not (
                _checksum_ok(header)
            ):
                raise ValueError("bad checksum")
            if header[124] & 0x80:
                size = _number(header[124:136])
            else:
                size = int(header[124:136].split(b"\0", 1)[0] or b"0", 8)
        except (ValueError, IndexError) as exc:
            offset = walker.offset - _BLOCK
            raise ArchiveError(
                f"layer is not a readable tar stream: invalid header at offset {offset}"
            ) from exc
        if size < 0:
            raise ArchiveError(f"tar header at offset {walker.offset - _BLOCK} has a negative size")
        type_ = header[156:157]
        data_size = 0 if type_ in _HEADER_ONLY else size

        if type_ in _META_TYPES:
            if size > _MAX_META:
                raise ArchiveError(
                    f"a tar header has {size} bytes of metadata (at most {_MAX_META})"
                )
            data = take(size) if size else b""
            if data is None:
                raise ArchiveError("tar stream is truncated inside a header")
            skip(-size % _BLOCK)
            if type_ == b"g":
                global_pax.update(_pax(data))
            elif type_ == b"L":
                long_name = _nts(data)
            elif type_ == b"K":
                long_link = _nts(data)
            else:
                pax = {**(pax or {}), **_pax(data)}
            continue

        kind = kinds.get(type_, EntryKind.OTHER)
        if long_name is not None:
            raw_name = long_name
        else:
            end = header.find(0, 0, 100)
            raw_name = header[: end if end >= 0 else 100]
            if header[345] and header[257:263] == _USTAR:
                raw_name = _nts(header[345:500]) + b"/" + raw_name
        name = raw_name.decode("utf-8", "surrogateescape")
        if long_link is not None:
            link = _text(long_link)
        elif header[157]:
            link = _text(_nts(header[157:257]))
        else:
            link = ""
        sparse = False
        if type_ == b"S":
            sparse = True
            extended = header[482]
            size = _number(header[483:495])  # the file's real size; data_size is what is stored
            while extended:
                block = take(_BLOCK)
                if block is None:
                    raise ArchiveError("tar stream is truncated inside a sparse header")
                extended = block[504]
        if pax is not None or global_pax:
            records = {**global_pax, **(pax or {})}
            name = records.get("GNU.sparse.name", records.get("path", name))
            link = records.get("linkpath", link)
            if "size" in records:
                try:
                    size = int(records["size"])
                except ValueError as exc:
                    raise ArchiveError("tar stream has a PAX size that is not a number") from exc
                data_size = 0 if type_ in _HEADER_ONLY else size
            real = records.get("GNU.sparse.realsize", records.get("GNU.sparse.size"))
            if real is not None:
                sparse = True
                try:
                    size = int(real)
                except ValueError as exc:
                    raise ArchiveError("tar stream has a sparse size that is not a number") from exc
            pax = None
        if size < 0:
            raise ArchiveError(f"tar entry {name!r} has a negative size")
        long_name = long_link = None
        if type_ == b"\x00" and name.endswith("/"):
            kind = EntryKind.DIR
        path = clean_path(name, where)
        padded = data_size + (-data_size % _BLOCK)
        digest = None
        if kind is EntryKind.FILE and size >= hash_from >= 0 and not sparse:
            pos = walker._pos
            if walker._end - pos >= padded:  # all in this chunk (most files)
                hasher = sha256(walker._view[pos : pos + data_size])
                walker._pos = pos + padded
            else:
                hasher = sha256()
                skip(data_size, hasher)
                skip(padded - data_size)
            digest = "sha256:" + hasher.hexdigest()
        elif padded:
            skip(padded)
        if path is not None:
            add(Entry(path, kind, size, digest, link))
