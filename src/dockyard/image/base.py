"""The interfaces every image source and sink implements (modelled on go-containerregistry's v1)."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import BinaryIO

from dockyard.oci import Descriptor, Digest, ImageConfig, Index, Manifest, Verifier

__all__ = ["Image", "ImageIndex", "ImageSink", "VerifyingReader"]


class Image(ABC):
    """One single-platform image: a manifest, its config and its layer blobs.

    Implementations: OCI layout, OCI archive, docker archive, registry, local store,
    and in-memory images produced by the builder. ``open_blob`` streams the bytes of any
    blob the manifest references (config or layer); sources that are not trusted (a
    registry) verify digest and size while streaming and raise IntegrityError at the end.
    """

    @property
    @abstractmethod
    def manifest(self) -> Manifest:
        """The parsed manifest; ``manifest.raw`` holds its exact bytes."""

    @abstractmethod
    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        """A readable binary stream of the blob; the caller closes it."""

    def config_bytes(self) -> bytes:
        with self.open_blob(self.manifest.config) as stream:
            return stream.read()

    def config(self) -> ImageConfig:
        """The parsed image config (raw bytes kept, so its digest is the manifest's)."""
        return ImageConfig.parse(self.config_bytes())

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    def blobs(self) -> tuple[Descriptor, ...]:
        """Every blob this image needs: config first, then layers in order."""
        return (self.manifest.config, *self.manifest.layers)


class ImageIndex(ABC):
    """A multi-platform index (OCI image index or Docker manifest list)."""

    @property
    @abstractmethod
    def index(self) -> Index:
        """The parsed index; ``index.raw`` holds its exact bytes."""

    @abstractmethod
    def image(self, descriptor: Descriptor) -> Image:
        """The child image an entry of this index points at."""

    @property
    def digest(self) -> Digest:
        return self.index.digest


class ImageSink(ABC):
    """Somewhere images can be written: a layout, an archive, a registry, the store."""

    @abstractmethod
    def write(self, image: Image | ImageIndex, tags: Sequence[str] = ()) -> Descriptor:
        """Write every blob, then the manifest, then the tags; return the top descriptor.

        A sink never makes a tag point at an image whose blobs are not all present.
        """


class VerifyingReader(io.RawIOBase):
    """Wraps a stream, hashing what is read; at EOF checks digest and size (IntegrityError)."""

    def __init__(self, stream: BinaryIO, descriptor: Descriptor, *, where: str = "") -> None:
        super().__init__()
        self._stream = stream
        self._verifier = Verifier(descriptor.digest, descriptor.size)
        self._where = where
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:  # straight into the caller's buffer, no copy
            n = readinto(buffer) or 0
            data: bytes | memoryview = memoryview(buffer).cast("B")[:n]
        else:
            data = self._stream.read(len(buffer))
            n = len(data)
            buffer[:n] = data
        if not n:
            if not self._done:
                self._done = True
                self._verifier.verify(where=self._where)
            return 0
        self._verifier.update(data)  # type: ignore[arg-type]
        return n

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()
