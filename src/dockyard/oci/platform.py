"""Platforms (``linux/amd64``, ``linux/arm64/v8``): parsing, normalization, matching."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InputError

__all__ = ["Platform"]

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}


@dataclass(frozen=True, slots=True)
class Platform:
    """An image platform as in the OCI image index."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` as ``--platform`` takes it, normalizing arch aliases."""
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(
                f"invalid platform {text!r}", hint="use OS/ARCH[/VARIANT], e.g. linux/amd64"
            )
        os_, arch = parts[0], _ARCH_ALIASES.get(parts[1], parts[1])
        variant = parts[2] if len(parts) == 3 else ""
        if arch == "arm64" and variant == "v8":
            variant = ""  # containerd's normalization: arm64 is v8 unless stated otherwise
        return cls(os_, arch, variant)

    @classmethod
    def host(cls) -> Platform:
        """The platform of the machine we run on."""
        machine = os.uname().machine.lower()
        return cls("linux", _ARCH_ALIASES.get(machine, machine))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Platform:
        return cls(
            os=str(data.get("os", "")),
            architecture=str(data.get("architecture", "")),
            variant=str(data.get("variant", "")),
            os_version=str(data.get("os.version", "")),
            os_features=tuple(data.get("os.features", ()) or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def matches(self, other: Platform) -> bool:
        """Whether an image for ``other`` runs on ``self`` (variant only compared when both set)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        return not (self.variant and other.variant and self.variant != other.variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)
