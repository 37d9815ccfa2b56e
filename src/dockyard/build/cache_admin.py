"""The local build cache's upkeep: disk usage, LRU pruning, the size cap, GC roots, the build lease.

What the build cache is, under ``$DOCKYARD_HOME``:

* ``cache/steps/<key hex>`` — step records (JSON); their mtime is the last use (lookups
  touch them), which is what pruning orders by;
* ``layers/<diff_id hex>`` — extracted layer directories, shared by every build;
* the layer blobs the records name, in the store's ``blobs/``; they are registered as
  the store GC root ``build-cache``, so ``dockyard rmi`` never deletes a blob the cache
  still records (``cache/blob-roots.json`` is our copy of that set);
* ``cache/mounts/`` — ``RUN --mount=type=cache`` directories.

Every build holds a shared ``flock`` on ``locks/buildcache.lock`` from start to end
(:class:`CacheLease`); pruning holds it exclusively, so it never removes a layer
directory a running build has mounted, nor a record it is about to use. The automatic
cap (``DOCKYARD_CACHE_MAX``, default 20GiB) is checked after each build from cached
sizes and pruned only when no other build is running.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.build import replay
from dockyard.build.layers import Layer
from dockyard.build.remote import BuiltStep
from dockyard.errors import (
    DockyardError,
    InvalidDigestError,
    ManifestError,
    NotFoundError,
    StoreError,
    UsageError,
)
from dockyard.image import Image
from dockyard.image.content import walk
from dockyard.oci import Descriptor, Digest
from dockyard.store.store import Store

__all__ = [
    "CACHE_ROOT_OWNER",
    "DEFAULT_CACHE_MAX",
    "CacheLease",
    "DiskUsage",
    "Housekeeping",
    "PruneResult",
    "UsageLine",
    "cache_max",
    "disk_usage",
    "enforce_cap",
    "format_size",
    "parse_duration",
    "parse_size",
    "prune",
    "root_cache_blobs",
]

CACHE_ROOT_OWNER = "build-cache"
DEFAULT_CACHE_MAX = 20 << 30

_LOCK = "buildcache.lock"
_ROOT_LOCK = "buildcache-roots.lock"

# -- sizes and durations ---------------------------------------------------------------------

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str, *, what: str = "size") -> int:
    """``20GiB``, ``20GB``, ``512m``, ``1024``: bytes, with binary multiples like Docker's."""
    match = _SIZE.match(text)
    if match is None or (match.group(3).lower() == "i"):
        raise UsageError(f"invalid {what} {text!r}", hint="use a number with B, KB, MB, GB or TB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Go's ``time.ParseDuration`` (``1h30m``, ``90s``) plus ``d`` and ``w``; bare numbers are seconds."""
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = _DURATION_PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise UsageError(f"invalid {what} {text!r}", hint="use e.g. 30m, 24h, 7d or 1h30m")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def format_size(size: int) -> str:
    """Docker's ``units.HumanSize`` style: decimal units, three significant digits."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.4g}{unit}"
        value /= 1000
    return f"{size}B"  # pragma: no cover


def cache_max() -> int | None:
    """The automatic cap from ``$DOCKYARD_CACHE_MAX`` (default 20GiB; ``0`` turns it off)."""
    text = os.environ.get("DOCKYARD_CACHE_MAX", "").strip()
    if not text:
        return DEFAULT_CACHE_MAX
    size = parse_size(text, what="DOCKYARD_CACHE_MAX")
    return size or None


# -- the build lease -------------------------------------------------------------------------


@contextlib.contextmanager
def _flocked(path: Path, mode: int) -> Iterator[bool]:
    """Hold ``flock(mode)``; yields False (holding nothing) when LOCK_NB and it is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, mode)
        except OSError as exc:
            if mode & fcntl.LOCK_NB and exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                yield False
                return
            raise StoreError(f"cannot lock {path}: {exc}") from exc
        yield True
    finally:
        os.close(fd)


