"""Exact version ordering for each ecosystem: dpkg, apk, PEP 440, semver (npm, Go), RPM, Maven."""

from __future__ import annotations

from dockyard.scan.versions._base import VersionScheme, sign
from dockyard.scan.versions.apk import APK
from dockyard.scan.versions.dpkg import DPKG
from dockyard.scan.versions.maven import MAVEN
from dockyard.scan.versions.pep440 import PEP440
from dockyard.scan.versions.rpm import RPM
from dockyard.scan.versions.semver import GO, SEMVER, go_toolchain_version

__all__ = [
    "APK",
    "DPKG",
    "GO",
    "MAVEN",
    "PEP440",
    "RPM",
    "SEMVER",
    "VersionScheme",
    "compare",
    "go_toolchain_version",
    "scheme_for",
    "sign",
]

_BY_ECOSYSTEM: dict[str, VersionScheme] = {
    "debian": DPKG,
    "ubuntu": DPKG,
    "dpkg": DPKG,
    "alpine": APK,
    "apk": APK,
    "pypi": PEP440,
    "pep440": PEP440,
    "go": GO,
    "npm": SEMVER,
    "semver": SEMVER,
    "crates.io": SEMVER,
    "maven": MAVEN,
    "red hat": RPM,
    "redhat": RPM,
    "rpm": RPM,
    "rocky linux": RPM,
    "almalinux": RPM,
}


def scheme_for(ecosystem: str) -> VersionScheme | None:
    """The version scheme of an OSV ecosystem name (``Debian:11`` → dpkg), or None if unknown."""
    base = ecosystem.split(":", 1)[0].strip().lower()
    return _BY_ECOSYSTEM.get(base)


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as version ``a`` sorts before, equal to or after ``b`` in ``ecosystem``.

    Raises InvalidVersionError for a version the scheme cannot parse, and for an
    ecosystem without a known scheme.
    """
    scheme = scheme_for(ecosystem)
    if scheme is None:
        from dockyard.errors import InvalidVersionError

        raise InvalidVersionError(f"no version ordering known for ecosystem {ecosystem!r}")
    return scheme.compare(a, b)
