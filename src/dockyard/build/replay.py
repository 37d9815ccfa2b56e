"""Build records: a build whose every input is unchanged is answered from its record.

A no-op rebuild should cost what it takes to prove that nothing changed, not a plan, a
solve and a cache lookup per step. After a successful build, the engine writes a
*record* under ``$DOCKYARD_HOME/cache/builds/``; the next identical request checks the
record and, when every input is provably the same, prints the recorded result without
planning anything (``dockyard.cli._replay``).

What the record proves, and how:

- **the request**: :func:`build_request` is a pure function of the command's own words
  (raw flag values, absolute paths, the environment values that ``--build-arg KEY`` and
  ``SOURCE_DATE_EPOCH`` read, the dockyard and Python versions). The record holds the
  whole request and must equal it; the file name is only a checksum of it. Two
  spellings of one request get two records; that costs a full build, never a wrong
  answer.
- **the Dockerfile and the context**: :func:`take_stamp` lists the Dockerfile's bytes,
  the ``.dockerignore`` bytes and, for every file, directory and symlink of the context
  that ``.dockerignore`` lets through, its path and ``lstat`` (mode, owner, device, inode,
  size, mtime and ctime in nanoseconds; for a directory, mode and owner: its listing is
  walked, and its times move when an ignored entry comes or goes). The fields are
  compared as they are, not hashed. The stamp is taken *before* the build reads
  anything, so a file changed during the build no longer matches it. Any content write
  changes ctime; a file whose mtime or ctime lies within :data:`RACY_WINDOW_NS` of the
  stamp could still change without its timestamps moving (coarse clocks), so such a
  stamp is marked racy and no record is written (git's "racy clean" rule).
- **base images**: each ``FROM`` image resolved from the local store is recorded as the
  tag and the digest the build used; a base pulled from a registry, a ``--build-context``,
  an ``ADD`` of a URL or a git repository, or an option that does more than store the
  image (an output, a push, a cache export, a secret: ``dockyard.cli._replay`` lists the
  options a replay reads) makes a build unrecordable.
- **the result**: the tags the build wrote must still name its manifest, and every blob of
  the image (manifest, config, layers) must still be in the store.

A record that cannot be read, or any input that differs, means a full build, which then
writes a fresh record. Records are ``marshal`` files: the replay path imports nothing it
can avoid (not json, re, typing, pathlib or hashlib), because on a no-op rebuild the
interpreter's start-up is most of the time.
"""

from __future__ import annotations

import marshal
import os
import sys
import time
import zlib

from dockyard._home import home_dir
from dockyard._version import __version__

TYPE_CHECKING = False  # typing is not imported at run time (see the module docstring)
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from typing import Any

__all__ = [
    "RACY_WINDOW_NS",
    "RECORD_VERSION",
    "Stamp",
    "build_request",
    "check",
    "load_record",
    "paths",
    "read_record",
    "record_path",
    "records_dir",
    "settle_tags",
    "take_stamp",
    "write_record",
]

RECORD_VERSION = 2
RACY_WINDOW_NS = 2_000_000_000  # also the context stat cache's (build/context.py)
RECORDS = os.path.join("cache", "builds")
TAGS_FILE = "repositories.json"  # the store's tag index, read without importing the store


def paths(context: str, dockerfile: str | None) -> tuple[str, str]:
    """The absolute context directory and Dockerfile path a build command names."""
    context_dir = os.path.abspath(context)
    if dockerfile:
        return context_dir, os.path.abspath(dockerfile)
    return context_dir, os.path.join(context_dir, "Dockerfile")


def build_request(
    *,
    context: str,
    dockerfile: str | None,
    tags: Sequence[str],
    target: str | None,
    build_args: Sequence[str],
    platform: str | None,
    network: str,
    environ: Mapping[str, str],
) -> str:
    """The request as a record knows it: a canonical text of the command's raw options.

    ``build_args`` are the raw ``--build-arg`` values; one without ``=`` takes its value
    from ``environ``, so that value is part of the request.
    """
    context_dir, dockerfile_path = paths(context, dockerfile)
    args = []
    for item in build_args:
        key, sep, _ = item.partition("=")
        args.append((item, None if sep else environ.get(key)))
    fields = (
        ("record", RECORD_VERSION),
        ("dockyard", __version__),
        ("python", sys.version),
        ("context", context_dir),
        ("dockerfile", dockerfile_path),
        ("tags", tuple(tags)),
        ("target", target),
        ("build_args", tuple(args)),
        ("platform", platform),
        ("network", network),
        ("source_date_epoch", environ.get("SOURCE_DATE_EPOCH")),
    )
    return repr(fields)