class CacheLease:
    """A build's shared lock on the cache: pruning waits until every holder lets go."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, store: Store) -> CacheLease:
        path = store.home / "locks" / _LOCK
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the build cache lock {path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock the build cache {path}: {exc}") from exc
        return cls(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.release()


# -- step records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Record:
    path: Path
    mtime: float
    size: int
    layer: Layer | None


def _steps_dir(store: Store) -> Path:
    return store.home / "cache" / "steps"


def _layers_dir(store: Store) -> Path:
    return store.home / "layers"


def _mounts_dir(store: Store) -> Path:
    return store.home / "cache" / "mounts"


def _read_records(store: Store) -> list[_Record]:
    """Every readable step record; unreadable ones come back with no layer (and get pruned)."""
    out: list[_Record] = []
    directory = _steps_dir(store)
    if not directory.is_dir():
        return out
    for entry in os.scandir(directory):
        if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            data = json.loads(Path(entry.path).read_bytes())
            layer = _layer(data.get("layer"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError, ManifestError, InvalidDigestError):
            out.append(_Record(Path(entry.path), 0.0, 0, None))
            continue
        out.append(_Record(Path(entry.path), st.st_mtime, st.st_size, layer))
    return out


def _layer(data: Any) -> Layer | None:
    if data is None:
        return None
    return Layer(Digest.parse(data["diff_id"]), Descriptor.from_dict(data["blob"]))


def _tree_size(path: Path, seen: set[tuple[int, int]] | None = None) -> int:
    """Bytes allocated under ``path`` (hard links counted once)."""
    seen = set() if seen is None else seen
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            st = current.lstat()
        except OSError:
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            continue
        seen.add(ident)
        total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(OSError):
                stack.extend(Path(e.path) for e in os.scandir(current))
    return total


# -- GC roots --------------------------------------------------------------------------------


def _root_copy(store: Store) -> Path:
    return store.home / "cache" / "blob-roots.json"


def _read_root_copy(store: Store) -> set[Digest]:
    try:
        return {Digest.parse(d) for d in json.loads(_root_copy(store).read_bytes())}
    except (OSError, ValueError, TypeError, InvalidDigestError):
        return set()


def _write_roots(store: Store, digests: set[Digest]) -> None:
    path = _root_copy(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}")
    try:
        tmp.write_text(json.dumps(sorted(str(d) for d in digests)))
        store.set_root(CACHE_ROOT_OWNER, digests)
        tmp.replace(path)
    except OSError as exc:
        raise StoreError(f"cannot register the build cache's blobs as GC roots: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def root_cache_blobs(store: Store, digests: Iterable[Digest], *, replace: bool = False) -> None:
    """Keep ``digests`` (layer blobs step records name) from ``gc``; add to the set unless ``replace``."""
    with _flocked(store.home / "locks" / _ROOT_LOCK, fcntl.LOCK_EX):
        current = set() if replace else _read_root_copy(store)
        wanted = current | set(digests)
        if replace or wanted != current:
            _write_roots(store, wanted)


# -- disk usage ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One kind of cache content: how many and how many bytes."""

    count: int
    bytes: int

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """What ``dockyard cache du`` reports."""

    layers: UsageLine  # extracted layer directories
    records: UsageLine  # step records
    blobs: UsageLine  # layer blobs only the cache refers to (no tagged image does)
    mounts: UsageLine  # RUN --mount=type=cache directories
    unreferenced_layers: UsageLine = field(default=UsageLine(0, 0))
    builds: UsageLine = field(default=UsageLine(0, 0))  # build records (no-op rebuilds)

    @property
    def total(self) -> int:
        return (
            self.layers.bytes
            + self.records.bytes
            + self.blobs.bytes
            + self.mounts.bytes
            + self.builds.bytes
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": self.layers.to_dict(),
            "records": self.records.to_dict(),
            "blobs": self.blobs.to_dict(),
            "mounts": self.mounts.to_dict(),
            "unreferenced_layers": self.unreferenced_layers.to_dict(),
            "builds": self.builds.to_dict(),
            "total": self.total,
        }


