"""Layer blobs: an overlay upper directory (or a plain directory) to a compressed layer tar.

The tar follows what BuildKit writes through containerd's ``ChangeWriter``: entries in
``filepath.Walk`` order (each directory's names sorted bytewise, parents before
children), deletions as ``.wh.NAME``, opaque directories as ``.wh..wh..opq``, the parent
directories of every change included, directories whose metadata did not change left
out, hard links by inode within the layer, ``security.capability`` as a PAX xattr, empty
user and group names, mtimes in whole seconds (clamped to ``source_date_epoch`` when
given). The diff_id and the blob digest are computed in the same single pass.
"""

from __future__ import annotations

import enum
import hashlib
import os
import stat
import tarfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockyard.build.snapshot import OPAQUE_XATTR, readonly_view
from dockyard.errors import StoreError

__all__ = [
    "MEDIA_TYPES",
    "Compression",
    "LayerBlob",
    "write_layer_from_dir",
    "write_layer_from_upper",
]

_CHUNK = 1 << 20
_CAPABILITY = "security.capability"


class Compression(enum.Enum):
    """How a layer blob is compressed."""

    GZIP = "gzip"
    ZSTD = "zstd"
    NONE = "uncompressed"


MEDIA_TYPES = {
    Compression.GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
    Compression.ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
    Compression.NONE: "application/vnd.oci.image.layer.v1.tar",
}
DOCKER_MEDIA_TYPES = {
    Compression.GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    Compression.ZSTD: "application/vnd.docker.image.rootfs.diff.tar.zstd",
    Compression.NONE: "application/vnd.docker.image.rootfs.diff.tar",
}


@dataclass(frozen=True, slots=True)
class LayerBlob:
    """A finished layer blob on disk, named ``path`` = ``out_dir / <digest hex>``."""

    diff_id: str  # "sha256:..." of the uncompressed tar
    digest: str  # "sha256:..." of the blob as stored
    size: int  # bytes of the blob as stored
    media_type: str  # OCI media type; DOCKER_MEDIA_TYPES[compression] for Docker ones
    path: Path
    compression: Compression
    uncompressed_size: int
    entries: int  # tar entries written; 0 means an empty layer


# --- compression ---------------------------------------------------------------------------


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


class _Identity:
    def compress(self, data: bytes, /) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def _gzip_compressor(level: int | None) -> _Compressor:
    """Deterministic gzip: no name, mtime 0 (wbits 31). ISA-L when installed, else zlib."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is a dependency
        return zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31)
    return isal_zlib.compressobj(2 if level is None else min(level, 3), isal_zlib.DEFLATED, 31)


def _zstd_compressor(level: int | None) -> _Compressor:
    import zstandard

    cctx = zstandard.ZstdCompressor(level=3 if level is None else level)
    obj = cctx.compressobj()

    class _Zstd:
        def compress(self, data: bytes, /) -> bytes:
            return obj.compress(data)

        def flush(self) -> bytes:
            return obj.flush()

    return _Zstd()


class _Sink:
    """Hashes the tar, compresses it, hashes and writes the blob: all in one pass."""

    def __init__(self, out_dir: Path, compression: Compression, level: int | None) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.tmp = out_dir / f".tmp-layer-{os.urandom(16).hex()}"
        self.file = self.tmp.open("xb")
        self.compression = compression
        self.compressor: _Compressor
        if compression is Compression.GZIP:
            self.compressor = _gzip_compressor(level)
        elif compression is Compression.ZSTD:
            self.compressor = _zstd_compressor(level)
        else:
            self.compressor = _Identity()
        self.diff = hashlib.sha256()
        self.blob = hashlib.sha256()
        self.raw_size = 0
        self.size = 0

    def write(self, data: bytes) -> None:
        self.diff.update(data)
        self.raw_size += len(data)
        self._out(self.compressor.compress(data))

    def _out(self, data: bytes) -> None:
        if data:
            self.blob.update(data)
            self.size += len(data)
            self.file.write(data)

    def finish(self, entries: int) -> LayerBlob:
        self._out(self.compressor.flush())
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        digest = self.blob.hexdigest()
        final = self.out_dir / digest
        os.replace(self.tmp, final)
        return LayerBlob(
            diff_id="sha256:" + self.diff.hexdigest(),
            digest="sha256:" + digest,
            size=self.size,
            media_type=MEDIA_TYPES[self.compression],
            path=final,
            compression=self.compression,
            uncompressed_size=self.raw_size,
            entries=entries,
        )

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


# --- tar writing ----------------------------------------------------------------------------

_OCTAL7 = 8**7
_OCTAL11 = 8**11
_NUL32 = b"\0" * 32
_TAIL = b"\0" * (32 + 32 + 8 + 8 + 155 + 12)  # uname, gname, dev fields, prefix, padding


def _header(info: tarfile.TarInfo) -> bytes:
    """``info``'s header as ``tarfile`` writes it in PAX format; the common case directly."""
    mtime = info.mtime
    if not info.pax_headers and info.type in _FAST_TYPES and isinstance(mtime, int):
        header = ustar_header(
            info.name, info.mode, info.uid, info.gid, info.size, mtime, info.type,
            info.linkname,
        )  # fmt: skip
        if header is not None:
            return header
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


