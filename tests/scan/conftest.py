"""Fixtures for the scanner: a small real database and hand-built root filesystems."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockyard.scan.db import import_sources

GO_RECORDS = [
    "GO-2023-1840.json",
    "GO-2023-1751.json",
    "GO-2022-0617.json",
    "GO-2024-2442.json",
    "GO-2021-0113.json",  # golang.org/x/text < 0.3.7, CVE-2021-38561
]
BUILT = datetime(2026, 8, 21, tzinfo=UTC)


@pytest.fixture(scope="session")
def vulndb_dir(shared_dir: Path) -> Path:
    path = shared_dir / "vulndb"
    if not path.is_dir():
        pytest.fail(f"shared data missing: {path}")
    return path


@pytest.fixture(scope="session")
def small_vulndb(vulndb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database from real subsets: a few Go records, requests and py from PyPI,
    the Alpine v3.10 secdb and the Debian DSA list."""
    work = tmp_path_factory.mktemp("vulndb")
    go = work / "go"
    go.mkdir()
    for name in GO_RECORDS:
        shutil.copy(vulndb_dir / "go" / name, go / name)
    db = work / "vuln.sqlite"
    import_sources(
        [
            go,
            vulndb_dir / "pypi" / "requests",
            vulndb_dir / "pypi" / "py",
            vulndb_dir / "alpine-secdb" / "v3.10",
            vulndb_dir / "debian-tracker" / "data" / "DSA" / "list",
        ],
        db_path=db,
        built_at=BUILT,
    )
    return db


OS_RELEASE_BULLSEYE = (
    'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nNAME="Debian GNU/Linux"\n'
    'VERSION_ID="11"\nVERSION="11 (bullseye)"\nVERSION_CODENAME=bullseye\nID=debian\n'
)

DPKG_STATUS = """\
Package: libssl1.1
Status: install ok installed
Priority: optional
Architecture: amd64
Source: openssl
Version: 1.1.1n-0+deb11u3
Description: Secure Sockets Layer toolkit
 multi-line description

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 1.1.1n-0+deb11u3

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.11.dfsg-2+deb11u2)
Version: 1:1.2.11.dfsg-2+deb11u2+b1
"""


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def debian_rootfs(tmp_path: Path) -> Path:
    """A Debian 11 rootfs: dpkg status, requests 2.19.0, the Debian-built docker-registry."""
    root = tmp_path / "rootfs"
    write(root / "usr/lib/os-release", OS_RELEASE_BULLSEYE)
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    write(root / "var/lib/dpkg/status", DPKG_STATUS)
    write(
        root / "usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\nLicense: Apache 2.0\n\nbody\n",
    )
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed (a Debian-built Go binary)")
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy(binary, root / "usr/bin/docker-registry")
    return root


APK_INSTALLED = """\
C:Q1abc=
P:musl
V:1.1.22-r3
A:x86_64
o:musl
L:MIT

P:libcrypto1.1
V:1.1.1c-r0
A:x86_64
o:openssl
L:OpenSSL

P:libssl1.1
V:1.1.1g-r0
A:x86_64
o:openssl
"""


@pytest.fixture
def alpine_rootfs(tmp_path: Path) -> Path:
    """An Alpine 3.10 rootfs with a hand-made ``/lib/apk/db/installed``."""
    root = tmp_path / "alpine"
    write(
        root / "etc/os-release",
        'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.10.2\nPRETTY_NAME="Alpine Linux v3.10"\n',
    )
    write(root / "lib/apk/db/installed", APK_INSTALLED)
    return root


GO_MAIN = """\
package main

import (
	"example.com/lib"
	"golang.org/x/text/language"
)

func main() { println(language.Parse(lib.Name())) }
"""


@pytest.fixture(scope="session")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Go program built with modules, offline: golang.org/x/text v0.3.6 vendored
    (its version recorded in the build info) and example.com/lib v1.2.3 replaced by a
    local directory (recorded as ``=> ./lib (devel)``)."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not installed: scripts/setup apt-installs golang-go")
    work = tmp_path_factory.mktemp("gomod")
    src = work / "hello"
    write(
        src / "go.mod",
        "module example.com/hello\n\ngo 1.19\n\nrequire (\n\tgolang.org/x/text v0.3.6\n"
        "\texample.com/lib v1.2.3\n)\n\nreplace example.com/lib => ./lib\n",
    )
    lib = 'package lib\n\nfunc Name() string { return "lib" }\n'
    write(src / "lib/go.mod", "module example.com/lib\n\ngo 1.19\n")
    write(src / "lib/lib.go", lib)
    write(src / "vendor/example.com/lib/lib.go", lib)
    write(
        src / "vendor/golang.org/x/text/language/language.go",
        "package language\n\nfunc Parse(s string) string { return s }\n",
    )
    write(
        src / "vendor/modules.txt",
        "# example.com/lib v1.2.3 => ./lib\n## explicit; go 1.19\nexample.com/lib\n"
        "# golang.org/x/text v0.3.6\n## explicit\ngolang.org/x/text/language\n"
        "# example.com/lib => ./lib\n",
    )
    write(src / "main.go", GO_MAIN)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "GOFLAGS": "-mod=vendor",
        "GOPROXY": "off",
        "GOCACHE": str(work / "cache"),
        "GOPATH": str(work / "gopath"),
        "CGO_ENABLED": "0",
    }
    out = work / "hello-bin"
    subprocess.run([go, "build", "-o", str(out), "."], cwd=src, env=env, check=True)
    return out
