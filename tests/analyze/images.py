"""Test images for analyze: layers built with tarfile, written as docker archives and OCI layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard.image.base import Image
from dockyard.oci import Descriptor, Digest, Manifest, mediatypes

# An entry: (name, kind, data) with kind "f" file, "d" dir, "l" symlink (data = target),
# "h" hardlink (data = target path).
Item = tuple[str, str, bytes]


def layer_tar(items: Sequence[Item]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in items:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if kind == "d":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif kind == "l":
                info.type = tarfile.SYMTYPE
                info.linkname = data.decode()
                tar.addfile(info)
            elif kind == "h":
                info.type = tarfile.LNKTYPE
                info.linkname = data.decode()
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BuiltImage:
    """An image held in memory: uncompressed (or gzip) layer blobs, a config, history."""

    layers: list[bytes]
    history: list[dict[str, object]] = field(default_factory=list)
    gzip_layers: bool = False

    @classmethod
    def of(cls, *layers: Sequence[Item], commands: Sequence[str] | None = None) -> BuiltImage:
        blobs = [layer_tar(items) for items in layers]
        names = commands or [f"RUN step {i}" for i in range(len(blobs))]
        history: list[dict[str, object]] = [{"created_by": c} for c in names]
        history.insert(1, {"created_by": "ENV A=1", "empty_layer": True})
        return cls(blobs, history)

    def config_bytes(self) -> bytes:
        diff_ids = [sha(gzip.decompress(b) if self.gzip_layers else b) for b in self.layers]
        return json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": self.history,
            }
        ).encode()

    def image(self) -> MemoryImage:
        return MemoryImage(self)

    def write_docker_archive(self, path: Path) -> Path:
        """`docker save` format: <hex>/layer.tar, <hex>.json, manifest.json."""
        config = self.config_bytes()
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        with tarfile.open(path, "w") as out:
            names = []
            for blob in self.layers:
                raw = gzip.decompress(blob) if self.gzip_layers else blob
                name = hashlib.sha256(raw).hexdigest() + "/layer.tar"
                if name not in names:
                    _add(out, name, raw)
                names.append(name)
            _add(out, config_name, config)
            manifest = [{"Config": config_name, "RepoTags": ["test:latest"], "Layers": names}]
            _add(out, "manifest.json", json.dumps(manifest).encode())
        return path


def _add(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))


class MemoryImage(Image):
    def __init__(self, test: BuiltImage) -> None:
        self._blobs: dict[Digest, bytes] = {}
        config = test.config_bytes()
        layer_type = mediatypes.OCI_LAYER_GZIP if test.gzip_layers else mediatypes.OCI_LAYER
        layers = []
        for blob in test.layers:
            digest = Digest.of(blob)
            self._blobs[digest] = blob
            layers.append(Descriptor(layer_type, digest, len(blob)))
        self._blobs[Digest.of(config)] = config
        self._manifest = Manifest.build(
            Descriptor(mediatypes.OCI_CONFIG, Digest.of(config), len(config)), layers
        )
        self.opened: list[Digest] = []

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        self.opened.append(descriptor.digest)
        return io.BytesIO(self._blobs[descriptor.digest])


class LayoutImage(Image):
    """A minimal read-only OCI layout reader (first manifest of index.json)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        index = json.loads((root / "index.json").read_text())
        digest = Digest.parse(index["manifests"][0]["digest"])
        self._manifest = Manifest.parse(self._path(digest).read_bytes())

    def _path(self, digest: Digest) -> Path:
        return self._root / "blobs" / digest.algorithm / digest.hex

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self._path(descriptor.digest).open("rb")


def layout_to_docker_archive(image: Image, path: Path) -> Path:
    """Write any image as a `docker save` archive (layers decompressed), for dive."""
    config = image.config_bytes()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    with tarfile.open(path, "w") as out:
        names = []
        for layer in image.layers:
            with image.open_blob(layer) as stream:
                raw = stream.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            name = hashlib.sha256(raw).hexdigest() + "/layer.tar"
            _add(out, name, raw)
            names.append(name)
        _add(out, config_name, config)
        manifest = [{"Config": config_name, "RepoTags": ["test:latest"], "Layers": names}]
        _add(out, "manifest.json", json.dumps(manifest).encode())
    return path


def scenarios() -> dict[str, BuiltImage]:
    """Images whose layers overwrite, delete (whiteouts), hide (opaque dirs) and duplicate."""
    base = [
        ("a/", "d", b""),
        ("a/f1", "f", b"x" * 1000),
        ("a/f2", "f", b"y" * 2000),
        ("b/", "d", b""),
        ("b/g", "f", b"z" * 500),
        ("b/h/", "d", b""),
        ("b/h/i", "f", b"q" * 300),
        ("b/h/j/", "d", b""),
        ("b/h/j/k", "f", b"k" * 4096),
        ("c/", "d", b""),
        ("c/old", "f", b"o" * 700),
        ("c/sub/", "d", b""),
        ("c/sub/deep", "f", b"p" * 900),
        ("dup1", "f", b"D" * 7000),
        ("empty/", "d", b""),
    ]
    return {
        "overwrite-whiteout-opaque": BuiltImage.of(
            base,
            [
                ("a/", "d", b""),
                ("a/f1", "f", b"X" * 1500),
                ("a/.wh.f2", "f", b""),
                ("dup2", "f", b"D" * 7000),
                ("empty/", "d", b""),
            ],
            [
                ("b/", "d", b""),
                ("b/.wh.h", "f", b""),
                ("c/", "d", b""),
                ("c/.wh..wh..opq", "f", b""),
                ("c/new", "f", b"n" * 100),
                ("e/", "d", b""),
            ],
        ),
        "replace-types-links": BuiltImage.of(
            base,
            [
                ("a/", "d", b""),
                ("a/f1/", "d", b""),  # a file becomes a directory
                ("a/f1/inner", "f", b"i" * 50),
                ("b/g/", "d", b""),
                ("lnk", "l", b"a/f2"),
                ("hard", "h", b"dup1"),
                ("c/sub/deep", "f", b"P" * 10),
            ],
            [
                ("a/", "d", b""),
                ("a/.wh.f1", "f", b""),  # the directory goes again
                ("c/", "d", b""),
                ("c/.wh.sub", "f", b""),
                ("dup1", "f", b"d" * 8000),
                ("usr/share/doc/pkg/README", "f", b"r" * 12000),
                ("var/lib/apt/lists/big_Packages", "f", b"L" * 30000),
                ("var/lib/apt/lists/lock", "f", b""),
            ],
            [
                ("var/lib/apt/lists/", "d", b""),
                ("var/lib/apt/lists/.wh.big_Packages", "f", b""),
                ("usr/.wh.share", "f", b""),
            ],
        ),
        "opaque-only-marker": BuiltImage.of(
            base,
            # no directory entry for c/, only the marker: dive sees an implied leaf
            [("c/.wh..wh..opq", "f", b""), ("b/h/.wh..wh..opq", "f", b""), ("b/h/x", "f", b"x")],
            [("c/old", "f", b"O" * 10), ("a/f1", "f", b"1" * 1000)],
        ),
        "whiteout-of-missing": BuiltImage.of(
            [*base, (".wh.nothing", "f", b"")],
            # dive stops counting a layer at a whiteout of a path the layers below lack
            [("a/", "d", b""), ("a/.wh.absent", "f", b""), ("a/f1", "f", b"X" * 1500)],
            [("b/", "d", b""), ("b/g", "f", b"G" * 600)],
        ),
        "single-layer": BuiltImage.of(base),
    }