_FAST_TYPES = (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE)


def ustar_header(
    name: str,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    typeflag: bytes,
    linkname: str = "",
) -> bytes | None:
    """The header block ``tarfile`` writes in PAX format when no pax record is needed.

    Byte for byte what ``TarInfo.tobuf(PAX_FORMAT)`` gives for an entry with empty
    user and group names and no device numbers (a test holds the two together), at a
    tenth of the cost: a layer of many small files spends most of its time here. None
    when the entry needs a pax record (a name or link over 100 bytes or not ASCII, a
    number out of the octal fields' range); the caller then uses ``tarfile``.
    """
    if not (0 <= uid < _OCTAL7 and 0 <= gid < _OCTAL7):
        return None
    if not (0 <= size < _OCTAL11 and 0 <= mtime < _OCTAL11):
        return None
    try:
        raw_name = name.encode("ascii")
        raw_link = linkname.encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(raw_name) > 100 or len(raw_link) > 100:
        return None
    block = b"%s%07o\0%07o\0%07o\0%011o\0%011o\0        %s%sustar\x0000%s" % (
        raw_name.ljust(100, b"\0"),
        mode & 0o7777,
        uid,
        gid,
        size,
        mtime,
        typeflag,
        raw_link.ljust(100, b"\0"),
        _TAIL,
    )
    # the checksum counts its own field as eight spaces, as written above
    return b"%s%06o\0%s" % (block[:148], sum(block), block[155:])


