"""The scan, sbom and db commands end to end, over real data."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from dockyard.cli import app


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_acceptance_debian_python_go(debian_rootfs: Path, small_vulndb: Path) -> None:
    code, out, err = _run(
        "scan",
        str(debian_rootfs),
        "--db",
        str(small_vulndb),
        "--format",
        "json",
        "--progress",
        "quiet",
        "--exit-code",
        "1",
        "--severity",
        "UNKNOWN,HIGH,CRITICAL",
    )
    assert code == 1, err
    assert "vulnerabilities at severity" in err
    report = json.loads(out)
    assert report["SchemaVersion"] == 2
    vulns = {
        (v["PkgName"], v["VulnerabilityID"]): v
        for r in report["Results"]
        for v in r["Vulnerabilities"]
    }
    assert vulns[("requests", "CVE-2018-18074")]["FixedVersion"] == "2.20.0"
    assert vulns[("requests", "CVE-2018-18074")]["PkgPath"].endswith("METADATA")
    assert vulns[("stdlib", "CVE-2023-29403")]["FixedVersion"] == "1.19.10"
    assert vulns[("libssl1.1", "CVE-2022-2097")]["FixedVersion"] == "1.1.1n-0+deb11u4"
    classes = {r["Class"] for r in report["Results"]}
    assert classes == {"os-pkgs", "lang-pkgs"}
    os_result = next(r for r in report["Results"] if r["Class"] == "os-pkgs")
    assert os_result["Type"] == "debian"
    assert "(debian 11)" in os_result["Target"]
    assert "WARNING" in err
    assert "debian-dsa" in err  # a stale database is loud


def test_gate_filters(
    debian_rootfs: Path, small_vulndb: Path, tmp_path: Path, monkeypatch: object
) -> None:
    base = (
        "scan",
        "--rootfs",
        str(debian_rootfs),
        "--db",
        str(small_vulndb),
        "--progress",
        "quiet",
        "--exit-code",
        "4",
    )
    code, out, _ = _run(*base, "--severity", "CRITICAL")
    assert code == 0  # nothing rated critical in this data
    assert "Total: 0" in out
    ignore = tmp_path / "ignore"
    ignore.write_text(
        "# accepted\nCVE-2018-18074\nCVE-2023-32681 exp:2999-01-01\nCVE-2022-2097 exp:2000-01-01\n"
    )
    code, out, _ = _run(*base, "--format", "json", "--ignorefile", str(ignore))
    assert code == 4
    ids = {v["VulnerabilityID"] for r in json.loads(out)["Results"] for v in r["Vulnerabilities"]}
    assert "CVE-2018-18074" not in ids
    assert "CVE-2023-32681" not in ids
    assert "CVE-2022-2097" in ids  # its ignore entry expired
    code, _out, err = _run(*base, "--db-require-fresh")
    assert code == 1
    assert "stale" in err
    code, _out, err = _run(*base, "--severity", "BOGUS")
    assert code == 2


def test_alpine_scan_reports_secdb_fixes(alpine_rootfs: Path, small_vulndb: Path) -> None:
    code, out, _ = _run(
        "scan",
        str(alpine_rootfs),
        "--db",
        str(small_vulndb),
        "--format",
        "json",
        "--progress",
        "quiet",
        "--ignore-unfixed",
    )
    assert code == 0
    vulns = [v for r in json.loads(out)["Results"] for v in r["Vulnerabilities"]]
    fixes = {(v["PkgName"], v["VulnerabilityID"]): v["FixedVersion"] for v in vulns}
    assert fixes[("libcrypto1.1", "CVE-2019-1547")] == "1.1.1d-r0"


def test_image_refs_and_missing_db(tmp_path: Path, debian_rootfs: Path) -> None:
    # the database is checked before an image is read (or a registry is contacted)
    code, _out, err = _run(
        "scan", "docker.io/library/alpine:3.10", "--db", str(tmp_path / "none.sqlite")
    )
    assert code == 1
    assert "db import" in err
    code, _out, err = _run("scan", str(debian_rootfs), "--db", str(tmp_path / "none.sqlite"))
    assert code == 1
    assert "db import" in err


def test_db_import_and_status(vulndb_dir: Path, dockyard_home: Path) -> None:
    code, out, err = _run(
        "db",
        "import",
        str(vulndb_dir / "pypi" / "requests"),
        str(vulndb_dir / "alpine-secdb" / "v3.10"),
        "--progress",
        "quiet",
    )
    assert code == 0, err
    assert "osv-pypi" in out
    assert (dockyard_home / "db" / "vuln.sqlite").is_file()
    code, out, err = _run("db", "status", "--format", "json")
    assert code == 0
    status = json.loads(out)
    sources = {s["name"]: s for s in status["sources"]}
    assert sources["osv-pypi"]["advisories"] == 5
    assert sources["osv-pypi"]["stale"] is True
    assert sources["alpine-secdb"]["built"] is None
    assert "no recorded build time" in err
    code, _out, err = _run("db", "import", str(vulndb_dir / "nope"))
    assert code == 2
    assert "no such file" in err


def test_sbom_formats(debian_rootfs: Path, tmp_path: Path) -> None:
    code, out, _ = _run("sbom", str(debian_rootfs), "--format", "cyclonedx", "--progress", "quiet")
    assert code == 0
    bom = json.loads(out)
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["specVersion"] == "1.5"
    purls = {c.get("purl") for c in bom["components"]}
    assert "pkg:pypi/requests@2.19.0" in purls
    assert "pkg:golang/stdlib@v1.19.8" in purls
    assert any(c["type"] == "operating-system" for c in bom["components"])
    target = tmp_path / "sbom.spdx.json"
    code, _out, _ = _run(
        "sbom",
        "--rootfs",
        str(debian_rootfs),
        "--format",
        "spdx-json",
        "-o",
        str(target),
        "--progress",
        "quiet",
    )
    assert code == 0
    doc = json.loads(target.read_text())
    assert doc["spdxVersion"] == "SPDX-2.3"
    refs = {r["referenceLocator"] for p in doc["packages"] for r in p["externalRefs"]}
    assert "pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb11u3?arch=amd64&distro=debian-11" in refs
    assert len(doc["relationships"]) == len(doc["packages"])
    code, out, _ = _run("sbom", str(debian_rootfs), "--format", "json", "--progress", "quiet")
    assert json.loads(out)["os"]["codename"] == "bullseye"
