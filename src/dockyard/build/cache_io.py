"""Shared build caches: ``--cache-to`` / ``--cache-from`` of type registry, local and inline.

A cache is an ordinary OCI image manifest: its config blob (media type
:data:`CACHE_CONFIG_MEDIA_TYPE`) holds the step records, its ``layers`` list the layer
blobs those records need, with their normal layer media types, so they are the very
blobs of the images (a registry push HEADs first and never uploads one twice). It is
tagged at ``ref`` in a registry (``type=registry``) or in an OCI layout directory
(``type=local``, tag ``latest``). ``type=inline`` puts the records of the exported
image's own steps into its config under :data:`INLINE_CACHE_KEY`.

Import is lazy: each ``--cache-from`` loads its manifest and config once, in the
background, and keys are looked up in memory; a layer blob is fetched only on a hit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dockyard.build.keys import KeyInputs
from dockyard.build.layers import CachedStep, Layer
from dockyard.build.options import CacheSpec
from dockyard.build.remote import BuiltStep, StepSink, StepSource
from dockyard.build.snapshot import open_layer_stream
from dockyard.errors import (
    BuildError,
    DockyardError,
    IntegrityError,
    InvalidDigestError,
    ManifestError,
    StoreError,
    UsageError,
)
from dockyard.image import Image
from dockyard.image.compression import DECOMPRESSION_ERRORS
from dockyard.image.content import select_platform
from dockyard.image.layout import LayoutSink, OCILayout
from dockyard.oci import Descriptor, Digest, ImageConfig, Manifest, Platform, Reference
from dockyard.oci.manifest import canonical_json
from dockyard.progress import ProgressSink
from dockyard.store.store import Store

if TYPE_CHECKING:  # httpx and the registry client load only when a registry cache is used
    from dockyard.registry import RegistryClient, RetryPolicy

__all__ = [
    "CACHE_CONFIG_MEDIA_TYPE",
    "INLINE_CACHE_KEY",
    "LOCAL_CACHE_TAG",
    "ArtifactImage",
    "CacheRecord",
    "LayoutCacheSink",
    "LayoutCacheSource",
    "RegistryCacheSink",
    "RegistryCacheSource",
    "apply_inline_cache",
    "cache_artifact",
    "configure",
    "decode_records",
    "encode_records",
    "verify_diff_id",
]

CACHE_CONFIG_MEDIA_TYPE = "application/vnd.dockyard.cache.config.v1+json"
"""Media type of the cache manifest's config blob (the step records)."""

INLINE_CACHE_KEY = "dev.dockyard.cache.v1"
"""Top-level image config field holding inline cache records (BuildKit: moby.buildkit.cache.v0)."""

LOCAL_CACHE_TAG = "latest"
"""The index.json tag of a ``type=local`` cache (BuildKit's default ``tag``)."""

CACHE_FORMAT_VERSION = 1


# A cache is an optimisation: give up quickly on a registry that does not answer.
def cache_retry() -> RetryPolicy:
    """Caches give up fast: a build must not wait long on a registry that is only a cache."""
    from dockyard.registry import RetryPolicy

    return RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=2.0, total_timeout=30.0)


# -- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheRecord:
    """One exported step: its key, the inputs the key hashes, its layer and where it came from."""

    key: str
    inputs: KeyInputs
    layer: Layer | None
    stage: str = ""
    final: bool = False

    def step(self) -> CachedStep:
        return CachedStep(self.key, self.inputs, self.layer)


