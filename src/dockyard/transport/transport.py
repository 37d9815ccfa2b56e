"""Sources, sinks and copies between transports, and ``inspect`` as ``skopeo inspect`` reports it."""

from __future__ import annotations

import io
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from dockyard.errors import NotFoundError, UsageError
from dockyard.image.base import Image, ImageIndex, ImageSink
from dockyard.image.content import child_of, select_platform, top_descriptor
from dockyard.image.convert import SpooledImage, compress_layers, to_oci
from dockyard.image.dockerarchive import DockerArchive, DockerArchiveSink
from dockyard.image.layout import LayoutSink, OCILayout
from dockyard.image.ociarchive import OCIArchive, OCIArchiveSink
from dockyard.oci import Descriptor, Digest, Platform, Reference
from dockyard.oci import mediatypes as mt
from dockyard.progress import NULL_SINK, Event, EventKind, ProgressSink
from dockyard.store import Store
from dockyard.transport.names import ImageName

__all__ = [
    "CopyResult",
    "TransportOptions",
    "copy",
    "inspect",
    "open_sink",
    "open_source",
]

if TYPE_CHECKING:  # the registry client (and httpx) is imported only when a registry is used
    from dockyard.registry import RegistryClient


@dataclass
class TransportOptions:
    """Registry settings for sources and sinks; owns the registry clients it creates.

    Use as a context manager (or call ``close()``) so connections are closed.
    """

    insecure: Sequence[str] = ()
    mirrors: Mapping[str, Sequence[str]] = field(default_factory=dict)
    src_credentials: str | None = None  # USER:PASS for the source registry
    dest_credentials: str | None = None  # USER:PASS for the destination registry
    progress: ProgressSink = NULL_SINK
    store: Store | None = None
    _clients: dict[str, RegistryClient] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, role: str, registry: str) -> RegistryClient:
        """The client for ``role`` (``"src"`` or ``"dest"``), created on first use."""
        from dockyard.registry import RegistryClient
        from dockyard.registry.auth import Credentials

        with self._lock:
            found = self._clients.get(role)
            if found is None:
                creds = self.src_credentials if role == "src" else self.dest_credentials
                credentials = {registry: Credentials.parse(creds)} if creds else None
                found = RegistryClient(
                    insecure=tuple(self.insecure),
                    mirrors=self.mirrors,
                    credentials=credentials,
                    progress=self.progress,
                )
                self._clients[role] = found
            return found

    def local_store(self) -> Store:
        if self.store is None:
            self.store = Store.open()
        return self.store

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> TransportOptions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _name(name: str | ImageName) -> ImageName:
    return name if isinstance(name, ImageName) else ImageName.parse(name)


def open_source(
    name: str | ImageName,
    *,
    platform: Platform | None = None,
    options: TransportOptions | None = None,
) -> Image | ImageIndex:
    """The image or index ``name`` points at; with ``platform``, always a single image.

    A bare reference is looked up in the local store first, then in its registry.
    """
    parsed = _name(name)
    if options is None:
        # without options the registry client lives as long as the returned source
        own = TransportOptions()
        try:
            found = open_source(parsed, platform=platform, options=own)
        except BaseException:
            own.close()
            raise
        weakref.finalize(found, own.close)
        return found
    opts = options
    source: Image | ImageIndex
    if parsed.transport == "id":
        assert parsed.digest is not None
        source = opts.local_store().image_by_id(parsed.digest)
    elif parsed.transport == "oci":
        assert parsed.path is not None
        source = OCILayout.open(parsed.path).source(parsed.tag)
    elif parsed.transport == "oci-archive":
        assert parsed.path is not None
        source = OCIArchive(parsed.path).source(parsed.tag)
    elif parsed.transport == "docker-archive":
        assert parsed.path is not None
        source = DockerArchive(parsed.path).image(parsed.tag)
    else:
        reference = parsed.reference
        assert reference is not None
        source = _local_or_remote(parsed, reference, opts)
    if platform is not None:
        return select_platform(source, platform)
    return source


def _local_or_remote(
    parsed: ImageName, reference: Reference, opts: TransportOptions
) -> Image | ImageIndex:
    if parsed.transport == "local":
        store = opts.local_store()
        if store.has(reference):
            return store.image(reference)
    from dockyard.registry import open_remote

    client = opts.client("src", reference.registry)
    return open_remote(client, reference.with_default_tag(), None)


