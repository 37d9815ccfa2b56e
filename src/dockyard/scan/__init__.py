"""Vulnerability scanning: catalogers, SBOM, OSV database, version matching, gates."""
