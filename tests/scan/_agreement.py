"""Compare dockyard's catalog with Syft's and Trivy's SBOMs: normalise all three to one shape."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT

# One vocabulary for the package types the three tools name differently.
_SYFT_TYPES = {"deb": "deb", "python": "python", "go-module": "go", "apk": "apk"}
_TRIVY_TYPES = {"debian": "deb", "python-pkg": "python", "gobinary": "go", "alpine": "apk"}
_OUR_TYPES = {"debian": "deb", "python-pkg": "python", "gobinary": "go", "alpine": "apk"}


@dataclass(frozen=True, slots=True)
class Pkg:
    """A package as the comparison sees it; for dpkg also its source package and version."""

    type: str
    name: str
    version: str
    source_name: str = ""
    source_version: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """Python projects are one project however their name is spelt (PEP 503)."""
        if self.type == "python":
            return (self.type, re.sub(r"[-_.]+", "-", self.name).lower())
        return (self.type, self.name)


def tool(name: str) -> str | None:
    """The syft/trivy executable: the virtualenv's (``dev`` extras), else one on PATH."""
    local = REPO_ROOT / ".venv" / "bin" / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "TRIVY_NO_PROGRESS": "true",
        "TRIVY_DISABLE_VEX_NOTICE": "true",
    }


def run_syft(target: str, work: Path) -> list[Pkg]:
    """``syft TARGET -o syft-json`` (fully offline; no update check) normalised."""
    out = work / "syft.json"
    exe = tool("syft")
    assert exe is not None
    subprocess.run(
        [exe, "scan", target, "-q", "-o", f"syft-json={out}"],
        env=_env(work),
        check=True,
        timeout=600,
        capture_output=True,
    )
    return syft_packages(json.loads(out.read_text()))


def syft_packages(document: dict[str, Any]) -> list[Pkg]:
    packages = []
    for artifact in document["artifacts"]:
        kind = _SYFT_TYPES.get(artifact["type"], artifact["type"])
        source_name = source_version = ""
        if kind == "deb":
            meta = artifact.get("metadata") or {}
            source_name = meta.get("source") or artifact["name"]
            source_version = meta.get("sourceVersion") or artifact["version"]
        packages.append(
            Pkg(kind, artifact["name"], artifact["version"], source_name, source_version)
        )
    return packages


def run_trivy(target: list[str], work: Path) -> list[Pkg]:
    """``trivy image|rootfs ... --format cyclonedx`` in SBOM mode: no vulnerability database
    is needed or downloaded (``--offline-scan --skip-db-update --skip-java-db-update``)."""
    out = work / "trivy.json"
    exe = tool("trivy")
    assert exe is not None
    subprocess.run(
        [
            exe,
            *target,
            "--format",
            "cyclonedx",
            "--offline-scan",
            "--skip-db-update",
            "--skip-java-db-update",
            "--skip-check-update",
            "--cache-dir",
            str(work / "trivy-cache"),
            "--quiet",
            "--output",
            str(out),
        ],
        env=_env(work),
        check=True,
        timeout=600,
        capture_output=True,
    )
    return trivy_packages(json.loads(out.read_text()))


def _properties(component: dict[str, Any]) -> dict[str, str]:
    prefix = "aquasecurity:trivy:"
    return {
        p["name"][len(prefix) :]: p["value"]
        for p in component.get("properties", [])
        if p["name"].startswith(prefix)
    }


def trivy_packages(document: dict[str, Any]) -> list[Pkg]:
    """Trivy's CycloneDX components; its deb versions carry the epoch apart (``PkgEpoch``,
    ``SrcEpoch``) and are joined back as dpkg writes them."""
    packages = []
    for component in document.get("components", []):
        props = _properties(component)
        if "PkgType" not in props:  # the operating system, or an application grouping
            continue
        kind = _TRIVY_TYPES.get(props["PkgType"], props["PkgType"])
        version = component.get("version", "")
        source_name = source_version = ""
        if kind == "deb":
            epoch = props.get("PkgEpoch")
            if epoch and epoch != "0" and not version.startswith(f"{epoch}:"):
                version = f"{epoch}:{version}"
            source_name = props.get("SrcName") or component["name"]
            source_version = props.get("SrcVersion", "")
            if props.get("SrcRelease"):
                source_version += f"-{props['SrcRelease']}"
            src_epoch = props.get("SrcEpoch")
            if source_version and src_epoch and src_epoch != "0":
                source_version = f"{src_epoch}:{source_version}"
            source_version = source_version or version
        packages.append(Pkg(kind, component["name"], version, source_name, source_version))
    # nested components (trivy groups application packages under their file)
    for component in document.get("components", []):
        if "components" in component:
            packages += trivy_packages({"components": component["components"]})
    return packages


