"""Vulnerability scanning: catalogers, SBOM, OSV database, version matching, gates.

Entry points: ``catalog.catalog(fs)``, ``db.import_sources(paths)``, ``db.VulnDB.open()``,
``match.match(catalog, db)``, ``scanner.scan_filesystem(target, fs, db)``,
``report.trivy_report(...)``, ``sbom.render_sbom(...)``, ``versions.compare(eco, a, b)``.
"""