# --- the stamp ---------------------------------------------------------------------------------


class Stamp:
    """The context, Dockerfile and .dockerignore as they were (immutable by convention)."""

    __slots__ = ("entries", "head", "ignored", "newest", "taken")

    def __init__(
        self,
        head: bytes,
        entries: dict[str, tuple[int, ...]],
        ignored: tuple[str, ...],
        newest: int,
        taken: int,
    ) -> None:
        self.head = head  # the Dockerfile and .dockerignore bytes
        self.entries = entries  # context path -> lstat fields (compared, never hashed)
        self.ignored = ignored  # paths .dockerignore excluded (the walk did not enter them)
        self.newest = newest  # the latest mtime or ctime of a stamped file, in ns
        self.taken = taken  # when the walk started, in ns

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Stamp) and self.head == other.head and self.entries == other.entries
        )

    def __hash__(self) -> int:
        return hash(self.head)

    @property
    def racy(self) -> bool:
        """Whether a file changed so shortly before the stamp that its times prove nothing.

        A second write within the clock's granularity of the first could leave every
        stamped field as it was; git calls such an entry "racily clean".
        """
        return self.newest >= self.taken - RACY_WINDOW_NS


def take_stamp(
    context: str | os.PathLike[str],
    dockerfile: bytes,
    *,
    ignored: Collection[str] | None = None,
    now_ns: int | None = None,
) -> Stamp | None:
    """Stamp ``context`` (seen through its .dockerignore) and the Dockerfile's bytes.

    With ``ignored`` (the paths an earlier stamp of this context recorded as excluded),
    those paths are skipped without compiling the .dockerignore patterns, and any path
    new since then is stamped as if it were not excluded: at worst the stamps differ
    and a full build runs. (A .dockerignore with ``!`` exceptions is always compiled.)

    None when the context cannot be walked or its .dockerignore is invalid: the build
    then reports the problem itself, and no record is written.
    """
    taken = time.time_ns() if now_ns is None else now_ns
    root = os.path.abspath(context)
    try:
        with open(os.path.join(root, ".dockerignore"), "rb") as fh:
            ignore_bytes = fh.read()
    except FileNotFoundError:
        ignore_bytes = b""
    except OSError:
        return None
    matcher: Any = None
    if ignore_bytes.strip():
        text = ignore_bytes.decode("utf-8", "surrogateescape")
        exceptions = any(line.strip().startswith("!") for line in text.splitlines())
        if ignored is not None and not exceptions:
            matcher = _Known(ignored)
        else:
            # the real matcher brings re, dataclasses and the error tree with it
            from dockyard.build.dockerignore import (
                BadPatternError,
                PatternMatcher,
                parse_dockerignore,
            )

            try:
                matcher = PatternMatcher(parse_dockerignore(text)) or None
            except BadPatternError:
                return None
    try:
        entries, skipped = _walk(root, matcher)
    except (OSError, RecursionError):
        return None
    head = b"dockerfile %d\n%b\ndockerignore %d\n%b\n" % (
        len(dockerfile),
        dockerfile,
        len(ignore_bytes),
        ignore_bytes,
    )
    newest = max((max(f[6], f[7]) for f in entries.values() if len(f) > 3), default=0)
    return Stamp(head, entries, tuple(skipped), newest, taken)


def _walk(root: str, matcher: Any) -> tuple[dict[str, tuple[int, ...]], list[str]]:
    """Every entry below ``root`` the matcher lets through, with its lstat fields.

    A directory keeps only its mode and owner: its content is its listing, which the
    walk compares itself, and its times move whenever any entry comes or goes, ignored
    ones too. A file or symlink keeps mode, owner, device, inode, size, mtime and ctime.
    """
    entries: dict[str, tuple[int, ...]] = {}
    skipped: list[str] = []
    st = os.lstat(root)
    entries["."] = (st.st_mode, st.st_uid, st.st_gid)
    pending = [("", root)]
    while pending:
        rel_dir, path = pending.pop()
        prefix = rel_dir + "/" if rel_dir else ""
        with os.scandir(path) as it:
            for entry in it:
                rel = prefix + entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if matcher is not None and matcher.matches(rel):
                    skipped.append(rel)
                    # An ignored directory still matters when an exception re-includes
                    # something below it (the build then copies it as their parent).
                    if not (matcher.exclusions and is_dir):
                        continue
                st = entry.stat(follow_symlinks=False)
                if is_dir:
                    entries[rel] = (st.st_mode, st.st_uid, st.st_gid)
                    pending.append((rel, entry.path))
                else:
                    entries[rel] = (
                        st.st_mode,
                        st.st_uid,
                        st.st_gid,
                        st.st_dev,
                        st.st_ino,
                        st.st_size,
                        st.st_mtime_ns,
                        st.st_ctime_ns,
                    )
    return entries, skipped


