"""Layer (de)compression and images rewritten with converted layers, spooled to temp files."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import ArchiveError, IntegrityError, ManifestError
from dockyard.image.base import Image, ImageIndex
from dockyard.image.compression import DECOMPRESSION_ERRORS, open_decompressed, sniff
from dockyard.image.content import child_of
from dockyard.oci import Descriptor, Digest, Index, Manifest
from dockyard.oci import mediatypes as mt

__all__ = [
    "SpooledImage",
    "compress_layers",
    "compressed_type",
    "open_uncompressed",
    "sniff_compression",
    "spool_uncompressed",
    "to_oci",
]

_CHUNK = 1 << 20


def sniff_compression(head: bytes) -> str:
    """``"gzip"``, ``"zstd"`` or ``"none"`` from the first bytes of a blob."""
    return sniff(head)


def open_uncompressed(stream: BinaryIO, compression: str) -> BinaryIO:
    """A stream of the uncompressed bytes of a layer stream."""
    return open_decompressed(stream, compression)


def spool_uncompressed(
    stream: BinaryIO, compression: str, out: BinaryIO, *, expected_diff_id: Digest | None
) -> tuple[Digest, int]:
    """Decompress ``stream`` into ``out``; return the diff ID and size; check it if given."""
    hasher = hashlib.sha256()
    size = 0
    try:
        with open_uncompressed(stream, compression) as plain:
            while chunk := plain.read(_CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except DECOMPRESSION_ERRORS as exc:
        raise ArchiveError(f"corrupt {compression} layer: {exc}") from exc
    digest = Digest("sha256", hasher.hexdigest())
    if expected_diff_id is not None and digest != expected_diff_id:
        raise IntegrityError(
            f"layer decompresses to {digest}, but the config says its diff ID is {expected_diff_id}"
        )
    return digest, size


def compressed_type(manifest_type: str) -> str:
    """The gzip layer media type that goes with a manifest media type."""
    return mt.DOCKER_LAYER if manifest_type == mt.DOCKER_MANIFEST else mt.OCI_LAYER_GZIP


class SpooledImage(Image):
    """An image with a new manifest whose changed blobs live in a private temp directory.

    Call ``close()`` (or use it as a context manager) to delete the temp files early; they
    are removed when the object is collected otherwise.
    """

    def __init__(self, base: Image, manifest: Manifest, files: dict[Digest, Path], tmp: Path):
        self._base = base
        self._manifest = manifest
        self._files = files
        self._cleanup = weakref.finalize(self, shutil.rmtree, tmp, True)

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        path = self._files.get(descriptor.digest)
        if path is not None:
            return path.open("rb")
        return self._base.open_blob(descriptor)

    def close(self) -> None:
        self._cleanup()

    def __enter__(self) -> SpooledImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def compress_layers(image: Image) -> Image:
    """``image`` with every uncompressed layer gzip-compressed (deterministically, mtime 0).

    Returns ``image`` itself when no layer needs it. Diff IDs do not change, so the config
    stays byte-identical.
    """
    if all(mt.compression_of(d.media_type) != "none" for d in image.layers):
        return image
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-gzip-"))
    files: dict[Digest, Path] = {}
    layers: list[Descriptor] = []
    target_type = compressed_type(image.manifest.media_type)
    try:
        for layer in image.layers:
            if mt.compression_of(layer.media_type) != "none":
                layers.append(layer)
                continue
            path = tmp / f"{len(files)}.tar.gz"
            hasher = hashlib.sha256()
            with (
                image.open_blob(layer) as src,
                path.open("wb") as raw,
                gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
            ):
                while chunk := src.read(_CHUNK):
                    gz.write(chunk)
            with path.open("rb") as done:
                while chunk := done.read(_CHUNK):
                    hasher.update(chunk)
            digest = Digest("sha256", hasher.hexdigest())
            files[digest] = path
            layers.append(Descriptor(target_type, digest, path.stat().st_size, layer.annotations))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = Manifest.build(
        image.manifest.config,
        layers,
        media_type=image.manifest.media_type,
        annotations=image.manifest.annotations,
    )
    return SpooledImage(image, manifest, files, tmp)


_OCI_LAYER_TYPES = {
    mt.DOCKER_LAYER: mt.OCI_LAYER_GZIP,
    mt.DOCKER_LAYER_TAR: mt.OCI_LAYER,
    mt.DOCKER_FOREIGN_LAYER: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}


class _RewrittenImage(Image):
    """An image with a rewritten manifest over the same blobs."""

    def __init__(self, base: Image, manifest: Manifest) -> None:
        self._base = base
        self._manifest = manifest

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self._base.open_blob(descriptor)


class _RewrittenIndex(ImageIndex):
    """An index with a rewritten body whose entries point at converted children."""

    def __init__(self, index: Index, children: dict[Digest, Image | ImageIndex]) -> None:
        self._index = index
        self._children = children

    @property
    def index(self) -> Index:
        return self._index

    def child(self, descriptor: Descriptor) -> Image | ImageIndex:
        return self._children[descriptor.digest]

    def image(self, descriptor: Descriptor) -> Image:
        found = self._children[descriptor.digest]
        if isinstance(found, ImageIndex):
            raise ManifestError(f"index entry {descriptor.digest} is itself an index")
        return found


def _retyped(descriptor: Descriptor, media_type: str) -> Descriptor:
    return Descriptor(
        media_type,
        descriptor.digest,
        descriptor.size,
        descriptor.annotations,
        descriptor.platform,
        descriptor.urls,
        descriptor.artifact_type,
    )


def to_oci(node: Image | ImageIndex) -> Image | ImageIndex:
    """Docker v2 schema 2 manifests and lists rewritten as OCI (what ``oci:`` layouts hold).

    Blobs are untouched (Docker and OCI configs and layers are byte-compatible); only the
    media types change, so the manifest digest changes. OCI input comes back as is.
    """
    if isinstance(node, Image):
        manifest = node.manifest
        if manifest.media_type != mt.DOCKER_MANIFEST:
            return node
        config = manifest.config
        if config.media_type == mt.DOCKER_CONFIG:
            config = _retyped(config, mt.OCI_CONFIG)
        layers = [
            _retyped(d, _OCI_LAYER_TYPES.get(d.media_type, d.media_type)) for d in manifest.layers
        ]
        rebuilt = Manifest.build(
            config, layers, media_type=mt.OCI_MANIFEST, annotations=manifest.annotations
        )
        return _RewrittenImage(node, rebuilt)
    children: dict[Digest, Image | ImageIndex] = {}
    entries: list[Descriptor] = []
    changed = node.index.media_type != mt.OCI_INDEX
    for entry in node.index.manifests:
        child = child_of(node, entry)
        converted = to_oci(child)
        new = _top(converted)
        changed = changed or new.digest != entry.digest
        children[new.digest] = converted
        entries.append(
            Descriptor(
                new.media_type,
                new.digest,
                new.size,
                entry.annotations,
                entry.platform,
                entry.urls,
                entry.artifact_type,
            )
        )
    if not changed:
        return node
    index = Index.build(entries, media_type=mt.OCI_INDEX, annotations=node.index.annotations)
    return _RewrittenIndex(index, children)


def _top(node: Image | ImageIndex) -> Descriptor:
    return node.manifest.descriptor() if isinstance(node, Image) else node.index.descriptor()
