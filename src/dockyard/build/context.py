"""The build context: .dockerignore applied, COPY sources selected, their content digested.

A :class:`BuildContext` is a directory seen through its ``.dockerignore``: ignored files
do not exist for COPY/ADD. :meth:`BuildContext.select` resolves COPY source patterns
the way BuildKit does (Go ``filepath.Match`` wildcards, directories copied by content,
a symlink named as a source followed inside the context, symlinks inside directories
kept as symlinks) and returns every selected entry with its metadata and content hash.
The selection's digest (:func:`selection_digest`) is a pure function of those entries:
paths, kinds, modes, ownership, link targets and content hashes, never mtimes.

Content hashes come from a :class:`StatCache` persisted under ``$DOCKYARD_HOME/cache``:
a file is re-read unless its path, device, inode, size, mtime and ctime (all in
nanoseconds) are the same as when it was hashed, and files changed within the last
``racy_window_ns`` before hashing are never cached (their timestamps could still
collide with a later write).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.build.dockerignore import (
    BadPatternError,
    PatternMatcher,
    go_match,
    has_wildcards,
    parse_dockerignore,
)
from dockyard.build.replay import RACY_WINDOW_NS
from dockyard.build.snapshot import dockyard_home
from dockyard.errors import BuildContextError, StoreError

__all__ = [
    "BuildContext",
    "ContextEntry",
    "Selection",
    "SourceMatch",
    "StatCache",
    "content_digest",
    "selection_digest",
]

_MAX_LINKS = 255


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """One file, directory or symlink of the context, as COPY would see it."""

    path: str  # relative to the context root, slash-separated
    kind: str  # "dir" | "file" | "symlink"
    mode: int  # permission bits (with setuid/setgid/sticky)
    uid: int
    gid: int
    size: int = 0
    link_target: str = ""  # for symlinks
    sha256: str = ""  # hex content hash, for files


@dataclass(frozen=True, slots=True)
class SourceMatch:
    """One path a COPY source resolved to, and everything it brings along."""

    source: str  # the source as written in the instruction
    path: str  # the matched path relative to the context ("" is the context root)
    is_dir: bool
    entries: tuple[ContextEntry, ...]  # a directory: itself and all below it, walk order


@dataclass(frozen=True, slots=True)
class Selection:
    """The result of selecting some COPY sources; ``digest`` is their content digest."""

    matches: tuple[SourceMatch, ...]
    digest: str


def _entry_line(entry: ContextEntry) -> bytes:
    fields = (
        entry.kind,
        entry.path,
        f"{entry.mode:o}",
        str(entry.uid),
        str(entry.gid),
        entry.link_target,
        entry.sha256,
    )
    return "\0".join(fields).encode("utf-8", "surrogateescape") + b"\n"


def content_digest(entries: Iterable[ContextEntry]) -> str:
    """``sha256:`` over the entries in order (path, kind, mode, uid, gid, link, content)."""
    h = hashlib.sha256()
    for entry in entries:
        h.update(_entry_line(entry))
    return "sha256:" + h.hexdigest()


def selection_digest(matches: Iterable[SourceMatch]) -> str:
    """The digest of a selection: each match's path and directory flag, then its entries."""
    h = hashlib.sha256()
    for match in matches:
        h.update(f"match\0{match.path}\0{int(match.is_dir)}\n".encode("utf-8", "surrogateescape"))
        for entry in match.entries:
            h.update(_entry_line(entry))
    return "sha256:" + h.hexdigest()


# --- the stat cache ---------------------------------------------------------------------------

_Key = tuple[int, int, int, int, int]  # dev, ino, size, mtime_ns, ctime_ns


