"""COPY and ADD file semantics (BuildKit's): sources, wildcards, destinations, ownership, modes."""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dockyard.build._scoped import clean_rel, root_path
from dockyard.build.context import ContextEntry, SourceMatch
from dockyard.errors import BuildContextError, BuildError

__all__ = [
    "CopyRequest",
    "copy_into",
    "copy_selection",
    "expand_sources",
    "has_wildcard",
    "resolve_dest",
]

Ignored = Callable[[str], bool]
"""Is this context-relative path excluded (by .dockerignore)?"""


def has_wildcard(path: str) -> bool:
    return any(c in path for c in "*?[")


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    r"""Go's filepath.Match for one path component: ``*``, ``?``, ``[...]``, ``\\`` escapes."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                raise BuildContextError(f"invalid wildcard pattern {pattern!r}: unterminated [")
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "!" + body[1:]
            body = body.replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def expand_sources(root: Path, source: str, *, ignored: Ignored | None = None) -> list[str]:
    """Root-relative paths ("" for the root) that ``source`` names, wildcards expanded, sorted.

    A source that leaves the root is a BuildContextError; a literal path that does not
    exist (or is excluded by .dockerignore) is one too; a wildcard that matches nothing
    yields nothing, as in BuildKit.
    """
    normalized = posixpath.normpath(source) if source else "."
    if normalized == ".." or normalized.startswith("../"):
        raise BuildContextError(
            f"COPY source {source!r} is outside the build context",
            hint="sources are relative to the context directory; move the file into the context",
        )
    rel = clean_rel(source)
    if not has_wildcard(rel):
        if ignored is not None and rel and ignored(rel):
            raise BuildContextError(f"{source!r} not found: it is excluded by .dockerignore")
        if not os.path.lexists(root_path(root, rel)):
            raise BuildContextError(f"{source!r} not found in the build context")
        return [rel]
    matches = [""]
    for component in rel.split("/"):
        nxt: list[str] = []
        for base in matches:
            directory = root_path(root, base)
            if not has_wildcard(component):
                candidate = posixpath.join(base, component) if base else component
                if os.path.lexists(root_path(root, candidate)):
                    nxt.append(candidate)
                continue
            regex = _glob_regex(component)
            try:
                names = sorted(os.listdir(directory))
            except (NotADirectoryError, FileNotFoundError):
                continue
            nxt.extend(posixpath.join(base, n) if base else n for n in names if regex.fullmatch(n))
        matches = nxt
    if ignored is not None:
        matches = [m for m in matches if not ignored(m)]
    return sorted(matches)


def resolve_dest(dest: str, workdir: str) -> tuple[str, bool]:
    """The absolute destination and whether it must be a directory (trailing ``/``, ``.``)."""
    is_dir = dest in ("", ".") or dest.endswith(("/", "/."))
    absolute = posixpath.normpath(posixpath.join("/", workdir or "/", dest))
    return absolute, is_dir


@dataclass(frozen=True, slots=True)
class CopyRequest:
    """One COPY/ADD as evaluated: sources relative to ``src_root``, ``dest`` absolute."""

    sources: tuple[str, ...]
    dest: str
    dest_is_dir: bool
    chown: tuple[int, int] | None = None  # None: keep source owners (context files are root's)
    chmod: int | None = None
    context_source: bool = True  # from the build context: owners become 0:0
    parents: bool = False  # --parents: keep each source's path below the destination
    exclude: Ignored | None = None  # --exclude: paths relative to the source being copied


def _owner(st: os.stat_result, req: CopyRequest) -> tuple[int, int]:
    if req.chown is not None:
        return req.chown
    if req.context_source:
        return (0, 0)
    return (st.st_uid, st.st_gid)


def _mkdir_all(dest_root: Path, path: str, owner: tuple[int, int]) -> Path:
    """Create ``path`` (absolute, inside the root) and missing parents, 0755, owned by ``owner``."""
    current = ""
    for part in [p for p in path.split("/") if p]:
        current = f"{current}/{part}"
        host = root_path(dest_root, current)
        if os.path.lexists(host) and not stat.S_ISDIR(os.stat(host).st_mode):
            raise BuildError(f"cannot copy to {path}: {current} exists and is not a directory")
        if not os.path.lexists(host):
            host.mkdir(mode=0o755)
            os.chmod(host, 0o755)
            os.lchown(host, *owner)
    return root_path(dest_root, path)


def _remove(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        path.unlink()


def _copy_entry(
    src: Path, dst: Path, req: CopyRequest, ignored: Ignored | None, rel: str, sub: str
) -> None:
    if req.exclude is not None and req.exclude(sub):
        return
    st = os.lstat(src)
    uid, gid = _owner(st, req)
    mode = req.chmod if req.chmod is not None else stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(dst) and not (os.path.isdir(dst) and not os.path.islink(dst)):
            _remove(dst)
        if not os.path.lexists(dst):
            dst.mkdir()
        os.lchown(dst, uid, gid)
        os.chmod(dst, mode)
        for name in sorted(os.listdir(src)):
            child_rel = posixpath.join(rel, name) if rel else name
            if ignored is not None and ignored(child_rel):
                continue
            _copy_entry(src / name, dst / name, req, ignored, child_rel, posixpath.join(sub, name))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    if os.path.lexists(dst):
        _remove(dst)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        os.lchown(dst, uid, gid)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        return
    if stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    else:
        os.mknod(dst, st.st_mode, st.st_rdev)
    os.lchown(dst, uid, gid)
    os.chmod(dst, mode)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_into(
    src_root: Path, dest_root: Path, req: CopyRequest, *, ignored: Ignored | None = None
) -> list[str]:
    """Copy ``req.sources`` from ``src_root`` into ``dest_root`` with BuildKit's rules.

    Directories are copied by content; a file lands on ``dest`` unless ``dest`` is (or
    must be) a directory; missing parents of the destination are created 0755 with the
    ``--chown`` owner. Returns the destination paths written.
    """
    matches: list[str] = []
    for source in req.sources:
        matches.extend(expand_sources(src_root, source, ignored=ignored))
    created_owner = req.chown or (0, 0)
    dest_is_dir = req.dest_is_dir or len(req.sources) > 1
    written: list[str] = []
    for rel in matches:
        src = root_path(src_root, rel)  # the named source itself is followed if a symlink
        dest = posixpath.join(req.dest, posixpath.dirname(rel)) if req.parents else req.dest
        if os.path.isdir(src):
            if req.parents:
                dest = posixpath.join(req.dest, rel)
            target = _mkdir_all(dest_root, dest, created_owner)
            for name in sorted(os.listdir(src)):
                child_rel = posixpath.join(rel, name) if rel else name
                if ignored is not None and ignored(child_rel):
                    continue
                _copy_entry(src / name, target / name, req, ignored, child_rel, name)
            written.append(dest)
            continue
        if req.exclude is not None and req.exclude(posixpath.basename(rel)):
            continue
        if not os.path.exists(src):
            raise BuildContextError(f"{rel!r} is a dangling symlink in the copy source")
        host_dest = root_path(dest_root, dest)
        if dest_is_dir or req.parents or os.path.isdir(host_dest):
            parent = _mkdir_all(dest_root, dest, created_owner)
            final = posixpath.join(dest, posixpath.basename(rel))
            host_final = parent / posixpath.basename(rel)
        else:
            _mkdir_all(dest_root, posixpath.dirname(dest), created_owner)
            final = dest
            host_final = root_path(dest_root, dest, follow_final=False)
        _copy_file_followed(src, host_final, req)
        written.append(final)
    return written


def _copy_file_followed(src: Path, dst: Path, req: CopyRequest) -> None:
    st = os.stat(src)
    if os.path.lexists(dst):
        _remove(dst)
    shutil.copyfile(src, dst)
    uid, gid = _owner(st, req)
    os.lchown(dst, uid, gid)
    os.chmod(dst, req.chmod if req.chmod is not None else stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def walk_files(root: Path) -> Iterator[str]:
    """Every path below ``root``, relative, sorted (for tests and digests)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            yield os.path.relpath(os.path.join(dirpath, name), root)


