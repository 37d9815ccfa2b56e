"""Match cataloged packages against the vulnerability database, one finding per CVE and package."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.errors import InvalidVersionError
from dockyard.scan.catalog import (
    APK,
    DEB,
    GOBINARY,
    JAR,
    NPM,
    PYTHON,
    RUSTBINARY,
    Catalog,
    OSInfo,
    Package,
)
from dockyard.scan.cvss import SEVERITIES
from dockyard.scan.db import VulnDB
from dockyard.scan.osv import Advisory, Affected, evaluate
from dockyard.scan.versions import VersionScheme, scheme_for

__all__ = ["DEBIAN_CODENAMES", "Finding", "MatchResult", "ecosystems_for", "match"]

DEBIAN_CODENAMES = {
    "7": "wheezy",
    "8": "jessie",
    "9": "stretch",
    "10": "buster",
    "11": "bullseye",
    "12": "bookworm",
    "13": "trixie",
    "14": "forky",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One vulnerability in one installed package (aliases merged into one ID)."""

    vulnerability_id: str
    package: Package
    installed_version: str
    fixed_version: str | None
    severity: str
    title: str = ""
    cvss_score: float | None = None
    cvss_vector: str | None = None
    aliases: tuple[str, ...] = ()  # every other ID of the same vulnerability
    advisories: tuple[str, ...] = ()  # the records that matched (DSA-..., GO-..., PYSEC-...)
    sources: tuple[str, ...] = ()
    status: str = "fixed"  # fixed, affected (no fix yet), end-of-life
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Findings, and packages that could not be matched and why."""

    findings: tuple[Finding, ...]
    skipped: tuple[tuple[Package, str], ...] = field(default=())


def ecosystems_for(package: Package, os_info: OSInfo | None) -> tuple[list[str], str, str]:
    """The ecosystems to look ``package`` up in, the name and the version to match.

    Distro packages are matched only against their distro's data, by source package
    (dpkg) or origin (apk) and the release; language packages against their ecosystem.
    """
    if package.type == DEB:
        if os_info is None or os_info.id != "debian":
            return [], "", ""
        major = os_info.version_id.split(".", 1)[0]
        codename = os_info.codename or DEBIAN_CODENAMES.get(major, "")
        names = [f"Debian:{c}" for c in (codename, major) if c]
        return names, package.source_name or package.name, package.source_version or package.version
    if package.type == APK:
        if os_info is None or os_info.id != "alpine":
            return [], "", ""
        branch = "v" + ".".join(os_info.version_id.split(".")[:2])
        return [f"Alpine:{branch}"], package.source_name or package.name, package.version
    if package.type == PYTHON:
        return ["PyPI"], package.name, package.version
    if package.type == NPM:
        return ["npm"], package.name, package.version
    if package.type == GOBINARY:
        return ["Go"], package.name, package.version
    if package.type == JAR and package.group:
        return ["Maven"], package.name, package.version  # name is groupId:artifactId
    if package.type == RUSTBINARY:
        return ["crates.io"], package.name, package.version
    return [], "", ""


def _display_id(ids: set[str], primary: str) -> str:
    cves = sorted(i for i in ids if i.startswith("CVE-"))
    return cves[0] if cves else primary


def _max_version(scheme: VersionScheme, versions: Sequence[str]) -> str | None:
    best: str | None = None
    for version in versions:
        if best is None or scheme.compare(version, best) > 0:
            best = version
    return best


def _match_package(
    db: VulnDB, package: Package, os_info: OSInfo | None
) -> tuple[list[Finding], str | None]:
    ecosystems, name, version = ecosystems_for(package, os_info)
    if not ecosystems:
        return [], None
    scheme = scheme_for(ecosystems[0])
    if scheme is None:
        return [], f"no version ordering for {ecosystems[0]}"
    if not scheme.is_valid(version):
        return [], f"unparseable {scheme.name} version {version!r}"
    hits: list[tuple[Advisory, Affected, str | None]] = []
    for advisory, affected in db.lookup(ecosystems, name):
        try:
            verdict = evaluate(scheme, version, affected)
        except InvalidVersionError:
            continue  # a malformed range in one record must not hide the others
        if verdict.affected:
            hits.append((advisory, affected, verdict.fixed_version))
    # union the hits whose vulnerability IDs overlap: one finding per vulnerability. A
    # bundle advisory (DSA-5343-1 fixes many CVEs) is an alias of each, so it never joins.
    groups: list[tuple[set[str], set[str], list[tuple[Advisory, Affected, str | None]]]] = []
    for hit in hits:
        ids = {hit[0].id, *hit[0].aliases}
        keys = {i for i in ids if not i.startswith(_BUNDLE_PREFIXES)} or {hit[0].id}
        merged_keys, merged_ids, merged_hits = set(keys), set(ids), [hit]
        rest = []
        for group_keys, group_ids, group_hits in groups:
            if group_keys & merged_keys:
                merged_keys |= group_keys
                merged_ids |= group_ids
                merged_hits.extend(group_hits)
            else:
                rest.append((group_keys, group_ids, group_hits))
        groups = [*rest, (merged_keys, merged_ids, merged_hits)]
    findings = []
    for _keys, ids, group in groups:
        group.sort(key=lambda h: (h[0].source, h[0].id))
        primary = group[0][0]
        display = _display_id(ids, primary.id)
        fixes = [fix for _a, _af, fix in group if fix]
        fixed = _max_version(scheme, fixes) if fixes else None
        rated = [a for a, _af, _f in group if a.severity != "UNKNOWN"]
        best = max(
            rated, key=lambda a: (SEVERITIES.index(a.severity), a.cvss_score or 0.0), default=None
        )
        statuses = {af.status for _a, af, _f in group if af.status}
        findings.append(
            Finding(
                vulnerability_id=display,
                package=package,
                installed_version=version,
                fixed_version=fixed,
                severity=best.severity if best else "UNKNOWN",
                title=next((a.summary for a, _af, _f in group if a.summary), ""),
                cvss_score=best.cvss_score if best else None,
                cvss_vector=best.cvss_vector if best else None,
                aliases=tuple(sorted(ids - {display})),
                advisories=tuple(sorted({a.id for a, _af, _f in group})),
                sources=tuple(sorted({a.source for a, _af, _f in group})),
                status="fixed" if fixed else (min(statuses) if statuses else "affected"),
                references=primary.references,
            )
        )
    return findings, None


_BUNDLE_PREFIXES = ("DSA-", "DLA-", "DTSA-", "USN-", "RHSA-", "ALAS")
"""Advisories that bundle several vulnerabilities: an alias of each, never a reason to merge."""


def match(catalog: Catalog, db: VulnDB) -> MatchResult:
    """Every finding for every package of ``catalog``, sorted by package then ID."""
    findings: list[Finding] = []
    skipped: list[tuple[Package, str]] = []
    for package in catalog.packages:
        found, reason = _match_package(db, package, catalog.os)
        findings.extend(found)
        if reason:
            skipped.append((package, reason))
    findings.sort(
        key=lambda f: (f.package.type, f.package.name, f.package.location, f.vulnerability_id)
    )
    return MatchResult(tuple(findings), tuple(skipped))
