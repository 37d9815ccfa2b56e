"""OSV records as values, and deciding whether an installed version is in an affected range."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

from dockyard.errors import InputError, InvalidVersionError
from dockyard.scan.cvss import cvss3_base_score, cvss4_score, normalize_severity, rating
from dockyard.scan.versions import VersionScheme

__all__ = [
    "Advisory",
    "Affected",
    "Range",
    "Verdict",
    "evaluate",
    "normalize_package_name",
    "parse_osv",
]


@dataclass(frozen=True, slots=True)
class Range:
    """One OSV range: its type (ECOSYSTEM, SEMVER, GIT) and (kind, version) events in order."""

    type: str
    events: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Affected:
    """The versions of one package in one ecosystem that an advisory affects."""

    ecosystem: str
    package: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    status: str = ""  # "unfixed", "end-of-life" for distro data without a fix


@dataclass(frozen=True, slots=True)
class Advisory:
    """An advisory as stored: identity, aliases, text and severity, and what it affects."""

    id: str
    source: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    severity: str = "UNKNOWN"
    cvss_score: float | None = None
    cvss_vector: str | None = None
    published: str | None = None
    modified: str | None = None
    withdrawn: str | None = None
    references: tuple[str, ...] = ()
    affected: tuple[Affected, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether one installed version is affected, and the first fixed version above it."""

    affected: bool
    fixed_version: str | None = None


_PEP503 = re.compile(r"[-_.]+")


def normalize_package_name(ecosystem: str, name: str) -> str:
    """The name a package is looked up by: PEP 503 for PyPI, lower case for distros."""
    base = ecosystem.split(":", 1)[0].lower()
    if base == "pypi":
        return _PEP503.sub("-", name).lower()
    if base in ("debian", "ubuntu", "alpine"):
        return name.lower()
    return name


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _severity(data: Mapping[str, Any]) -> tuple[str, float | None, str | None]:
    vectors = data.get("severity") or []
    for item in vectors if isinstance(vectors, list) else []:
        if isinstance(item, dict) and item.get("type") == "CVSS_V3":
            v3 = _text(item.get("score"))
            try:
                score = cvss3_base_score(v3)
            except InputError:
                continue
            return rating(score), score, v3
    for item in vectors if isinstance(vectors, list) else []:  # only a v4 vector
        if isinstance(item, dict) and item.get("type") == "CVSS_V4":
            v4 = _text(item.get("score"))
            try:
                score = cvss4_score(v4)
            except InputError:
                continue
            return rating(score), score, v4
    rated: Any = (data.get("database_specific") or {}).get("severity")
    for affected in data.get("affected") or []:
        if rated or not isinstance(affected, dict):
            break
        for key in ("ecosystem_specific", "database_specific"):
            extra = affected.get(key)
            if isinstance(extra, dict) and isinstance(extra.get("severity"), str):
                rated = extra["severity"]
                break
    vector: str | None = None
    for item in vectors if isinstance(vectors, list) else []:
        if isinstance(item, dict) and isinstance(item.get("score"), str):
            vector = item["score"]
            break
    return normalize_severity(rated if isinstance(rated, str) else None), None, vector


def parse_osv(data: Any, *, source: str, location: str) -> Advisory:
    """An OSV record (already decoded from JSON or YAML) as an Advisory.

    Raises InputError naming ``location`` for a record without an id or with a
    malformed ``affected`` list.
    """
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise InputError("not an OSV record (no string `id`)", location=location)
    affected: list[Affected] = []
    raw_affected = data.get("affected") or []
    if not isinstance(raw_affected, list):
        raise InputError("`affected` is not a list", location=location)
    for entry in raw_affected:
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict):
            continue  # affected entries without a package (GIT-only) are not matchable here
        ecosystem = _text(package.get("ecosystem"))
        name = _text(package.get("name"))
        if not ecosystem or not name:
            continue
        ranges = []
        for raw in entry.get("ranges") or []:
            if not isinstance(raw, dict):
                raise InputError("a range is not an object", location=location)
            events: list[tuple[str, str]] = []
            for event in raw.get("events") or []:
                if isinstance(event, dict):
                    events.extend((str(k), str(v)) for k, v in event.items())
            ranges.append(Range(_text(raw.get("type")).upper(), tuple(events)))
        versions = tuple(str(v) for v in entry.get("versions") or [])
        affected.append(
            Affected(
                ecosystem,
                normalize_package_name(ecosystem, name),
                tuple(ranges),
                versions,
            )
        )
    severity, score, vector = _severity(data)
    refs = tuple(
        ref["url"]
        for ref in data.get("references") or []
        if isinstance(ref, dict) and isinstance(ref.get("url"), str)
    )
    summary = _text(data.get("summary")) or _text(data.get("details")).split("\n", 1)[0][:200]
    withdrawn = data.get("withdrawn")
    return Advisory(
        id=data["id"],
        source=source,
        aliases=tuple(str(a) for a in data.get("aliases") or []),
        summary=summary,
        severity=severity,
        cvss_score=score,
        cvss_vector=vector,
        published=str(data["published"]) if data.get("published") else None,
        modified=str(data["modified"]) if data.get("modified") else None,
        withdrawn=str(withdrawn) if withdrawn else None,
        references=refs[:5],
        affected=tuple(affected),
    )


_EVENT_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}


def _sorted_events(
    scheme: VersionScheme, events: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    def key(a: tuple[str, str], b: tuple[str, str]) -> int:
        a_zero = a[0] == "introduced" and a[1] == "0"
        b_zero = b[0] == "introduced" and b[1] == "0"
        if a_zero or b_zero:
            return int(b_zero) - int(a_zero)
        diff = scheme.compare(a[1], b[1])
        return diff or _EVENT_ORDER.get(a[0], 9) - _EVENT_ORDER.get(b[0], 9)

    return sorted(
        (e for e in events if e[0] in ("introduced", "fixed", "last_affected")),
        key=cmp_to_key(key),
    )


def _in_range(scheme: VersionScheme, installed: str, rng: Range) -> Verdict:
    included = False
    fixed: str | None = None
    for kind, version in _sorted_events(scheme, rng.events):
        if kind == "introduced":
            if version == "0" or scheme.compare(installed, version) >= 0:
                included, fixed = True, None
        elif kind == "fixed":
            if scheme.compare(installed, version) >= 0:
                included = False
            elif included and fixed is None:
                fixed = version
        elif kind == "last_affected" and scheme.compare(installed, version) > 0:
            included = False
    limits = [v for k, v in rng.events if k == "limit" and v != "*"]
    if included and limits and all(scheme.compare(installed, v) >= 0 for v in limits):
        included = False
    return Verdict(included, fixed if included else None)


def evaluate(scheme: VersionScheme, installed: str, affected: Affected) -> Verdict:
    """Whether ``installed`` falls in ``affected``'s enumerated versions or ranges.

    Raises InvalidVersionError when ``installed`` (or a version in the record) is
    not valid in the scheme; GIT ranges are ignored (we match releases, not commits).
    """
    if not scheme.is_valid(installed):
        raise InvalidVersionError(f"{scheme.name} cannot order version {installed!r}")
    verdict = Verdict(False)
    for rng in affected.ranges:
        if rng.type == "GIT":
            continue
        got = _in_range(scheme, installed, rng)
        if got.affected:
            if got.fixed_version is not None or not verdict.affected:
                verdict = got
            if got.fixed_version is not None:
                return got
    if verdict.affected:
        return verdict
    for version in affected.versions:
        if version == installed or (
            scheme.is_valid(version) and scheme.compare(version, installed) == 0
        ):
            return Verdict(True, None)
    return verdict
