"""Small synthetic images for tests: layers made in memory, written into OCI layouts."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from dockyard.image import OCILayout
from dockyard.image.content import ContentImage
from dockyard.oci import Descriptor, Digest, ImageConfig, Index, Manifest, Platform, mediatypes


def layer_tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def make_image(
    layout: OCILayout,
    files: list[dict[str, bytes]],
    *,
    arch: str = "amd64",
    gzip_layers: bool = True,
    media_type: str = mediatypes.OCI_MANIFEST,
) -> Manifest:
    """Write layers, config and manifest blobs into ``layout`` (no index.json entry)."""
    layers, diff_ids = [], []
    docker = media_type == mediatypes.DOCKER_MANIFEST
    for content in files:
        plain = layer_tar(content)
        diff_ids.append(Digest.of(plain))
        blob = gzip.compress(plain, mtime=0) if gzip_layers else plain
        if docker:
            kind = mediatypes.DOCKER_LAYER if gzip_layers else mediatypes.DOCKER_LAYER_TAR
        else:
            kind = mediatypes.OCI_LAYER_GZIP if gzip_layers else mediatypes.OCI_LAYER
        desc = Descriptor(kind, Digest.of(blob), len(blob))
        layout.put_bytes(blob, desc)
        layers.append(desc)
    config = ImageConfig(
        architecture=arch, os="linux", created="2024-01-02T03:04:05Z", diff_ids=tuple(diff_ids)
    )
    raw = config.to_json()
    config_type = mediatypes.DOCKER_CONFIG if docker else mediatypes.OCI_CONFIG
    config_desc = Descriptor(config_type, Digest.of(raw), len(raw))
    layout.put_bytes(raw, config_desc)
    manifest = Manifest.build(config_desc, layers, media_type=media_type)
    layout.put_bytes(manifest.raw, manifest.descriptor())
    return manifest


def image_layout(path: Path, tag: str = "t", **kwargs: object) -> tuple[OCILayout, Manifest]:
    layout = OCILayout.create(path)
    manifest = make_image(layout, [{"a.txt": b"hello"}, {"b/c.txt": b"world" * 100}], **kwargs)  # type: ignore[arg-type]
    layout.add_entry(manifest.descriptor(), tag)
    return layout, manifest


def index_layout(path: Path, tag: str = "multi") -> tuple[OCILayout, Index]:
    layout = OCILayout.create(path)
    amd = make_image(layout, [{"arch": b"amd64"}], arch="amd64")
    arm = make_image(layout, [{"arch": b"arm64"}], arch="arm64")
    index = Index.build(
        [
            amd.descriptor(platform=Platform("linux", "amd64")),
            arm.descriptor(platform=Platform("linux", "arm64")),
        ]
    )
    layout.put_bytes(index.raw, index.descriptor())
    layout.add_entry(index.descriptor(), tag)
    return layout, index


def read_image(layout: OCILayout, tag: str) -> ContentImage:
    found = layout.source(tag)
    assert isinstance(found, ContentImage)
    return found
