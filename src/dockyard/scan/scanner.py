"""Scan orchestration: open a target, catalog it, match it, and check database freshness."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dockyard.errors import InputError
from dockyard.image.content import select_platform
from dockyard.oci import Platform
from dockyard.progress import NULL_SINK, ProgressSink
from dockyard.scan.catalog import (
    APK,
    DEB,
    Catalog,
    Package,
    catalog,
    parse_apk_installed,
    parse_dpkg_status,
)
from dockyard.scan.db import SourceInfo, VulnDB
from dockyard.scan.fs import DirectoryFS, FileSystem
from dockyard.scan.imagefs import ImageFS, LayerRef
from dockyard.scan.match import MatchResult, match
from dockyard.transport import ImageName, TransportOptions, open_source

__all__ = [
    "ImageInfo",
    "ScanResult",
    "ScanTarget",
    "attribute_layers",
    "open_target",
    "parse_duration",
    "scan_filesystem",
    "stale_warnings",
]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw]?)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 86400}


def parse_duration(text: str) -> timedelta:
    """``5d``, ``120h``, ``2w``, ``30m`` (a bare number is days); InputError otherwise."""
    match_ = _DURATION.match(text.strip().lower())
    if match_ is None:
        raise InputError(f"bad duration {text!r}", hint="write e.g. 5d, 120h, 2w")
    return timedelta(seconds=float(match_.group(1)) * _UNITS[match_.group(2)])


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What a report says about a scanned image (trivy's ``Metadata``)."""

    manifest_digest: str
    config_digest: str
    layers: tuple[LayerRef, ...]
    os: str
    architecture: str
    repo_digests: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class ScanTarget:
    """An opened scan target: its name, its filesystem view, and the image if it is one."""

    name: str
    fs: FileSystem
    image: ImageInfo | None = None

    @property
    def artifact_type(self) -> str:
        return "container_image" if self.image is not None else "filesystem"


_IMAGE_PREFIXES = ("oci:", "oci-archive:", "docker-archive:", "docker://")


@contextmanager
def open_target(
    target: str,
    *,
    platform: Platform | None = None,
    options: TransportOptions | None = None,
    sink: ProgressSink = NULL_SINK,
) -> Iterator[ScanTarget]:
    """Open what ``target`` names, for as long as the ``with`` block runs.

    A directory is a root filesystem (``trivy rootfs``), unless it is an OCI layout; any
    other name is an image as the transports resolve it (``oci:DIR[:TAG]``,
    ``oci-archive:FILE``, ``docker-archive:FILE``, ``docker://REF``, or a reference: the
    local store, then its registry). An image is read once into an ImageFS.
    """
    path = Path(target)
    if not target.startswith(_IMAGE_PREFIXES):
        if path.is_dir() and not (path / "oci-layout").is_file():
            yield ScanTarget(target, DirectoryFS(path))
            return
        if path.is_dir():
            target_name = ImageName.parse(f"oci:{target}")
        elif path.exists():
            raise InputError(
                "not a root filesystem directory or an image name",
                location=target,
                hint=f"for an image tarball use docker-archive:{target} or oci-archive:{target}",
            )
        else:
            target_name = ImageName.parse(target)
    else:
        target_name = ImageName.parse(target)
    own = options is None
    opts = options or TransportOptions(progress=sink)
    try:
        source = open_source(target_name, platform=platform, options=opts)
        image = select_platform(source, platform)
        with ImageFS(image, sink=sink, name=target) as fs:
            config = fs.config
            reference = target_name.reference
            repo_digests = (f"{reference.name}@{source.digest}",) if reference is not None else ()
            raw_config: dict[str, Any] = {}
            if config.raw is not None:
                loaded = json.loads(config.raw)
                raw_config = loaded if isinstance(loaded, dict) else {}
            info = ImageInfo(
                manifest_digest=str(image.digest),
                config_digest=str(image.manifest.config.digest),
                layers=fs.layers,
                os=config.os,
                architecture=config.architecture,
                repo_digests=repo_digests,
                config=raw_config,
            )
            yield ScanTarget(target, fs, info)
    finally:
        if own:
            opts.close()


def attribute_layers(found: Catalog, fs: FileSystem) -> Catalog:
    """Record for each package the image layer that introduced it (trivy's ``Layer``).

    A package of a dpkg/apk database is attributed to the lowest layer from which on every
    version of the database lists it with the same version (so a later layer rewriting the
    database for other packages does not claim it); any other package to the layer that
    wrote the file proving it. Filesystems that are not images are returned unchanged.
    """
    if not isinstance(fs, ImageFS):
        return found
    parsed: dict[str, list[tuple[LayerRef, set[tuple[str, str]]]]] = {}
    packages: list[Package] = []
    for package in found.packages:
        path = package.location.split("!", 1)[0]
        layer = fs.layer_of(path)
        if package.type in (DEB, APK):
            if path not in parsed:
                parse = parse_dpkg_status if package.type == DEB else parse_apk_installed
                parsed[path] = [
                    (
                        ref,
                        {(p.name, p.version) for p in parse(data.decode("utf-8", "replace"), path)},
                    )
                    for ref, data in fs.history(path)
                ]
            key = (package.name, package.version)
            for ref, present in reversed(parsed[path]):
                if key not in present:
                    break
                layer = ref
        if layer is not None:
            package = dataclasses.replace(
                package, layer_digest=layer.digest, layer_diff_id=layer.diff_id
            )
        packages.append(package)
    return dataclasses.replace(found, packages=tuple(packages))


def stale_warnings(
    sources: list[SourceInfo], max_age: timedelta, now: datetime | None = None
) -> list[str]:
    """One loud line per source older than ``max_age`` or of unknown build time."""
    moment = now or datetime.now(UTC)
    lines = []
    if not sources:
        return ["the vulnerability database holds no sources: nothing can be found"]
    for source in sources:
        age = source.age(moment)
        if age is None:
            lines.append(
                f"vulnerability source {source.name} has no recorded build time; treat it as "
                "stale (re-import with --built-at DATE if you know it)"
            )
        elif age > max_age:
            built = source.built.date().isoformat() if source.built else "?"
            lines.append(
                f"vulnerability source {source.name} is {age.days} days old (built {built}, "
                f"allowed {_human(max_age)}): recent vulnerabilities will be MISSED; "
                "update it with `dockyard db import`"
            )
    return lines


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """A catalog and what matched in it."""

    target: str
    catalog: Catalog
    matches: MatchResult


def scan_filesystem(
    target: str, fs: FileSystem, db: VulnDB, *, sink: ProgressSink = NULL_SINK
) -> ScanResult:
    """Catalog ``fs`` and match every package against ``db``."""
    found = attribute_layers(catalog(fs, sink=sink), fs)
    return ScanResult(target, found, match(found, db))
