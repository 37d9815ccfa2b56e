"""The image configuration (runtime defaults, rootfs diff IDs, history), beside its raw bytes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from dockyard.errors import InvalidDigestError, ManifestError
from dockyard.oci.descriptor import frozen_map
from dockyard.oci.digest import Digest
from dockyard.oci.platform import Platform

__all__ = ["ContainerConfig", "HistoryEntry", "ImageConfig"]


def _strings(value: Any, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"image config {what} is not a list of strings")
    return tuple(value)


def _keys(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ManifestError(f"image config {what} is not an object")
    return tuple(sorted(value))


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """The ``config`` object: what a container of this image runs by default.

    ``cmd``/``entrypoint``/``shell`` are None when unset (distinct from an empty list).
    """

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    stop_signal: str = ""
    healthcheck: Mapping[str, Any] | None = field(default=None, hash=False)
    shell: tuple[str, ...] | None = None
    on_build: tuple[str, ...] = ()
    args_escaped: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)  # keys we do not model

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", frozen_map(self.labels))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def env_map(self) -> dict[str, str]:
        """ENV as an ordered mapping (later entries win)."""
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ContainerConfig:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ManifestError("image config 'config' is not an object")
        known = {
            "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir",
            "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild", "ArgsEscaped",
        }  # fmt: skip
        labels = data.get("Labels") or {}
        if not isinstance(labels, dict):
            raise ManifestError("image config Labels is not an object")
        return cls(
            user=str(data.get("User") or ""),
            exposed_ports=_keys(data.get("ExposedPorts"), "ExposedPorts"),
            env=_strings(data.get("Env"), "Env") or (),
            entrypoint=_strings(data.get("Entrypoint"), "Entrypoint"),
            cmd=_strings(data.get("Cmd"), "Cmd"),
            volumes=_keys(data.get("Volumes"), "Volumes"),
            working_dir=str(data.get("WorkingDir") or ""),
            labels={str(k): str(v) for k, v in labels.items()},
            stop_signal=str(data.get("StopSignal") or ""),
            healthcheck=data.get("Healthcheck"),
            shell=_strings(data.get("Shell"), "Shell"),
            on_build=_strings(data.get("OnBuild"), "OnBuild") or (),
            args_escaped=bool(data.get("ArgsEscaped", False)),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``config`` object with empty fields left out, in moby's field order."""
        out: dict[str, Any] = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.healthcheck is not None:
            out["Healthcheck"] = dict(self.healthcheck)
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        if self.shell is not None:
            out["Shell"] = list(self.shell)
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One entry of the image history (one per instruction, layer or not)."""

    created: str = ""
    created_by: str = ""
    comment: str = ""
    author: str = ""
    empty_layer: bool = False

    @classmethod
    def from_dict(cls, data: Any) -> HistoryEntry:
        if not isinstance(data, dict):
            raise ManifestError("image config history entry is not an object")
        return cls(
            created=str(data.get("created") or ""),
            created_by=str(data.get("created_by") or ""),
            comment=str(data.get("comment") or ""),
            author=str(data.get("author") or ""),
            empty_layer=bool(data.get("empty_layer", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.created_by:
            out["created_by"] = self.created_by
        if self.author:
            out["author"] = self.author
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """An image configuration. ``raw`` is kept when parsed; ``to_json()`` serializes anew."""

    architecture: str = ""
    os: str = "linux"
    variant: str = ""
    os_version: str = ""
    created: str = ""
    author: str = ""
    config: ContainerConfig = field(default_factory=ContainerConfig)
    diff_ids: tuple[Digest, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    raw: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def evolve(self, **changes: Any) -> ImageConfig:
        """A changed copy; drops ``raw`` so the copy serializes its new fields.

        Use this rather than ``dataclasses.replace``, which would keep the stale raw bytes.
        """
        return replace(self, raw=None, **changes)

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant, self.os_version)

    @classmethod
    def parse(cls, raw: bytes) -> ImageConfig:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError("image config is not valid JSON") from exc
        if not isinstance(data, dict):
            raise ManifestError("image config is not a JSON object")
        rootfs = data.get("rootfs") or {}
        if not isinstance(rootfs, dict):
            raise ManifestError("image config rootfs is not an object")
        try:
            diff_ids = tuple(Digest.parse(d) for d in rootfs.get("diff_ids") or ())
        except (InvalidDigestError, AttributeError) as exc:
            raise ManifestError("image config has a malformed rootfs.diff_ids entry") from exc
        history = data.get("history") or []
        if not isinstance(history, list):
            raise ManifestError("image config history is not a list")
        known = {
            "architecture",
            "os",
            "variant",
            "os.version",
            "created",
            "author",
            "config",
            "rootfs",
            "history",
        }
        return cls(
            architecture=str(data.get("architecture") or ""),
            os=str(data.get("os") or ""),
            variant=str(data.get("variant") or ""),
            os_version=str(data.get("os.version") or ""),
            created=str(data.get("created") or ""),
            author=str(data.get("author") or ""),
            config=ContainerConfig.from_dict(data.get("config")),
            diff_ids=diff_ids,
            history=tuple(HistoryEntry.from_dict(h) for h in history),
            extra={k: v for k, v in data.items() if k not in known},
            raw=raw,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        out["architecture"] = self.architecture
        if self.variant:
            out["variant"] = self.variant
        out["os"] = self.os
        if self.os_version:
            out["os.version"] = self.os_version
        out["config"] = self.config.to_dict()
        out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}
        if self.history:
            out["history"] = [h.to_dict() for h in self.history]
        out.update(self.extra)
        return out

    def to_json(self) -> bytes:
        """The raw bytes if this config was parsed and not changed, else a fresh serialization."""
        if self.raw is not None:
            return self.raw
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def digest(self) -> Digest:
        return Digest.of(self.to_json())