def _image_blobs(store: Store) -> set[Digest]:
    """Every blob a tagged image in the store needs."""
    out: set[Digest] = set()
    for descriptor in store.tags().values():
        try:
            for node, _via in walk(store.open_descriptor(descriptor)):
                if isinstance(node, Image):
                    out.update(d.digest for d in node.blobs())
                out.add(node.digest)
        except (NotFoundError, ManifestError, InvalidDigestError):
            continue
    return out


def _blob_size(store: Store, digest: Digest) -> int:
    try:
        return store.blob_path(digest).stat().st_blocks * 512
    except OSError:
        return 0


def _layer_dirs(store: Store) -> list[Path]:
    directory = _layers_dir(store)
    if not directory.is_dir():
        return []
    return [p for p in directory.iterdir() if not p.name.startswith(".")]


def disk_usage(store: Store) -> DiskUsage:
    """Sizes of everything the build cache holds."""
    records = _read_records(store)
    referenced = {r.layer.diff_id.hex for r in records if r.layer is not None}
    seen: set[tuple[int, int]] = set()
    layers = unref = 0
    unref_count = 0
    dirs = _layer_dirs(store)
    for path in dirs:
        size = _tree_size(path, seen)
        layers += size
        if path.name not in referenced:
            unref += size
            unref_count += 1
    in_images = _image_blobs(store)
    cache_blobs = {
        r.layer.blob.digest
        for r in records
        if r.layer is not None and r.layer.blob.digest not in in_images
    }
    present = [d for d in cache_blobs if store.has_blob(d)]
    mounts = (
        [p for p in _mounts_dir(store).glob("*") if p.is_dir()]
        if _mounts_dir(store).is_dir()
        else []
    )
    build_sizes = []
    build_dir = Path(replay.records_dir(store.home))
    for path in build_dir.iterdir() if build_dir.is_dir() else []:
        with contextlib.suppress(OSError):  # a record being replaced right now
            build_sizes.append(path.stat().st_size)
    return DiskUsage(
        builds=UsageLine(len(build_sizes), sum(build_sizes)),
        layers=UsageLine(len(dirs), layers),
        records=UsageLine(len(records), sum(r.size for r in records)),
        blobs=UsageLine(len(present), sum(_blob_size(store, d) for d in present)),
        mounts=UsageLine(len(mounts), sum(_tree_size(p, seen) for p in mounts)),
        unreferenced_layers=UsageLine(unref_count, unref),
    )


# -- pruning ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What ``dockyard cache prune`` removed."""

    records: int
    layers: int
    blobs: int
    mounts: int
    bytes: int

    def to_dict(self) -> dict[str, int]:
        return {
            "records": self.records,
            "layers": self.layers,
            "blobs": self.blobs,
            "mounts": self.mounts,
            "reclaimed": self.bytes,
        }


class _SizeMemo:
    """Sizes of layer directories (immutable once renamed into place), kept between builds."""

    def __init__(self, store: Store) -> None:
        self.path = store.home / "cache" / "layer-sizes.json"
        try:
            data = json.loads(self.path.read_bytes())
            self.sizes: dict[str, int] = {str(k): int(v) for k, v in data.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            self.sizes = {}
        self.changed = False

    def size(self, path: Path) -> int:
        found = self.sizes.get(path.name)
        if found is None:
            try:  # the size the builder noted when it made the layer (build/layers.py)
                found = int((path.parent / ".sizes" / path.name).read_text())
            except (OSError, ValueError):
                found = _tree_size(path)
            self.sizes[path.name] = found
            self.changed = True
        return found

    def save(self, keep: Iterable[str]) -> None:
        names = set(keep)
        data = {k: v for k, v in self.sizes.items() if k in names}
        if not self.changed and data == self.sizes:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.urandom(4).hex()}")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(data, sort_keys=True))
            tmp.replace(self.path)
        with contextlib.suppress(OSError):
            tmp.unlink()


