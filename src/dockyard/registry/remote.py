"""Images in a registry: RemoteImage/RemoteIndex sources, open_remote, and RegistrySink."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import BinaryIO

from dockyard.errors import ManifestError
from dockyard.image.base import Image, ImageIndex, ImageSink
from dockyard.oci import Descriptor, Index, Manifest, Platform, Reference
from dockyard.progress import Event, EventKind
from dockyard.registry.client import RegistryClient

__all__ = ["RegistrySink", "RemoteImage", "RemoteIndex", "open_remote"]


class RemoteImage(Image):
    """A single-platform image in a registry; blobs stream verified (see open_blob)."""

    def __init__(self, client: RegistryClient, reference: Reference, manifest: Manifest) -> None:
        self.client = client
        self.reference = reference.with_digest(manifest.digest)
        self._manifest = manifest
        self._config: bytes | None = None
        self._lock = threading.Lock()

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self.client.open_blob(self.reference, descriptor)

    def config_bytes(self) -> bytes:
        with self._lock:
            if self._config is None:
                self._config = self.client.get_blob(self.reference, self._manifest.config)
            return self._config

    def __repr__(self) -> str:
        return f"RemoteImage({self.reference})"


class RemoteIndex(ImageIndex):
    """A multi-platform index in a registry; children are fetched by digest on demand."""

    def __init__(self, client: RegistryClient, reference: Reference, index: Index) -> None:
        self.client = client
        self.reference = reference.with_digest(index.digest)
        self._index = index

    @property
    def index(self) -> Index:
        return self._index

    def image(self, descriptor: Descriptor) -> Image:
        fetched = self.client.get_manifest(self.reference, str(descriptor.digest))
        parsed = fetched.parse()
        if not isinstance(parsed, Manifest):
            raise ManifestError(
                f"index entry {descriptor.digest} is itself an index",
                location=str(self.reference),
                hint="nested indexes are not supported",
            )
        return RemoteImage(self.client, self.reference, parsed)

    def __repr__(self) -> str:
        return f"RemoteIndex({self.reference})"


def open_remote(
    client: RegistryClient, reference: Reference, platform: Platform | None = None
) -> Image | ImageIndex:
    """The image or index ``reference`` names.

    An index comes back as a RemoteIndex when ``platform`` is None, else as the child image
    for ``platform`` (NotFoundError names the platforms there are).
    """
    fetched = client.get_manifest(reference)
    parsed = fetched.parse()
    if isinstance(parsed, Manifest):
        return RemoteImage(client, reference, parsed)
    index = RemoteIndex(client, reference, parsed)
    if platform is None:
        return index
    return index.image(parsed.select(platform))


class RegistrySink(ImageSink):
    """Pushes images to ``reference``'s repository in an order that never exposes half an image.

    All blobs first (in parallel: HEAD, else cross-repository mount, else upload), then
    child manifests by digest, then the top manifest under each tag. If anything fails
    before the last step, no tag moves.
    """

    def __init__(self, client: RegistryClient, reference: Reference) -> None:
        self.client = client
        self.reference = reference

    def write(self, image: Image | ImageIndex, tags: Sequence[str] = ()) -> Descriptor:
        children: list[Image] = []
        if isinstance(image, ImageIndex):
            children = [image.image(desc) for desc in image.index.manifests]
        else:
            children = [image]
        self._push_blobs(children)
        client, ref = self.client, self.reference
        if isinstance(image, ImageIndex):
            for child in children:
                manifest = child.manifest
                client.put_manifest(ref, manifest.raw, manifest.media_type, str(manifest.digest))
            raw, media_type = image.index.raw, image.index.media_type
        else:
            raw, media_type = image.manifest.raw, image.manifest.media_type
        names = list(dict.fromkeys([*([ref.tag] if ref.tag else []), *tags]))
        task = f"manifest {ref.repository}"
        client.progress(Event(task, EventKind.START, "pushing manifest"))
        if not names:
            digest = client.put_manifest(ref, raw, media_type, None)
        for name in names:
            digest = client.put_manifest(ref, raw, media_type, name)
        client.progress(Event(task, EventKind.DONE, f"pushed {digest}"))
        return Descriptor(media_type, digest, len(raw))

    def _push_blobs(self, images: Sequence[Image]) -> None:
        seen: dict[str, tuple[Image, Descriptor]] = {}
        for img in images:
            for desc in img.blobs():
                seen.setdefault(str(desc.digest), (img, desc))
        ref = self.reference

        def push(item: tuple[Image, Descriptor]) -> None:
            img, desc = item
            mount_from = None
            if isinstance(img, RemoteImage) and img.reference.registry == ref.registry:
                mount_from = img.reference.repository
            self.client.push_blob(ref, desc, lambda: img.open_blob(desc), mount_from=mount_from)

        self.client.map(push, seen.values())
