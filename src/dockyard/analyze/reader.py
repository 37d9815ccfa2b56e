"""Streams an image's layers once each into the Analyzer: decompress, walk the tar, hash files."""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Sequence
from typing import BinaryIO

import zstandard

from dockyard.analyze.engine import Analyzer
from dockyard.analyze.model import Entry, EntryKind, LayerInfo, Report
from dockyard.errors import ArchiveError
from dockyard.image.base import Image
from dockyard.oci import HistoryEntry
from dockyard.progress import NULL_SINK, Event, EventKind, ProgressSink

__all__ = ["CHUNK", "align_history", "analyze_image", "read_layer"]

CHUNK = 1 << 20
_TAR_BUFFER = 1 << 16
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


class _Source(io.RawIOBase):
    """The compressed blob, with the sniffed head put back, counting bytes for progress."""

    def __init__(self, stream: BinaryIO, head: bytes, on_read: Callable[[int], None]) -> None:
        super().__init__()
        self._stream = stream
        self._head = head
        self._on_read = on_read
        self.count = len(head)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        else:
            data = self._stream.read(len(buffer))
            self.count += len(data)
            if data:
                self._on_read(self.count)
        buffer[: len(data)] = data
        return len(data)


class _Inflate(io.RawIOBase):
    """Gzip decompression in large chunks, across concatenated members (pigz, appended layers)."""

    def __init__(self, source: io.RawIOBase) -> None:
        super().__init__()
        self._source = io.BufferedReader(source, CHUNK)
        self._inflater = zlib.decompressobj(31)
        self._input = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._done:
            if self._inflater.eof:
                rest = self._inflater.unused_data or self._source.read(CHUNK)
                if not rest.startswith(_GZIP[: len(rest)]) or not rest:
                    self._done = True  # end of the last member; trailing padding ignored
                    break
                self._inflater = zlib.decompressobj(31)
                self._input = rest
            if not self._input:
                self._input = self._source.read(CHUNK)
                if not self._input:
                    raise ArchiveError("gzip stream ends in the middle of a member")
            out = self._inflater.decompress(self._input, len(buffer))
            self._input = self._inflater.unconsumed_tail
            if out:
                buffer[: len(out)] = out
                return len(out)
        return 0


class _Counter(io.RawIOBase):
    """Counts the uncompressed tar bytes."""

    def __init__(self, stream: BinaryIO | io.RawIOBase) -> None:
        super().__init__()
        self._stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        if not data:
            return 0
        self.count += len(data)
        buffer[: len(data)] = data
        return len(data)


def _decompressed(stream: BinaryIO, on_read: Callable[[int], None]) -> io.RawIOBase | BinaryIO:
    head = stream.read(4)
    source = _Source(stream, head, on_read)
    if head.startswith(_GZIP):
        return _Inflate(source)
    if head.startswith(_ZSTD):
        reader: BinaryIO = zstandard.ZstdDecompressor().stream_reader(
            io.BufferedReader(source, CHUNK), read_size=CHUNK, read_across_frames=True
        )
        return reader
    return source


def _clean(name: str, where: str) -> str | None:
    path = posixpath.normpath("/" + name).lstrip("/")
    if not path or path == ".":
        return None
    if posixpath.normpath(name.lstrip("/")).startswith("../"):
        raise ArchiveError(f"layer entry {name!r} points outside the root", location=where)
    return path


def _kind(member: tarfile.TarInfo) -> EntryKind:
    if member.isreg():
        return EntryKind.FILE
    if member.isdir():
        return EntryKind.DIR
    if member.issym():
        return EntryKind.SYMLINK
    if member.islnk():
        return EntryKind.HARDLINK
    return EntryKind.OTHER


def read_layer(
    stream: BinaryIO,
    add: Callable[[Entry], None],
    *,
    hash_min_size: int | None = 1,
    where: str = "",
    on_read: Callable[[int], None] = lambda _count: None,
) -> int:
    """Read one layer blob (tar, tar+gzip or tar+zstd) once, calling ``add`` per entry.

    Regular files of at least ``hash_min_size`` bytes are hashed (sha256) while they stream
    by, for duplicate detection; ``None`` hashes nothing. Returns the uncompressed size.
    """
    try:
        counter = _Counter(_decompressed(stream, on_read))
        buffered = io.BufferedReader(counter, CHUNK)
        if not buffered.peek(1):
            return 0
        # tarfile's stream buffer is copied on every header read: keep it small, the
        # BufferedReader below it does the large reads
        with tarfile.open(fileobj=buffered, mode="r|", bufsize=_TAR_BUFFER) as tar:
            kept: list[tarfile.TarInfo] = getattr(tar, "members", [])
            for member in tar:
                kept.clear()  # stream mode keeps every header otherwise
                path = _clean(member.name, where)
                if path is None:
                    continue
                kind = _kind(member)
                digest = None
                if (
                    kind is EntryKind.FILE
                    and hash_min_size is not None
                    and member.size >= hash_min_size
                ):
                    digest = _hash(tar, member)
                add(Entry(path, kind, member.size, digest, member.linkname))
        while buffered.read(CHUNK):
            pass
        return counter.count
    except (tarfile.TarError, zlib.error, zstandard.ZstdError, EOFError) as exc:
        raise ArchiveError(f"layer is not a readable tar stream: {exc}", location=where) from exc


def _hash(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    hasher = hashlib.sha256()
    data = tar.extractfile(member)
    if data is None:  # pragma: no cover - regular files always have data
        return ""
    while chunk := data.read(CHUNK):
        hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def align_history(history: Sequence[HistoryEntry], layer_count: int) -> list[HistoryEntry | None]:
    """The history entry that made each layer: entries marked empty_layer are skipped.

    Done as dive does it; a layer with no entry left gets None.
    """
    entries = iter(h for h in history if not h.empty_layer)
    return [next(entries, None) for _ in range(layer_count)]


def analyze_image(
    image: Image,
    *,
    name: str = "",
    top: int = 10,
    hash_min_size: int | None = 1,
    sink: ProgressSink = NULL_SINK,
) -> Report:
    """Analyze every layer of ``image``, reading each blob exactly once."""
    config = image.config()
    layers = image.layers
    history = align_history(config.history, len(layers))
    analyzer = Analyzer(top=top)
    for index, descriptor in enumerate(layers):
        entry = history[index]
        diff_id = str(config.diff_ids[index]) if index < len(config.diff_ids) else ""
        task = f"layer {index + 1}/{len(layers)} {descriptor.digest.short}"
        analyzer.begin_layer(
            LayerInfo(
                index=index,
                digest=str(descriptor.digest),
                diff_id=diff_id,
                media_type=descriptor.media_type,
                compressed_size=descriptor.size,
                instruction=entry.created_by if entry else "",
                comment=entry.comment if entry else "",
            )
        )
        sink(Event(task, EventKind.START, f"reading {task}", 0, descriptor.size))

        def progress(count: int, task: str = task, total: int = descriptor.size) -> None:
            sink(Event(task, EventKind.PROGRESS, "", count, total))

        with image.open_blob(descriptor) as stream:
            size = read_layer(
                stream,
                analyzer.add,
                hash_min_size=hash_min_size,
                where=f"{name or image.digest}: layer {descriptor.digest}",
                on_read=progress,
            )
        analyzer.end_layer(size=size)
        sink(Event(task, EventKind.DONE))
    return analyzer.finish(image=name, digest=str(image.digest), platform=str(config.platform))