def open_sink(name: str | ImageName, *, options: TransportOptions | None = None) -> ImageSink:
    """Where ``name`` says to write: a layout, an archive, a registry, or the local store.

    Pass ``options`` to control registry settings and client lifetime; without them the
    client is closed when the sink is collected.
    """
    parsed = _name(name)
    if options is None:
        own = TransportOptions()
        try:
            sink = open_sink(parsed, options=own)
        except BaseException:
            own.close()
            raise
        weakref.finalize(sink, own.close)
        return sink
    opts = options
    if parsed.transport == "id":
        raise UsageError(
            f"cannot write to {parsed.text}: an image ID names an image already in the store",
            hint="give the destination a name, e.g. app:1",
        )
    if parsed.transport == "oci":
        assert parsed.path is not None
        return LayoutSink(parsed.path, parsed.tag)
    if parsed.transport == "oci-archive":
        assert parsed.path is not None
        return OCIArchiveSink(parsed.path, parsed.tag)
    if parsed.transport == "docker-archive":
        assert parsed.path is not None
        if parsed.tag is not None and parsed.tag.startswith("@"):
            raise UsageError("docker-archive:PATH:@N is only valid for reading")
        return DockerArchiveSink(parsed.path, parsed.tag)
    reference = parsed.reference
    assert reference is not None
    if parsed.transport == "local":
        return opts.local_store().sink(reference.with_default_tag())
    if reference.digest is not None and reference.tag is None:
        raise UsageError(
            f"cannot push to {parsed.text}: a destination needs a tag",
            hint="use docker://NAME:TAG",
        )
    from dockyard.registry import RegistrySink

    client = opts.client("dest", reference.registry)
    return RegistrySink(client, reference.with_default_tag())


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What ``copy`` wrote: the top manifest's descriptor, and the platforms copied."""

    descriptor: Descriptor
    source_digest: Digest
    platforms: tuple[str, ...]

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


class _ProgressStream(io.RawIOBase):
    def __init__(self, stream: BinaryIO, task: str, total: int, sink: ProgressSink) -> None:
        super().__init__()
        self._stream = stream
        self._task = task
        self._total = total
        self._sink = sink
        self._done = 0
        self._finished = False
        sink(Event(task, EventKind.START, f"copying {task}", 0, total))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        if not data:
            if not self._finished:
                self._finished = True
                self._sink(Event(self._task, EventKind.DONE, "", self._done, self._total))
            return 0
        buffer[: len(data)] = data
        self._done += len(data)
        self._sink(Event(self._task, EventKind.PROGRESS, "", self._done, self._total))
        return len(data)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            super().close()


class _ProgressImage(Image):
    def __init__(self, image: Image, sink: ProgressSink) -> None:
        self._image = image
        self._sink = sink

    @property
    def manifest(self) -> Any:
        return self._image.manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        stream = self._image.open_blob(descriptor)
        task = f"blob {descriptor.digest.short}"
        return io.BufferedReader(
            _ProgressStream(stream, task, descriptor.size, self._sink), 1 << 20
        )

    def config_bytes(self) -> bytes:
        return self._image.config_bytes()


class _ProgressIndex(ImageIndex):
    def __init__(self, index: ImageIndex, sink: ProgressSink) -> None:
        self._index = index
        self._sink = sink

    @property
    def index(self) -> Any:
        return self._index.index

    def child(self, descriptor: Descriptor) -> Image | ImageIndex:
        return _with_progress(child_of(self._index, descriptor), self._sink)

    def image(self, descriptor: Descriptor) -> Image:
        found = self.child(descriptor)
        if isinstance(found, ImageIndex):
            raise UsageError(f"index entry {descriptor.digest} is itself an index")
        return found


def _with_progress(node: Image | ImageIndex, sink: ProgressSink) -> Image | ImageIndex:
    if sink is NULL_SINK:
        return node
    if isinstance(node, Image):
        return _ProgressImage(node, sink)
    return _ProgressIndex(node, sink)


def _needs_gzip(image: Image) -> bool:
    """Layers stored uncompressed in a docker archive get compressed for other formats."""
    return any(layer.media_type == mt.DOCKER_LAYER_TAR for layer in image.layers)


