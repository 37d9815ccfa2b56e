"""Content descriptors: media type, digest and size of a blob, with optional platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dockyard.errors import InvalidDigestError, ManifestError
from dockyard.oci.digest import Digest
from dockyard.oci.platform import Platform

__all__ = ["Descriptor", "frozen_map"]


def frozen_map(data: Mapping[str, str] | None) -> Mapping[str, str]:
    """A read-only copy of ``data`` (for annotation and label fields of frozen values)."""
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ManifestError(f"descriptor {self.digest} has a negative size {self.size}")
        object.__setattr__(self, "annotations", frozen_map(self.annotations))

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "descriptor") -> Descriptor:
        """Parse a descriptor object from a manifest or index; raise ManifestError if malformed."""
        if not isinstance(data, dict):
            raise ManifestError(f"{where} is not a JSON object")
        try:
            media_type = data.get("mediaType", "")
            digest = Digest.parse(data["digest"])
            size = data["size"]
        except KeyError as exc:
            raise ManifestError(f"{where} has no {exc.args[0]!r} field") from exc
        except InvalidDigestError as exc:
            raise ManifestError(f"{where}: {exc.message}") from exc
        if not isinstance(media_type, str) or not isinstance(size, int) or isinstance(size, bool):
            raise ManifestError(f"{where} has a malformed mediaType or size")
        annotations = data.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise ManifestError(f"{where} has malformed annotations")
        platform = data.get("platform")
        if platform is not None and not isinstance(platform, dict):
            raise ManifestError(f"{where} has a malformed platform")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations=annotations,
            platform=Platform.from_dict(platform) if platform else None,
            urls=tuple(data.get("urls") or ()),
            artifact_type=data.get("artifactType"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, fields in the order Go's encoder writes them."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    def with_annotations(self, annotations: Mapping[str, str]) -> Descriptor:
        return Descriptor(
            self.media_type,
            self.digest,
            self.size,
            {**self.annotations, **annotations},
            self.platform,
            self.urls,
            self.artifact_type,
        )