def _owner_of(entry: ContextEntry, req: CopyRequest) -> tuple[int, int]:
    if req.chown is not None:
        return req.chown
    return (0, 0) if req.context_source else (entry.uid, entry.gid)


def _place(host: Path, source: Path, entry: ContextEntry, req: CopyRequest) -> None:
    """Write one context entry at ``host`` (replacing what is there unless both are dirs)."""
    uid, gid = _owner_of(entry, req)
    mode = req.chmod if req.chmod is not None else entry.mode
    exists = os.path.lexists(host)
    if entry.kind == "dir":
        if exists and not (host.is_dir() and not host.is_symlink()):
            _remove(host)
            exists = False
        if not exists:
            host.mkdir()
        os.lchown(host, uid, gid)
        host.chmod(mode)
        return
    if exists:
        _remove(host)
    if entry.kind == "symlink":
        host.symlink_to(entry.link_target)
        os.lchown(host, uid, gid)
        return
    _copy_file(source, host, uid, gid, mode)


def _copy_file(source: Path, host: Path, uid: int, gid: int, mode: int) -> None:
    """Copy content, owner, mode and mtime with as few system calls as possible (on fds)."""
    fin = os.open(source, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        st = os.fstat(fin)
        fout = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            offset = 0
            while offset < st.st_size:
                sent = os.sendfile(fout, fin, offset, st.st_size - offset)
                if sent == 0:
                    break
                offset += sent
            os.fchown(fout, uid, gid)
            os.fchmod(fout, mode)  # after chown, which clears setuid bits
            os.utime(fout, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def copy_selection(
    context_root: Path, matches: Sequence[SourceMatch], dest_root: Path, req: CopyRequest
) -> None:
    """Copy exactly what a context selection holds (the files its digest was computed over).

    Directories are copied by content; a file lands on ``dest`` unless the destination is
    (or must be) a directory. Modification times are kept, ownership is root's unless
    ``--chown`` says otherwise, modes are kept unless ``--chmod`` says otherwise.
    """
    created_owner = req.chown or (0, 0)
    times: list[tuple[Path, int]] = []
    files: list[tuple[Path, Path, ContextEntry]] = []  # written after their directories exist
    for match in matches:
        if match.is_dir:
            dest = posixpath.join(req.dest, match.path) if req.parents else req.dest
            base = _mkdir_all(dest_root, dest, created_owner)
            prefix = f"{match.path}/" if match.path else ""
            if len(match.entries) > _TAR_FROM and req.chmod is None:
                _tar_copy(context_root / match.path, base, match.entries[1:], len(prefix), req)
                continue
            for entry in match.entries[1:]:
                host = base / entry.path[len(prefix) :]
                source = context_root / entry.path
                if entry.kind == "dir":
                    _place(host, source, entry, req)
                    times.append((host, os.lstat(source).st_mtime_ns))
                else:
                    files.append((host, source, entry))
            continue
        entry = match.entries[0]
        dest = posixpath.join(req.dest, posixpath.dirname(match.path)) if req.parents else req.dest
        source = context_root / match.path
        host_dest = root_path(dest_root, dest)
        if req.dest_is_dir or req.parents or host_dest.is_dir():
            host = _mkdir_all(dest_root, dest, created_owner) / posixpath.basename(match.path)
        else:
            _mkdir_all(dest_root, posixpath.dirname(dest), created_owner)
            host = root_path(dest_root, dest, follow_final=False)
        files.append((host, source, entry))
    _place_files(files, req)
    times.extend(
        (host, os.lstat(source).st_mtime_ns) for host, source, e in files if e.kind != "symlink"
    )
    for host, mtime in reversed(times):  # deepest last written first: keeps dir times intact
        os.utime(host, ns=(mtime, mtime))


_PARALLEL_FROM = 64  # below this many files, threads cost more than they save
_TAR_FROM = 256  # from this many entries, a directory goes through GNU tar (C speed)


def _tar_copy(
    source: Path, base: Path, entries: Sequence[ContextEntry], strip: int, req: CopyRequest
) -> None:
    """Copy many context entries below ``source`` into ``base`` with a tar | tar pipeline.

    The same result as placing them one by one: exactly the listed entries (ignore
    rules and excludes were applied by the selection), owners from --chown or root,
    modes and times kept, symlinks as symlinks, hard links as separate files.
    """
    uid, gid = req.chown or (0, 0)
    names = b"".join(os.fsencode(e.path[strip:]) + b"\0" for e in entries)
    create = ["tar", "-C", str(source), "-c", "-f", "-", "--format=posix", "--null", "--no-recursion", "-T", "-",
              "--numeric-owner", f"--owner={uid}", f"--group={gid}", "--hard-dereference"]  # fmt: skip
    extract = ["tar", "-C", str(base), "-x", "-f", "-", "--numeric-owner", "--same-owner",
               "--same-permissions", "--overwrite-dir"]  # fmt: skip
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: tar's warnings cannot block it
        with subprocess.Popen(
            create, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
        ) as c:
            assert c.stdin is not None
            assert c.stdout is not None
            with subprocess.Popen(extract, stdin=c.stdout, stderr=errors) as x:
                c.stdout.close()  # the extractor owns the pipe now
                with contextlib.suppress(BrokenPipeError):
                    c.stdin.write(names)
                c.stdin.close()
        if c.returncode or x.returncode:
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
            raise BuildError(f"copying {source} failed: {lines[-1] if lines else 'tar failed'}")


def _place_files(files: Sequence[tuple[Path, Path, ContextEntry]], req: CopyRequest) -> None:
    """Write files and symlinks; many small files go through a few threads (syscall-bound)."""
    if len(files) < _PARALLEL_FROM:
        for host, source, entry in files:
            _place(host, source, entry, req)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        for future in [
            pool.submit(_place, host, source, entry, req) for host, source, entry in files
        ]:
            future.result()
