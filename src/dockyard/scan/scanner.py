"""Scan orchestration: open a target, catalog it, match it, and check database freshness."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dockyard.errors import InputError, NotImplementedYetError
from dockyard.progress import NULL_SINK, ProgressSink
from dockyard.scan.catalog import Catalog, catalog
from dockyard.scan.db import SourceInfo, VulnDB
from dockyard.scan.fs import DirectoryFS, FileSystem
from dockyard.scan.match import MatchResult, match

__all__ = ["ScanResult", "open_target", "parse_duration", "scan_filesystem", "stale_warnings"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw]?)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 86400}


def parse_duration(text: str) -> timedelta:
    """``5d``, ``120h``, ``2w``, ``30m`` (a bare number is days); InputError otherwise."""
    match_ = _DURATION.match(text.strip().lower())
    if match_ is None:
        raise InputError(f"bad duration {text!r}", hint="write e.g. 5d, 120h, 2w")
    return timedelta(seconds=float(match_.group(1)) * _UNITS[match_.group(2)])


def open_target(target: str) -> FileSystem:
    """The filesystem view of a scan target: a root filesystem directory, for now."""
    path = Path(target)
    if path.is_dir():
        return DirectoryFS(path)
    if path.exists():
        raise InputError(
            "not a root filesystem directory", location=target, hint="pass an unpacked rootfs"
        )
    raise NotImplementedYetError(
        f"scanning image {target!r} is not implemented yet",
        hint="scan an unpacked root filesystem directory (like `trivy rootfs DIR`) meanwhile",
    )


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
    found = catalog(fs, sink=sink)
    return ScanResult(target, found, match(found, db))
