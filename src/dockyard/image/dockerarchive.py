"""docker-archive tarballs, as ``docker save`` writes and ``docker load`` reads them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dockyard.errors import (
    ArchiveError,
    DockyardError,
    IntegrityError,
    InvalidReferenceError,
    ManifestError,
    NotFoundError,
    UsageError,
)
from dockyard.image.base import Image, ImageIndex, ImageSink
from dockyard.image.content import ContentImage
from dockyard.image.convert import sniff_compression, spool_uncompressed
from dockyard.image.tarfiles import TarFiles
from dockyard.oci import Descriptor, Digest, ImageConfig, Manifest, Reference
from dockyard.oci import mediatypes as mt

__all__ = ["DockerArchive", "DockerArchiveEntry", "DockerArchiveSink", "archive_manifest"]


@dataclass(frozen=True, slots=True)
class DockerArchiveEntry:
    """One image of a docker archive's manifest.json."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def archive_manifest(config_raw: bytes, layers: Sequence[Descriptor]) -> Manifest:
    """The Docker v2 schema 2 manifest dockyard presents for an image of a docker archive."""
    config = Descriptor(mt.DOCKER_CONFIG, Digest.of(config_raw), len(config_raw))
    return Manifest.build(config, layers, media_type=mt.DOCKER_MANIFEST)


def _normalized(tag: str) -> str | None:
    try:
        return str(Reference.parse(tag).with_default_tag())
    except InvalidReferenceError:
        return None