def _layer_dict(layer: Layer | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    return {
        "diff_id": str(layer.diff_id),
        "blob": layer.blob.to_dict(),
        "created": layer.created,
        "created_by": layer.created_by,
    }


def _layer_of(data: Any, where: str) -> Layer | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: layer is not a JSON object")
    try:
        return Layer(
            diff_id=Digest.parse(str(data["diff_id"])),
            blob=Descriptor.from_dict(data["blob"], where=f"{where} layer blob"),
            created=str(data.get("created", "")),
            created_by=str(data.get("created_by", "")),
        )
    except (KeyError, InvalidDigestError) as exc:
        raise ManifestError(f"{where}: malformed layer: {exc}") from exc


def encode_records(records: Iterable[CacheRecord]) -> dict[str, Any]:
    """The JSON document of the records (sorted by key, one per key): deterministic."""
    unique: dict[str, CacheRecord] = {}
    for record in records:
        unique.setdefault(record.key, record)
    return {
        "version": CACHE_FORMAT_VERSION,
        "steps": [
            {
                "key": r.key,
                "inputs": r.inputs.to_dict(),
                "layer": _layer_dict(r.layer),
                "stage": r.stage,
                "final": r.final,
            }
            for r in sorted(unique.values(), key=lambda r: r.key)
        ],
    }


def decode_records(data: Any, *, where: str) -> dict[str, CacheRecord]:
    """Records by key; ManifestError for a document that is not a dockyard cache.

    A record whose key is not the hash of its inputs is dropped (a cache cannot make a
    step hit under inputs it did not have).
    """
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ManifestError(f"{where}: not a dockyard build cache (no steps list)")
    version = data.get("version")
    if version != CACHE_FORMAT_VERSION:
        raise ManifestError(f"{where}: unsupported cache format version {version!r}")
    out: dict[str, CacheRecord] = {}
    for position, item in enumerate(data["steps"]):
        at = f"{where} step {position}"
        if not isinstance(item, dict):
            raise ManifestError(f"{at} is not a JSON object")
        try:
            inputs = KeyInputs.from_dict(item["inputs"])
            key = str(item["key"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"{at}: malformed inputs: {exc}") from exc
        if inputs.key != key:
            continue
        out[key] = CacheRecord(
            key,
            inputs,
            _layer_of(item.get("layer"), at),
            str(item.get("stage", "")),
            bool(item.get("final", False)),
        )
    return out


def _select(steps: Sequence[BuiltStep], mode: str) -> list[CacheRecord]:
    return [
        CacheRecord(s.step.key, s.step.inputs, s.step.layer, s.stage, s.final)
        for s in steps
        if mode == "max" or s.final
    ]


def cache_artifact(records: Sequence[CacheRecord]) -> tuple[Manifest, bytes]:
    """The cache manifest and its config bytes for ``records`` (layers deduplicated, in order)."""
    config = canonical_json(encode_records(records))
    layers: dict[Digest, Descriptor] = {}
    for record in sorted(records, key=lambda r: r.key):
        if record.layer is not None:
            blob = record.layer.blob
            layers.setdefault(blob.digest, Descriptor(blob.media_type, blob.digest, blob.size))
    manifest = Manifest.build(
        Descriptor(CACHE_CONFIG_MEDIA_TYPE, Digest.of(config), len(config)),
        list(layers.values()),
    )
    return manifest, config


class ArtifactImage(Image):
    """The cache artifact as an Image: config from memory, layer blobs from the store."""

    def __init__(self, manifest: Manifest, config: bytes, store: Store) -> None:
        self._manifest = manifest
        self._config = config
        self._store = store

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        if descriptor.digest == self._manifest.config.digest:
            return io.BytesIO(self._config)
        return self._store.open_blob(descriptor.digest)

    def config_bytes(self) -> bytes:
        return self._config


def _present(records: Sequence[CacheRecord], store: Store) -> list[CacheRecord]:
    """Records whose layer blob is still in the store (others cannot be shared)."""
    return [r for r in records if r.layer is None or store.has_blob(r.layer.blob.digest)]


# -- exporters -------------------------------------------------------------------------------


def _prefixed(exc: DockyardError, prefix: str) -> DockyardError:
    """The same kind of error, its message prefixed with what the cache was doing."""
    try:
        return type(exc)(f"{prefix}: {exc.message}", hint=exc.hint)  # prefix names where
    except TypeError:  # an error class with its own constructor
        return BuildError(f"{prefix}: {exc}")


def _describe(spec: CacheSpec) -> str:
    if spec.type == "registry":
        return f"type=registry,ref={spec.ref}"
    if spec.type == "local":
        return f"type=local,{spec.path}"
    return f"type={spec.type}"


class RegistryCacheSink:
    """``--cache-to type=registry,ref=REF``: push the cache artifact and tag it at REF."""

    def __init__(self, spec: CacheSpec, client: RegistryClient) -> None:
        self.spec = spec
        self.ignore_error = spec.ignore_error
        self.client = client
        try:
            self.reference = Reference.parse(spec.ref).with_default_tag()
        except DockyardError as exc:
            raise UsageError(f"--cache-to {_describe(spec)}: {exc.message}") from exc

    def export(self, steps: Sequence[BuiltStep], store: Store) -> None:
        records = _present(_select(steps, self.spec.mode), store)
        manifest, config = cache_artifact(records)
        try:
            from dockyard.registry import RegistrySink

            RegistrySink(self.client, self.reference).write(ArtifactImage(manifest, config, store))
        except DockyardError as exc:
            raise _prefixed(exc, f"cache export to {self.reference}") from exc
        except OSError as exc:
            raise StoreError(f"cache export to {self.reference}: {exc}") from exc


class LayoutCacheSink:
    """``--cache-to type=local,dest=DIR``: the same artifact in an OCI layout, tag ``latest``."""

    def __init__(self, spec: CacheSpec) -> None:
        self.spec = spec
        self.ignore_error = spec.ignore_error
        self.root = Path(spec.path)

    def export(self, steps: Sequence[BuiltStep], store: Store) -> None:
        records = _present(_select(steps, self.spec.mode), store)
        manifest, config = cache_artifact(records)
        try:
            LayoutSink(self.root, LOCAL_CACHE_TAG).write(ArtifactImage(manifest, config, store))
        except DockyardError as exc:
            raise _prefixed(exc, f"cache export to {self.root}") from exc
        except OSError as exc:
            raise StoreError(f"cache export to {self.root}: {exc}") from exc


# -- importers -------------------------------------------------------------------------------


class _LazySource:
    """Records loaded once in the background; a load failure is reported once, then nothing."""

    def __init__(self, what: str, load: Callable[[], dict[str, CacheRecord]], pool: Any) -> None:
        self.what = what
        self._future: Future[dict[str, CacheRecord]] = pool.submit(load)
        self._records: dict[str, CacheRecord] | None = None
        self._failed = False
        self._lock = threading.Lock()

    def records(self) -> dict[str, CacheRecord]:
        with self._lock:
            if self._records is not None:
                return self._records
            if self._failed:
                return {}
            try:
                self._records = self._future.result()
            except DockyardError as exc:
                self._failed = True
                raise _prefixed(exc, f"cache {self.what}") from exc
            except OSError as exc:
                self._failed = True
                raise StoreError(f"cache {self.what}: {exc}") from exc
            return self._records

    def lookup(self, key: str) -> CachedStep | None:
        record = self.records().get(key)
        return record.step() if record is not None else None


def _records_of_config(raw: bytes, media_type: str, where: str) -> dict[str, CacheRecord]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{where}: the cache config is not JSON") from exc
    if media_type == CACHE_CONFIG_MEDIA_TYPE:
        return decode_records(data, where=where)
    if isinstance(data, dict) and INLINE_CACHE_KEY in data:
        return decode_records(data[INLINE_CACHE_KEY], where=f"{where} (inline)")
    raise ManifestError(
        f"{where}: neither a dockyard cache nor an image with an inline cache",
        hint="export one with --cache-to type=registry,ref=... or --cache-to type=inline",
    )


class RegistryCacheSource(_LazySource):
    """``--cache-from type=registry,ref=REF`` (a cache artifact, or an image with inline cache)."""

    def __init__(
        self, spec: CacheSpec, client: RegistryClient, platform: Platform, pool: Any
    ) -> None:
        self.client = client
        try:
            self.reference = Reference.parse(spec.ref).with_default_tag()
        except DockyardError as exc:
            raise UsageError(f"--cache-from {_describe(spec)}: {exc.message}") from exc
        self.platform = platform
        super().__init__(f"import from {self.reference}", self._load, pool)

    def _load(self) -> dict[str, CacheRecord]:
        from dockyard.registry import open_remote

        image = select_platform(open_remote(self.client, self.reference, None), self.platform)
        manifest = image.manifest
        return _records_of_config(
            image.config_bytes(), manifest.config.media_type, str(self.reference)
        )

    def fetch(self, layer: Layer, store: Store) -> None:
        try:
            with self.client.open_blob(self.reference, layer.blob) as stream:
                store.put_blob(stream, layer.blob)
            verify_diff_id(store, layer, str(self.reference))
        except OSError as exc:
            raise StoreError(f"cache import from {self.reference}: {exc}") from exc


class LayoutCacheSource(_LazySource):
    """``--cache-from type=local,src=DIR``: the cache artifact of an OCI layout directory."""

    def __init__(self, spec: CacheSpec, platform: Platform, pool: Any) -> None:
        self.root = Path(spec.path)
        self.platform = platform
        self._layout: OCILayout | None = None
        super().__init__(f"import from {self.root}", self._load, pool)

    def _load(self) -> dict[str, CacheRecord]:
        layout = OCILayout.open(self.root)
        tags = layout.tags()
        source = layout.source(LOCAL_CACHE_TAG if LOCAL_CACHE_TAG in tags else None)
        image = select_platform(source, self.platform)
        self._layout = layout
        return _records_of_config(
            image.config_bytes(), image.manifest.config.media_type, str(self.root)
        )

    def fetch(self, layer: Layer, store: Store) -> None:
        layout = self._layout or OCILayout.open(self.root)
        try:
            with layout.open_blob(layer.blob.digest) as stream:
                store.put_blob(stream, layer.blob)
            verify_diff_id(store, layer, str(self.root))
        except OSError as exc:
            raise StoreError(f"cache import from {self.root}: {exc}") from exc


_DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (*DECOMPRESSION_ERRORS, ValueError)


def verify_diff_id(store: Store, layer: Layer, where: str) -> None:
    """IntegrityError unless the blob's uncompressed bytes hash to the record's ``diff_id``.

    The blob itself was verified against its digest; this checks the record's claim about
    it, which names the layer directory and goes into the image config. A blob that fails
    stays unrooted in the store (``gc`` takes it); the step is then built.
    """
    hasher = hashlib.new(layer.diff_id.algorithm)
    try:
        with store.open_blob(layer.blob.digest) as raw, open_layer_stream(raw) as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
    except _DECOMPRESS_ERRORS as exc:
        raise IntegrityError(
            f"cache {where}: layer {layer.blob.digest} is unreadable: {exc}"
        ) from exc
    if hasher.hexdigest() != layer.diff_id.hex:
        raise IntegrityError(
            f"cache {where}: layer {layer.blob.digest} does not have the diff_id "
            f"{layer.diff_id} its record claims"
        )


# -- inline ----------------------------------------------------------------------------------


def _chain(steps: Sequence[CachedStep], final_key: str) -> list[CachedStep]:
    """The steps whose results the image with filesystem key ``final_key`` is built on."""
    by_key = {s.key: s for s in steps}
    out: list[CachedStep] = []
    key: str | None = final_key
    while key is not None and key in by_key:
        step = by_key[key]
        out.append(step)
        key = step.inputs.parent
    return out


def apply_inline_cache(
    config: ImageConfig,
    steps: Sequence[CachedStep],
    final_key: str,
    cache_to: Sequence[CacheSpec],
) -> ImageConfig:
    """The final image's config, with the inline cache records when ``type=inline`` is asked.

    An inline cache inherited from the base image is always dropped: it describes the
    base's build, not this one.
    """
    extra = {k: v for k, v in config.extra.items() if k != INLINE_CACHE_KEY}
    if any(spec.type == "inline" for spec in cache_to):
        records = [
            CacheRecord(s.key, s.inputs, s.layer, final=True) for s in _chain(steps, final_key)
        ]
        extra[INLINE_CACHE_KEY] = encode_records(records)
    if dict(config.extra) == extra:
        return config
    return config.evolve(extra=extra)


# -- wiring ----------------------------------------------------------------------------------


def _client(insecure: Sequence[str], progress: ProgressSink) -> RegistryClient:
    from dockyard.registry import RegistryClient

    return RegistryClient(
        insecure=tuple(insecure),
        retry=cache_retry(),
        progress=progress,
        timeout=60.0,
        connect_timeout=5.0,
    )


def configure(
    cache_from: Sequence[CacheSpec],
    cache_to: Sequence[CacheSpec],
    store: Store,
    *,
    platform: Platform,
    insecure: Sequence[str] = (),
    progress: ProgressSink,
) -> tuple[list[StepSource], list[StepSink]]:
    """The Builder's imported caches and exporters for ``--cache-from`` / ``--cache-to``.

    The last sink is always the local cache's housekeeping (GC roots for the layers the
    cache records, the automatic size cap, the lease against concurrent pruning); it
    also closes the registry clients made here.
    """
    from dockyard.build.cache_admin import CacheLease, Housekeeping

    lease = CacheLease.acquire(store)
    clients: list[RegistryClient] = []
    pool: ThreadPoolExecutor | None = None

    def client() -> RegistryClient:
        made = _client(insecure, progress)
        clients.append(made)
        return made

    sources: list[StepSource] = []
    sinks: list[StepSink] = []
    try:
        if cache_from:
            pool = ThreadPoolExecutor(
                max_workers=min(len(cache_from), 4), thread_name_prefix="cache-import"
            )
        for spec in cache_from:
            assert pool is not None
            if spec.type == "registry":
                sources.append(RegistryCacheSource(spec, client(), platform, pool))
            elif spec.type == "local":
                sources.append(LayoutCacheSource(spec, platform, pool))
            else:
                raise UsageError(
                    "--cache-from type=inline is not a source",
                    hint="use --cache-from type=registry,ref=IMAGE to read an image's inline cache",
                )
        for spec in cache_to:
            if spec.type == "registry":
                sinks.append(RegistryCacheSink(spec, client()))
            elif spec.type == "local":
                sinks.append(LayoutCacheSink(spec))
            # type=inline is written into the image config by apply_inline_cache
    except BaseException:
        for made in clients:
            made.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        lease.release()
        raise

    def close() -> None:
        if pool is not None:
            pool.shutdown(wait=True)
        for made in clients:
            made.close()

    housekeeping = Housekeeping(lease, close)
    sinks.append(housekeeping)
    # a build that fails never reaches the sinks: close when the Builder lets go of them
    weakref.finalize(housekeeping, _close_quietly, clients, pool)
    return sources, sinks


def _close_quietly(clients: list[RegistryClient], pool: ThreadPoolExecutor | None) -> None:
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
    for made in clients:
        with contextlib.suppress(Exception):
            made.close()
