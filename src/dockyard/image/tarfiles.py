"""Random access to the regular files of a tarball without extracting it."""

from __future__ import annotations

import contextlib
import gzip
import io
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

from dockyard.errors import ArchiveError, NotFoundError
from dockyard.image.tarsafe import check_member, clean_name

__all__ = ["SectionReader", "TarFiles"]

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class SectionReader(io.RawIOBase):
    """Reads ``size`` bytes of a file starting at ``offset`` (its own unbuffered handle).

    ``readinto`` reads straight into the caller's buffer: no intermediate copies.
    """

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._file = path.open("rb", buffering=0)
        self._file.seek(offset)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        if len(view) > self._left:
            view = view[: self._left]
        n = self._file.readinto(view) or 0
        if not n:
            raise ArchiveError("tar archive is truncated")
        self._left -= n
        return n

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            super().close()


@dataclass(frozen=True, slots=True)
class _Entry:
    offset: int
    size: int


class TarFiles:
    """The regular files of a tarball by normalized name, opened as streams on demand.

    Every member is checked for unsafe names and links while indexing. A compressed
    tarball is decompressed once into a temporary file (kept as long as this object).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tmp: tempfile._TemporaryFileWrapper[bytes] | None = None
        plain = self._plain_path()
        self._plain = plain
        self._entries: dict[str, _Entry] = {}
        where = str(self.path)
        try:
            with tarfile.open(plain, "r:") as tar:
                links: dict[str, str] = {}
                for member in tar:
                    name = check_member(member, where=where)
                    if member.isreg():
                        self._entries[name] = _Entry(member.offset_data, member.size)
                    elif member.islnk():
                        links[name] = clean_name(member.linkname, where=where)
                for name, target in links.items():
                    if target in self._entries:
                        self._entries[name] = self._entries[target]
        except (tarfile.TarError, EOFError) as exc:
            raise ArchiveError(f"{where}: not a readable tar archive: {exc}") from exc
        except OSError as exc:
            raise ArchiveError(f"{where}: cannot read archive: {exc}") from exc

    def _plain_path(self) -> Path:
        try:
            with self.path.open("rb") as handle:
                magic = handle.read(4)
        except FileNotFoundError as exc:
            raise NotFoundError(f"no such archive {str(self.path)!r}") from exc
        except OSError as exc:
            raise ArchiveError(f"cannot read archive {self.path}: {exc}") from exc
        if not magic.startswith(_GZIP_MAGIC) and magic != _ZSTD_MAGIC:
            return self.path
        self._tmp = tempfile.NamedTemporaryFile(prefix="dockyard-archive-", suffix=".tar")  # noqa: SIM115
        try:
            with self.path.open("rb") as raw:
                if magic.startswith(_GZIP_MAGIC):
                    with gzip.GzipFile(fileobj=raw) as unz:
                        shutil.copyfileobj(unz, self._tmp, 1 << 20)
                else:
                    with zstandard.ZstdDecompressor().stream_reader(raw) as unz:
                        shutil.copyfileobj(unz, self._tmp, 1 << 20)
            self._tmp.flush()
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            raise ArchiveError(f"{self.path}: corrupt compressed archive: {exc}") from exc
        return Path(self._tmp.name)

    def names(self) -> list[str]:
        return list(self._entries)

    def has(self, name: str) -> bool:
        return name in self._entries

    def size(self, name: str) -> int:
        return self._get(name).size

    def _get(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise NotFoundError(f"{self.path}: archive has no file {name!r}")
        return entry

    def open(self, name: str) -> BinaryIO:
        entry = self._get(name)
        return io.BufferedReader(SectionReader(self._plain, entry.offset, entry.size), 1 << 20)

    def read(self, name: str) -> bytes:
        with self.open(name) as stream:
            return stream.read()

    def close(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.close()
            self._tmp = None