class DockerArchive:
    """Reads a docker-archive tarball (legacy or OCI-flavoured ``docker save`` output)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.files = TarFiles(self.path)
        if not self.files.has("manifest.json"):
            raise ArchiveError(
                f"{self.path}: not a docker archive (no manifest.json)",
                hint="is it an OCI archive? use oci-archive:",
            )
        self.entries = self._entries()

    def _entries(self) -> list[DockerArchiveEntry]:
        where = f"{self.path}:manifest.json"
        try:
            data = json.loads(self.files.read("manifest.json"))
        except ValueError as exc:
            raise ManifestError("manifest.json is not valid JSON", location=where) from exc
        if not isinstance(data, list) or not data:
            raise ManifestError("manifest.json is not a non-empty list", location=where)
        out = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ManifestError(f"entry {i} is not an object", location=where)
            config = item.get("Config")
            layers = item.get("Layers")
            tags = item.get("RepoTags") or []
            if not isinstance(config, str) or not isinstance(layers, list):
                raise ManifestError(f"entry {i} lacks Config or Layers", location=where)
            if not all(isinstance(x, str) for x in [*layers, *tags]):
                raise ManifestError(f"entry {i} has non-string Layers or RepoTags", location=where)
            out.append(DockerArchiveEntry(config, tuple(tags), tuple(layers)))
        return out

    def tags(self) -> list[str]:
        return [t for e in self.entries for t in e.repo_tags]

    def entry(self, ref: str | None = None) -> DockerArchiveEntry:
        """The image named ``ref`` (a repo tag, or ``@N`` for the N-th image), or the only one."""
        if ref is None:
            if len(self.entries) == 1:
                return self.entries[0]
            raise UsageError(
                f"docker archive {self.path} holds {len(self.entries)} images",
                hint="name one: docker-archive:PATH:REF or docker-archive:PATH:@N",
            )
        if ref.startswith("@"):
            try:
                return self.entries[int(ref[1:])]
            except (ValueError, IndexError) as exc:
                raise NotFoundError(
                    f"docker archive {self.path} has no image {ref}",
                    hint=f"it has {len(self.entries)}",
                ) from exc
        wanted = _normalized(ref)
        if wanted is None:
            raise InvalidReferenceError(f"invalid reference {ref!r} for a docker archive")
        for entry in self.entries:
            if any(_normalized(t) == wanted for t in entry.repo_tags):
                return entry
        raise NotFoundError(
            f"no image {ref!r} in docker archive {self.path}",
            hint="tags there: " + (", ".join(self.tags()) or "none"),
        )

    def image(self, ref: str | None = None) -> Image:
        entry = self.entry(ref)
        where = str(self.path)
        config_raw = self.files.read(entry.config)
        config = ImageConfig.parse(config_raw)
        if len(config.diff_ids) != len(entry.layers):
            raise ManifestError(
                f"image config lists {len(config.diff_ids)} diff IDs "
                f"but manifest.json has {len(entry.layers)} layers",
                location=where,
            )
        names: dict[Digest, str] = {Digest.of(config_raw): entry.config}
        layers: list[Descriptor] = []
        for name, diff_id in zip(entry.layers, config.diff_ids, strict=True):
            with self.files.open(name) as stream:
                compression = sniff_compression(stream.read(4))
            size = self.files.size(name)
            if compression == "none":
                digest, media_type = diff_id, mt.DOCKER_LAYER_TAR
            else:
                digest = self._hash(name)
                media_type = mt.DOCKER_LAYER if compression == "gzip" else mt.OCI_LAYER_ZSTD
            names[digest] = name
            layers.append(Descriptor(media_type, digest, size))
        manifest = archive_manifest(config_raw, layers)

        def opener(digest: Digest) -> BinaryIO:
            name = names.get(digest)
            if name is None:
                raise NotFoundError(f"blob {digest} is not in docker archive {self.path}")
            return self.files.open(name)

        return ContentImage(manifest, opener, where=where)

    def _hash(self, name: str) -> Digest:
        hasher = hashlib.sha256()
        with self.files.open(name) as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
        return Digest("sha256", hasher.hexdigest())


def _add(tar: tarfile.TarFile, name: str, size: int, stream: BinaryIO) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, stream)


class DockerArchiveSink(ImageSink):
    """Writes a single image as a docker archive (replacing ``path`` atomically).

    Layers are stored uncompressed as ``docker save`` does: compressed layers are
    decompressed and checked against the config's diff IDs.
    """

    def __init__(self, path: Path, ref: str | None = None) -> None:
        self.path = Path(path)
        self.ref = ref

    def write(self, image: Image | ImageIndex, tags: Sequence[str] = ()) -> Descriptor:
        if isinstance(image, ImageIndex):
            raise UsageError(
                "a docker archive holds single-platform images, not an index",
                hint="drop --all, or choose one with --platform",
            )
        names = list(tags) if tags else ([self.ref] if self.ref else [])
        repo_tags = []
        for name in names:
            try:
                repo_tags.append(Reference.parse(name).with_default_tag().familiar())
            except InvalidReferenceError as exc:
                raise InvalidReferenceError(
                    f"docker-archive tag: {exc.message}", hint=exc.hint
                ) from exc
        if self.path.is_dir():
            raise UsageError(f"{self.path} is a directory", hint="docker-archive: wants a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as out:
                descriptor = self._write_tar(out, image, repo_tags)
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(self.path)
            return descriptor
        except DockyardError:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
        except OSError as exc:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise ArchiveError(f"cannot write docker archive {self.path}: {exc}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise

    def _write_tar(self, out: BinaryIO, image: Image, repo_tags: list[str]) -> Descriptor:
        config_raw = image.config_bytes()
        config = ImageConfig.parse(config_raw)
        if len(config.diff_ids) != len(image.layers):
            raise ManifestError(
                f"image config lists {len(config.diff_ids)} diff IDs for {len(image.layers)} layers"
            )
        config_name = f"{Digest.of(config_raw).hex}.json"
        layer_names: list[str] = []
        layers: list[Descriptor] = []
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            written: set[str] = set()
            for layer, diff_id in zip(image.layers, config.diff_ids, strict=True):
                name = f"{diff_id.hex}.tar"
                layer_names.append(name)
                compression = mt.compression_of(layer.media_type)
                if name not in written:
                    size = self._add_layer(tar, name, image, layer, compression, diff_id)
                    written.add(name)
                else:
                    size = tar.getmember(name).size
                layers.append(Descriptor(mt.DOCKER_LAYER_TAR, diff_id, size))
            _add(tar, config_name, len(config_raw), io.BytesIO(config_raw))
            doc: list[dict[str, Any]] = [
                {"Config": config_name, "RepoTags": repo_tags or None, "Layers": layer_names}
            ]
            data = json.dumps(doc, separators=(",", ":")).encode()
            _add(tar, "manifest.json", len(data), io.BytesIO(data))
        return archive_manifest(config_raw, layers).descriptor()

    @staticmethod
    def _add_layer(
        tar: tarfile.TarFile,
        name: str,
        image: Image,
        layer: Descriptor,
        compression: str,
        diff_id: Digest,
    ) -> int:
        with image.open_blob(layer) as stream:
            head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
            actual = sniff_compression(head) if head else compression
            if actual == "none" and compression == "none":
                _add(tar, name, layer.size, stream)
                if stream.read(1):  # also lets a verifying stream check the digest at EOF
                    raise IntegrityError(f"layer {layer.digest} is longer than {layer.size} bytes")
                return layer.size
            with tempfile.TemporaryFile(prefix="dockyard-layer-") as spool:
                _, size = spool_uncompressed(
                    stream, actual if actual != "none" else compression, spool,
                    expected_diff_id=diff_id,
                )  # fmt: skip
                spool.seek(0)
                _add(tar, name, size, spool)
                return size