def _remove_tree(path: Path, trash_dir: Path) -> None:
    """Rename away first (so nobody sees half a layer directory), then delete."""
    trash = trash_dir / f".trash-{os.urandom(6).hex()}"
    try:
        path.rename(trash)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot remove {path}: {exc}") from exc
    shutil.rmtree(trash, ignore_errors=True)


def prune(
    store: Store,
    *,
    all: bool = False,  # noqa: A002 - the flag's name
    keep_storage: int | None = None,
    until: float | None = None,
    wait: bool = True,
    now: float | None = None,
) -> PruneResult | None:
    """Remove build cache: LRU by last use.

    * ``all``: every record, layer directory, cache-only blob and cache mount;
    * ``until``: records not used for that many seconds;
    * ``keep_storage``: least recently used records until records, layer directories
      and cache-only blobs fit in that many bytes;
    * none of these: records whose layer no tagged image uses, and cache mounts.

    Layer directories no remaining record names are always removed (they are
    re-extracted from blobs on demand), as are stale ``build-*`` GC roots. Waits for
    running builds to finish (``wait``); with ``wait=False`` returns None if one runs.
    """
    mode = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
    with _flocked(store.home / "locks" / _LOCK, mode) as locked:
        if not locked:
            return None
        return _prune_locked(
            store,
            all_=all,
            keep_storage=keep_storage,
            until=until,
            now=time.time() if now is None else now,
        )


def _prune_build_records(store: Store, *, all_: bool, until: float | None, now: float) -> None:
    """Remove build records (see :mod:`replay`) that are asked for, old, or name lost blobs."""
    directory = Path(replay.records_dir(store.home))
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        try:
            doomed = all_ or (until is not None and path.stat().st_mtime < now - until)
            if not doomed:
                record = replay.read_record(path)
                blobs = record.get("blobs", []) if record is not None else None
                doomed = blobs is None or not all(
                    store.has_blob(Digest.parse(str(d))) for d in blobs
                )
        except (OSError, DockyardError):
            doomed = True
        if doomed:
            path.unlink(missing_ok=True)


def _prune_locked(
    store: Store, *, all_: bool, keep_storage: int | None, until: float | None, now: float
) -> PruneResult:
    records = _read_records(store)
    memo = _SizeMemo(store)
    dirs = {p.name: p for p in _layer_dirs(store)}
    in_images = _image_blobs(store) if not all_ else set()
    doomed: set[Path] = set()
    if all_:
        doomed = {r.path for r in records}
    elif keep_storage is not None or until is not None:
        if until is not None:
            doomed |= {r.path for r in records if r.mtime < now - until}
        if keep_storage is not None:
            live = sorted((r for r in records if r.path not in doomed), key=lambda r: r.mtime)
            doomed |= _lru_victims(store, live, dirs, memo, in_images, keep_storage)
    else:
        doomed = {
            r.path for r in records if r.layer is None or r.layer.blob.digest not in in_images
        }
    removed_bytes = 0
    for path in doomed:
        with contextlib.suppress(OSError):
            removed_bytes += path.stat().st_size
            path.unlink()
    remaining = [r for r in records if r.path not in doomed]
    keep_dirs = {r.layer.diff_id.hex for r in remaining if r.layer is not None}
    layers_removed = 0
    for name, path in dirs.items():
        if name not in keep_dirs:
            removed_bytes += memo.size(path)
            _remove_tree(path, _layers_dir(store))
            layers_removed += 1
    for leftover in _layers_dir(store).glob(".*") if _layers_dir(store).is_dir() else []:
        shutil.rmtree(leftover, ignore_errors=True)  # half extractions of dead builds
    memo.save(keep_dirs)
    mounts_removed = 0
    if all_ or (keep_storage is None and until is None):
        for path in sorted(_mounts_dir(store).glob("*")) if _mounts_dir(store).is_dir() else []:
            if path.is_dir():
                removed_bytes += _tree_size(path)
                _remove_tree(path, _mounts_dir(store))
                mounts_removed += 1
    root_cache_blobs(
        store, {r.layer.blob.digest for r in remaining if r.layer is not None}, replace=True
    )
    _drop_build_roots(store)
    gc = store.gc()
    _prune_build_records(store, all_=all_, until=until, now=now)
    return PruneResult(
        records=len(doomed),
        layers=layers_removed,
        blobs=gc.blobs,
        mounts=mounts_removed,
        bytes=removed_bytes + gc.bytes,
    )


