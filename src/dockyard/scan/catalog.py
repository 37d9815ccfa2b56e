"""Catalogers: find installed packages in a root filesystem, each with the file proving it."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from urllib.parse import quote

from dockyard.errors import DockyardError, NotFoundError
from dockyard.progress import NULL_SINK, Event, EventKind, ProgressSink
from dockyard.scan.fs import FileInfo, FileSystem
from dockyard.scan.gobinary import read_go_buildinfo
from dockyard.scan.rustbinary import read_cargo_auditable
from dockyard.scan.versions import go_toolchain_version

_ELF_MAGIC = b"\x7fELF"

__all__ = [
    "Catalog",
    "OSInfo",
    "Package",
    "Want",
    "catalog",
    "claim",
    "content_wanted",
    "parse_apk_installed",
    "parse_dpkg_status",
    "parse_os_release",
]

# package types, named as trivy names them in its JSON report
DEB, APK, PYTHON, NPM, GOBINARY, JAR, RUSTBINARY = (
    "debian",
    "alpine",
    "python-pkg",
    "node-pkg",
    "gobinary",
    "jar",
    "rustbinary",
)


@dataclass(frozen=True, slots=True)
class OSInfo:
    """The distribution from ``/etc/os-release``."""

    id: str
    version_id: str = ""
    codename: str = ""
    pretty_name: str = ""
    location: str = "/etc/os-release"


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package and the file that proves it."""

    type: str  # debian, alpine, python-pkg, node-pkg, gobinary, jar, rustbinary
    name: str
    version: str
    location: str
    purl: str
    source_name: str = ""  # dpkg Source / apk origin
    source_version: str = ""
    arch: str = ""
    licenses: tuple[str, ...] = ()
    group: str = ""  # maven groupId, npm scope is part of name
    module_path: str = ""  # for Go modules: the binary they were found in is ``location``
    layer_digest: str = ""  # image scans: the layer blob that introduced the package
    layer_diff_id: str = ""  # ... and its uncompressed digest (trivy's Layer.DiffID)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything found in one filesystem."""

    os: OSInfo | None
    packages: tuple[Package, ...]
    warnings: tuple[str, ...] = field(default=())


# ----------------------------------------------------------------------------- pure parsers


def parse_os_release(text: str, location: str = "/etc/os-release") -> OSInfo | None:
    """Parse os-release ``KEY=value`` lines (shell quoting) into OSInfo; None without ID."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value.replace('\\"', '"')
    if "ID" not in values:
        return None
    codename = values.get("VERSION_CODENAME", "")
    if not codename and "(" in values.get("VERSION", ""):
        codename = values["VERSION"].split("(", 1)[1].split(")", 1)[0].split()[0].lower()
    return OSInfo(
        id=values["ID"].lower(),
        version_id=values.get("VERSION_ID", ""),
        codename=codename,
        pretty_name=values.get("PRETTY_NAME", ""),
        location=location,
    )


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, ""
        elif line[0] in " \t":
            if key:
                fields[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if fields:
        yield fields


def _deb_purl(name: str, version: str, arch: str, os_info: OSInfo | None) -> str:
    distro = "debian"
    qualifiers = []
    if os_info is not None:
        distro = os_info.id
    if arch:
        qualifiers.append(f"arch={quote(arch)}")
    if os_info is not None and os_info.version_id:
        qualifiers.append(f"distro={os_info.id}-{os_info.version_id}")
    query = "?" + "&".join(qualifiers) if qualifiers else ""
    return f"pkg:deb/{distro}/{quote(name)}@{quote(version, safe='')}{query}"


def parse_dpkg_status(text: str, location: str, os_info: OSInfo | None = None) -> list[Package]:
    """Installed packages of a dpkg status file (or a ``status.d/`` entry)."""
    packages = []
    for fields in _paragraphs(text):
        name, version = fields.get("Package", ""), fields.get("Version", "")
        status = fields.get("Status", "install ok installed")
        if not name or not version or not status.endswith(" installed"):
            continue
        source_name, source_version = name, version
        if fields.get("Source"):
            src = fields["Source"].split()
            source_name = src[0]
            if len(src) > 1:
                source_version = src[1].strip("()")
        arch = fields.get("Architecture", "")
        packages.append(
            Package(
                type=DEB,
                name=name,
                version=version,
                location=location,
                purl=_deb_purl(name, version, arch, os_info),
                source_name=source_name,
                source_version=source_version,
                arch=arch,
            )
        )
    return packages


def parse_apk_installed(text: str, location: str, os_info: OSInfo | None = None) -> list[Package]:
    """Installed packages of apk's ``/lib/apk/db/installed``."""
    packages = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if len(line) > 2 and line[1] == ":" and line[0] not in fields:
                fields[line[0]] = line[2:]
        name, version = fields.get("P", ""), fields.get("V", "")
        if not name or not version:
            continue
        arch = fields.get("A", "")
        qualifiers = [f"arch={arch}"] if arch else []
        if os_info is not None and os_info.version_id:
            qualifiers.append(f"distro=alpine-{os_info.version_id}")
        query = "?" + "&".join(qualifiers) if qualifiers else ""
        packages.append(
            Package(
                type=APK,
                name=name,
                version=version,
                location=location,
                purl=f"pkg:apk/alpine/{quote(name)}@{quote(version)}{query}",
                source_name=fields.get("o", name),
                source_version=version,
                arch=arch,
                licenses=tuple(fields["L"].split()) if fields.get("L") else (),
            )
        )
    return packages


