"""Overlayfs snapshots over extracted layer directories, and layer extraction into them.

A *layer directory* is a layer's tree in overlayfs' own format: deletions are whiteout
character devices (0/0) and opaque directories carry ``trusted.overlay.opaque=y``. It
is what :func:`extract_layer` writes and what an overlay upper directory already is, so
the upper directory of a finished step can serve directly as a lower layer of the next.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard._home import default_home
from dockyard.errors import ArchiveError, ExecutorUnavailableError, StoreError
from dockyard.image.compression import open_decompressed

__all__ = [
    "MAX_LOWER_LAYERS",
    "OPAQUE_XATTR",
    "Snapshot",
    "Snapshotter",
    "dockyard_home",
    "extract_layer",
    "mount_overlay",
    "open_layer_stream",
    "readonly_view",
    "unmount",
]

OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
MAX_LOWER_LAYERS = 500  # the kernel's OVL_MAX_STACK
# Mount options travel in one page; keep a margin for the other options.
_MAX_OPTIONS = 4000
_OVERLAY_EXTRA = "index=off,redirect_dir=off,metacopy=off"

_MNT_RDONLY = 1
_MNT_DETACH = 2


def dockyard_home() -> Path:
    """The dockyard home, the same directory the store uses (see :mod:`dockyard._home`)."""
    return default_home()


# --- mounting ------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

_MOUNT_HELPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.mount(b"overlay", os.fsencode(sys.argv[1]), b"overlay", ctypes.c_ulong(int(sys.argv[3])),
               os.fsencode(sys.argv[2]))
if r != 0:
    e = ctypes.get_errno()
    sys.stderr.write(os.strerror(e))
    sys.exit(e)
"""


def _raise_mount_error(err: int, target: Path, options: str) -> None:
    if err in (errno.EPERM, errno.EACCES):
        raise ExecutorUnavailableError(
            f"cannot mount overlayfs on {target}: {os.strerror(err)}",
            hint="dockyard build needs root (or CAP_SYS_ADMIN) to mount overlayfs",
        )
    if err == errno.ENODEV:
        raise ExecutorUnavailableError(
            "the kernel has no overlay filesystem",
            hint="load it with `modprobe overlay` (Linux 4.0 or later)",
        )
    raise StoreError(f"cannot mount overlayfs on {target}: {os.strerror(err)} (options {options})")


