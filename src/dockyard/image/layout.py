"""OCI image layout directories: read tags (``org.opencontainers.image.ref.name``), write images."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from dockyard.errors import (
    ArchiveError,
    DockyardError,
    ManifestError,
    NotFoundError,
    UsageError,
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
from dockyard.oci import Descriptor, Digest, Index, Verifier
from dockyard.oci import mediatypes as mt

__all__ = ["REF_NAME", "LayoutSink", "OCILayout", "atomic_write", "copy_stream_verified"]

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
LAYOUT_CONTENT = b'{"imageLayoutVersion":"1.0.0"}'


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def copy_stream_verified(
    stream: BinaryIO, out: BinaryIO, expected: Descriptor | None, algorithm: str = "sha256"
) -> Descriptor:
    """Copy ``stream`` into ``out`` while hashing; check against ``expected`` if given.

    Returns a descriptor with the computed digest and size (media type from ``expected``).
    """
    if expected is not None:
        verifier = Verifier(expected.digest, expected.size)
        while chunk := stream.read(1 << 20):
            verifier.update(chunk)
            out.write(chunk)
        verifier.verify()
        return expected
    hasher = hashlib.new(algorithm)
    size = 0
    while chunk := stream.read(1 << 20):
        hasher.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return Descriptor("application/octet-stream", Digest(algorithm, hasher.hexdigest()), size)


class OCILayout:
    """An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path) -> OCILayout:
        """An existing layout; ArchiveError if ``root`` is not one."""
        root = Path(root)
        if not root.is_dir():
            raise NotFoundError(f"no OCI layout at {str(root)!r}: not a directory")
        marker = root / LAYOUT_FILE
        try:
            data = json.loads(marker.read_bytes())
        except FileNotFoundError as exc:
            raise ArchiveError(f"{root}: not an OCI image layout (no {LAYOUT_FILE} file)") from exc
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{marker}: unreadable oci-layout file") from exc
        if not isinstance(data, dict) or data.get("imageLayoutVersion") != "1.0.0":
            raise ArchiveError(f"{marker}: unsupported imageLayoutVersion")
        return cls(root)

    @classmethod
    def create(cls, root: Path) -> OCILayout:
        """Open the layout at ``root``, creating an empty one if the directory has none."""
        root = Path(root)
        if (root / LAYOUT_FILE).exists():
            return cls.open(root)
        if root.exists() and not root.is_dir():
            raise UsageError(f"{root} exists and is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        atomic_write(root / LAYOUT_FILE, LAYOUT_CONTENT)
        if not (root / "index.json").exists():
            atomic_write(root / "index.json", _index_json([]))
        return cls(root)

    # -- reading ---------------------------------------------------------------------------
    def index(self) -> Index:
        path = self.root / "index.json"
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise ArchiveError(f"{self.root}: OCI layout has no index.json") from exc
        try:
            return Index.parse(raw)
        except ManifestError as exc:
            raise ManifestError(exc.message, location=str(path), hint=exc.hint) from exc

    def tags(self) -> list[str]:
        """The ``org.opencontainers.image.ref.name`` values of index.json, in order."""
        return tags_of(self.index())

    def resolve(self, tag: str | None = None) -> Descriptor:
        """The index.json entry for ``tag``; without a tag, the only entry there is."""
        return resolve_tag(self.index(), tag, what=f"OCI layout {self.root}", transport="oci")

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, digest: Digest) -> bool:
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: Digest) -> BinaryIO:
        try:
            return self.blob_path(digest).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} is missing from OCI layout {self.root}") from exc

    def source(self, tag: str | None = None) -> Image | ImageIndex:
        """The image or index tagged ``tag`` (or the only one)."""
        return self.open_descriptor(self.resolve(tag))

    def open_descriptor(self, descriptor: Descriptor) -> Image | ImageIndex:
        where = str(self.root)
        parsed = load_manifest(self.open_blob, descriptor, where=where)
        if isinstance(parsed, Index):
            return ContentIndex(parsed, self.open_blob, where=where)
        return ContentImage(parsed, self.open_blob, where=where)

    # -- writing ---------------------------------------------------------------------------
    def put_blob(self, stream: BinaryIO, expected: Descriptor) -> None:
        """Store a blob (temp file, verified, fsync, rename); a no-op if it is there."""
        path = self.blob_path(expected.digest)
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".partial")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as out:
                copy_stream_verified(stream, out, expected)
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise

    def put_bytes(self, data: bytes, descriptor: Descriptor) -> None:
        self.put_blob(io.BytesIO(data), descriptor)

    def add_entry(self, descriptor: Descriptor, tag: str | None) -> None:
        """Point ``tag`` (or an untagged entry) at ``descriptor`` in index.json, atomically.

        An existing entry with the same tag is replaced; untagged duplicates are dropped.
        """
        with _locked(self.root / ".index.lock"):
            entries = list(self.index().manifests)
            kept = []
            for entry in entries:
                name = entry.annotations.get(REF_NAME)
                if tag is not None and name == tag:
                    continue
                if tag is None and name is None and entry.digest == descriptor.digest:
                    continue
                kept.append(entry)
            annotations = {REF_NAME: tag} if tag is not None else {}
            new = Descriptor(
                descriptor.media_type,
                descriptor.digest,
                descriptor.size,
                {**descriptor.annotations, **annotations},
                descriptor.platform,
            )
            kept.append(new)
            atomic_write(self.root / "index.json", _index_json(kept))

    def write(self, source: Image | ImageIndex, tags: Sequence[str | None] = (None,)) -> Descriptor:
        """Write every blob and manifest of ``source``, then point ``tags`` at it."""
        for node, _via in walk(source):
            if isinstance(node, Image):
                for blob in node.blobs():
                    if not self.has_blob(blob.digest):
                        with node.open_blob(blob) as stream:
                            self.put_blob(stream, blob)
            self.put_bytes(raw_of(node), top_descriptor(node))
        top = top_descriptor(source)
        top = Descriptor(media_type_of(source), top.digest, top.size)
        for tag in tags or (None,):
            self.add_entry(top, tag)
        return top


