"""Test images: a minimal OCI layout reader (plain file reads) and generated random images."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import BinaryIO

from dockyard.image import Image, ImageIndex
from dockyard.oci import Descriptor, Digest, Index, Manifest, Platform, mediatypes

__all__ = ["LayoutImage", "MemoryImage", "MemoryIndex", "random_image"]


class LayoutImage(Image):
    """An image of an OCI layout directory, read with plain file reads."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self._manifest = manifest

    @classmethod
    def open(cls, root: Path, tag: str) -> LayoutImage:
        index = json.loads((root / "index.json").read_text())
        for entry in index["manifests"]:
            if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                desc = Descriptor.from_dict(entry)
                raw = cls._path(root, desc.digest).read_bytes()
                return cls(root, Manifest.parse(raw, desc.media_type))
        raise KeyError(tag)

    @staticmethod
    def _path(root: Path, digest: Digest) -> Path:
        return root / "blobs" / digest.algorithm / digest.hex

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self._path(self.root, descriptor.digest).open("rb")


class MemoryImage(Image):
    """An image whose blobs are bytes in memory."""

    def __init__(self, manifest: Manifest, blobs: dict[Digest, bytes]) -> None:
        self._manifest = manifest
        self.blob_data = blobs

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return io.BytesIO(self.blob_data[descriptor.digest])


class MemoryIndex(ImageIndex):
    def __init__(self, images: list[tuple[Platform, MemoryImage]]) -> None:
        self._images = {img.digest: img for _, img in images}
        self._index = Index.build(
            [img.manifest.descriptor(platform=platform) for platform, img in images]
        )

    @property
    def index(self) -> Index:
        return self._index

    def image(self, descriptor: Descriptor) -> Image:
        return self._images[descriptor.digest]


def random_image(layer_sizes: list[int], *, arch: str = "amd64") -> MemoryImage:
    """An image of random layer blobs (the registry does not look inside layers)."""
    blobs: dict[Digest, bytes] = {}
    layers = []
    for size in layer_sizes:
        data = os.urandom(size)
        digest = Digest.of(data)
        blobs[digest] = data
        layers.append(Descriptor(mediatypes.OCI_LAYER_GZIP, digest, len(data)))
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(d.digest) for d in layers]},
        }
    ).encode()
    config_digest = Digest.of(config)
    blobs[config_digest] = config
    manifest = Manifest.build(Descriptor(mediatypes.OCI_CONFIG, config_digest, len(config)), layers)
    return MemoryImage(manifest, blobs)
