"""Scan policy (severity, unfixed, ignore file) and trivy-compatible JSON reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from dockyard.errors import InputError
from dockyard.scan.catalog import APK, DEB, Catalog, Package
from dockyard.scan.cvss import SEVERITIES
from dockyard.scan.match import Finding

__all__ = ["IgnoreRule", "Policy", "apply_policy", "parse_ignorefile", "trivy_report"]


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """One ``.trivyignore`` line: an ID, optionally until an expiry date."""

    id: str
    expires: date | None = None
    line: int = 0


def parse_ignorefile(text: str, location: str = ".trivyignore") -> list[IgnoreRule]:
    """Parse ``.trivyignore``: one ID per line, ``#`` comments, ``exp:YYYY-MM-DD`` expiry."""
    rules = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        expires = None
        for extra in fields[1:]:
            if extra.startswith("exp:"):
                try:
                    expires = date.fromisoformat(extra[4:])
                except ValueError as exc:
                    raise InputError(
                        f"bad expiry date {extra[4:]!r}",
                        location=f"{location}:{number}",
                        hint="write exp:YYYY-MM-DD",
                    ) from exc
        rules.append(IgnoreRule(fields[0], expires, number))
    return rules


@dataclass(frozen=True, slots=True)
class Policy:
    """Which findings a scan reports (and gates on)."""

    severities: frozenset[str] = frozenset(SEVERITIES)
    ignore_unfixed: bool = False
    ignore: tuple[IgnoreRule, ...] = ()


def apply_policy(
    findings: Iterable[Finding], policy: Policy, today: date | None = None
) -> list[Finding]:
    """The findings that pass the severity filter, the unfixed filter and the ignore rules."""
    day = today or datetime.now(UTC).date()
    active = {r.id for r in policy.ignore if r.expires is None or r.expires >= day}
    kept = []
    for finding in findings:
        if finding.severity not in policy.severities:
            continue
        if policy.ignore_unfixed and not finding.fixed_version:
            continue
        if active & {finding.vulnerability_id, *finding.aliases}:
            continue
        kept.append(finding)
    return kept


def _class(package: Package) -> str:
    return "os-pkgs" if package.type in (DEB, APK) else "lang-pkgs"


def _vulnerability(finding: Finding) -> dict[str, Any]:
    pkg = finding.package
    entry: dict[str, Any] = {
        "VulnerabilityID": finding.vulnerability_id,
        "PkgID": f"{pkg.name}@{pkg.version}",
        "PkgName": pkg.name,
        "PkgPath": pkg.location if pkg.type not in (DEB, APK) else "",
        "PkgIdentifier": {"PURL": pkg.purl},
        "InstalledVersion": pkg.version,
        "FixedVersion": finding.fixed_version or "",
        "Status": finding.status,
        "SeveritySource": ",".join(finding.sources),
        "DataSource": {"ID": ",".join(finding.sources), "Name": ",".join(finding.advisories)},
        "Title": finding.title,
        "Severity": finding.severity,
        "VendorIDs": list(finding.advisories),
        "References": list(finding.references),
    }
    if finding.aliases:
        entry["Aliases"] = list(finding.aliases)
    if finding.cvss_vector:
        cvss: dict[str, Any] = {"V3Vector": finding.cvss_vector}
        if finding.cvss_score is not None:
            cvss["V3Score"] = finding.cvss_score
        entry["CVSS"] = {"dockyard": cvss}
    return entry


def trivy_report(
    target: str, catalog: Catalog, findings: Sequence[Finding], *, now: datetime | None = None
) -> dict[str, Any]:
    """A report laid out like ``trivy --format json`` (schema version 2).

    One result per package database or language-package file (Target), each with its
    Class, Type and Vulnerabilities.
    """
    results: dict[tuple[str, str], dict[str, Any]] = {}
    os_name = ""
    if catalog.os is not None:
        os_name = f"{catalog.os.id} {catalog.os.version_id}".strip()

    def result_for(package: Package) -> dict[str, Any]:
        if package.type in (DEB, APK):
            key = (f"{target} ({os_name})" if os_name else target, package.type)
        else:
            key = (package.location.split("!", 1)[0].lstrip("/"), package.type)
        if key not in results:
            results[key] = {
                "Target": key[0],
                "Class": _class(package),
                "Type": package.type,
                "Vulnerabilities": [],
            }
        return results[key]

    for package in catalog.packages:
        if package.type in (DEB, APK):
            result_for(package)
    for finding in findings:
        result_for(finding.package)["Vulnerabilities"].append(_vulnerability(finding))
    metadata: dict[str, Any] = {}
    if catalog.os is not None:
        metadata["OS"] = {"Family": catalog.os.id, "Name": catalog.os.version_id}
    return {
        "SchemaVersion": 2,
        "CreatedAt": (now or datetime.now(UTC)).isoformat(),
        "ArtifactName": target,
        "ArtifactType": "filesystem",
        "Metadata": metadata,
        "Results": list(results.values()),
    }