class LayoutSink(ImageSink):
    """Writes into an OCI layout directory (created if needed) under a tag."""

    def __init__(self, root: Path, tag: str | None = None) -> None:
        self.root = Path(root)
        self.tag = tag

    def write(self, image: Image | ImageIndex, tags: Sequence[str] = ()) -> Descriptor:
        layout = OCILayout.create(self.root)
        wanted: list[str | None] = list(tags) if tags else [self.tag]
        try:
            return layout.write(image, wanted)
        except DockyardError:
            raise
        except OSError as exc:
            raise ArchiveError(f"cannot write OCI layout {self.root}: {exc}") from exc


def tags_of(index: Index) -> list[str]:
    """The ``org.opencontainers.image.ref.name`` values of an OCI index, in order."""
    return [d.annotations[REF_NAME] for d in index.manifests if REF_NAME in d.annotations]


def resolve_tag(index: Index, tag: str | None, *, what: str, transport: str) -> Descriptor:
    """The entry of a layout's or archive's index for ``tag``; without one, the only entry."""
    entries = index.manifests
    tags = ", ".join(tags_of(index)) or "none"
    if tag is None:
        if len(entries) == 1:
            return entries[0]
        if not entries:
            raise NotFoundError(f"{what} holds no image")
        raise UsageError(
            f"{what} holds {len(entries)} images",
            hint=f"name one: {transport}:PATH:TAG (tags: {tags})",
        )
    for entry in entries:
        if entry.annotations.get(REF_NAME) == tag:
            return entry
    raise NotFoundError(f"no image tagged {tag!r} in {what}", hint=f"tags there: {tags}")


def _index_json(entries: Sequence[Descriptor]) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [e.to_dict() for e in entries],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
