"""Image targets: merged layers with whiteouts, layer attribution, and scans of real images."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dockyard.cli import app
from dockyard.errors import ArchiveError, IntegrityError, NotFoundError
from dockyard.image.content import select_platform
from dockyard.image.layout import OCILayout
from dockyard.scan import imagefs
from dockyard.scan.catalog import catalog
from dockyard.scan.imagefs import ImageFS
from dockyard.scan.scanner import attribute_layers, open_target
from dockyard.transport import TransportOptions, copy

from ._images import E, layer_tar, write_layout
from .conftest import DPKG_STATUS, OS_RELEASE_BULLSEYE

SITE = "usr/lib/python3/dist-packages"
OPENSSL = "\nPackage: openssl-extra\nStatus: install ok installed\nArchitecture: amd64\n"
OPENSSL += "Source: openssl\nVersion: 1.1.1n-0+deb11u3\n"


def _metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n"


def _npm(name: str, version: str) -> str:
    return json.dumps({"name": name, "version": version, "license": "MIT"})


def _layers(go_binary: Path) -> list[bytes]:
    elf = Path("/bin/true").read_bytes()  # an ELF that is not a Go binary: not kept
    base = [
        E("etc", kind="dir"),
        E("usr/lib/os-release", OS_RELEASE_BULLSEYE),
        E("etc/os-release", kind="symlink", target="../usr/lib/os-release"),
        E("lib", kind="symlink", target="usr/lib"),  # merged /usr
        E("var/lib/dpkg/status", DPKG_STATUS),
        E(f"{SITE}/requests-2.19.0.dist-info/METADATA", _metadata("requests", "2.19.0")),
        E(f"{SITE}/py-1.4.0.dist-info/METADATA", _metadata("py", "1.4.0")),
        E("opt/app/node_modules/left-pad/package.json", _npm("left-pad", "1.0.0")),
        E("bin/true", elf, mode=0o755),
        E("usr/share/doc/big.txt", b"x" * 5000),
    ]
    second = [
        E("var/lib/dpkg/status", DPKG_STATUS + OPENSSL),  # rewritten: one package added
        E(f"{SITE}/.wh.py-1.4.0.dist-info"),  # pip uninstall py
        E("opt/app/node_modules/.wh..wh..opq"),  # rm -rf node_modules && npm install
        E("opt/app/node_modules/right-pad/package.json", _npm("right-pad", "1.0.0")),
        E("usr/bin/hello", go_binary.read_bytes(), mode=0o755),
        E("usr/local/bin/hello2", kind="hardlink", target="usr/bin/hello"),
    ]
    third = [
        # written through the /lib symlink of the first layer: lands in /usr/lib
        E("lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", _metadata("six", "1.16.0")),
        E("./usr/share/doc/.wh.big.txt"),
    ]
    return [layer_tar(base), layer_tar(second), layer_tar(third)]


@pytest.fixture
def layered_image(tmp_path: Path, go_binary: Path) -> tuple[Path, list[str]]:
    """An OCI layout of three layers (gzip, zstd, plain) and their diff_ids."""
    tars = _layers(go_binary)
    root = write_layout(tmp_path / "layout", tars, compression=["gzip", "zstd", "none"])
    return root, ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]


def _image(root: Path) -> ImageFS:
    return ImageFS(select_platform(OCILayout.open(root).source("1")), name=str(root))


def test_merged_layers_whiteouts_and_prefilter(layered_image: tuple[Path, list[str]]) -> None:
    root, diff_ids = layered_image
    with _image(root) as fs:
        assert [layer.diff_id for layer in fs.layers] == diff_ids
        paths = {info.path for info in fs.walk()}
        assert f"/{SITE}/requests-2.19.0.dist-info/METADATA" in paths
        assert f"/{SITE}/py-1.4.0.dist-info/METADATA" not in paths  # whiteout
        assert "/opt/app/node_modules/left-pad/package.json" not in paths  # opaque dir
        assert "/opt/app/node_modules/right-pad/package.json" in paths  # same layer: kept
        assert f"/{SITE}/six-1.16.0.dist-info/METADATA" in paths  # through the symlink
        assert "/usr/share/doc/big.txt" not in paths
        assert "/usr/local/bin/hello2" in paths
        # metadata of every file, content only of what the catalogers want
        assert "/bin/true" in paths
        with pytest.raises(NotFoundError, match="not kept"):
            fs.read_bytes("/bin/true")
        assert fs.read_bytes("/etc/os-release").startswith(b"PRETTY_NAME")
        assert fs.layer_of("/etc/os-release") == fs.layers[0]
        assert [ref.index for ref, _data in fs.history("/var/lib/dpkg/status")] == [0, 1]

        found = attribute_layers(catalog(fs), fs)
    by_key = {(p.name, p.location): p for p in found.packages}
    names = {p.name for p in found.packages}
    assert "py" not in names
    assert "left-pad" not in names
    assert {"requests", "six", "right-pad", "openssl-extra", "libssl1.1"} <= names
    status = "/var/lib/dpkg/status"
    # the second layer rewrote the status file, but installed only openssl-extra
    assert by_key[("libssl1.1", status)].layer_diff_id == diff_ids[0]
    assert by_key[("openssl-extra", status)].layer_diff_id == diff_ids[1]
    assert by_key[("six", f"/{SITE}/six-1.16.0.dist-info/METADATA")].layer_diff_id == diff_ids[2]
    for binary in ("/usr/bin/hello", "/usr/local/bin/hello2"):
        text = by_key[("golang.org/x/text", binary)]
        assert (text.version, text.layer_diff_id) == ("v0.3.6", diff_ids[1])
        assert by_key[("example.com/lib", binary)].version == "v1.2.3"  # local replace
        assert by_key[("stdlib", binary)].version.startswith("v1.")
    assert by_key[("libssl1.1", status)].layer_digest.startswith("sha256:")


def test_go_module_binary_build_info(go_binary: Path) -> None:
    from dockyard.scan.gobinary import read_go_buildinfo

    with go_binary.open("rb") as handle:
        info = read_go_buildinfo(handle)
    assert info is not None
    assert info.path == "example.com/hello"
    deps = {d.path: d for d in info.deps}
    assert deps["golang.org/x/text"].version == "v0.3.6"
    replaced = deps["example.com/lib"].replaced_by
    assert replaced is not None
    assert replaced.path == "./lib"


def test_scan_image_json_sarif_gitlab_cyclonedx(
    layered_image: tuple[Path, list[str]], small_vulndb: Path
) -> None:
    root, diff_ids = layered_image
    base = ["scan", f"oci:{root}:1", "--db", str(small_vulndb), "--progress", "quiet"]
    result = CliRunner().invoke(app, [*base, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ArtifactType"] == "container_image"
    assert report["Metadata"]["DiffIDs"] == diff_ids
    assert report["Metadata"]["ImageID"].startswith("sha256:")
    vulns = {
        (v["PkgName"], v["VulnerabilityID"]): v
        for r in report["Results"]
        for v in r["Vulnerabilities"]
    }
    text = vulns[("golang.org/x/text", "CVE-2021-38561")]
    assert (text["InstalledVersion"], text["FixedVersion"]) == ("v0.3.6", "0.3.7")
    assert text["Layer"]["DiffID"] == diff_ids[1]
    assert text["PkgPath"] in ("/usr/bin/hello", "/usr/local/bin/hello2")
    assert vulns[("requests", "CVE-2018-18074")]["Layer"]["DiffID"] == diff_ids[0]
    assert vulns[("libssl1.1", "CVE-2022-2097")]["Layer"]["DiffID"] == diff_ids[0]
    assert vulns[("openssl-extra", "CVE-2022-2097")]["Layer"]["DiffID"] == diff_ids[1]
    assert not any(name == "py" for name, _id in vulns)  # deleted by a whiteout
    total = sum(len(r["Vulnerabilities"]) for r in report["Results"])

    sarif = json.loads(CliRunner().invoke(app, [*base, "--format", "sarif"]).stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert "CVE-2021-38561" in rule_ids
    for res in run["results"]:
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert len(run["results"]) == total

    gitlab = json.loads(CliRunner().invoke(app, [*base, "--format", "gitlab"]).stdout)
    assert gitlab["scan"]["type"] == "container_scanning"
    assert gitlab["scan"]["status"] == "success"
    entry = next(
        v for v in gitlab["vulnerabilities"] if v["identifiers"][0]["value"] == "CVE-2021-38561"
    )
    assert entry["severity"] in ("Critical", "High", "Medium", "Low", "Unknown")
    assert entry["location"]["dependency"] == {
        "package": {"name": "golang.org/x/text"},
        "version": "v0.3.6",
    }
    assert entry["location"]["operating_system"] == "debian 11"
    assert entry["location"]["image"] == f"oci:{root}:1"
    assert entry["solution"] == "Upgrade golang.org/x/text to 0.3.7"
    assert len({v["id"] for v in gitlab["vulnerabilities"]}) == total

    bom = json.loads(CliRunner().invoke(app, [*base, "--format", "cyclonedx"]).stdout)
    refs = {c["bom-ref"] for c in bom["components"]}
    cve = next(v for v in bom["vulnerabilities"] if v["id"] == "CVE-2021-38561")
    assert cve["affects"]
    assert all(a["ref"] in refs for a in cve["affects"])
    assert {a["versions"][0]["version"] for a in cve["affects"]} == {"v0.3.6"}


def test_sbom_of_an_image_names_layers(layered_image: tuple[Path, list[str]]) -> None:
    root, diff_ids = layered_image
    result = CliRunner().invoke(app, ["sbom", f"oci:{root}", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["os"]["id"] == "debian"
    six = next(p for p in doc["packages"] if p["name"] == "six")
    assert six["layer_diff_id"] == diff_ids[2]


def test_busybox_image(busybox_oci: Path) -> None:
    """The shared busybox image: one layer, a static non-Go binary, no package database."""
    with open_target(f"oci:{busybox_oci}:1") as target:
        assert target.image is not None
        assert len(target.image.layers) == 1
        paths = {info.path for info in target.fs.walk()}
        assert "/bin/busybox" in paths
        found = catalog(target.fs)
    assert found.packages == ()
    assert found.warnings == ()
    # a directory holding an OCI layout is scanned as the image, not as a root filesystem
    result = CliRunner().invoke(app, ["sbom", str(busybox_oci), "--format", "cyclonedx"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["components"] == []


def test_scan_through_the_registry(
    registry: object, layered_image: tuple[Path, list[str]], small_vulndb: Path
) -> None:
    root, diff_ids = layered_image
    host = registry.host  # type: ignore[attr-defined]
    with TransportOptions() as options:
        copy(f"oci:{root}:1", f"docker://{host}/scan/layered:1", options=options)
    for name in (f"docker://{host}/scan/layered:1", f"{host}/scan/layered:1"):
        result = CliRunner().invoke(
            app,
            ["scan", name, "--db", str(small_vulndb), "--format", "json", "--progress", "quiet"],
        )
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["Metadata"]["DiffIDs"] == diff_ids
        assert report["Metadata"]["RepoDigests"][0].startswith(f"{host}/scan/layered@sha256:")
        ids = {v["VulnerabilityID"] for r in report["Results"] for v in r["Vulnerabilities"]}
        assert {"CVE-2021-38561", "CVE-2018-18074", "CVE-2022-2097"} <= ids


def test_spooled_files_are_removed(
    tmp_path: Path, go_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imagefs, "MEMORY_LIMIT", 1024)  # spool the Go binary and the status
    root = write_layout(tmp_path / "layout", _layers(go_binary))
    with _image(root) as fs:
        spool = fs._tmp
        assert spool is not None
        assert any(spool.iterdir())
        found = catalog(fs)
        assert "golang.org/x/text" in {p.name for p in found.packages}
    assert not spool.exists()


def test_bad_layers(tmp_path: Path) -> None:
    good = layer_tar([E("etc/os-release", "ID=alpine\n")])
    wrong = write_layout(tmp_path / "wrong", [good], diff_ids=["sha256:" + "0" * 64])
    with pytest.raises(IntegrityError, match="uncompresses to"):
        _image(wrong)
    escape = write_layout(tmp_path / "escape", [layer_tar([E("../../etc/passwd", "x")])])
    with pytest.raises(ArchiveError, match="outside the root"):
        _image(escape)
    junk = write_layout(tmp_path / "junk", [b"this is not a tar stream" * 40])
    result = CliRunner().invoke(app, ["sbom", f"oci:{junk}", "--format", "json"])
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert "tar" in result.stderr
    result = CliRunner().invoke(app, ["sbom", f"oci:{tmp_path}/missing"])
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.stderr
    tarball = tmp_path / "image.tar"
    tarball.write_bytes(good)
    result = CliRunner().invoke(app, ["sbom", str(tarball)])
    assert result.exit_code == 2
    assert "docker-archive:" in result.stderr


def test_docker_archive_target(
    tmp_path: Path, layered_image: tuple[Path, list[str]], small_vulndb: Path
) -> None:
    root, diff_ids = layered_image
    archive = tmp_path / "image.tar"
    copy(f"oci:{root}:1", f"docker-archive:{archive}:scan/layered:1")
    result = CliRunner().invoke(
        app,
        ["scan", f"docker-archive:{archive}", "--db", str(small_vulndb), "--format", "json"],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["Metadata"]["DiffIDs"] == diff_ids
    layers = {v["Layer"]["DiffID"] for r in report["Results"] for v in r["Vulnerabilities"]}
    assert layers == {diff_ids[0], diff_ids[1]}
