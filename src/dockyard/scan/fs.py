"""A read-only view of a root filesystem that catalogers read through, and one over a directory."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from dockyard.errors import InputError, NotFoundError, ScanError

__all__ = ["DirectoryFS", "FileInfo", "FileSystem"]


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A regular file in the view: absolute POSIX path inside the root, size and mode bits."""

    path: str
    size: int
    mode: int


class FileSystem(Protocol):
    """What catalogers need from a merged image filesystem (whiteouts already applied).

    Paths are absolute POSIX paths inside the root (``/var/lib/dpkg/status``); symlinks
    resolve inside the root, never to the host.
    """

    def walk(self) -> Iterator[FileInfo]:
        """Every regular file, each once, in a stable order."""
        ...

    def exists(self, path: str) -> bool:
        """Whether ``path`` names a regular file (after following symlinks inside the root)."""
        ...

    def open(self, path: str) -> BinaryIO:
        """Open a regular file for reading; NotFoundError if it is not there."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a regular file; NotFoundError if it is not there."""
        ...


class DirectoryFS:
    """A FileSystem over an unpacked root filesystem directory (``trivy rootfs DIR``)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InputError("not a directory", location=str(root), hint="pass a root filesystem")
        self.root = root.resolve()

    def _host(self, path: str) -> Path:
        """The host path of ``path`` with every symlink resolved as if chrooted to the root."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = self.root.joinpath(*resolved, part)
            if candidate.is_symlink():
                hops += 1
                if hops > 40:
                    raise NotFoundError("too many levels of symbolic links", location=path)
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            resolved.append(part)
        return self.root.joinpath(*resolved)

    def walk(self) -> Iterator[FileInfo]:
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.root)
            base = "/" if rel == "." else "/" + rel.replace(os.sep, "/")
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                try:
                    info = os.lstat(full)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    yield FileInfo(posixpath.join(base, name), info.st_size, info.st_mode)

    def exists(self, path: str) -> bool:
        try:
            return self._host(path).is_file()
        except NotFoundError:
            return False

    def open(self, path: str) -> BinaryIO:
        host = self._host(path)
        if not host.is_file():
            raise NotFoundError("no such file in the root filesystem", location=path)
        try:
            return host.open("rb")
        except OSError as exc:
            raise ScanError(f"cannot read {path}: {exc}", location=str(host)) from exc

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as handle:
            return handle.read()
