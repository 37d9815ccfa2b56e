"""Resolve paths inside a root directory the way a chroot would, never leaving it."""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

__all__ = ["clean_rel", "root_path"]

_MAX_LINKS = 255


def clean_rel(path: str) -> str:
    """``path`` cleaned as if rooted at ``/`` and made relative ("" for the root)."""
    return posixpath.normpath("/" + path).lstrip("/") if path else ""


def root_path(root: Path, path: str, *, follow_final: bool = True) -> Path:
    """The host path of ``path`` inside ``root``, resolving symlinks scoped to ``root``.

    Like containerd's ``fs.RootPath``: absolute symlink targets are taken relative to
    ``root`` and ``..`` never climbs above it, so the result always lies inside ``root``.
    Missing components are kept as they are. With ``follow_final=False`` a symlink in
    the last component is not followed (for lstat-like lookups).
    """
    parts = [p for p in clean_rel(path).split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if resolved:
                resolved.pop()
            continue
        if name == ".":
            continue
        candidate = root.joinpath(*resolved, name)
        if not parts and not follow_final:
            resolved.append(name)
            break
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(name)
            continue
        if not stat.S_ISLNK(st.st_mode):
            resolved.append(name)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(f"too many levels of symbolic links in {path!r}")
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return root.joinpath(*resolved)
