"""Scan policy (severity, unfixed, ignore file) and trivy-compatible JSON reports."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from dockyard import __version__
from dockyard.errors import InputError
from dockyard.scan.catalog import APK, DEB, Catalog, Package
from dockyard.scan.cvss import SEVERITIES
from dockyard.scan.match import Finding
from dockyard.scan.sbom import bom_ref, cyclonedx
from dockyard.scan.scanner import ImageInfo

__all__ = [
    "REPORT_FORMATS",
    "IgnoreRule",
    "Policy",
    "apply_policy",
    "cyclonedx_report",
    "gitlab_report",
    "parse_ignorefile",
    "render_report",
    "sarif_report",
    "trivy_report",
]

REPORT_FORMATS = ("json", "sarif", "gitlab", "cyclonedx")


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
    if pkg.layer_diff_id:
        entry["Layer"] = {"Digest": pkg.layer_digest, "DiffID": pkg.layer_diff_id}
    if finding.aliases:
        entry["Aliases"] = list(finding.aliases)
    if finding.cvss_vector:
        version = "V40" if finding.cvss_vector.startswith("CVSS:4.0") else "V3"
        cvss: dict[str, Any] = {f"{version}Vector": finding.cvss_vector}
        if finding.cvss_score is not None:
            cvss[f"{version}Score"] = finding.cvss_score
        entry["CVSS"] = {"dockyard": cvss}
    return entry


def trivy_report(
    target: str,
    catalog: Catalog,
    findings: Sequence[Finding],
    *,
    now: datetime | None = None,
    image: ImageInfo | None = None,
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
    if image is not None:
        metadata["ImageID"] = image.config_digest
        metadata["DiffIDs"] = [layer.diff_id for layer in image.layers]
        metadata["RepoDigests"] = list(image.repo_digests)
        metadata["ImageConfig"] = image.config
    return {
        "SchemaVersion": 2,
        "CreatedAt": (now or datetime.now(UTC)).isoformat(),
        "ArtifactName": target,
        "ArtifactType": "container_image" if image is not None else "filesystem",
        "Metadata": metadata,
        "Results": list(results.values()),
    }


# ----------------------------------------------------------------------------- SARIF

_SARIF_LEVEL = {
    "CRITICAL": "error",
    "HIGH": "error",
    "MEDIUM": "warning",
    "LOW": "note",
    "UNKNOWN": "note",
}
# what trivy's SARIF writer puts in security-severity when no CVSS score is known
_SARIF_SCORE = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "2.0", "UNKNOWN": "0.0"}


def _artifact_path(target: str, package: Package) -> str:
    if package.type in (DEB, APK):
        return target if "/" not in package.location else package.location.lstrip("/")
    return package.location.split("!", 1)[0].lstrip("/")


def _help_uri(finding: Finding) -> str:
    if finding.references:
        return finding.references[0]
    return f"https://osv.dev/vulnerability/{finding.advisories[0] if finding.advisories else ''}"


def sarif_report(target: str, findings: Sequence[Finding]) -> dict[str, Any]:
    """A SARIF 2.1.0 log laid out as trivy writes it: one rule per vulnerability ID,
    one result per vulnerable package, located at the file that proves the package.
    """
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for finding in findings:
        pkg = finding.package
        rule_id = finding.vulnerability_id
        if rule_id not in rule_index:
            rule_index[rule_id] = len(rules)
            score = (
                f"{finding.cvss_score:.1f}"
                if finding.cvss_score is not None
                else _SARIF_SCORE[finding.severity]
            )
            kind = (
                "OsPackageVulnerability"
                if pkg.type in (DEB, APK)
                else "LanguageSpecificPackageVulnerability"
            )
            rules.append(
                {
                    "id": rule_id,
                    "name": kind,
                    "shortDescription": {"text": finding.title or rule_id},
                    "fullDescription": {"text": finding.title or rule_id},
                    "defaultConfiguration": {"level": _SARIF_LEVEL[finding.severity]},
                    "helpUri": _help_uri(finding),
                    "help": {
                        "text": f"Vulnerability {rule_id}\nSeverity: {finding.severity}\n"
                        f"Package: {pkg.name}\nFixed Version: {finding.fixed_version or ''}",
                        "markdown": f"**Vulnerability {rule_id}**\n| Severity | Package | "
                        f"Fixed Version |\n| --- | --- | --- |\n| {finding.severity} | "
                        f"{pkg.name} | {finding.fixed_version or ''} |",
                    },
                    "properties": {
                        "precision": "very-high",
                        "security-severity": score,
                        "tags": ["vulnerability", "security", finding.severity],
                    },
                }
            )
        path = _artifact_path(target, pkg)
        message = (
            f"Package: {pkg.name}\nInstalled Version: {pkg.version}\n"
            f"Vulnerability {rule_id}\nSeverity: {finding.severity}\n"
            f"Fixed Version: {finding.fixed_version or ''}\nLink: [{rule_id}]({_help_uri(finding)})"
        )
        results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": rule_index[rule_id],
                "level": _SARIF_LEVEL[finding.severity],
                "message": {"text": message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": path, "uriBaseId": "ROOTPATH"},
                            "region": {
                                "startLine": 1,
                                "startColumn": 1,
                                "endLine": 1,
                                "endColumn": 1,
                            },
                        },
                        "message": {"text": f"{path}: {pkg.name}@{pkg.version}"},
                    }
                ],
            }
        )
    return {
        "version": "2.1.0",
        "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/"
        "sarif-schema-2.1.0.json",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "fullName": "dockyard vulnerability scanner",
                        "informationUri": "https://dockyard.invalid/docs/scan",
                        "name": "dockyard",
                        "rules": rules,
                        "version": __version__,
                    }
                },
                "results": results,
                "columnKind": "utf16CodeUnits",
                "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
                "properties": {"artifactName": target},
            }
        ],
    }


# ----------------------------------------------------------------------------- GitLab

GITLAB_SCHEMA_VERSION = "15.0.7"


def _identifier(vuln_id: str) -> dict[str, Any]:
    kind = vuln_id.split("-", 1)[0].lower() if "-" in vuln_id else "id"
    entry: dict[str, Any] = {"type": kind, "name": vuln_id, "value": vuln_id}
    if kind == "cve":
        entry["url"] = f"https://cve.mitre.org/cgi-bin/cvename.cgi?name={vuln_id}"
    elif kind in ("ghsa", "go", "pysec"):
        entry["url"] = f"https://osv.dev/vulnerability/{vuln_id}"
    return entry


def gitlab_report(
    target: str,
    catalog: Catalog,
    findings: Sequence[Finding],
    *,
    start: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """GitLab's container-scanning report (security report schema 15), as trivy's
    ``gitlab.tpl`` writes it: one vulnerability per finding, located at the image and package.
    """
    end = now or datetime.now(UTC)
    begin = start or end
    operating_system = (
        f"{catalog.os.id} {catalog.os.version_id}".strip() if catalog.os else "Unknown"
    )
    scanner = {
        "id": "dockyard",
        "name": "dockyard",
        "url": "https://dockyard.invalid/docs/scan",
        "vendor": {"name": "dockyard"},
        "version": __version__,
    }
    vulnerabilities = []
    for finding in findings:
        pkg = finding.package
        ids = [finding.vulnerability_id, *finding.aliases]
        key = f"{finding.vulnerability_id}|{pkg.name}|{pkg.version}|{pkg.location}"
        entry: dict[str, Any] = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
            "name": finding.title or finding.vulnerability_id,
            "description": finding.title or finding.vulnerability_id,
            "severity": finding.severity.capitalize(),
            "solution": (
                f"Upgrade {pkg.name} to {finding.fixed_version}"
                if finding.fixed_version
                else "No solution provided"
            ),
            "location": {
                "dependency": {"package": {"name": pkg.name}, "version": pkg.version},
                "operating_system": operating_system,
                "image": target,
            },
            "identifiers": [_identifier(i) for i in ids],
            "links": [{"url": url} for url in finding.references],
        }
        vulnerabilities.append(entry)
    stamp = "%Y-%m-%dT%H:%M:%S"
    return {
        "version": GITLAB_SCHEMA_VERSION,
        "scan": {
            "analyzer": scanner,
            "scanner": scanner,
            "type": "container_scanning",
            "start_time": begin.strftime(stamp),
            "end_time": end.strftime(stamp),
            "status": "success",
        },
        "vulnerabilities": vulnerabilities,
        "remediations": [],
    }


# ----------------------------------------------------------------------------- CycloneDX


def cyclonedx_report(
    target: str, catalog: Catalog, findings: Sequence[Finding], *, now: datetime | None = None
) -> dict[str, Any]:
    """The CycloneDX 1.5 SBOM with a ``vulnerabilities`` section (as ``trivy --format
    cyclonedx --scanners vuln``): each vulnerability affects the components it was found in.
    """
    document = cyclonedx(target, catalog, now=now)
    merged: dict[str, dict[str, Any]] = {}
    for finding in findings:
        entry = merged.get(finding.vulnerability_id)
        if entry is None:
            source = finding.sources[0] if finding.sources else ""
            entry = {
                "bom-ref": finding.vulnerability_id,
                "id": finding.vulnerability_id,
                "source": {"name": source},
                "ratings": [],
                "description": finding.title,
                "advisories": [{"url": url} for url in finding.references],
                "affects": [],
            }
            rating: dict[str, Any] = {"severity": finding.severity.lower()}
            if finding.cvss_score is not None:
                rating["score"] = finding.cvss_score
            if finding.cvss_vector:
                rating["vector"] = finding.cvss_vector
                rating["method"] = _cyclonedx_method(finding.cvss_vector)
            entry["ratings"].append(rating)
            if finding.fixed_version:
                entry["recommendation"] = (
                    f"Upgrade {finding.package.name} to version {finding.fixed_version}"
                )
            merged[finding.vulnerability_id] = entry
        entry["affects"].append(
            {
                "ref": bom_ref(finding.package),
                "versions": [{"version": finding.package.version, "status": "affected"}],
            }
        )
    document["vulnerabilities"] = list(merged.values())
    return document


def render_report(
    fmt: str,
    target: str,
    catalog: Catalog,
    findings: Sequence[Finding],
    *,
    image: ImageInfo | None = None,
) -> dict[str, Any]:
    """The report document for ``fmt`` (one of REPORT_FORMATS)."""
    if fmt == "sarif":
        return sarif_report(target, findings)
    if fmt == "gitlab":
        return gitlab_report(target, catalog, findings)
    if fmt == "cyclonedx":
        return cyclonedx_report(target, catalog, findings)
    return trivy_report(target, catalog, findings, image=image)


def _cyclonedx_method(vector: str) -> str:
    if vector.startswith("CVSS:4.0"):
        return "CVSSv4"
    return "CVSSv31" if vector.startswith("CVSS:3.1") else "CVSSv3"
