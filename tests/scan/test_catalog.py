"""Catalogers over hand-built root filesystems, with a real Go binary."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from dockyard.errors import InputError, NotFoundError
from dockyard.scan.catalog import catalog, parse_os_release
from dockyard.scan.fs import DirectoryFS
from dockyard.scan.gobinary import parse_modinfo, read_go_buildinfo

from .conftest import write


def test_debian_rootfs(debian_rootfs: Path) -> None:
    found = catalog(DirectoryFS(debian_rootfs))
    assert found.os is not None
    assert (found.os.id, found.os.version_id, found.os.codename) == ("debian", "11", "bullseye")
    assert found.os.location == "/etc/os-release"
    by_name = {p.name: p for p in found.packages}
    assert "removed-thing" not in by_name  # not installed
    libssl = by_name["libssl1.1"]
    assert (libssl.source_name, libssl.source_version) == ("openssl", "1.1.1n-0+deb11u3")
    assert libssl.location == "/var/lib/dpkg/status"
    assert libssl.purl == "pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb11u3?arch=amd64&distro=debian-11"
    zlib = by_name["zlib1g"]
    assert (zlib.source_name, zlib.source_version) == ("zlib", "1:1.2.11.dfsg-2+deb11u2")
    assert by_name["openssl"].source_name == "openssl"
    requests = by_name["requests"]
    assert requests.type == "python-pkg"
    assert requests.location.endswith("requests-2.19.0.dist-info/METADATA")
    assert requests.purl == "pkg:pypi/requests@2.19.0"
    stdlib = by_name["stdlib"]
    assert stdlib.type == "gobinary"
    assert stdlib.version == "v1.19.8"  # Debian bookworm's golang-go 1.19
    assert stdlib.location == "/usr/bin/docker-registry"
    assert stdlib.module_path == "github.com/docker/distribution/cmd/registry"


def test_docker_registry_build_info() -> None:
    with Path("/usr/bin/docker-registry").open("rb") as handle:
        info = read_go_buildinfo(handle)
    assert info is not None
    assert info.go_version.startswith("go1.")
    with Path("/bin/sh").open("rb") as handle:
        assert read_go_buildinfo(handle) is None
    assert read_go_buildinfo(io.BytesIO(b"not an elf")) is None


def test_modinfo_parsing() -> None:
    text = (
        "path\texample.com/cmd/app\n"
        "mod\texample.com\tv1.0.0\th1:abc=\n"
        "dep\tgolang.org/x/net\tv0.0.0-20210101000000-abcdefabcdef\th1:x=\n"
        "dep\tgithub.com/old/thing\tv1.2.0\n"
        "=>\tgithub.com/new/thing\tv1.3.0\th1:y=\n"
        "build\tGOOS=linux\n"
    )
    info = parse_modinfo("go1.21.0", text)
    assert info.main is not None
    assert info.main.version == "v1.0.0"
    assert [d.path for d in info.deps] == ["golang.org/x/net", "github.com/old/thing"]
    assert info.deps[1].replaced_by is not None
    assert info.deps[1].replaced_by.version == "v1.3.0"
    assert ("GOOS", "linux") in info.settings


def test_alpine_and_language_catalogers(alpine_rootfs: Path) -> None:
    root = alpine_rootfs
    write(
        root / "app/node_modules/left-pad/package.json",
        json.dumps({"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}),
    )
    write(
        root / "app/node_modules/@scope/pkg/package.json",
        json.dumps({"name": "@scope/pkg", "version": "2.0.0"}),
    )
    write(
        root / "app/node_modules/left-pad/test/package.json",
        json.dumps({"name": "fixture", "version": "0.0.0"}),
    )
    write(root / "app/package.json", json.dumps({"name": "app", "version": "1.0.0"}))
    write(
        root / "usr/lib/python3.11/site-packages/six-1.16.0.egg-info/PKG-INFO",
        "Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n",
    )
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr(
            "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
            "groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n",
        )
    write(root / "opt/app/lib/log4j-core.jar", jar.getvalue())
    manifest_jar = io.BytesIO()
    with zipfile.ZipFile(manifest_jar, "w") as zf:
        zf.writestr(
            "META-INF/MANIFEST.MF",
            "Manifest-Version: 1.0\r\nImplementation-Title: tool\r\nImplementation-Version: 3.1\r\n",
        )
    write(root / "opt/app/lib/tool.jar", manifest_jar.getvalue())
    write(root / "opt/app/lib/broken.jar", b"PK not really")
    found = catalog(DirectoryFS(root))
    assert found.os is not None
    assert found.os.id == "alpine"
    got = {(p.type, p.name, p.version, p.location) for p in found.packages}
    assert ("alpine", "libcrypto1.1", "1.1.1c-r0", "/lib/apk/db/installed") in got
    assert ("node-pkg", "left-pad", "1.3.0", "/app/node_modules/left-pad/package.json") in got
    assert ("node-pkg", "@scope/pkg", "2.0.0", "/app/node_modules/@scope/pkg/package.json") in got
    assert not any(p.name in ("fixture", "app") for p in found.packages)
    assert (
        "python-pkg",
        "six",
        "1.16.0",
        "/usr/lib/python3.11/site-packages/six-1.16.0.egg-info/PKG-INFO",
    ) in got
    log4j = next(p for p in found.packages if p.name.endswith("log4j-core"))
    assert log4j.purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert log4j.location.startswith("/opt/app/lib/log4j-core.jar!/META-INF/maven/")
    assert any(p.name == "tool" and p.version == "3.1" for p in found.packages)
    crypto = next(p for p in found.packages if p.name == "libcrypto1.1")
    assert crypto.source_name == "openssl"
    assert crypto.purl == "pkg:apk/alpine/libcrypto1.1@1.1.1c-r0?arch=x86_64&distro=alpine-3.10.2"


def test_dpkg_status_d_and_symlinks_stay_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(
        root / "var/lib/dpkg/status.d/base",
        "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
    )
    (root / "etc").mkdir()
    (root / "etc/os-release").symlink_to("/../../../../etc/hostname-nope")
    fs = DirectoryFS(root)
    assert not fs.exists("/etc/os-release")
    with pytest.raises(NotFoundError):
        fs.read_bytes("/etc/os-release")
    found = catalog(fs)
    assert found.os is None
    assert [(p.name, p.location) for p in found.packages] == [
        ("base-files", "/var/lib/dpkg/status.d/base")
    ]
    with pytest.raises(InputError):
        DirectoryFS(tmp_path / "missing")


def test_os_release_variants() -> None:
    info = parse_os_release('ID="debian"\nVERSION="10 (buster)"\nVERSION_ID="10"\n')
    assert info is not None
    assert info.codename == "buster"
    assert parse_os_release("NAME=x\n") is None
