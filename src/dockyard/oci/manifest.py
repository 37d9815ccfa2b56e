"""Image manifests and indexes (OCI and Docker v2 schema 2), parsed beside their raw bytes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import ManifestError, NotFoundError
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor, frozen_map
from dockyard.oci.digest import Digest
from dockyard.oci.platform import Platform

__all__ = ["Index", "Manifest", "canonical_json", "parse_manifest"]


def canonical_json(value: Any) -> bytes:
    """Compact JSON as Go's encoder writes it (keys in the order given, no spaces)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _load(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        snippet = raw[:60].decode("utf-8", "replace").strip()
        hint = (
            "the server answered HTML, not a manifest" if snippet.lower().startswith("<") else None
        )
        raise ManifestError(f"{what} is not valid JSON: {snippet!r}", hint=hint) from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{what} is not a JSON object")
    if data.get("schemaVersion") != 2:
        hint = (
            "Docker schema 1 images are not supported; re-push with a current client"
            if data.get("schemaVersion") == 1
            else None
        )
        raise ManifestError(
            f"{what} has schemaVersion {data.get('schemaVersion')!r}, want 2", hint=hint
        )
    return data


def _media_type(data: dict[str, Any], given: str | None, what: str) -> str:
    declared = data.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestError(f"{what} has a malformed mediaType")
    if given and declared and given != declared:
        raise ManifestError(f"{what} declares mediaType {declared!r} but was served as {given!r}")
    return str(declared or given or "")


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest; ``raw`` is the exact bytes its digest is computed over."""

    raw: bytes = field(repr=False)
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    subject: Descriptor | None = None
    artifact_type: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", frozen_map(self.annotations))

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    def descriptor(
        self, *, platform: Platform | None = None, annotations: Mapping[str, str] | None = None
    ) -> Descriptor:
        """A descriptor pointing at this manifest."""
        return Descriptor(self.media_type, self.digest, len(self.raw), annotations or {}, platform)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Manifest:
        """Parse manifest bytes; ``media_type`` is what the server or index said, if anything."""
        data = _load(raw, "manifest")
        kind = _media_type(data, media_type, "manifest")
        if "manifests" in data and "layers" not in data:
            raise ManifestError(
                "expected an image manifest but got an index", hint="select a platform"
            )
        if kind and kind not in mt.MANIFEST_TYPES:
            raise ManifestError(f"unsupported manifest media type {kind!r}")
        kind = kind or mt.OCI_MANIFEST
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ManifestError("manifest has no layers list")
        subject = data.get("subject")
        return cls(
            raw=raw,
            media_type=kind,
            config=Descriptor.from_dict(data.get("config"), where="manifest config"),
            layers=tuple(
                Descriptor.from_dict(d, where=f"manifest layer {i}") for i, d in enumerate(layers)
            ),
            annotations=data.get("annotations") or {},
            subject=Descriptor.from_dict(subject, where="manifest subject") if subject else None,
            artifact_type=data.get("artifactType"),
        )

    @classmethod
    def build(
        cls,
        config: Descriptor,
        layers: Sequence[Descriptor],
        *,
        media_type: str = mt.OCI_MANIFEST,
        annotations: Mapping[str, str] | None = None,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
    ) -> Manifest:
        """Serialize a new manifest (deterministically) and return it with its raw bytes."""
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
        if artifact_type:
            doc["artifactType"] = artifact_type
        doc["config"] = config.to_dict()
        doc["layers"] = [layer.to_dict() for layer in layers]
        if subject is not None:
            doc["subject"] = subject.to_dict()
        if annotations:
            doc["annotations"] = dict(annotations)
        return cls.parse(canonical_json(doc), media_type)


@dataclass(frozen=True, slots=True)
class Index:
    """An image index (OCI) or manifest list (Docker), beside its raw bytes."""

    raw: bytes = field(repr=False)
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", frozen_map(self.annotations))

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    def descriptor(self, *, annotations: Mapping[str, str] | None = None) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw), annotations or {})

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Index:
        data = _load(raw, "index")
        kind = _media_type(data, media_type, "index")
        if kind and kind not in mt.INDEX_TYPES:
            raise ManifestError(f"unsupported index media type {kind!r}")
        manifests = data.get("manifests")
        if not isinstance(manifests, list):
            raise ManifestError("index has no manifests list")
        return cls(
            raw=raw,
            media_type=kind or mt.OCI_INDEX,
            manifests=tuple(
                Descriptor.from_dict(d, where=f"index entry {i}") for i, d in enumerate(manifests)
            ),
            annotations=data.get("annotations") or {},
        )

    @classmethod
    def build(
        cls,
        manifests: Sequence[Descriptor],
        *,
        media_type: str = mt.OCI_INDEX,
        annotations: Mapping[str, str] | None = None,
    ) -> Index:
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
        doc["manifests"] = [m.to_dict() for m in manifests]
        if annotations:
            doc["annotations"] = dict(annotations)
        return cls.parse(canonical_json(doc), media_type)

    def select(self, platform: Platform) -> Descriptor:
        """The entry for ``platform``; NotFoundError naming the platforms that exist."""
        for desc in self.manifests:
            if desc.platform is not None and platform.matches(desc.platform):
                return desc
        have = ", ".join(str(d.platform) for d in self.manifests if d.platform) or "none"
        raise NotFoundError(f"no image for platform {platform} in the index (has: {have})")


def parse_manifest(raw: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse either kind, deciding by the declared or served media type, else by shape."""
    data = _load(raw, "manifest")
    kind = data.get("mediaType") or media_type or ""
    if kind in mt.INDEX_TYPES or (not kind and "manifests" in data):
        return Index.parse(raw, media_type if media_type in mt.INDEX_TYPES else None)
    if kind in mt.MANIFEST_TYPES or (not kind and "layers" in data):
        return Manifest.parse(raw, media_type if media_type in mt.MANIFEST_TYPES else None)
    raise ManifestError(f"unsupported manifest media type {kind!r}")
