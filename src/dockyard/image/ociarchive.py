"""OCI archives: an OCI image layout in a tarball, read in place and written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import ArchiveError, DockyardError, ManifestError, NotFoundError, UsageError
from dockyard.image.base import Image, ImageIndex, ImageSink
from dockyard.image.content import ContentImage, ContentIndex, load_manifest
from dockyard.image.layout import OCILayout, resolve_tag, tags_of
from dockyard.image.tarfiles import TarFiles
from dockyard.oci import Descriptor, Digest, Index

__all__ = ["OCIArchive", "OCIArchiveSink", "tar_directory"]


class OCIArchive:
    """Reads an OCI archive without extracting it: blobs stream straight from the tarball."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.files = TarFiles(self.path)
        if not self.files.has("oci-layout"):
            raise ArchiveError(f"{self.path}: not an OCI archive (no oci-layout file)")
        try:
            layout = json.loads(self.files.read("oci-layout"))
        except ValueError as exc:
            raise ArchiveError(f"{self.path}: unreadable oci-layout file") from exc
        if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
            raise ArchiveError(f"{self.path}: unsupported imageLayoutVersion")

    def index(self) -> Index:
        try:
            return Index.parse(self.files.read("index.json"))
        except NotFoundError as exc:
            raise ArchiveError(f"{self.path}: OCI archive has no index.json") from exc
        except ManifestError as exc:
            raise ManifestError(
                exc.message, location=f"{self.path}:index.json", hint=exc.hint
            ) from exc

    def tags(self) -> list[str]:
        return tags_of(self.index())

    def resolve(self, tag: str | None = None) -> Descriptor:
        return resolve_tag(
            self.index(), tag, what=f"OCI archive {self.path}", transport="oci-archive"
        )

    def open_blob(self, digest: Digest) -> BinaryIO:
        name = f"blobs/{digest.algorithm}/{digest.hex}"
        if not self.files.has(name):
            raise NotFoundError(f"blob {digest} is missing from OCI archive {self.path}")
        return self.files.open(name)

    def source(self, tag: str | None = None) -> Image | ImageIndex:
        descriptor = self.resolve(tag)
        where = str(self.path)
        parsed = load_manifest(self.open_blob, descriptor, where=where)
        if isinstance(parsed, Index):
            return ContentIndex(parsed, self.open_blob, where=where)
        return ContentImage(parsed, self.open_blob, where=where)


def tar_directory(source: Path, target: Path) -> None:
    """Tar the files under ``source`` into ``target`` (temp file + rename), sorted, owner 0."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as out:
            with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for path in sorted(source.rglob("*")):
                    rel = path.relative_to(source).as_posix()
                    if path.name.startswith(".") or path.is_symlink():
                        continue  # lock and temp files of the staging layout
                    info = tar.gettarinfo(str(path), arcname=rel)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mtime = 0
                    if info.isreg():
                        with path.open("rb") as handle:
                            tar.addfile(info, handle)
                    else:
                        tar.addfile(info)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


class OCIArchiveSink(ImageSink):
    """Writes an OCI archive (replacing ``path`` atomically) holding one image or index."""

    def __init__(self, path: Path, tag: str | None = None) -> None:
        self.path = Path(path)
        self.tag = tag

    def write(self, image: Image | ImageIndex, tags: Sequence[str] = ()) -> Descriptor:
        if self.path.is_dir():
            raise UsageError(f"{self.path} is a directory", hint="oci-archive: wants a file path")
        wanted: list[str | None] = list(tags) if tags else [self.tag]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with tempfile.TemporaryDirectory(
                dir=self.path.parent, prefix=f".{self.path.name}."
            ) as staging:
                layout = OCILayout.create(Path(staging) / "layout")
                top = layout.write(image, wanted)
                tar_directory(layout.root, self.path)
                return top
        except DockyardError:
            raise
        except OSError as exc:
            raise ArchiveError(f"cannot write OCI archive {self.path}: {exc}") from exc
