"""The local content-addressed store under ``$DOCKYARD_HOME``: blobs, tags, images, gc."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dockyard._home import default_home
from dockyard.errors import (
    InvalidDigestError,
    InvalidReferenceError,
    ManifestError,
    NotFoundError,
    StoreError,
)
from dockyard.image.base import Image, ImageIndex, ImageSink
from dockyard.image.content import (
    ContentImage,
    ContentIndex,
    load_manifest,
    media_type_of,
    raw_of,
    top_descriptor,
    walk,
)
from dockyard.oci import Descriptor, Digest, Index, Manifest, Reference, Verifier, parse_manifest

__all__ = ["GCResult", "Store", "StoreEntry", "StoreSink", "default_home"]

_CHUNK = 1 << 20
_TAGS_FILE = "repositories.json"
_MANIFEST_LIMIT = 4 << 20  # larger blobs are layers, never read as a manifest


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """One tag of the store, as ``dockyard images`` lists it."""

    reference: Reference
    descriptor: Descriptor
    size: int
    created: str
    platforms: tuple[str, ...]

    @property
    def repository(self) -> str:
        """The familiar repository name (``busybox``, ``127.0.0.1:5000/app``)."""
        return Reference(self.reference.registry, self.reference.repository).familiar()

    @property
    def tag(self) -> str:
        return self.reference.tag or "<none>"


@dataclass(frozen=True, slots=True)
class GCResult:
    """What a garbage collection removed."""

    blobs: int
    bytes: int
    temp_files: int


def ref_key(ref: Reference) -> str:
    """The key of a reference in the tag index: ``name:tag`` (default latest) or ``name@digest``."""
    if ref.tag is None and ref.digest is not None:
        return f"{ref.name}@{ref.digest}"
    return f"{ref.name}:{ref.tag or 'latest'}"


def _as_reference(ref: Reference | str) -> Reference:
    return ref if isinstance(ref, Reference) else Reference.parse(ref)


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class Store:
    """Blobs by digest (``blobs/<alg>/<hex>``), tags (``repositories.json``), GC roots.

    * A blob is written to ``tmp/`` (locked while written), hashed, fsynced, and renamed
      into place only after its digest checked out: a blob path always holds good bytes.
    * Tags change under an exclusive ``flock`` and are rewritten by temp file + rename, so
      concurrent writers never lose each other's updates and readers never see half a file.
    * ``gc()`` keeps everything reachable from a tag or a registered root; writers that
      need blobs to survive before they tag hold :meth:`writing`.
    """

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    @classmethod
    def open(cls, home: Path | None = None) -> Store:
        """The store at ``home`` (default: :func:`default_home`), created if missing."""
        store = cls(Path(home) if home is not None else default_home())
        try:
            for sub in ("blobs/sha256", "tmp", "locks", "roots"):
                (store.home / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store at {store.home}: {exc}") from exc
        return store

    # -- blobs -----------------------------------------------------------------------------
    def blob_path(self, digest: Digest) -> Path:
        return self.home / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, digest: Digest) -> bool:
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: Digest) -> BinaryIO:
        try:
            return self.blob_path(digest).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} is not in the local store") from exc

    def read_blob(self, digest: Digest) -> bytes:
        with self.open_blob(digest) as stream:
            return stream.read()

    def put_blob(
        self,
        stream: BinaryIO,
        expected: Descriptor | None = None,
        *,
        media_type: str = "application/octet-stream",
    ) -> Descriptor:
        """Store a blob; verify it against ``expected`` (IntegrityError, nothing stored).

        Without ``expected`` the sha256 digest is computed. Returns its descriptor (the
        expected one when given). Skips the write (reading nothing) when an expected blob
        is already there.
        """
        if expected is not None and self.has_blob(expected.digest):
            return expected
        tmp_dir = self.home / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{os.urandom(6).hex()}.partial"
        tmp = tmp_dir / name
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write to the store at {self.home}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # marks the temp file live; a killed writer frees it
            with os.fdopen(fd, "wb", closefd=False) as out:
                if expected is not None:
                    verifier = Verifier(expected.digest, expected.size)
                    while chunk := stream.read(_CHUNK):
                        verifier.update(chunk)
                        out.write(chunk)
                    verifier.verify(where="local store")
                    result = expected
                else:
                    hasher = hashlib.sha256()
                    size = 0
                    while chunk := stream.read(_CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                    result = Descriptor(media_type, Digest("sha256", hasher.hexdigest()), size)
                out.flush()
                os.fsync(out.fileno())
            final = self.blob_path(result.digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(final)
            return result
        except OSError as exc:
            raise StoreError(f"cannot write a blob into the store at {self.home}: {exc}") from exc
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def adopt_blob(self, path: Path, descriptor: Descriptor) -> Descriptor:
        """Move a file this process wrote and hashed itself (under ``home``) into the store.

        For blobs dockyard just produced (a layer written and hashed in one pass): no
        second read and copy. The file is fsynced, then renamed into place; if the blob is
        already there the file is simply removed. Untrusted content goes through
        :meth:`put_blob`, which verifies it.
        """
        final = self.blob_path(descriptor.digest)
        try:
            if final.exists():
                path.unlink(missing_ok=True)
                return descriptor
            if path.stat().st_size != descriptor.size:
                raise StoreError(
                    f"{path} has {path.stat().st_size} bytes, its descriptor says {descriptor.size}"
                )
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            final.parent.mkdir(parents=True, exist_ok=True)
            path.replace(final)
        except OSError as exc:
            raise StoreError(f"cannot move {path} into the store at {self.home}: {exc}") from exc
        return descriptor

    def put_bytes(self, data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
        descriptor = Descriptor(media_type, Digest.of(data), len(data))
        return self.put_blob(io.BytesIO(data), descriptor)

    # -- tags ------------------------------------------------------------------------------
    def _tags_path(self) -> Path:
        return self.home / _TAGS_FILE

    def _read_tags(self) -> dict[str, dict[str, Any]]:
        path = self._tags_path()
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"{path}: the tag index is unreadable: {exc}",
                hint="restore it or delete it (blobs stay, tags are lost)",
            ) from exc
        tags = data.get("tags") if isinstance(data, dict) else None
        if not isinstance(tags, dict):
            raise StoreError(f"{path}: the tag index has no 'tags' object")
        return tags

    def _write_tags(self, tags: dict[str, dict[str, Any]]) -> None:
        path = self._tags_path()
        data = json.dumps({"version": 1, "tags": dict(sorted(tags.items()))}, indent=1).encode()
        tmp = self.home / "tmp" / f"{os.getpid()}-{os.urandom(6).hex()}.tags"
        try:
            with tmp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"cannot update the tag index {path}: {exc}") from exc

    @contextlib.contextmanager
    def _tags_locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        with _flock(self.home / "locks" / "repositories.lock", fcntl.LOCK_EX):
            tags = self._read_tags()
            before = json.dumps(tags, sort_keys=True)
            yield tags
            if json.dumps(tags, sort_keys=True) != before:
                self._write_tags(tags)

    def tags(self) -> dict[str, Descriptor]:
        """Every tag key (``registry/repo:tag`` or ``registry/repo@digest``) → descriptor."""
        out = {}
        for key, value in self._read_tags().items():
            try:
                out[key] = Descriptor.from_dict(value, where=f"store tag {key}")
            except ManifestError as exc:
                raise StoreError(f"the tag index entry {key!r} is malformed: {exc}") from exc
        return out

    def tag(self, ref: Reference | str, descriptor: Descriptor) -> None:
        """Point ``ref`` at a manifest or index that is in the store (NotFoundError if not)."""
        reference = _as_reference(ref)
        if reference.digest is not None and reference.digest != descriptor.digest:
            raise InvalidReferenceError(
                f"{reference} pins {reference.digest}, not {descriptor.digest}"
            )
        if not self.has_blob(descriptor.digest):
            raise NotFoundError(f"cannot tag {reference}: {descriptor.digest} is not in the store")
        plain = Descriptor(descriptor.media_type, descriptor.digest, descriptor.size)
        with self._tags_locked() as tags:
            tags[ref_key(reference)] = plain.to_dict()

    def untag(self, ref: Reference | str) -> Descriptor:
        """Remove a tag; return what it pointed at (NotFoundError if there is no such tag)."""
        reference = _as_reference(ref)
        with self._tags_locked() as tags:
            key = ref_key(reference)
            if key not in tags:
                raise NotFoundError(f"no image {reference.familiar()} in the local store")
            value = tags.pop(key)
        return Descriptor.from_dict(value)

    def resolve(self, ref: Reference | str) -> Descriptor:
        """The descriptor a reference names (by tag, or by digest when it pins one)."""
        reference = _as_reference(ref)
        tags = self._read_tags()
        value = tags.get(ref_key(reference))
        if value is not None:
            found = Descriptor.from_dict(value)
            if reference.digest is not None and found.digest != reference.digest:
                raise NotFoundError(f"{reference.familiar()} is not in the local store")
            return found
        if reference.digest is not None and self.has_blob(reference.digest):
            raw = self.read_blob(reference.digest)
            parsed = parse_manifest(raw)
            return Descriptor(parsed.media_type, reference.digest, len(raw))
        raise NotFoundError(
            f"no image {reference.familiar()} in the local store", hint="pull it first"
        )

    def has(self, ref: Reference | str) -> bool:
        try:
            self.resolve(ref)
        except NotFoundError:
            return False
        return True

    # -- images ----------------------------------------------------------------------------
    def open_descriptor(self, descriptor: Descriptor) -> Image | ImageIndex:
        parsed = load_manifest(self.open_blob, descriptor, where="local store")
        if isinstance(parsed, Index):
            return ContentIndex(parsed, self.open_blob, verify=False, where="local store")
        return ContentImage(parsed, self.open_blob, verify=False, where="local store")

    def image(self, ref_or_digest: Reference | Digest | str) -> Image | ImageIndex:
        """An image or index by reference (``busybox:1``) or manifest digest (``sha256:…``)."""
        if isinstance(ref_or_digest, Digest) or (
            isinstance(ref_or_digest, str) and ref_or_digest.startswith(("sha256:", "sha512:"))
        ):
            digest = (
                ref_or_digest if isinstance(ref_or_digest, Digest) else _parse_digest(ref_or_digest)
            )
            if not self.has_blob(digest):
                raise NotFoundError(f"no manifest {digest} in the local store")
            raw = self.read_blob(digest)
            parsed = parse_manifest(raw)
            return self.open_descriptor(Descriptor(parsed.media_type, digest, len(raw)))
        return self.open_descriptor(self.resolve(ref_or_digest))

    def image_by_id(self, digest: Digest) -> Image | ImageIndex:
        """An image by manifest digest, or by image ID (its config digest) among the tagged."""
        path = self.blob_path(digest)
        if path.is_file() and path.stat().st_size <= _MANIFEST_LIMIT:
            try:
                return self.image(digest)
            except ManifestError:
                pass  # a config blob: look for the image whose ID it is
        for descriptor in self.tags().values():
            found = self.open_descriptor(descriptor)
            if isinstance(found, Image) and found.manifest.config.digest == digest:
                return found
        raise NotFoundError(
            f"no image {digest} in the local store",
            hint="an image ID is the manifest digest or the config digest of a local image",
        )

    def sink(self, ref: Reference | str | None = None) -> StoreSink:
        return StoreSink(self, ref)

    def entries(self) -> list[StoreEntry]:
        """Every tag with its size (unique blobs), creation time and platforms."""
        out = []
        for key, descriptor in sorted(self.tags().items()):
            reference = Reference.parse(key)
            size, created, platforms = 0, "", []
            try:
                node = self.open_descriptor(descriptor)
                seen: set[Digest] = set()
                for item, _via in walk(node):
                    if isinstance(item, Image):
                        for blob in item.blobs():
                            if blob.digest not in seen:
                                seen.add(blob.digest)
                                size += blob.size
                        config = item.config()
                        created = created or config.created
                        platforms.append(str(config.platform))
            except (NotFoundError, ManifestError):
                pass  # a child of an index that was not copied
            out.append(StoreEntry(reference, descriptor, size, created, tuple(platforms)))
        return out

    # -- removal and garbage collection ----------------------------------------------------
    def set_root(self, owner: str, digests: Iterable[Digest]) -> None:
        """Register blobs (and manifests: their children too) that ``gc`` must keep.

        ``owner`` names the user (e.g. ``build-cache``); each call replaces its set.
        """
        if not owner.replace("-", "").replace("_", "").isalnum():
            raise StoreError(f"invalid GC root owner {owner!r}")
        path = self.home / "roots" / f"{owner}.json"
        data = json.dumps(sorted(str(d) for d in digests)).encode()
        tmp = self.home / "tmp" / f"{os.getpid()}-{os.urandom(6).hex()}.root"
        tmp.write_bytes(data)
        tmp.replace(path)

    def _roots(self) -> set[Digest]:
        roots: set[Digest] = set()
        for path in sorted((self.home / "roots").glob("*.json")):
            with contextlib.suppress(OSError, ValueError, InvalidDigestError):
                roots.update(Digest.parse(d) for d in json.loads(path.read_bytes()))
        return roots

    @contextlib.contextmanager
    def writing(self) -> Iterator[Store]:
        """Hold off ``gc`` while blobs are written and not yet tagged or rooted."""
        with _flock(self.home / "locks" / "gc.lock", fcntl.LOCK_SH):
            yield self

    def _reachable(self) -> set[Digest]:
        keep: set[Digest] = set()
        pending = [d.digest for d in self.tags().values()] + sorted(self._roots())
        while pending:
            digest = pending.pop()
            if digest in keep:
                continue
            keep.add(digest)
            path = self.blob_path(digest)
            try:
                if path.stat().st_size > 4 << 20:
                    continue  # not a manifest
                raw = path.read_bytes()
            except OSError:
                continue
            if not raw.startswith(b"{"):
                continue
            try:
                parsed = parse_manifest(raw)
            except (ManifestError, InvalidDigestError):
                continue
            if isinstance(parsed, Manifest):
                pending.extend(d.digest for d in (parsed.config, *parsed.layers))
                if parsed.subject is not None:
                    pending.append(parsed.subject.digest)
            else:
                pending.extend(d.digest for d in parsed.manifests)
        return keep

    def clean_temp(self) -> int:
        """Delete temp files of writers that died (their lock is free); return how many."""
        removed = 0
        tmp_dir = self.home / "tmp"
        if not tmp_dir.is_dir():
            return 0
        for path in tmp_dir.iterdir():
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                        continue  # a live writer holds it
                    raise
                if path.suffix != ".partial" and time.time() - path.stat().st_mtime < 60:
                    continue  # tags/roots temp files are short-lived and unlocked
                path.unlink(missing_ok=True)
                removed += 1
            finally:
                os.close(fd)
        return removed

    def gc(self) -> GCResult:
        """Delete every blob no tag or root reaches, and stale temp files."""
        with _flock(self.home / "locks" / "gc.lock", fcntl.LOCK_EX):
            keep = self._reachable()
            blobs = freed = 0
            root = self.home / "blobs"
            for algorithm_dir in sorted(root.iterdir()) if root.is_dir() else []:
                for path in sorted(algorithm_dir.iterdir()):
                    try:
                        digest = Digest(algorithm_dir.name, path.name)
                    except InvalidDigestError:
                        continue
                    if digest in keep:
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        size = path.stat().st_size
                        path.unlink()
                        blobs += 1
                        freed += size
            return GCResult(blobs, freed, self.clean_temp())

    def remove(self, refs: Sequence[Reference | str], *, prune: bool = True) -> list[Descriptor]:
        """``rmi``: untag each reference, then (with ``prune``) collect unreachable blobs."""
        removed = [self.untag(ref) for ref in refs]
        if prune:
            self.gc()
        return removed


def _parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except InvalidDigestError as exc:
        raise InvalidReferenceError(f"invalid image digest {text!r}: {exc.message}") from exc


class StoreSink(ImageSink):
    """Writes images into the local store, then tags them."""

    def __init__(self, store: Store, ref: Reference | str | None = None) -> None:
        self.store = store
        self.ref = ref

    def write(self, image: Image | ImageIndex, tags: Sequence[str] = ()) -> Descriptor:
        names: list[Reference | str] = list(tags) if tags else ([self.ref] if self.ref else [])
        references = [_as_reference(n) for n in names]
        with self.store.writing():
            for node, _via in walk(image):
                if isinstance(node, Image):
                    for blob in node.blobs():
                        if not self.store.has_blob(blob.digest):
                            with node.open_blob(blob) as stream:
                                self.store.put_blob(stream, blob)
                self.store.put_blob(io.BytesIO(raw_of(node)), top_descriptor(node))
            top = top_descriptor(image)
            top = Descriptor(media_type_of(image), top.digest, top.size)
            for reference in references:
                self.store.tag(reference, top)
        return top