def _python_package(data: bytes, location: str) -> Package | None:
    headers = BytesHeaderParser().parsebytes(data)
    name, version = headers.get("Name", ""), headers.get("Version", "")
    if not name or not version:
        return None
    license_text = headers.get("License-Expression") or headers.get("License") or ""
    licenses = (license_text,) if license_text and "\n" not in license_text else ()
    normalized = re.sub(r"[-_.]+", "-", name).lower()
    return Package(
        type=PYTHON,
        name=name,
        version=version,
        location=location,
        purl=f"pkg:pypi/{quote(normalized)}@{quote(version)}",
        licenses=licenses,
    )


def _npm_package(data: bytes, location: str) -> Package | None:
    import json

    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    lic = doc.get("license")
    licenses = (lic,) if isinstance(lic, str) else ()
    if isinstance(lic, dict) and isinstance(lic.get("type"), str):
        licenses = (lic["type"],)
    return Package(
        type=NPM,
        name=name,
        version=version,
        location=location,
        purl=f"pkg:npm/{quote(name, safe='/')}@{quote(version)}",
        licenses=licenses,
    )


def _java_packages(data: bytes, location: str) -> list[Package]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        return []
    found = []
    with archive:
        names = archive.namelist()
        for member in names:
            if member.startswith("META-INF/maven/") and member.endswith("/pom.properties"):
                props: dict[str, str] = {}
                for line in archive.read(member).decode("utf-8", "replace").splitlines():
                    key, sep, value = line.partition("=")
                    if sep and not key.startswith("#"):
                        props[key.strip()] = value.strip()
                group, artifact = props.get("groupId", ""), props.get("artifactId", "")
                version = props.get("version", "")
                if artifact and version:
                    found.append(
                        Package(
                            type=JAR,
                            name=f"{group}:{artifact}" if group else artifact,
                            version=version,
                            location=f"{location}!/{member}",
                            purl=f"pkg:maven/{quote(group)}/{quote(artifact)}@{quote(version)}",
                            group=group,
                        )
                    )
        if not found and "META-INF/MANIFEST.MF" in names:
            manifest: dict[str, str] = {}
            text = archive.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
            for line in text.replace("\r\n", "\n").replace("\n ", "").splitlines():
                key, sep, value = line.partition(":")
                if sep:
                    manifest[key.strip()] = value.strip()
            name = manifest.get("Implementation-Title") or manifest.get("Bundle-SymbolicName", "")
            version = manifest.get("Implementation-Version") or manifest.get("Bundle-Version", "")
            group = manifest.get("Implementation-Vendor-Id", "")
            if name and version:
                name = name.split(";")[0]
                found.append(
                    Package(
                        type=JAR,
                        name=f"{group}:{name}" if group else name,
                        version=version,
                        location=f"{location}!/META-INF/MANIFEST.MF",
                        purl=f"pkg:maven/{quote(group or name)}/{quote(name)}@{quote(version)}",
                        group=group,
                    )
                )
    return found


def _go_packages(fs: FileSystem, info: FileInfo) -> list[Package]:
    with fs.open(info.path) as handle:
        buildinfo = read_go_buildinfo(handle)
    if buildinfo is None:
        return []
    stdlib_version = go_toolchain_version(buildinfo.go_version)
    packages = [
        Package(
            type=GOBINARY,
            name="stdlib",
            version=f"v{stdlib_version}",
            location=info.path,
            purl=f"pkg:golang/stdlib@v{stdlib_version}",
            module_path=buildinfo.path,
        )
    ]
    modules = [buildinfo.main] if buildinfo.main else []
    for module in [*modules, *buildinfo.deps]:
        if module is None:
            continue
        effective = module.replaced_by or module
        if effective.version in ("", "(devel)") and module.replaced_by is not None:
            # replaced by a local directory (``=> ./lib (devel)``): the code is a local copy
            # of the required module version, so match that (trivy would report "./lib")
            effective = module
        if effective.version in ("", "(devel)"):
            continue
        packages.append(
            Package(
                type=GOBINARY,
                name=effective.path,
                version=effective.version,
                location=info.path,
                purl=f"pkg:golang/{quote(effective.path, safe='/')}@{quote(effective.version)}",
                module_path=buildinfo.path,
            )
        )
    return packages


# ----------------------------------------------------------------------------- the walk


OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")

# what a Go binary (``.go.buildinfo``) or a cargo-auditable binary (``.dep-v0``) contains
BINARY_MARKERS = (b"\xff Go buildinf:", b".dep-v0")