def copy(
    src: str | ImageName,
    dst: str | ImageName,
    *,
    all_platforms: bool = False,
    platform: Platform | None = None,
    options: TransportOptions | None = None,
) -> CopyResult:
    """Copy an image (or with ``all_platforms`` a whole index) from ``src`` to ``dst``.

    Without ``all_platforms`` an index is narrowed to the ``platform`` (default: the host)
    image, as ``skopeo copy`` does. Manifest bytes are copied unchanged, so digests stay
    the same, unless the formats force a change: layers of a docker archive are gzipped
    for other destinations, and a docker archive stores layers uncompressed.
    """
    source_name, dest_name = _name(src), _name(dst)
    own = options is None
    opts = options or TransportOptions()
    try:
        source = open_source(source_name, options=opts)
        source_digest = source.digest
        if isinstance(source, ImageIndex) and not all_platforms:
            source = select_platform(source, platform)
        elif isinstance(source, ImageIndex) and dest_name.transport == "docker-archive":
            raise UsageError(
                "a docker archive holds a single image; --all needs an index-capable destination"
            )
        converted: Image | ImageIndex = source
        if (
            isinstance(source, Image)
            and dest_name.transport != "docker-archive"
            and _needs_gzip(source)
        ):
            converted = compress_layers(source)
        spooled = converted
        if dest_name.transport in ("oci", "oci-archive"):
            converted = to_oci(converted)  # OCI layouts hold OCI manifests (as skopeo writes)
        try:
            sink = open_sink(dest_name, options=opts)
            descriptor = sink.write(_with_progress(converted, opts.progress))
        finally:
            if isinstance(spooled, SpooledImage):
                spooled.close()
        platforms = _platforms(converted)
        return CopyResult(descriptor, source_digest, platforms)
    finally:
        if own:
            opts.close()


def _platforms(node: Image | ImageIndex) -> tuple[str, ...]:
    if isinstance(node, ImageIndex):
        return tuple(str(d.platform) for d in node.index.manifests if d.platform is not None)
    try:
        return (str(node.config().platform),)
    except NotFoundError:
        return ()


def inspect(
    name: str | ImageName,
    *,
    platform: Platform | None = None,
    options: TransportOptions | None = None,
    tags: bool = True,
) -> dict[str, Any]:
    """What ``skopeo inspect`` prints for ``name``: digest, tags, created, platform, layers, env.

    For an index, ``Digest`` is the index's and the rest describes the ``platform`` (default:
    host) image.
    """
    parsed = _name(name)
    own = options is None
    opts = options or TransportOptions()
    try:
        source = open_source(parsed, options=opts)
        digest = source.digest
        image = select_platform(source, platform) if isinstance(source, ImageIndex) else source
        config = image.config()
        reference = parsed.reference
        out: dict[str, Any] = {}
        out["Name"] = reference.name if reference is not None else str(parsed.path or "")
        out["Digest"] = str(digest)
        out["RepoTags"] = _tags(parsed, source, opts) if tags else []
        out["Created"] = config.created or None
        out["DockerVersion"] = str(config.extra.get("docker_version", ""))
        out["Labels"] = dict(config.config.labels) or None
        out["Architecture"] = config.architecture
        if config.variant:
            out["Variant"] = config.variant
        out["Os"] = config.os
        out["Layers"] = [str(layer.digest) for layer in image.layers]
        out["LayersData"] = [
            {
                "MIMEType": layer.media_type,
                "Digest": str(layer.digest),
                "Size": layer.size,
                "Annotations": dict(layer.annotations) or None,
            }
            for layer in image.layers
        ]
        out["Env"] = list(config.config.env)
        return out
    finally:
        if own:
            opts.close()


def _tags(parsed: ImageName, source: Image | ImageIndex, opts: TransportOptions) -> list[str]:
    if parsed.transport == "id":
        digest = descriptor_of(source).digest
        store = opts.local_store()
        return sorted(key for key, desc in store.tags().items() if desc.digest == digest)
    if parsed.transport == "oci":
        assert parsed.path is not None
        return OCILayout.open(parsed.path).tags()
    if parsed.transport == "oci-archive":
        assert parsed.path is not None
        return OCIArchive(parsed.path).tags()
    if parsed.transport == "docker-archive":
        assert parsed.path is not None
        return DockerArchive(parsed.path).tags()
    reference = parsed.reference
    assert reference is not None
    if parsed.transport == "local" and opts.local_store().has(reference):
        store = opts.local_store()
        return sorted(
            key.rsplit(":", 1)[1]
            for key in store.tags()
            if "@" not in key and key.rsplit(":", 1)[0] == reference.name
        )
    return opts.client("src", reference.registry).list_tags(reference)


def descriptor_of(node: Image | ImageIndex) -> Descriptor:
    """The descriptor of a source's top manifest."""
    return top_descriptor(node)