class _Known:
    """Stands in for the .dockerignore matcher: the paths it excluded last time."""

    exclusions = False

    def __init__(self, paths: Collection[str]) -> None:
        self.paths = frozenset(paths)

    def matches(self, rel: str) -> bool:
        return rel in self.paths


# --- records -----------------------------------------------------------------------------------


def record_path(request: str, home: str | os.PathLike[str] | None = None) -> str:
    """Where the record of ``request`` lives (the name is a checksum; the record holds all)."""
    raw = request.encode("utf-8", "surrogateescape")
    name = f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}{len(raw):x}.rec"
    return os.path.join(records_dir(home if home is not None else home_dir()), name)


def write_record(
    request: str, record: Mapping[str, Any], home: str | os.PathLike[str] | None = None
) -> None:
    """Write a record atomically (temp file, then rename); failures are silent.

    A record only saves time: not being able to write one must never fail a build.
    """
    path = record_path(request, home)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(marshal.dumps({**record, "version": RECORD_VERSION, "request": request}))
        os.replace(tmp, path)
    except (OSError, ValueError):
        try:  # noqa: SIM105 - contextlib is one import more on the replay path
            os.unlink(tmp)
        except OSError:
            pass


def read_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record in the file at ``path``, or None when it is missing or unreadable."""
    try:
        with open(path, "rb") as fh:
            # our own file under $DOCKYARD_HOME; marshal builds values and runs no code
            data = marshal.loads(fh.read())  # noqa: S302 - loads: load() reads piecemeal
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        return None
    return data


def load_record(request: str, home: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The record of ``request``, or None when there is none, it is unreadable or another's."""
    data = read_record(record_path(request, home))
    if data is None or data.get("request") != request:
        return None
    return data


def records_dir(home: str | os.PathLike[str]) -> str:
    """The directory holding every build record of a home."""
    return os.path.join(home, RECORDS)


def settle_tags(
    tags: Mapping[str, str], home: str | os.PathLike[str]
) -> tuple[bool, tuple[int, ...] | None]:
    """Whether every tag still names its digest, and the tag index file's identity then.

    The identity (device, inode, size, times; the store replaces the file on every
    change) lets a later check skip parsing it; it is None when the file changed within
    the racy window or while it was read, so that it proves nothing.
    """
    before = _tags_state(home)
    if not _tags_hold(tags, home):
        return False, None
    after = _tags_state(home)
    if before != after or after is None or max(after[3:]) >= time.time_ns() - RACY_WINDOW_NS:
        return True, None
    return True, after


def check(request: str, record: Mapping[str, Any], context: str, dockerfile: str) -> bool:
    """Whether every input and output ``record`` names is still exactly as it was."""
    home = home_dir()
    try:
        with open(dockerfile, "rb") as fh:
            dockerfile_bytes = fh.read()
    except OSError:
        return False
    ignored = record.get("ignored")
    if not isinstance(ignored, (list, tuple)):
        return False
    stamp = take_stamp(context, dockerfile_bytes, ignored=ignored)
    if stamp is None or stamp.head != record.get("head") or stamp.entries != record.get("stamp"):
        return False
    tags = record.get("tags")
    blobs = record.get("blobs")
    if not isinstance(tags, dict) or not isinstance(blobs, (list, tuple)):
        return False
    for digest in blobs:
        algorithm, _, hex_ = str(digest).partition(":")
        if not hex_ or not os.path.isfile(os.path.join(home, "blobs", algorithm, hex_)):
            return False
    known = record.get("tags_state")
    if tags and (known is None or known != _tags_state(home)):
        held, state = settle_tags(tags, home)
        if not held:
            return False
        if state is not None:  # remember the index as checked: the next replay skips it
            write_record(request, {**record, "tags_state": state}, home)
    return True


def _tags_state(home: str | os.PathLike[str]) -> tuple[int, ...] | None:
    try:
        st = os.stat(os.path.join(home, TAGS_FILE))
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _tags_hold(tags: Mapping[str, str], home: str | os.PathLike[str]) -> bool:
    """Read the tag index: does every tag still name its digest?"""
    import json

    try:
        with open(os.path.join(home, TAGS_FILE), "rb") as fh:
            index = json.load(fh).get("tags", {})
    except (OSError, ValueError, AttributeError):
        return False
    for name, digest in tags.items():
        entry = index.get(name)
        if not isinstance(entry, dict) or entry.get("digest") != digest:
            return False
    return True