def mount_overlay(
    target: Path, lowers: Sequence[Path], upper: Path | None = None, work: Path | None = None
) -> None:
    """Mount overlayfs on ``target``; ``lowers`` bottom first (at most 500).

    Without ``upper`` the mount is read-only and needs two lowers at least. When the
    absolute paths do not fit into the one page the kernel accepts, a directory of
    short symlinks is made beside ``target`` and the mount is done from there with
    relative paths (in a helper process, since the working directory is per process).
    """
    if len(lowers) > MAX_LOWER_LAYERS:
        raise StoreError(f"overlayfs stacks at most {MAX_LOWER_LAYERS} layers, got {len(lowers)}")
    flags = 0
    tail = _OVERLAY_EXTRA
    if upper is not None:
        assert work is not None
        tail = f"upperdir={upper},workdir={work},{tail}"
    else:
        flags |= _MNT_RDONLY
    # overlayfs wants the topmost lower first
    options = "lowerdir=" + ":".join(str(p) for p in reversed(lowers)) + "," + tail
    if len(options) <= _MAX_OPTIONS:
        if _libc.mount(b"overlay", os.fsencode(target), b"overlay", flags, options.encode()) != 0:
            _raise_mount_error(ctypes.get_errno(), target, options)
        return
    farm = target.parent / (target.name + ".l")
    if farm.exists():
        shutil.rmtree(farm)
    farm.mkdir()
    names = []
    for index, lower in enumerate(reversed(lowers)):
        name = _base36(index)
        os.symlink(os.path.abspath(lower), farm / name)
        names.append(name)
    options = "lowerdir=" + ":".join(names) + "," + tail
    if len(options) > _MAX_OPTIONS + 90:
        raise StoreError(f"overlay mount options too long even when shortened ({len(options)})")
    proc = subprocess.run(
        [sys.executable, "-c", _MOUNT_HELPER, str(target), options, str(flags)],
        cwd=farm,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        _raise_mount_error(proc.returncode, target, options)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def unmount(target: Path) -> None:
    """Unmount ``target``; falls back to a lazy unmount if it stays busy."""
    path = os.fsencode(target)
    for _ in range(50):
        if _libc.umount2(path, 0) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EINVAL:  # not a mount point (any more)
            return
        if err != errno.EBUSY:
            raise StoreError(f"cannot unmount {target}: {os.strerror(err)}")
        os.sched_yield()
    if _libc.umount2(path, _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise StoreError(f"cannot unmount {target}: {os.strerror(err)}")


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


# --- snapshots -------------------------------------------------------------------------


@dataclass(slots=True)
class Snapshot:
    """A mounted overlay: ``merged`` is the root filesystem, ``upper`` collects changes."""

    merged: Path
    upper: Path
    work: Path
    lowers: tuple[Path, ...]
    keep_upper_at: Path | None = field(default=None)

    def keep_upper(self, dest: Path) -> None:
        """After unmounting, move the upper directory to ``dest`` (a new layer directory)."""
        self.keep_upper_at = dest


class Snapshotter:
    """Creates overlay snapshots under ``root`` (default ``$DOCKYARD_HOME/snapshots``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else dockyard_home() / "snapshots"

    @contextlib.contextmanager
    def mount(self, lowers: Sequence[Path]) -> Iterator[Snapshot]:
        """Mount a writable snapshot over ``lowers`` (bottom first); cleaned up on exit.

        More than 500 lowers are flattened: the bottom ones are copied once into a
        single directory (cached under ``root/flat``, keyed by their paths).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        base = self.root / "active" / os.urandom(6).hex()
        merged, upper, work = base / "m", base / "u", base / "w"
        for path in (merged, upper, work):
            path.mkdir(parents=True)
        snap = Snapshot(merged=merged, upper=upper, work=work, lowers=tuple(lowers))
        mounted = False
        try:
            stack = self._stackable(list(lowers))
            if not stack:  # FROM scratch: overlayfs still wants a lower directory
                empty = base / "e"
                empty.mkdir()
                stack = [empty]
            mount_overlay(merged, stack, upper, work)
            mounted = True
            yield snap
        finally:
            if mounted:
                unmount(merged)
            if snap.keep_upper_at is not None:
                snap.keep_upper_at.parent.mkdir(parents=True, exist_ok=True)
                os.replace(upper, snap.keep_upper_at)
            shutil.rmtree(base, ignore_errors=True)

    def _stackable(self, lowers: list[Path]) -> list[Path]:
        while len(lowers) > MAX_LOWER_LAYERS:
            # flatten the bottom chunk into one directory, keep the rest as they are
            chunk = len(lowers) - MAX_LOWER_LAYERS + 1
            chunk = max(chunk, 2)
            lowers = [self._flatten(lowers[:chunk]), *lowers[chunk:]]
        return lowers

    def _flatten(self, lowers: list[Path]) -> Path:
        digest = hashlib.sha256("\0".join(str(p) for p in lowers).encode()).hexdigest()
        dest = self.root / "flat" / digest[:32]
        if dest.exists():
            return dest
        tmp = dest.with_name(dest.name + "." + os.urandom(4).hex())
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with readonly_view(lowers, self.root) as view:
            subprocess.run(
                ["cp", "-a", "--", f"{view}/.", str(tmp)], check=True, capture_output=True
            )
        try:
            os.rename(tmp, dest)
        except OSError:  # somebody else flattened the same chunk first
            shutil.rmtree(tmp, ignore_errors=True)
        return dest


@contextlib.contextmanager
def readonly_view(lowers: Sequence[Path], scratch: Path | None = None) -> Iterator[Path | None]:
    """The merged view of ``lowers`` (bottom first), read-only; ``None`` if there are none.

    One lower is its own view (its whiteouts are then plain char devices, which callers
    looking up paths treat as absent). Two or more are mounted read-only.
    """
    if not lowers:
        yield None
        return
    if len(lowers) == 1:
        yield lowers[0]
        return
    scratch = scratch if scratch is not None else dockyard_home() / "snapshots"
    target = scratch / "views" / os.urandom(6).hex()
    target.mkdir(parents=True)
    try:
        stack = Snapshotter(scratch)._stackable(list(lowers))
        mount_overlay(target, stack)
        try:
            yield target
        finally:
            unmount(target)
    finally:
        _remove_tree(target.parent / (target.name + ".l"))
        with contextlib.suppress(OSError):
            target.rmdir()


# --- layer extraction ------------------------------------------------------------------


def open_layer_stream(source: BinaryIO) -> BinaryIO:
    """Wrap a layer blob stream in the right decompressor (gzip, zstd or none)."""
    return open_decompressed(source)


def _safe_name(name: str) -> str:
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise ArchiveError(f"layer entry {name!r} leaves the layer root")
        parts.append(part)
    return "/".join(parts)


def _check_parents(dest: Path, rel: str, known: set[str] | None = None) -> None:
    """Refuse to write through a symlink or a non-directory in ``rel``'s parents.

    ``known`` holds the parents already checked during this extraction (real directories
    since); an entry that replaces one of them must :func:`_forget` it.
    """
    prefix = ""
    for part in rel.split("/")[:-1]:
        prefix = f"{prefix}/{part}" if prefix else part
        if known is not None and prefix in known:
            continue
        current = dest / prefix
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            current.mkdir(mode=0o755)
        else:
            if stat.S_ISLNK(st.st_mode):
                raise ArchiveError(f"layer entry {rel!r} would be written through a symlink")
            if not stat.S_ISDIR(st.st_mode):
                # a later entry turns a file into a parent directory: replace it
                current.unlink()
                current.mkdir(mode=0o755)
        if known is not None:
            known.add(prefix)


def _forget(known: set[str], rel: str) -> None:
    """``rel`` is being replaced by a non-directory: it and all below are unchecked again."""
    if rel in known:
        below = rel + "/"
        known.difference_update([k for k in known if k == rel or k.startswith(below)])


def _clear(path: Path, keep_dir: bool) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return
        shutil.rmtree(path)
    else:
        path.unlink()


def extract_layer(source: BinaryIO | Path, dest: Path) -> None:
    """Extract a layer tarball (plain, gzip or zstd) into ``dest`` as a layer directory.

    ``.wh.NAME`` entries become whiteout devices, ``.wh..wh..opq`` makes its directory
    opaque. Entries leaving ``dest`` (``..``), written through symlinks, or hard links to
    paths outside the layer raise :class:`ArchiveError`. Mode, ownership, symlinks, hard
    links, devices, xattrs and mtimes (with nanoseconds from PAX records) are preserved.
    """
    if isinstance(source, Path):
        with source.open("rb") as fh:
            extract_layer(fh, dest)
        return
    dest.mkdir(parents=True, exist_ok=True)
    stream = open_layer_stream(source)
    dir_times: list[tuple[Path, int]] = []
    known: set[str] = set()  # parent directories already checked (saves an lstat per level)
    try:
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:
            for member in tar:
                _extract_member(tar, member, dest, dir_times, known)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"cannot extract layer: {exc}") from exc
    except Exception as exc:  # zstandard and ISA-L raise their own errors
        if type(exc).__name__ in ("ZstdError", "IsalError"):
            raise ArchiveError(f"cannot extract layer: {exc}") from exc
        raise
    # directories last, deepest first: extracting their children changed their mtimes
    for path, mtime_ns in reversed(dir_times):
        os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


def _mtime_ns(member: tarfile.TarInfo) -> int:
    pax = member.pax_headers.get("mtime")
    if pax is not None:
        whole, _, frac = pax.partition(".")
        return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    return int(member.mtime) * 1_000_000_000


def _extract_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    dest: Path,
    dir_times: list[tuple[Path, int]],
    known: set[str] | None = None,
) -> None:
    rel = _safe_name(member.name)
    if not rel:
        return  # the root itself
    parent_rel, _, base = rel.rpartition("/")
    _check_parents(dest, rel, known)
    path = dest / rel
    if known is not None and not member.isdir():
        _forget(known, rel)
    if base.startswith(WHITEOUT_PREFIX):
        parent = path.parent
        if base == OPAQUE_MARKER:
            os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
        elif not base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            name = base[len(WHITEOUT_PREFIX) :]
            if known is not None:
                _forget(known, f"{parent_rel}/{name}" if parent_rel else name)
            target = parent / name
            _clear(target, keep_dir=False)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return
    if member.isdir():
        _clear(path, keep_dir=True)
        if not path.is_dir():
            path.mkdir(mode=0o700)
    elif member.isreg():
        _clear(path, keep_dir=False)
        fileobj = tar.extractfile(member)
        assert fileobj is not None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(fileobj, out, 1 << 20)
    elif member.issym():
        _clear(path, keep_dir=False)
        os.symlink(member.linkname, path)
    elif member.islnk():
        link_rel = _safe_name(member.linkname)
        if not link_rel:
            raise ArchiveError(f"hard link {rel!r} points at the layer root")
        _check_parents(dest, link_rel)
        source = dest / link_rel
        try:
            st = os.lstat(source)
        except FileNotFoundError as exc:
            raise ArchiveError(
                f"hard link {rel!r} points at {member.linkname!r}, not in this layer"
            ) from exc
        if stat.S_ISDIR(st.st_mode):
            raise ArchiveError(f"hard link {rel!r} points at a directory")
        _clear(path, keep_dir=False)
        os.link(source, path, follow_symlinks=False)
        return  # the link shares the target's metadata
    elif member.ischr() or member.isblk() or member.isfifo():
        _clear(path, keep_dir=False)
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
        os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
    else:
        return  # sparse/unknown types: skipped like containerd does for unsupported ones
    os.lchown(path, member.uid, member.gid)
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr.") :]
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(path, name, raw, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise
    if not member.issym():
        os.chmod(path, member.mode & 0o7777)
    mtime = _mtime_ns(member)
    if member.isdir():
        dir_times.append((path, mtime))
    else:
        os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