def _lru_victims(
    store: Store,
    live: Sequence[_Record],
    dirs: dict[str, Path],
    memo: _SizeMemo,
    in_images: set[Digest],
    keep: int,
) -> set[Path]:
    """The oldest records to drop until what the rest need fits in ``keep`` bytes."""
    layer_refs: dict[str, int] = {}
    blob_refs: dict[Digest, int] = {}
    for record in live:
        if record.layer is not None:
            name = record.layer.diff_id.hex
            layer_refs[name] = layer_refs.get(name, 0) + 1
            if record.layer.blob.digest not in in_images:
                digest = record.layer.blob.digest
                blob_refs[digest] = blob_refs.get(digest, 0) + 1
    usage = sum(r.size for r in live)
    usage += sum(memo.size(dirs[n]) for n in layer_refs if n in dirs)
    usage += sum(_blob_size(store, d) for d in blob_refs)
    victims: set[Path] = set()
    for record in live:
        if usage <= keep:
            break
        victims.add(record.path)
        usage -= record.size
        if record.layer is None:
            continue
        name = record.layer.diff_id.hex
        layer_refs[name] -= 1
        if layer_refs[name] == 0 and name in dirs:
            usage -= memo.size(dirs[name])
        digest = record.layer.blob.digest
        if digest in blob_refs:
            blob_refs[digest] -= 1
            if blob_refs[digest] == 0:
                usage -= _blob_size(store, digest)
    return victims


def _drop_build_roots(store: Store) -> None:
    """Forget the ``build-*`` GC roots of finished builds.

    A build roots its image's manifest until its outputs are written (tagged, pushed,
    exported); called with the cache lock held exclusively, no build is running, so
    every such root is stale.
    """
    roots = store.home / "roots"
    for path in roots.glob("build-*.json") if roots.is_dir() else []:
        if path.stem != CACHE_ROOT_OWNER:
            with contextlib.suppress(OSError):
                path.unlink()


# -- after each build --------------------------------------------------------------------------


def _quick_usage(store: Store) -> int:
    """Records + layer directories + cache blobs, from cached sizes (cheap enough per build)."""
    memo = _SizeMemo(store)
    dirs = _layer_dirs(store)
    total = sum(memo.size(p) for p in dirs)
    memo.save(p.name for p in dirs)
    with contextlib.suppress(OSError):
        total += sum(e.stat().st_size for e in os.scandir(_steps_dir(store)) if e.is_file())
    total += sum(_blob_size(store, d) for d in _read_root_copy(store))
    return total


def enforce_cap(store: Store, limit: int | None = None) -> PruneResult | None:
    """Prune LRU down to the cap when over it and no build runs; None if nothing was done."""
    cap = cache_max() if limit is None else limit
    if cap is None or _quick_usage(store) <= cap:
        return None
    return prune(store, keep_storage=cap, wait=False)


class Housekeeping:
    """The last cache sink of every build: roots the build's layers, drops the lease, caps size."""

    ignore_error = True

    def __init__(self, lease: CacheLease, close: Callable[[], None]) -> None:
        self.lease = lease
        self.close = close

    def export(self, steps: Sequence[BuiltStep], store: Store) -> None:
        try:
            root_cache_blobs(
                store, {s.step.layer.blob.digest for s in steps if s.step.layer is not None}
            )
            self.lease.release()
            try:
                enforce_cap(store)
            except DockyardError as exc:
                raise StoreError(f"the automatic build cache cap: {exc.message}") from exc
        finally:
            self.lease.release()
            self.close()