def our_packages(document: dict[str, Any]) -> list[Pkg]:
    """dockyard's own SBOM JSON (``dockyard sbom --format json``) normalised."""
    packages = []
    for package in document["packages"]:
        kind = _OUR_TYPES.get(package["type"], package["type"])
        source_name = source_version = ""
        if kind == "deb":
            source_name = package["source_name"] or package["name"]
            source_version = package["source_version"] or package["version"]
        packages.append(Pkg(kind, package["name"], package["version"], source_name, source_version))
    return packages


@dataclass(frozen=True, slots=True)
class Difference:
    """One way two catalogs disagree: a package only one side has, or a field that differs.
    ``ours``/``theirs`` hold the values (for ``presence``: ``present``/``absent``)."""

    name: str
    type: str
    field: str  # presence, name, version, source_name, source_version
    ours: str
    theirs: str


def differences(ours: list[Pkg], theirs: list[Pkg]) -> list[Difference]:
    """Every disagreement, keyed by (type, name); a name found several times (one Go module in
    two binaries) is compared as the set of its values."""
    mine: dict[tuple[str, str], list[Pkg]] = {}
    other: dict[tuple[str, str], list[Pkg]] = {}
    for package in ours:
        mine.setdefault(package.key, []).append(package)
    for package in theirs:
        other.setdefault(package.key, []).append(package)
    found = []
    for key in sorted(mine.keys() | other.keys()):
        kind, name = key
        if key not in other:
            found.append(Difference(name, kind, "presence", "present", "absent"))
            continue
        if key not in mine:
            found.append(Difference(name, kind, "presence", "absent", "present"))
            continue
        for attribute in ("name", "version", "source_name", "source_version"):
            a = ",".join(sorted({getattr(p, attribute) for p in mine[key]}))
            b = ",".join(sorted({getattr(p, attribute) for p in other[key]}))
            if a != b:
                found.append(Difference(name, kind, attribute, a, b))
    return found


# ------------------------------------------------------------------ the pip-installed image

SITE = "usr/local/lib/python3.11/dist-packages"  # where Debian's pip installs as root
DEBIAN_SITE = "usr/lib/python3/dist-packages"  # where Debian's python3-* packages live
VENV_SITE = "opt/app/lib/python3.11/site-packages"  # a virtualenv made by the Dockerfile

# (directory, distribution name as written in METADATA, version): what `pip install
# requests==2.19.0 PyYAML==5.1 ...` leaves behind, file for file (METADATA, RECORD, ...).
PIP_DISTRIBUTIONS = [
    (SITE, "requests", "2.19.0"),
    (SITE, "urllib3", "1.23"),
    (SITE, "chardet", "3.0.4"),
    (SITE, "idna", "2.7"),
    (SITE, "certifi", "2018.4.16"),
    (SITE, "PyYAML", "5.1"),
    (SITE, "typing_extensions", "4.7.1"),
    (SITE, "zope.interface", "5.4.0"),
    (SITE, "torch", "2.1.0+cpu"),
    (SITE, "Jinja2", "2.10"),
    (VENV_SITE, "Django", "3.2.0"),
    (VENV_SITE, "pip", "23.0.1"),
]
# Debian's own packaging: an egg-info directory and a single-file egg-info.
EGG_INFOS = [
    (DEBIAN_SITE, "six", "1.16.0", "dir"),
    (DEBIAN_SITE, "distro", "1.8.0", "file"),
]


def _metadata(name: str, version: str, *, pkg_info: bool = False) -> str:
    head = "Metadata-Version: 1.2" if pkg_info else "Metadata-Version: 2.1"
    return (
        f"{head}\nName: {name}\nVersion: {version}\nSummary: {name} for the comparison test\n"
        f"Home-page: https://pypi.org/project/{name}/\nAuthor: someone\nLicense: MIT\n"
        "Requires-Python: >=3.7\n\nThe long description.\n"
    )


def write_pip_context(context: Path) -> Path:
    """A build context whose ``site/`` tree is a root filesystem overlay of pip installs."""
    root = context / "site"
    for site, name, version in PIP_DISTRIBUTIONS:
        # pip names the directory after the normalised project name (wheel escaping)
        escaped = name.replace("-", "_").replace(".", "_") if name != "zope.interface" else name
        info = root / site / f"{escaped}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(_metadata(name, version))
        (info / "INSTALLER").write_text("pip\n")
        (info / "WHEEL").write_text(
            "Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        (info / "top_level.txt").write_text(f"{escaped.lower()}\n")
        module = root / site / escaped.lower() / "__init__.py"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text(f'__version__ = "{version}"\n')
        (info / "RECORD").write_text(
            f"{escaped.lower()}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n"
        )
    for site, name, version, shape in EGG_INFOS:
        path = root / site / f"{name}-{version}.egg-info"
        path.parent.mkdir(parents=True, exist_ok=True)
        if shape == "dir":
            path.mkdir()
            (path / "PKG-INFO").write_text(_metadata(name, version, pkg_info=True))
            (path / "top_level.txt").write_text(f"{name}\n")
        else:
            path.write_text(_metadata(name, version, pkg_info=True))
    (context / "Dockerfile").write_text("FROM debian:12\nCOPY site/ /\n")
    return context
