"""Safe tarball handling: member names and links checked so nothing lands outside the target."""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

from dockyard.errors import ArchiveError

__all__ = ["check_member", "clean_name", "extract", "open_tar", "safe_members"]


def clean_name(name: str, *, where: str = "") -> str:
    """The member name normalized (``./a//b`` → ``a/b``); ArchiveError if it leaves the root.

    Absolute names and names with ``..`` components that climb above the root are refused
    (rather than silently rewritten as GNU tar does) so a hostile archive is reported.
    """
    if "\x00" in name:
        raise ArchiveError(
            f"tar member {name!r} has a NUL byte in its name", location=where or None
        )
    if name.startswith("/"):
        raise ArchiveError(
            f"tar member {name!r} has an absolute path", location=where or None,
            hint="refusing to extract outside the target",
        )  # fmt: skip
    normalized = posixpath.normpath(name)
    if normalized == ".." or normalized.startswith("../"):
        raise ArchiveError(
            f"tar member {name!r} leaves the archive root", location=where or None,
            hint="refusing to extract outside the target",
        )  # fmt: skip
    return "" if normalized == "." else normalized


def check_member(member: tarfile.TarInfo, *, where: str = "") -> str:
    """Validate one member (name, link target, type); return its normalized name.

    Symlinks may point anywhere *inside* the root (relative targets are resolved against the
    member's directory; absolute targets are refused). Hard links must name another member
    inside the root. Devices and FIFOs are refused.
    """
    name = clean_name(member.name, where=where)
    if member.issym():
        target = member.linkname
        if target.startswith("/"):
            raise ArchiveError(
                f"tar member {member.name!r} is a symlink to the absolute path {target!r}",
                location=where or None, hint="refusing to extract outside the target",
            )  # fmt: skip
        clean_name(posixpath.join(posixpath.dirname(name), target), where=where)
    elif member.islnk():
        clean_name(member.linkname, where=where)
    elif member.ischr() or member.isblk() or member.isfifo():
        raise ArchiveError(
            f"tar member {member.name!r} is a device or FIFO", location=where or None
        )
    elif not (member.isreg() or member.isdir()):
        raise ArchiveError(
            f"tar member {member.name!r} has an unsupported type {member.type!r}",
            location=where or None,
        )
    return name


def open_tar(path: Path) -> tarfile.TarFile:
    """Open a (possibly compressed) tarball for reading; ArchiveError if it is not one."""
    try:
        return tarfile.open(path, "r:*")
    except FileNotFoundError as exc:
        raise ArchiveError(f"no such archive {str(path)!r}") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a readable tar archive: {exc}") from exc


def safe_members(tar: tarfile.TarFile, *, where: str = "") -> Iterator[tuple[str, tarfile.TarInfo]]:
    """Every member with its normalized name, each checked by :func:`check_member`."""
    try:
        for member in tar:
            yield check_member(member, where=where), member
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"corrupt tar archive: {exc}", location=where or None) from exc


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def extract(tar: tarfile.TarFile, target: Path, *, where: str = "") -> list[str]:
    """Extract every member below ``target``, checking each before it is written.

    Besides the name checks, every parent directory is resolved on disk so an earlier
    symlink member cannot redirect a later file outside ``target``. Returns the names.
    """
    root = target.resolve()
    root.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for name, member in safe_members(tar, where=where):
        if not name:
            continue
        dest = root / name
        parent = dest.parent.resolve()
        if not _inside(root, parent):
            raise ArchiveError(
                f"tar member {member.name!r} would be written through a symlink outside the target",
                location=where or None,
            )
        dest = parent / dest.name
        parent.mkdir(parents=True, exist_ok=True)
        if member.isdir():
            dest.mkdir(parents=True, exist_ok=True)
        elif member.issym():
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            dest.symlink_to(member.linkname)
        elif member.islnk():
            source = (root / clean_name(member.linkname, where=where)).resolve()
            if not _inside(root, source):
                raise ArchiveError(
                    f"tar member {member.name!r} is a hard link leaving the target",
                    location=where or None,
                )
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            os.link(source, dest)
        else:
            stream = tar.extractfile(member)
            if stream is None:  # pragma: no cover - regular files always have data
                continue
            if dest.is_symlink():
                dest.unlink()
            with stream, dest.open("wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
            dest.chmod(member.mode & 0o777)
        names.append(name)
    return names
