"""Maven order and jar matching, cargo-auditable Rust binaries, RPM order against rpm itself."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from dockyard.scan.catalog import catalog
from dockyard.scan.db import VulnDB, import_sources
from dockyard.scan.fs import DirectoryFS
from dockyard.scan.imagefs import ImageFS
from dockyard.scan.match import match
from dockyard.scan.versions import MAVEN, RPM, scheme_for

from ._images import E, layer_tar, write_layout
from .conftest import write

# orderings from Maven's version order specification (pom reference)
MAVEN_ORDER = [
    ("1", "<", "1.1"),
    ("1-snapshot", "<", "1"),
    ("1", "<", "1-sp"),
    ("1-foo2", "<", "1-foo10"),
    ("1.foo", "=", "1-foo"),
    ("1-foo", "<", "1-1"),
    ("1-1", "<", "1.1"),
    ("1.ga", "=", "1"),
    ("1-ga", "=", "1-0"),
    ("1-0", "=", "1.0"),
    ("1.0", "=", "1"),
    ("1-sp", ">", "1-ga"),
    ("1-sp.1", ">", "1-ga.1"),
    ("1-a1", "=", "1-alpha-1"),
    ("1.0.0", "=", "1"),
    ("1.0-alpha1", "<", "1.0-beta1"),
    ("1.0-beta1", "<", "1.0-M1"),
    ("1.0-milestone1", "<", "1.0-RC1"),
    ("1.0-rc1", "=", "1.0-cr1"),
    ("1.0-RC1", "<", "1.0-SNAPSHOT"),
    ("1.0-SNAPSHOT", "<", "1.0"),
    ("1.0", "=", "1.0.Final"),
    ("1.0", "<", "1.0-xyz"),
    ("1.0-sp", "<", "1.0-xyz"),
    ("2.0.0-RC1", "<", "2.0.0"),
    ("2.9.10.7", ">", "2.9.10"),
    ("2.12.6.1", "<", "2.12.7"),
    ("5.3.17", "<", "5.3.18"),
]


@pytest.mark.parametrize(("a", "op", "b"), MAVEN_ORDER)
def test_maven_version_order(a: str, op: str, b: str) -> None:
    want = {"<": -1, "=": 0, ">": 1}[op]
    assert MAVEN.compare(a, b) == want
    assert MAVEN.compare(b, a) == -want
    assert scheme_for("Maven") is MAVEN


def _jar(group: str, artifact: str, version: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            f"META-INF/maven/{group}/{artifact}/pom.properties",
            f"groupId={group}\nartifactId={artifact}\nversion={version}\n",
        )
    return out.getvalue()


def _osv(path: Path, ident: str, ecosystem: str, name: str, fixed: str) -> None:
    record = {
        "id": ident,
        "modified": "2026-08-01T00:00:00Z",
        "aliases": [],
        "summary": f"a flaw in {name}",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
        "database_specific": {"severity": "HIGH"},
    }
    write(path / f"{ident}.json", json.dumps(record))


def test_jars_and_rust_binaries_are_matched(tmp_path: Path) -> None:
    records = tmp_path / "osv"
    _osv(records, "GHSA-jjjj-1111-aaaa", "Maven", "com.example:lib", "2.9.10.7")
    _osv(records, "GHSA-jjjj-2222-bbbb", "Maven", "com.example:newer", "1.0")
    _osv(records, "RUSTSEC-2099-0001", "crates.io", "smallvec", "1.6.1")
    db = tmp_path / "vuln.sqlite"
    import_sources([records], db_path=db)

    root = tmp_path / "rootfs"
    write(root / "app/lib/lib.jar", _jar("com.example", "lib", "2.9.10"))
    write(root / "app/lib/newer.jar", _jar("com.example", "newer", "1.0-SNAPSHOT.1"))
    write(root / "app/lib/ok.jar", _jar("com.example", "newer", "1.0.1"))
    rust = _auditable_binary(tmp_path)
    shutil.copy(rust, root / "app/server")
    found = catalog(DirectoryFS(root))
    crates = {(p.name, p.version) for p in found.packages if p.type == "rustbinary"}
    assert crates == {("smallvec", "1.6.0"), ("serde", "1.0.130")}  # no build deps, no root
    with VulnDB.open(db) as vulndb:
        result = match(found, vulndb)
    hits = {(f.package.name, f.package.version, f.vulnerability_id) for f in result.findings}
    assert hits == {
        ("com.example:lib", "2.9.10", "GHSA-jjjj-1111-aaaa"),
        ("com.example:newer", "1.0-SNAPSHOT.1", "GHSA-jjjj-2222-bbbb"),
        ("smallvec", "1.6.0", "RUSTSEC-2099-0001"),
    }


AUDIT = {
    "format": 1,
    "packages": [
        {"name": "server", "version": "0.1.0", "source": "local", "root": True},
        {"name": "smallvec", "version": "1.6.0", "source": "crates.io", "kind": "runtime"},
        {"name": "serde", "version": "1.0.130", "source": "crates.io"},
        {"name": "cc", "version": "1.0.70", "source": "crates.io", "kind": "build"},
    ],
}


def _auditable_binary(tmp_path: Path) -> Path:
    """A real ELF with a ``.dep-v0`` section, as cargo-auditable writes it (via objcopy)."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        pytest.fail("objcopy (binutils) is not installed")
    section = tmp_path / "dep-v0"
    section.write_bytes(zlib.compress(json.dumps(AUDIT).encode()))
    out = tmp_path / "rust-server"
    subprocess.run(
        [objcopy, "--add-section", f".dep-v0={section}", "/bin/true", str(out)], check=True
    )
    out.chmod(0o755)
    return out


def test_image_reader_keeps_cargo_auditable_binaries(tmp_path: Path) -> None:
    from dockyard.image.content import select_platform
    from dockyard.image.layout import OCILayout

    binary = _auditable_binary(tmp_path).read_bytes()
    tar = layer_tar([E("usr/bin/server", binary, mode=0o755)])
    layout = write_layout(tmp_path / "layout", [tar])
    image = select_platform(OCILayout.open(layout).source("1"))
    with ImageFS(image) as fs:
        found = catalog(fs)
    assert {p.name for p in found.packages} == {"smallvec", "serde"}


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm not installed")
def test_rpm_agrees_with_rpm_vercmp() -> None:
    """A property test: random version pairs ordered like rpm's own rpmvercmp."""
    rng = random.Random(9)
    alphabet = "0123456789.~^_ab"

    def version() -> str:
        return str(rng.randint(0, 3)) + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 6))
        )

    pairs = [(version(), version()) for _ in range(300)]
    table = ",".join(f'{{"{a}","{b}"}}' for a, b in pairs)
    script = (
        f"%{{lua: for _, p in ipairs({{{table}}}) do print(rpm.vercmp(p[1], p[2]) .. ' ') end}}"
    )
    out = subprocess.run(["rpm", "--eval", script], capture_output=True, text=True, check=True)
    for (a, b), word in zip(pairs, out.stdout.split(), strict=True):
        assert RPM.compare(a, b) == int(word), (a, b)
