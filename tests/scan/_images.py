"""Hand-built OCI image layouts for the image scanner tests: layers written with tarfile."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard

from dockyard.oci import Platform


@dataclass(frozen=True)
class E:
    """One layer entry: a file (data), a directory, a symlink or a hard link."""

    name: str
    data: bytes | str | None = None
    kind: str = "file"  # file, dir, symlink, hardlink
    target: str = ""
    mode: int = 0o644


def layer_tar(entries: list[E]) -> bytes:
    """An uncompressed layer tarball of ``entries``, in order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mtime = 1700000000
            info.mode = entry.mode
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                tar.addfile(info)
            elif entry.kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = entry.target
                tar.addfile(info)
            else:
                data = entry.data.encode() if isinstance(entry.data, str) else entry.data or b""
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _blob(root: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = root / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def write_layout(
    root: Path,
    layers: list[bytes],
    *,
    tag: str = "1",
    compression: list[str] | None = None,
    diff_ids: list[str] | None = None,
) -> Path:
    """Write an OCI layout holding one image of ``layers`` (uncompressed tars); ``compression``
    per layer is gzip (default), zstd or none."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descriptors = []
    computed = []
    for index, tar in enumerate(layers):
        kind = (compression or [])[index] if compression and index < len(compression) else "gzip"
        computed.append("sha256:" + hashlib.sha256(tar).hexdigest())
        if kind == "gzip":
            blob, media = gzip.compress(tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
        elif kind == "zstd":
            blob = zstandard.ZstdCompressor().compress(tar)
            media = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            blob, media = tar, "application/vnd.oci.image.layer.v1.tar"
        descriptors.append({"mediaType": media, "digest": _blob(root, blob), "size": len(blob)})
    host = Platform.host()
    config = json.dumps(
        {
            "architecture": host.architecture,
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids or computed},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _blob(root, config),
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _blob(root, manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return root
