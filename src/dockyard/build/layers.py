"""Layers the builder works with: extracted layer directories and the step cache records."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.build.keys import KeyInputs
from dockyard.build.snapshot import extract_layer
from dockyard.errors import InvalidDigestError, ManifestError, StoreError
from dockyard.image import Image
from dockyard.oci import Descriptor, Digest
from dockyard.store.store import Store

__all__ = ["CachedStep", "Layer", "LayerCache"]


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of a stage: its blob in the store and its uncompressed digest."""

    diff_id: Digest
    blob: Descriptor
    created: str = ""  # RFC 3339, when the step that made it first ran
    created_by: str = ""


@dataclass(frozen=True, slots=True)
class CachedStep:
    """What a finished step left behind, found by its cache key."""

    key: str
    inputs: KeyInputs
    layer: Layer | None  # None: the step changed nothing on disk


class LayerCache:
    """Layer directories (``layers/<diff_id hex>``) and step records (``cache/steps``).

    A layer directory is a layer's tree in overlayfs format, extracted once and shared
    by every build on the machine; it appears by rename, so readers never see half of
    one. Step records map a cache key to the layer it produced and the inputs it had
    (kept for ``--explain-cache``).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.home = store.home
        self.layers_dir = self.home / "layers"
        self.steps_dir = self.home / "cache" / "steps"
        self.explain_dir = self.home / "cache" / "last"
        for path in (self.layers_dir, self.steps_dir, self.explain_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._origins: dict[Digest, Image] = {}  # blob digest -> image it can be read from
        self._guard = threading.Lock()

    # -- layer directories -----------------------------------------------------------------
    def layer_dir(self, diff_id: Digest) -> Path:
        return self.layers_dir / diff_id.hex

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def add_origin(self, blob: Digest, image: Image) -> None:
        """Say where a blob not (yet) in the store can be read (a base image's source)."""
        with self._guard:
            self._origins.setdefault(blob, image)

    def ensure_in_store(self, layer: Layer) -> None:
        """Copy a base layer's blob into the store (verified) if it is not there yet."""
        if self.store.has_blob(layer.blob.digest):
            return
        origin = self._origins.get(layer.blob.digest)
        if origin is None:
            raise StoreError(f"layer {layer.blob.digest} is neither in the store nor in its image")
        with self.store.writing(), origin.open_blob(layer.blob) as stream:
            self.store.put_blob(stream, layer.blob)

    def ensure_extracted(self, layer: Layer, source: Image | None = None) -> Path:
        """The layer's directory, extracting its blob (from the store or its image) if needed."""
        target = self.layer_dir(layer.diff_id)
        if target.is_dir():
            return target
        with self._lock(layer.diff_id.hex):
            if target.is_dir():
                return target
            tmp = self.layers_dir / f".tmp-{os.urandom(6).hex()}"
            try:
                source = source or self._origins.get(layer.blob.digest)
                if self.store.has_blob(layer.blob.digest):
                    stream = self.store.open_blob(layer.blob.digest)
                elif source is not None:
                    stream = source.open_blob(layer.blob)
                else:
                    raise StoreError(
                        f"layer {layer.blob.digest} is neither in the store nor in its image"
                    )
                with stream:
                    extract_layer(stream, tmp)
                try:
                    tmp.rename(target)
                except OSError:
                    if not target.is_dir():
                        raise
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        return target

    def ensure_all_extracted(self, layers: Sequence[Layer]) -> list[Path]:
        """The directories of ``layers``, in order, extracting the missing ones side by side.

        Extraction is mostly system time creating files, which runs outside the GIL, so
        the layers of a base image unpack in parallel (up to one thread per CPU).
        """
        missing = [layer for layer in layers if not self.layer_dir(layer.diff_id).is_dir()]
        workers = min(len(missing), os.cpu_count() or 1)
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="extract") as pool:
                for _ in pool.map(self.ensure_extracted, missing):
                    pass
        return [self.ensure_extracted(layer) for layer in layers]

    def remember_size(self, diff_id: Digest, size: int) -> None:
        """Note a new layer directory's size (its tar's), so cache upkeep need not walk it."""
        with contextlib.suppress(OSError):
            sizes = self.layers_dir / ".sizes"
            sizes.mkdir(exist_ok=True)
            (sizes / diff_id.hex).write_text(str(size))

    # -- step records ----------------------------------------------------------------------
    def _record_path(self, key: str) -> Path:
        return self.steps_dir / key.partition(":")[2]

    def lookup(self, key: str) -> CachedStep | None:
        """The record of a step with this key, if its layer blob is still in the store."""
        try:
            data = json.loads(self._record_path(key).read_bytes())
            inputs = KeyInputs.from_dict(data["inputs"])
            layer = _layer_from(data.get("layer"))
        except (OSError, ValueError, KeyError, TypeError, ManifestError, InvalidDigestError):
            return None
        if layer is not None and not self.store.has_blob(layer.blob.digest):
            return None
        with contextlib.suppress(OSError):
            os.utime(self._record_path(key))  # last use, for pruning
        return CachedStep(key, inputs, layer)

    def record(self, inputs: KeyInputs, layer: Layer | None) -> CachedStep:
        key = inputs.key
        data: dict[str, Any] = {
            "inputs": inputs.to_dict(),
            "layer": _layer_to(layer),
            "recorded": time.time(),
        }
        _atomic_json(self._record_path(key), data)
        return CachedStep(key, inputs, layer)

    def remember(
        self, identity: str, inputs: KeyInputs, files: dict[str, str] | None = None
    ) -> tuple[KeyInputs | None, dict[str, str]]:
        """Store what the step at ``identity`` had this time; return what it had last time.

        ``files`` (path -> content identity) never enters the key: it only lets
        ``--explain-cache`` name the files that changed.
        """
        path = self.explain_dir / Digest.of(identity.encode()).hex
        previous, previous_files = None, {}
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(path.read_bytes())
            previous = KeyInputs.from_dict(data["inputs"])
            previous_files = {str(k): str(v) for k, v in data.get("files", {}).items()}
        if previous != inputs:
            _atomic_json(path, {"inputs": inputs.to_dict(), "files": files or {}})
        return previous, previous_files


def _layer_to(layer: Layer | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    return {
        "diff_id": str(layer.diff_id),
        "blob": layer.blob.to_dict(),
        "created": layer.created,
        "created_by": layer.created_by,
    }


def _layer_from(data: Any) -> Layer | None:
    if data is None:
        return None
    return Layer(
        diff_id=Digest.parse(data["diff_id"]),
        blob=Descriptor.from_dict(data["blob"]),
        created=str(data.get("created", "")),
        created_by=str(data.get("created_by", "")),
    )


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}")
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(path)
