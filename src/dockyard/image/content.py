"""Images and indexes over any blob source, manifest loading with digest checks, walking trees."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

from dockyard.errors import IntegrityError, ManifestError
from dockyard.image.base import Image, ImageIndex, VerifyingReader
from dockyard.oci import Descriptor, Digest, Index, Manifest, Platform, parse_manifest

__all__ = [
    "BlobOpener",
    "ContentImage",
    "ContentIndex",
    "child_of",
    "load_manifest",
    "read_all",
    "select_platform",
    "walk",
]

BlobOpener = Callable[[Digest], BinaryIO]
"""Opens the bytes of a blob by digest (NotFoundError if absent)."""


def read_all(stream: BinaryIO) -> bytes:
    with stream:
        return stream.read()


def load_manifest(
    opener: BlobOpener, descriptor: Descriptor, *, where: str = ""
) -> Manifest | Index:
    """Read a manifest or index blob, check its digest and size, and parse it."""
    raw = read_all(opener(descriptor.digest))
    if len(raw) != descriptor.size:
        raise IntegrityError(
            f"manifest {descriptor.digest} has {len(raw)} bytes, expected {descriptor.size}",
            location=where or None,
        )
    if Digest.of(raw, descriptor.digest.algorithm) != descriptor.digest:
        raise IntegrityError(
            f"manifest bytes do not match digest {descriptor.digest}", location=where or None
        )
    media_type = descriptor.media_type or None
    try:
        return parse_manifest(raw, media_type)
    except ManifestError as exc:
        raise ManifestError(exc.message, location=where or exc.location, hint=exc.hint) from exc


class ContentImage(Image):
    """An image whose manifest is known and whose blobs come from an opener.

    With ``verify`` the blob streams are checked against their descriptors (for sources
    that are not already content-addressed and verified, like archives).
    """

    def __init__(
        self, manifest: Manifest, opener: BlobOpener, *, verify: bool = True, where: str = ""
    ) -> None:
        self._manifest = manifest
        self._opener = opener
        self._verify = verify
        self._where = where

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        stream = self._opener(descriptor.digest)
        if not self._verify:
            return stream
        where = f"{self._where} blob {descriptor.digest}" if self._where else ""
        return io.BufferedReader(VerifyingReader(stream, descriptor, where=where), 1 << 20)


class ContentIndex(ImageIndex):
    """An index whose children (images or nested indexes) come from the same opener."""

    def __init__(
        self, index: Index, opener: BlobOpener, *, verify: bool = True, where: str = ""
    ) -> None:
        self._index = index
        self._opener = opener
        self._verify = verify
        self._where = where

    @property
    def index(self) -> Index:
        return self._index

    def child(self, descriptor: Descriptor) -> Image | ImageIndex:
        """The image or nested index an entry points at."""
        parsed = load_manifest(self._opener, descriptor, where=self._where)
        if isinstance(parsed, Index):
            return ContentIndex(parsed, self._opener, verify=self._verify, where=self._where)
        return ContentImage(parsed, self._opener, verify=self._verify, where=self._where)

    def image(self, descriptor: Descriptor) -> Image:
        found = self.child(descriptor)
        if isinstance(found, ImageIndex):
            raise ManifestError(
                f"index entry {descriptor.digest} is itself an index", location=self._where or None
            )
        return found


def child_of(index: ImageIndex, descriptor: Descriptor) -> Image | ImageIndex:
    """An index entry as an image or nested index, for any ImageIndex implementation."""
    child = getattr(index, "child", None)
    if callable(child):
        found = child(descriptor)
        assert isinstance(found, Image | ImageIndex)
        return found
    return index.image(descriptor)


def select_platform(source: Image | ImageIndex, platform: Platform | None = None) -> Image:
    """The single image for ``platform`` (default: the host), descending nested indexes."""
    wanted = platform or Platform.host()
    while isinstance(source, ImageIndex):
        entries = [d for d in source.index.manifests if d.platform is not None]
        if not entries and len(source.index.manifests) == 1:
            source = child_of(source, source.index.manifests[0])
            continue
        source = child_of(source, source.index.select(wanted))
    return source


def walk(source: Image | ImageIndex) -> Iterator[tuple[Image | ImageIndex, Descriptor | None]]:
    """Every image and index below ``source`` (children first, then the parent).

    Yields each node with the descriptor it was reached by (None for the root).
    """

    def visit(
        node: Image | ImageIndex, via: Descriptor | None
    ) -> Iterator[tuple[Image | ImageIndex, Descriptor | None]]:
        if isinstance(node, ImageIndex):
            for entry in node.index.manifests:
                yield from visit(child_of(node, entry), entry)
        yield node, via

    yield from visit(source, None)


def raw_of(node: Image | ImageIndex) -> bytes:
    """The exact manifest or index bytes of a node."""
    return node.manifest.raw if isinstance(node, Image) else node.index.raw


def media_type_of(node: Image | ImageIndex) -> str:
    return node.manifest.media_type if isinstance(node, Image) else node.index.media_type


def top_descriptor(node: Image | ImageIndex) -> Descriptor:
    """The descriptor pointing at a node's manifest or index."""
    return node.manifest.descriptor() if isinstance(node, Image) else node.index.descriptor()