class _TarWriter:
    """Writes tar entries like Go's archive/tar: no record padding, two zero blocks at the end."""

    def __init__(self, sink: _Sink, source_date_epoch: int | None) -> None:
        self.sink = sink
        self.epoch = source_date_epoch
        self.buf = bytearray()
        self.inodes: dict[tuple[int, int], str] = {}
        self.count = 0

    def _emit(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) >= _CHUNK:
            self.sink.write(bytes(self.buf))
            self.buf.clear()

    def _mtime(self, mtime_ns: int) -> int:
        seconds = mtime_ns // 1_000_000_000
        if self.epoch is not None and seconds > self.epoch:
            return self.epoch
        return seconds

    def whiteout(self, rel: str) -> None:
        info = tarfile.TarInfo(rel)
        info.type = tarfile.REGTYPE
        info.mode = 0
        info.mtime = self.epoch if self.epoch is not None else 0
        info.uname = info.gname = ""
        self._emit(_header(info))
        self.count += 1

    def entry(self, rel: str, full: str | Path, st: os.stat_result) -> None:
        mode = st.st_mode
        info = tarfile.TarInfo(rel + "/" if stat.S_ISDIR(mode) else rel)
        info.mode = stat.S_IMODE(mode)
        info.uid = st.st_uid
        info.gid = st.st_gid
        info.uname = info.gname = ""
        info.mtime = self._mtime(st.st_mtime_ns)
        content = False
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            first = self.inodes.get(key) if st.st_nlink > 1 else None
            if first is not None:
                info.type = tarfile.LNKTYPE
                info.linkname = first
            else:
                if st.st_nlink > 1:
                    self.inodes[key] = rel
                info.type = tarfile.REGTYPE
                info.size = st.st_size
                content = True
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(full)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor = os.major(st.st_rdev)
            info.devminor = os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        else:
            return  # sockets are not archived (like Go's FileInfoHeader refuses them)
        if not stat.S_ISLNK(mode):
            cap = _getxattr(full, _CAPABILITY)
            if cap is not None:
                info.pax_headers = {
                    "SCHILY.xattr." + _CAPABILITY: cap.decode("utf-8", "surrogateescape")
                }
        self._emit(_header(info))
        self.count += 1
        if content:
            self._copy(full, st.st_size)

    def _copy(self, full: str | Path, size: int) -> None:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            left = size
            while left:
                data = os.read(fd, min(left, _CHUNK))
                if not data:
                    raise StoreError(f"{full} shrank while it was being archived")
                left -= len(data)
                self._emit(data)
        finally:
            os.close(fd)
        pad = -size % 512
        if pad:
            self._emit(b"\0" * pad)

    def close(self) -> None:
        self._emit(b"\0" * 1024)
        if self.buf:
            self.sink.write(bytes(self.buf))
            self.buf.clear()


