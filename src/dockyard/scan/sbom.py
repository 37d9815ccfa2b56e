"""SBOM documents: CycloneDX 1.5 JSON, SPDX 2.3 JSON and dockyard's own JSON, with package URLs."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from dockyard import __version__
from dockyard.scan.catalog import Catalog, Package

__all__ = ["SBOM_FORMATS", "bom_ref", "cyclonedx", "native_json", "render_sbom", "spdx"]

SBOM_FORMATS = ("cyclonedx", "spdx-json", "json")


def bom_ref(package: Package) -> str:
    """The component's ``bom-ref``: its purl, made unique by where it was found."""
    digest = hashlib.sha256(f"{package.purl}|{package.location}".encode()).hexdigest()[:16]
    return f"{package.purl}#{digest}" if package.purl else digest


def cyclonedx(target: str, catalog: Catalog, *, now: datetime | None = None) -> dict[str, Any]:
    """A CycloneDX 1.5 JSON BOM: one component per package, the OS as an operating-system one."""
    components: list[dict[str, Any]] = []
    if catalog.os is not None:
        components.append(
            {
                "bom-ref": f"os:{catalog.os.id}@{catalog.os.version_id}",
                "type": "operating-system",
                "name": catalog.os.id,
                "version": catalog.os.version_id,
                "description": catalog.os.pretty_name,
            }
        )
    for package in catalog.packages:
        component: dict[str, Any] = {
            "bom-ref": bom_ref(package),
            "type": "library",
            "name": package.name,
            "version": package.version,
            "purl": package.purl,
            "properties": [
                {"name": "dockyard:package:type", "value": package.type},
                {"name": "dockyard:location", "value": package.location},
            ],
        }
        if package.group:
            component["group"] = package.group
        if package.licenses:
            component["licenses"] = [{"license": {"name": lic}} for lic in package.licenses]
        if package.layer_diff_id:
            component["properties"].append(
                {"name": "dockyard:layer:diff_id", "value": package.layer_diff_id}
            )
        if package.source_name and package.source_name != package.name:
            component["properties"].append(
                {"name": "dockyard:package:source", "value": package.source_name}
            )
        components.append(component)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": stamp,
            "tools": {
                "components": [{"type": "application", "name": "dockyard", "version": __version__}]
            },
            "component": {"bom-ref": "target", "type": "container", "name": target},
        },
        "components": components,
        "dependencies": [
            {"ref": "target", "dependsOn": [c["bom-ref"] for c in components]},
        ],
    }


def _spdx_id(package: Package, index: int) -> str:
    name = re.sub(r"[^A-Za-z0-9.-]", "-", f"{package.type}-{package.name}")
    return f"SPDXRef-Package-{name}-{index}"


def spdx(target: str, catalog: Catalog, *, now: datetime | None = None) -> dict[str, Any]:
    """An SPDX 2.3 JSON document: a package per package, DESCRIBES from the document."""
    packages = []
    relationships = []
    for index, package in enumerate(catalog.packages):
        spdx_id = _spdx_id(package, index)
        license_value = " AND ".join(package.licenses) if package.licenses else "NOASSERTION"
        if not re.fullmatch(r"[A-Za-z0-9.+\- ()]+", license_value):
            license_value = "NOASSERTION"
        packages.append(
            {
                "SPDXID": spdx_id,
                "name": package.name,
                "versionInfo": package.version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": license_value,
                "sourceInfo": f"found in {package.location}",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": package.purl,
                    }
                ],
            }
        )
        relationships.append(
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": spdx_id,
            }
        )
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": target,
        "documentNamespace": f"https://dockyard.invalid/spdx/{uuid.uuid4()}",
        "creationInfo": {"created": stamp, "creators": [f"Tool: dockyard-{__version__}"]},
        "packages": packages,
        "relationships": relationships,
    }


def native_json(target: str, catalog: Catalog) -> dict[str, Any]:
    """dockyard's own catalog JSON: the OS, every package field, cataloger warnings."""
    return {
        "target": target,
        "os": asdict(catalog.os) if catalog.os else None,
        "packages": [asdict(p) for p in catalog.packages],
        "warnings": list(catalog.warnings),
    }


def render_sbom(fmt: str, target: str, catalog: Catalog) -> dict[str, Any]:
    """The SBOM document for ``fmt`` (one of SBOM_FORMATS)."""
    if fmt == "cyclonedx":
        return cyclonedx(target, catalog)
    if fmt == "spdx-json":
        return spdx(target, catalog)
    return native_json(target, catalog)