class StatCache:
    """File content hashes keyed by (path, dev, inode, size, mtime_ns, ctime_ns).

    Loaded for one directory prefix, kept in memory, written back by :meth:`flush`
    (SQLite, so two builds on one machine can share it).
    """

    def __init__(
        self,
        prefix: Path,
        *,
        db: Path | None = None,
        racy_window_ns: int = RACY_WINDOW_NS,
    ) -> None:
        self.db = db if db is not None else dockyard_home() / "cache" / "context-stat.sqlite"
        self.prefix = str(prefix.absolute()).rstrip("/") + "/"
        self.racy_window_ns = racy_window_ns
        self.known: dict[str, tuple[_Key, str]] = {}
        self.fresh: dict[str, tuple[_Key, str]] = {}
        self.hits = 0
        self.misses = 0
        self._load()

    def _connect(self) -> sqlite3.Connection:
        self.db.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS stat (path BLOB PRIMARY KEY, dev INTEGER, ino INTEGER,"
            " size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT)"
        )
        return conn

    def _load(self) -> None:
        low = os.fsencode(self.prefix)
        high = low[:-1] + b"0"  # "/" + 1
        try:
            with contextlib.closing(self._connect()) as conn:
                rows = conn.execute(
                    "SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM stat"
                    " WHERE path >= ? AND path < ?",
                    (low, high),
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the context stat cache {self.db}: {exc}") from exc
        for path, dev, ino, size, mtime_ns, ctime_ns, digest in rows:
            self.known[os.fsdecode(path)] = ((dev, ino, size, mtime_ns, ctime_ns), digest)

    def file_sha256(self, path: str | Path, st: os.stat_result) -> str:
        """The hex sha256 of the file's content, from the cache when nothing changed."""
        name = os.fspath(path)
        key: _Key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self.fresh.get(name) or self.known.get(name)
        if cached is not None and cached[0] == key:
            self.hits += 1
            return cached[1]
        self.misses += 1
        now = time.time_ns()
        try:
            with open(name, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError as exc:
            raise BuildContextError(f"cannot read {path}: {exc.strerror}") from exc
        if max(st.st_mtime_ns, st.st_ctime_ns) < now - self.racy_window_ns:
            self.fresh[name] = (key, digest)
        return digest

    def flush(self) -> None:
        """Write newly hashed entries back to the database."""
        if not self.fresh:
            return
        rows = [(os.fsencode(p), *key, digest) for p, (key, digest) in self.fresh.items()]
        try:
            with contextlib.closing(self._connect()) as conn, conn:
                conn.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the context stat cache {self.db}: {exc}") from exc
        self.known.update(self.fresh)
        self.fresh.clear()


# --- the context ------------------------------------------------------------------------------


def _names(path: str | Path) -> list[str]:
    try:
        return sorted(os.listdir(path), key=os.fsencode)
    except OSError as exc:
        raise BuildContextError(f"cannot read directory {path}: {exc.strerror}") from exc


class BuildContext:
    """A context directory seen through its .dockerignore (or the given patterns)."""

    def __init__(
        self,
        root: Path,
        *,
        ignore: Sequence[str] | None = None,
        stat_cache: StatCache | None = None,
    ) -> None:
        if not root.is_dir():
            raise BuildContextError(f"build context {root} is not a directory")
        self.root = root.absolute()
        self._root = str(self.root)  # string paths: the walk makes one per context entry
        if ignore is None:
            ignore = self._read_dockerignore()
        try:
            self.ignore = PatternMatcher(ignore)
        except BadPatternError as exc:
            raise BuildContextError(
                exc.message, location=str(self.root / ".dockerignore"), hint="fix the pattern"
            ) from exc
        self.cache = stat_cache if stat_cache is not None else StatCache(self.root)

    def _read_dockerignore(self) -> list[str]:
        path = self.root / ".dockerignore"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BuildContextError(f"cannot read {path}: {exc.strerror}") from exc
        return parse_dockerignore(data.decode("utf-8", "surrogateescape"))

    def host_path(self, rel: str) -> Path:
        """The host path of a context-relative path returned by :meth:`select`."""
        return self.root / rel if rel else self.root

    def _host(self, rel: str) -> str:
        return f"{self._root}/{rel}" if rel else self._root

    def is_ignored(self, rel: str) -> bool:
        return bool(rel) and self.ignore.matches(rel)

    # -- resolving sources --

    def _resolve(self, rel: str, source: str) -> str:
        """Follow symlinks in ``rel`` inside the context; refuse ones that leave it."""
        parts = [p for p in rel.split("/") if p]
        done: list[str] = []
        links = 0
        while parts:
            name = parts.pop(0)
            if name == ".":
                continue
            if name == "..":
                if not done:
                    raise self._escape(source)
                done.pop()
                continue
            candidate = self.root.joinpath(*done, name)
            try:
                st = os.lstat(candidate)
            except (FileNotFoundError, NotADirectoryError):
                done.append(name)
                continue
            if not stat.S_ISLNK(st.st_mode):
                done.append(name)
                continue
            links += 1
            if links > _MAX_LINKS:
                raise BuildContextError(f"too many levels of symbolic links in {source!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                raise BuildContextError(
                    f"{source!r} is a symlink to {target!r}, outside the build context",
                    hint="COPY follows a symlink only to a path inside the context",
                )
            parts = target.split("/") + parts
        return "/".join(done)

    @staticmethod
    def _escape(source: str) -> BuildContextError:
        return BuildContextError(
            f"{source!r} is outside the build context",
            hint="COPY and ADD can only read files inside the context directory",
        )

    def _entry(self, rel: str, st: os.stat_result) -> ContextEntry | None:
        full = self._host(rel)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            kind, digest, target = "dir", "", ""
        elif stat.S_ISREG(mode):
            kind, digest, target = "file", self.cache.file_sha256(full, st), ""
        elif stat.S_ISLNK(mode):
            kind, digest, target = "symlink", "", os.readlink(full)
        else:
            return None  # sockets, fifos, devices are not sent (like fsutil)
        return ContextEntry(
            path=rel,
            kind=kind,
            mode=stat.S_IMODE(mode),
            uid=st.st_uid,
            gid=st.st_gid,
            size=st.st_size if kind == "file" else 0,
            link_target=target,
            sha256=digest,
        )

    def _walk(self, rel: str, excludes: PatternMatcher | None, base: str) -> Iterator[ContextEntry]:
        """Everything below directory ``rel`` that the ignore rules let through."""
        directory = self._host(rel)
        for name in _names(directory):
            child = f"{rel}/{name}" if rel else name
            try:
                st = os.lstat(self._host(child))
            except FileNotFoundError:
                continue
            ignored = self.ignore.matches(child)
            if not ignored and excludes is not None:
                inner = child[len(base) + 1 :] if base else child
                ignored = excludes.matches(inner)
            is_dir = stat.S_ISDIR(st.st_mode)
            if ignored:
                has_exceptions = self.ignore.exclusions or (
                    excludes is not None and excludes.exclusions
                )
                if is_dir and has_exceptions:
                    below = list(self._walk(child, excludes, base))
                    if below:
                        entry = self._entry(child, st)
                        assert entry is not None
                        yield entry
                        yield from below
                continue
            entry = self._entry(child, st)
            if entry is None:
                continue
            yield entry
            if is_dir:
                yield from self._walk(child, excludes, base)

    def _match(self, source: str, rel: str, excludes: PatternMatcher | None) -> SourceMatch:
        resolved = self._resolve(rel, source)
        ignored = bool(resolved) and self.is_ignored(resolved)
        full = self.host_path(resolved)
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise BuildContextError(f"{source!r} not found in the build context") from exc
        entry = self._entry(resolved, st)
        if entry is None:
            raise BuildContextError(f"{source!r} is not a regular file, directory or symlink")
        if entry.kind == "dir" and (not ignored or self.ignore.exclusions):
            below = tuple(self._walk(resolved, excludes, resolved))
            # an ignored directory exists only as the parent of re-included files
            if below or not ignored:
                return SourceMatch(source, resolved, True, (entry, *below))
        elif not ignored:
            return SourceMatch(source, resolved, False, (entry,))
        raise BuildContextError(
            f"{source!r} not found in the build context", hint="it is excluded by .dockerignore"
        )

    def _wildcard(self, source: str, rel: str) -> list[str]:
        """fsutil's ResolveWildcards: walk from the fixed prefix, match the rest."""
        parts = rel.split("/")
        fixed: list[str] = []
        for index, part in enumerate(parts):
            if has_wildcards(part):
                pattern = "/".join(parts[index:])
                break
            fixed.append(part)
        prefix = self._resolve("/".join(fixed), source)
        depth = pattern.count("/") + 1
        found: list[str] = []

        def walk(rel_dir: str, level: int) -> None:
            directory = self.host_path(rel_dir)
            if not directory.is_dir():
                return
            for name in _names(directory):
                child = f"{rel_dir}/{name}" if rel_dir else name
                if self.is_ignored(child):
                    continue
                inner = child[len(prefix) + 1 :] if prefix else child
                try:
                    hit = go_match(pattern, inner)
                except BadPatternError as exc:
                    raise BuildContextError(f"bad wildcard in COPY source {source!r}") from exc
                if hit:
                    found.append(child)
                    continue
                if (
                    level + 1 < depth
                    and os.path.isdir(self.host_path(child))
                    and not (os.path.islink(self.host_path(child)))
                ):
                    walk(child, level + 1)

        walk(prefix, 0)
        return found

    def select(
        self,
        sources: Sequence[str],
        *,
        excludes: Sequence[str] = (),
        allow_empty_wildcard: bool = False,
    ) -> Selection:
        """Resolve COPY/ADD sources (context-relative; ``/`` is the context root).

        A wildcard that matches nothing is an error unless ``allow_empty_wildcard``;
        ``excludes`` (COPY ``--exclude``) are matched against paths below each source.
        Paths that leave the context raise :class:`BuildContextError`.
        """
        try:
            exclude_matcher = PatternMatcher(excludes) if excludes else None
        except BadPatternError as exc:
            raise BuildContextError(exc.message, hint="fix the --exclude pattern") from exc
        matches: list[SourceMatch] = []
        for source in sources:
            cleaned = posixpath.normpath(source) if source else "."
            if cleaned == ".." or cleaned.startswith("../"):
                raise self._escape(source)
            rel = posixpath.normpath("/" + cleaned).lstrip("/")
            if rel and has_wildcards(rel):
                paths = self._wildcard(source, rel)
                if not paths:
                    if allow_empty_wildcard:
                        continue
                    raise BuildContextError(
                        f"no source files were specified: {source!r} matches nothing"
                    )
                matches.extend(self._match(source, p, exclude_matcher) for p in paths)
            else:
                matches.append(self._match(source, rel, exclude_matcher))
        self.cache.flush()
        return Selection(tuple(matches), selection_digest(matches))

    def walk_all(self) -> Iterator[ContextEntry]:
        """Every entry of the context the ignore rules let through (walk order)."""
        yield from self._walk("", None, "")
        self.cache.flush()
