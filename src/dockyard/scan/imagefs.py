"""A FileSystem over an image's merged layers, each layer streamed once, keeping only wanted files."""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

from dockyard.errors import ArchiveError, IntegrityError, NotFoundError, ScanError
from dockyard.image.base import Image
from dockyard.image.compression import DECOMPRESSION_ERRORS, open_decompressed, sniff
from dockyard.oci import Descriptor, ImageConfig
from dockyard.progress import NULL_SINK, Event, EventKind, ProgressSink
from dockyard.scan.catalog import Want, content_wanted
from dockyard.scan.fs import FileInfo

_UNREADABLE: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    zlib.error,
    gzip.BadGzipFile,
    *DECOMPRESSION_ERRORS[1:],  # not every OSError: a failing disk is not a bad layer
)
"""What a layer that is not a readable (compressed) tar stream raises."""

__all__ = ["MEMORY_LIMIT", "ContentSelector", "ImageFS", "LayerRef"]

CHUNK = 1 << 20
MEMORY_LIMIT = 1 << 20  # files kept up to this size stay in memory; larger ones are spooled
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_MAX_LINKS = 40

ContentSelector = Callable[[FileInfo], Want | None]
"""Decides which files' content a layer reader keeps (default: the catalogers' prefilter)."""


@dataclass(frozen=True, slots=True)
class LayerRef:
    """One layer of the image: its position, blob digest and uncompressed digest (diff_id)."""

    index: int
    digest: str
    diff_id: str


class _Blob:
    """Kept content: bytes in memory, or a spooled file in the reader's temp directory."""

    __slots__ = ("data", "path")

    def __init__(self, data: bytes | None = None, path: Path | None = None) -> None:
        self.data = data
        self.path = path

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")


class _Node:
    """A merged-tree entry: directory (children), file, symlink or other (device, fifo)."""

    __slots__ = ("blob", "children", "kind", "layer", "mode", "size", "target")

    def __init__(self, kind: str, layer: int, *, size: int = 0, mode: int = 0) -> None:
        self.kind = kind  # "dir", "file", "link", "other"
        self.layer = layer
        self.size = size
        self.mode = mode
        self.target = ""
        self.blob: _Blob | None = None
        self.children: dict[str, _Node] | None = {} if kind == "dir" else None