@dataclass(frozen=True, slots=True)
class Want:
    """What a reader of image layers must keep of a file for the catalogers.

    The content is kept when it starts with ``magic`` (if given) and contains one of
    ``markers`` (if given); ``history`` asks for every layer's version of the file too
    (package databases, to tell which layer installed each package).
    """

    magic: bytes = b""
    markers: tuple[bytes, ...] = ()
    history: bool = False


_PLAIN = Want()
_DATABASE = Want(history=True)
_BINARY = Want(magic=_ELF_MAGIC, markers=BINARY_MARKERS)


def content_wanted(info: FileInfo) -> Want | None:
    """The prefilter: whether (and on what condition) a cataloger needs ``info``'s content.

    A layer reader keeps only these files, so an image is read once and only small
    metadata files and candidate binaries are held.
    """
    if info.path in OS_RELEASE_PATHS:
        return _PLAIN
    kind = claim(info)
    if kind is None:
        return None
    if kind in ("dpkg", "apk"):
        return _DATABASE
    if kind == "binary":
        return _BINARY
    return _PLAIN


def claim(info: FileInfo) -> str | None:
    """Which cataloger reads ``info`` (dpkg, apk, python, npm, java, binary), or None."""
    path = info.path
    if path == "/var/lib/dpkg/status" or path.startswith("/var/lib/dpkg/status.d/"):
        return "dpkg"
    if path == "/lib/apk/db/installed":
        return "apk"
    if path.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO")):
        return "python"
    if path.endswith(".egg-info") and ("/site-packages/" in path or "/dist-packages/" in path):
        return "python"
    if path.endswith("/package.json") and "/node_modules/" in path:
        parent = path[: -len("/package.json")]
        head, _, name = parent.rpartition("/")
        scope_parent, _, scope = head.rpartition("/")
        if head.endswith("/node_modules") or (
            name and scope.startswith("@") and scope_parent.endswith("/node_modules")
        ):
            return "npm"
        return None
    if path.endswith((".jar", ".war", ".ear")):
        return "java"
    if info.mode & 0o111 and info.size > 1024:
        return "binary"
    return None


def catalog(fs: FileSystem, *, sink: ProgressSink = NULL_SINK) -> Catalog:
    """Walk ``fs`` once and run every cataloger on the files it claims.

    A file a cataloger cannot read becomes a warning in the result, not a failure.
    """
    sink(Event("catalog", EventKind.START, "cataloging packages"))
    os_info = None
    for candidate in OS_RELEASE_PATHS:
        if fs.exists(candidate):
            os_info = parse_os_release(
                fs.read_bytes(candidate).decode("utf-8", "replace"), candidate
            )
            break
    packages: list[Package] = []
    warnings: list[str] = []

    for info in fs.walk():
        kind = claim(info)
        if kind is None:
            continue
        try:
            packages.extend(_read(fs, kind, info, os_info))
        except (DockyardError, OSError, UnicodeDecodeError, ValueError) as exc:
            warnings.append(f"{info.path}: {kind} cataloger failed: {exc}")
    packages.sort(key=lambda p: (p.type, p.name, p.version, p.location))
    sink(Event("catalog", EventKind.DONE, f"{len(packages)} packages"))
    return Catalog(os_info, tuple(packages), tuple(warnings))


def _read(fs: FileSystem, kind: str, info: FileInfo, os_info: OSInfo | None) -> list[Package]:
    path = info.path
    if kind == "dpkg":
        return parse_dpkg_status(_text(fs, path), path, os_info)
    if kind == "apk":
        return parse_apk_installed(_text(fs, path), path, os_info)
    if kind == "python":
        return _optional(_python_package(fs.read_bytes(path), path))
    if kind == "npm":
        return _optional(_npm_package(fs.read_bytes(path), path))
    if kind == "java":
        return _java_packages(fs.read_bytes(path), path)
    try:
        handle = fs.open(path)
    except NotFoundError:
        return []  # an image reader drops binaries that are neither Go nor cargo-auditable
    with handle:
        if handle.read(4) != _ELF_MAGIC:
            return []
    return _go_packages(fs, info) or _rust_packages(fs, info)


def _rust_packages(fs: FileSystem, info: FileInfo) -> list[Package]:
    """Runtime crates of a cargo-auditable binary (build-only crates are not in it at run
    time; the binary's own local crate is the application, not a dependency).
    """
    with fs.open(info.path) as handle:
        crates = read_cargo_auditable(handle)
    packages = []
    for crate in crates or []:
        if crate.kind != "runtime" or (crate.root and crate.source == "local"):
            continue
        packages.append(
            Package(
                type=RUSTBINARY,
                name=crate.name,
                version=crate.version,
                location=info.path,
                purl=f"pkg:cargo/{quote(crate.name)}@{quote(crate.version)}",
            )
        )
    return packages


def _text(fs: FileSystem, path: str) -> str:
    return fs.read_bytes(path).decode("utf-8", "replace")


def _optional(package: Package | None) -> list[Package]:
    return [package] if package is not None else []