def _getxattr(path: str | Path, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _names(path: str | Path) -> list[str]:
    return sorted(os.listdir(path), key=os.fsencode)


def _lstat(path: str | Path) -> os.stat_result | None:
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return None  # a whiteout in a lower layer directory: the path is absent
    return st


def _same_dirent(
    base: os.stat_result, upper: os.stat_result, bpath: str | Path, upath: str | Path
) -> bool:
    """continuity's sameDirent, as BuildKit's overlay differ uses it."""
    if (base.st_mode, base.st_uid, base.st_gid, base.st_rdev) != (
        upper.st_mode,
        upper.st_uid,
        upper.st_gid,
        upper.st_rdev,
    ):
        return False
    if _getxattr(bpath, _CAPABILITY) != _getxattr(upath, _CAPABILITY):
        return False
    if stat.S_ISDIR(base.st_mode):
        return True
    if base.st_size != upper.st_size:
        return False
    bsec, bns = divmod(base.st_mtime_ns, 1_000_000_000)
    usec, uns = divmod(upper.st_mtime_ns, 1_000_000_000)
    if bsec != usec:
        return False
    if bns == 0 and uns == 0:  # possibly truncated by a tar: compare content
        if stat.S_ISLNK(base.st_mode):
            return os.readlink(bpath) == os.readlink(upath)
        if base.st_size == 0:
            return True
        return _same_content(bpath, upath)
    return bns == uns


def _same_content(a: str | Path, b: str | Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            da, db = fa.read(_CHUNK), fb.read(_CHUNK)
            if da != db:
                return False
            if not da:
                return True


# --- the two ways to make a layer --------------------------------------------------------


class _ChangeWriter:
    """containerd's changeWriter: writes changes, adding missing parent directories first."""

    def __init__(self, tar: _TarWriter, source: Path) -> None:
        self.tar = tar
        self.source = str(source)
        self.added_dirs: set[str] = set()

    def _parents(self, rel: str) -> None:
        parent = rel.rpartition("/")[0]
        if parent and parent not in self.added_dirs:
            self._parents(parent)
            self.added_dirs.add(parent)
            full = f"{self.source}/{parent}"
            self.tar.entry(parent, full, os.lstat(full))

    def add(self, rel: str, full: str, st: os.stat_result) -> None:
        self._parents(rel)
        if stat.S_ISDIR(st.st_mode):
            self.added_dirs.add(rel)
        self.tar.entry(rel, full, st)

    def delete(self, rel: str) -> None:
        self._parents(rel)
        head, _, name = rel.rpartition("/")
        self.tar.whiteout(f"{head}/.wh.{name}" if head else f".wh.{name}")

    def opaque(self, rel: str) -> None:
        self._parents(rel + "/.wh..wh..opq")
        self.tar.whiteout(rel + "/.wh..wh..opq")


def _walk_upper(upper: str, base: str | None, cw: _ChangeWriter, rel: str) -> None:
    directory = f"{upper}/{rel}" if rel else upper
    for name in _names(directory):
        child = f"{rel}/{name}" if rel else name
        full = f"{upper}/{child}"
        st = os.lstat(full)
        base_st = _lstat(f"{base}/{child}") if base is not None else None
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            if base_st is not None:
                cw.delete(child)
            continue  # a whiteout of something that never existed below: nothing to record
        changed = True
        if base is not None and base_st is not None:
            changed = not _same_dirent(base_st, st, f"{base}/{child}", full)
        if changed:
            cw.add(child, full, st)
        if stat.S_ISDIR(st.st_mode):
            child_base = base
            if base_st is not None and _getxattr(full, OPAQUE_XATTR) == b"y":
                cw.opaque(child)
                child_base = None  # everything below an opaque directory is new
            _walk_upper(upper, child_base, cw, child)


def _walk_dir(root: str, cw: _ChangeWriter, rel: str) -> None:
    directory = f"{root}/{rel}" if rel else root
    for name in _names(directory):
        child = f"{rel}/{name}" if rel else name
        full = f"{root}/{child}"
        st = os.lstat(full)
        cw.add(child, full, st)
        if stat.S_ISDIR(st.st_mode):
            _walk_dir(root, cw, child)


def _write(
    walk: Callable[[_ChangeWriter], None],
    source: Path,
    out_dir: Path,
    compression: Compression,
    level: int | None,
    source_date_epoch: int | None,
) -> LayerBlob:
    sink = _Sink(out_dir, compression, level)
    try:
        tar = _TarWriter(sink, source_date_epoch)
        walk(_ChangeWriter(tar, source))
        tar.close()
        return sink.finish(tar.count)
    except OSError as exc:
        sink.abort()
        raise StoreError(f"cannot write layer from {source}: {exc}") from exc
    except BaseException:
        sink.abort()
        raise


def write_layer_from_upper(
    upper: Path,
    lowers: Sequence[Path],
    out_dir: Path,
    *,
    compression: Compression = Compression.GZIP,
    level: int | None = None,
    source_date_epoch: int | None = None,
) -> LayerBlob:
    """The layer blob of an overlay upper directory over ``lowers`` (bottom first).

    ``lowers`` decide what a whiteout deletes, whether an opaque directory hides
    anything and whether a copied-up directory really changed; with two or more of them
    a read-only overlay view is mounted for the duration of the walk.
    """
    with readonly_view(lowers) as base:
        return _write(
            lambda cw: _walk_upper(str(upper), None if base is None else str(base), cw, ""),
            upper,
            out_dir,
            compression,
            level,
            source_date_epoch,
        )


def write_layer_from_dir(
    root: Path,
    out_dir: Path,
    *,
    compression: Compression = Compression.GZIP,
    level: int | None = None,
    source_date_epoch: int | None = None,
) -> LayerBlob:
    """The layer blob holding every entry under ``root`` (for COPY/ADD into a fresh dir)."""
    return _write(
        lambda cw: _walk_dir(str(root), cw, ""),
        root,
        out_dir,
        compression,
        level,
        source_date_epoch,
    )