class ImageFS:
    """The merged root filesystem of an image, as the catalogers read it.

    Built by streaming every layer once (tar, tar+gzip, tar+zstd) in ``tarfile`` stream
    mode; whiteouts (``.wh.NAME``) and opaque directories (``.wh..wh..opq``) hide what lower
    layers wrote. Metadata of every entry is kept; content only for the files ``select``
    wants: small ones in memory, larger ones spooled to a temporary directory that
    ``close()`` removes. Each layer's diff_id is verified against the config while reading.
    Use as a context manager.
    """

    def __init__(
        self,
        image: Image,
        *,
        select: ContentSelector = content_wanted,
        sink: ProgressSink = NULL_SINK,
        name: str = "",
    ) -> None:
        self.name = name
        self._select = select
        self._root = _Node("dir", -1)
        self._history: dict[str, list[tuple[int, bytes]]] = {}
        self._tmp: Path | None = None
        self._spooled = 0
        self.config: ImageConfig = image.config()
        layers = image.layers
        diff_ids = self.config.diff_ids
        if diff_ids and len(diff_ids) != len(layers):
            raise IntegrityError(
                f"the image config lists {len(diff_ids)} diff_ids for {len(layers)} layers",
                location=name or None,
            )
        self.layers: tuple[LayerRef, ...] = ()
        refs = []
        try:
            for index, layer in enumerate(layers):
                expected = str(diff_ids[index]) if diff_ids else ""
                diff_id = self._read_layer(image, layer, index, expected, sink)
                refs.append(LayerRef(index, str(layer.digest), diff_id))
        except BaseException:
            self.close()
            raise
        self.layers = tuple(refs)

    # ------------------------------------------------------------------ reading the layers

    def _read_layer(
        self, image: Image, layer: Descriptor, index: int, expected: str, sink: ProgressSink
    ) -> str:
        task = f"layer {layer.digest.short}"
        where = f"{self.name} layer {index} ({layer.digest})" if self.name else str(layer.digest)
        sink(Event(task, EventKind.START, f"reading layer {layer.digest.short}", 0, layer.size))

        def on_read(count: int) -> None:
            sink(Event(task, EventKind.PROGRESS, "", count, layer.size))

        try:
            with image.open_blob(layer) as blob:
                hashing = _Hashing(_decompressed(blob, on_read))
                buffered = io.BufferedReader(hashing, CHUNK)
                if buffered.peek(1):
                    with tarfile.open(fileobj=buffered, mode="r|", bufsize=CHUNK) as tar:
                        for member in tar:
                            self._add(tar, member, index, where)
                while buffered.read(CHUNK):  # the tar's padding, and the blob's verification
                    pass
                while blob.read(CHUNK):
                    pass
        except _UNREADABLE as exc:
            raise ArchiveError(
                f"layer is not a readable tar stream: {exc}", location=where
            ) from exc
        except OSError as exc:
            raise ScanError(f"cannot read the layer: {exc}", location=where) from exc
        diff_id = "sha256:" + hashing.hasher.hexdigest()
        if expected and expected != diff_id:
            raise IntegrityError(
                f"layer {index} uncompresses to {diff_id}, the config says {expected}",
                location=where,
            )
        sink(Event(task, EventKind.DONE, "", layer.size, layer.size))
        return diff_id

    def _add(self, tar: tarfile.TarFile, member: tarfile.TarInfo, layer: int, where: str) -> None:
        parts = _parts(member.name, where)
        if not parts:
            return
        base = parts[-1]
        if base.startswith(_WHITEOUT):
            parent = self._dir(parts[:-1], layer)
            assert parent.children is not None
            if base == _OPAQUE:
                _prune_lower(parent, layer)
            else:
                hidden = parent.children.get(base[len(_WHITEOUT) :])
                if hidden is not None and hidden.layer < layer:
                    del parent.children[base[len(_WHITEOUT) :]]
            return
        parent = self._dir(parts[:-1], layer)
        assert parent.children is not None
        old = parent.children.get(base)
        if member.isdir():
            if old is not None and old.kind == "dir":
                old.layer = layer
                old.mode = member.mode
                return
            node = _Node("dir", layer, mode=member.mode)
        elif member.isreg():
            node = _Node("file", layer, size=member.size, mode=stat.S_IFREG | member.mode)
            self._keep(tar, member, node, "/" + "/".join(parts), layer)
        elif member.issym():
            node = _Node("link", layer)
            node.target = member.linkname
        elif member.islnk():
            target = self._lookup(_parts(member.linkname, where))
            if target is None or target.kind != "file":
                return  # a link to nothing the merged tree holds: nothing to read
            node = _Node("file", layer, size=target.size, mode=target.mode)
            node.blob = target.blob
            self._record_history("/" + "/".join(parts), node, layer)
        else:
            node = _Node("other", layer)
        parent.children[base] = node

    def _dir(self, parts: list[str], layer: int) -> _Node:
        """The directory at ``parts``, created (or turned from a non-directory) as needed."""
        node = self._root
        for depth, part in enumerate(parts):
            assert node.children is not None
            child = node.children.get(part)
            if child is not None and child.kind == "link":
                # a lower layer's symlinked directory (merged /usr): write through it, as
                # container runtimes resolve parents inside the root when applying a layer
                target = self._lookup(parts[: depth + 1])
                if target is not None and target.kind == "dir":
                    node = target
                    continue
            if child is None or child.kind != "dir":
                child = _Node("dir", layer, mode=0o755)
                assert node.children is not None
                node.children[part] = child
            node = child
        return node

    def _keep(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, node: _Node, path: str, layer: int
    ) -> None:
        want = self._select(FileInfo(path, member.size, node.mode))
        if want is None:
            return
        stream = tar.extractfile(member)
        if stream is None:  # pragma: no cover - regular members always have data
            return
        node.blob = self._spool(stream, member.size, want)
        self._record_history(path, node, layer, want)

    def _record_history(self, path: str, node: _Node, layer: int, want: Want | None = None) -> None:
        if want is None:
            want = self._select(FileInfo(path, node.size, node.mode))
        if want is None or not want.history or node.blob is None:
            return
        with node.blob.open() as handle:
            self._history.setdefault(path, []).append((layer, handle.read()))

    def _spool(self, stream: IO[bytes], size: int, want: Want) -> _Blob | None:
        first = stream.read(CHUNK)
        if want.magic and not first.startswith(want.magic):
            return None
        overlap = max((len(m) for m in want.markers), default=1) - 1
        found = not want.markers
        chunk, tail = first, b""
        if size <= MEMORY_LIMIT:
            data = bytearray()
            while chunk:
                data += chunk
                chunk = stream.read(CHUNK)
            if not found and not any(m in data for m in want.markers):
                return None
            return _Blob(data=bytes(data))
        path = self._tmpdir() / f"{self._spooled}"
        self._spooled += 1
        with path.open("wb") as out:
            while chunk:
                if not found:
                    window = tail + chunk
                    found = any(m in window for m in want.markers)
                    tail = window[-overlap:] if overlap else b""
                out.write(chunk)
                chunk = stream.read(CHUNK)
        if not found:
            path.unlink()
            return None
        return _Blob(path=path)

    def _tmpdir(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="dockyard-scan-"))
        return self._tmp

    # ------------------------------------------------------------------ the FileSystem view

    def _lookup(self, parts: list[str], *, follow: bool = True) -> _Node | None:
        """The node at ``parts`` with symlinks resolved inside the root (None if absent)."""
        pending = list(parts)
        resolved: list[str] = []
        hops = 0
        node = self._root
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                node = self._walk_to(resolved)
                continue
            if node.children is None:
                return None
            child = node.children.get(part)
            if child is None:
                return None
            if child.kind == "link" and (pending or follow):
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                target = child.target
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                node = self._walk_to(resolved)
                continue
            resolved.append(part)
            node = child
        return node

    def _walk_to(self, parts: list[str]) -> _Node:
        node = self._root
        for part in parts:
            assert node.children is not None
            node = node.children[part]
        return node

    def _file(self, path: str) -> _Node:
        node = self._lookup([p for p in path.split("/") if p not in ("", ".")])
        if node is None or node.kind != "file":
            raise NotFoundError("no such file in the image", location=f"{self.name}:{path}")
        return node

    def walk(self) -> Iterator[FileInfo]:
        stack: list[tuple[str, _Node]] = [("", self._root)]
        while stack:
            prefix, node = stack.pop()
            assert node.children is not None
            dirs = []
            for name in sorted(node.children):
                child = node.children[name]
                path = f"{prefix}/{name}"
                if child.kind == "file":
                    yield FileInfo(path, child.size, child.mode)
                elif child.kind == "dir":
                    dirs.append((path, child))
            stack.extend(reversed(dirs))

    def exists(self, path: str) -> bool:
        try:
            self._file(path)
        except NotFoundError:
            return False
        return True

    def open(self, path: str) -> BinaryIO:
        node = self._file(path)
        if node.blob is None:
            raise NotFoundError(
                "the content of this file was not kept while reading the image",
                location=f"{self.name}:{path}",
                hint="only files the catalogers select are kept",
            )
        try:
            return node.blob.open()
        except OSError as exc:
            raise ScanError(f"cannot read {path}: {exc}", location=self.name or None) from exc

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as handle:
            return handle.read()

    # ------------------------------------------------------------------ layers

    def layer_of(self, path: str) -> LayerRef | None:
        """The layer that last wrote the file at ``path`` (symlinks followed)."""
        try:
            node = self._file(path)
        except NotFoundError:
            return None
        return self.layers[node.layer] if 0 <= node.layer < len(self.layers) else None

    def history(self, path: str) -> list[tuple[LayerRef, bytes]]:
        """Every layer's version of a kept package database at ``path`` (lowest first)."""
        return [(self.layers[i], data) for i, data in self._history.get(path, [])]

    def close(self) -> None:
        """Remove spooled files."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> ImageFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parts(name: str, where: str) -> list[str]:
    """A member name as path components below the root; ArchiveError if it climbs out."""
    if "\x00" in name:
        raise ArchiveError(f"layer entry {name!r} has a NUL byte in its name", location=where)
    stripped = name.lstrip("/")
    normalized = posixpath.normpath(stripped) if stripped else "."
    if normalized == ".." or normalized.startswith("../"):
        raise ArchiveError(f"layer entry {name!r} points outside the root", location=where)
    return [] if normalized == "." else normalized.split("/")


def _prune_lower(directory: _Node, layer: int) -> None:
    """Hide everything lower layers put below ``directory`` (an opaque whiteout)."""
    assert directory.children is not None
    for name, child in list(directory.children.items()):
        if child.layer < layer:
            del directory.children[name]
        elif child.kind == "dir":
            _prune_lower(child, layer)


class _Hashing(io.RawIOBase):
    """Hashes the uncompressed tar stream (the layer's diff_id) as it is read."""

    def __init__(self, stream: io.RawIOBase | BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self.hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        if not data:
            return 0
        self.hasher.update(data)
        buffer[: len(data)] = data
        return len(data)


class _Source(io.RawIOBase):
    """The blob with its sniffed head put back, reporting compressed bytes read."""

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


def _decompressed(stream: BinaryIO, on_read: Callable[[int], None]) -> io.RawIOBase | BinaryIO:
    head = stream.read(4)
    source = _Source(stream, head, on_read)
    return open_decompressed(cast("BinaryIO", io.BufferedReader(source, CHUNK)), sniff(head))
