"""The values analyze consumes (layer entries) and produces (the report and its JSON form)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "DuplicateGroup",
    "Entry",
    "EntryKind",
    "Finding",
    "LayerInfo",
    "LayerReport",
    "PathCost",
    "Report",
    "SizedPath",
]

SCHEMA_VERSION = 1
"""Version of the JSON report; bumped only when a field changes meaning or disappears."""


class EntryKind(Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"  # devices, fifos


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar entry of a layer, as the analyzer sees it.

    ``path`` is cleaned and relative (``usr/bin/env``), whiteout names included as they
    are (``etc/.wh.passwd``, ``var/cache/.wh..wh..opq``). ``size`` is the header size;
    ``digest`` is the sha256 of the contents when the reader hashed them.
    """

    path: str
    kind: EntryKind
    size: int = 0
    digest: str | None = None
    link: str = ""


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """What is known about a layer before reading it."""

    index: int
    digest: str = ""
    diff_id: str = ""
    media_type: str = ""
    compressed_size: int = 0
    instruction: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class LayerReport:
    """One layer: where it came from, its sizes and what it did to the filesystem.

    ``content_size`` is the sum of the entry sizes (dive's layer size); ``size`` the
    uncompressed tar stream. ``files_*`` count non-directory entries; a deleted directory
    counts the files under it. ``wasted_bytes`` are bytes of this layer's files that a
    later layer overwrites or deletes.
    """

    index: int
    digest: str
    diff_id: str
    media_type: str
    instruction: str
    comment: str
    compressed_size: int
    size: int
    content_size: int
    files_added: int
    files_changed: int
    files_removed: int
    added_bytes: int
    changed_bytes: int
    removed_bytes: int
    wasted_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "digest": self.digest,
            "diffId": self.diff_id,
            "mediaType": self.media_type,
            "instruction": self.instruction,
            "comment": self.comment,
            "compressedSize": self.compressed_size,
            "size": self.size,
            "contentSize": self.content_size,
            "filesAdded": self.files_added,
            "filesChanged": self.files_changed,
            "filesRemoved": self.files_removed,
            "addedBytes": self.added_bytes,
            "changedBytes": self.changed_bytes,
            "removedBytes": self.removed_bytes,
            "wastedBytes": self.wasted_bytes,
        }


@dataclass(frozen=True, slots=True)
class PathCost:
    """A path stored more than once across layers (dive's "file reference")."""

    path: str
    count: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "count": self.count, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class SizedPath:
    """A path of the final filesystem with its size and the layer that last wrote it."""

    path: str
    bytes: int
    layer: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "layer": self.layer}


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Identical files (same sha256) in the final filesystem; all copies but one are waste."""

    digest: str
    size: int
    count: int
    paths: tuple[str, ...]  # the first few, sorted

    @property
    def wasted_bytes(self) -> int:
        return self.size * (self.count - 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "size": self.size,
            "count": self.count,
            "wastedBytes": self.wasted_bytes,
            "paths": list(self.paths),
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """Content a runtime image rarely needs (a cache, a toolchain, docs) and what removing it saves."""

    id: str
    category: str  # "cache" | "toolchain" | "docs"
    title: str
    bytes: int
    paths: tuple[SizedPath, ...]
    layers: tuple[int, ...]
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "title": self.title,
            "bytes": self.bytes,
            "layers": list(self.layers),
            "paths": [p.to_dict() for p in self.paths],
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Everything ``dockyard analyze`` found about one image.

    ``size_bytes``, ``wasted_bytes``, ``efficiency`` and ``inefficiencies`` are defined
    exactly as dive defines sizeBytes, inefficientBytes, efficiencyScore and its file
    references. ``overwritten_bytes``, ``deleted_bytes`` and ``duplicate_bytes`` are the
    precise bytes (opaque directories honoured) that a better build would not store;
    ``reclaimable_bytes`` is their sum.
    """

    image: str
    digest: str
    platform: str
    layers: tuple[LayerReport, ...]
    size_bytes: int
    compressed_size: int
    uncompressed_size: int
    final_size: int
    final_files: int
    efficiency: float
    wasted_bytes: int
    user_wasted_percent: float
    inefficiencies: tuple[PathCost, ...]
    overwritten_bytes: int
    deleted_bytes: int
    duplicate_bytes: int
    wasted_paths: tuple[SizedPath, ...]
    duplicates: tuple[DuplicateGroup, ...]
    largest_files: tuple[SizedPath, ...]
    largest_dirs: tuple[SizedPath, ...]
    findings: tuple[Finding, ...]

    @property
    def reclaimable_bytes(self) -> int:
        return self.overwritten_bytes + self.deleted_bytes + self.duplicate_bytes

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (schema documented in docs/analyze.md)."""
        return {
            "schemaVersion": SCHEMA_VERSION,
            "image": self.image,
            "digest": self.digest,
            "platform": self.platform,
            "sizeBytes": self.size_bytes,
            "compressedSize": self.compressed_size,
            "uncompressedSize": self.uncompressed_size,
            "finalSize": self.final_size,
            "finalFiles": self.final_files,
            "efficiency": self.efficiency,
            "wastedBytes": self.wasted_bytes,
            "userWastedPercent": self.user_wasted_percent,
            "inefficiencies": [c.to_dict() for c in self.inefficiencies],
            "reclaimable": {
                "bytes": self.reclaimable_bytes,
                "overwrittenBytes": self.overwritten_bytes,
                "deletedBytes": self.deleted_bytes,
                "duplicateBytes": self.duplicate_bytes,
                "paths": [p.to_dict() for p in self.wasted_paths],
                "duplicates": [d.to_dict() for d in self.duplicates],
            },
            "layers": [layer.to_dict() for layer in self.layers],
            "largestFiles": [p.to_dict() for p in self.largest_files],
            "largestDirs": [p.to_dict() for p in self.largest_dirs],
            "findings": [f.to_dict() for f in self.findings],
        }
