"""OpenVEX: not_affected and fixed statements suppress findings; products are matched by purl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dockyard.cli import app
from dockyard.errors import ConfigError
from dockyard.scan.catalog import Package
from dockyard.scan.match import Finding
from dockyard.scan.vex import apply_vex, parse_openvex, parse_purl

CONTEXT = "https://openvex.dev/ns/v0.2.0"


def _doc(*statements: dict[str, Any], timestamp: str = "2024-01-01T00:00:00Z") -> str:
    return json.dumps(
        {
            "@context": CONTEXT,
            "@id": "https://example.com/vex/1",
            "author": "security@example.com",
            "timestamp": timestamp,
            "version": 1,
            "statements": list(statements),
        }
    )


def _finding(purl: str, vuln: str, *aliases: str) -> Finding:
    package = Package(type="python-pkg", name="x", version="1", location="/x", purl=purl)
    return Finding(
        vulnerability_id=vuln,
        package=package,
        installed_version="1",
        fixed_version="2",
        severity="HIGH",
        aliases=aliases,
    )


REQUESTS = "pkg:pypi/requests@2.19.0"
LIBSSL = "pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb11u3?arch=amd64&distro=debian-11"


def test_parse_purl() -> None:
    purl = parse_purl(LIBSSL)
    assert purl is not None
    assert (purl.type, purl.namespace, purl.name) == ("deb", "debian", "libssl1.1")
    assert purl.version == "1.1.1n-0+deb11u3"
    assert dict(purl.qualifiers) == {"arch": "amd64", "distro": "debian-11"}
    go = parse_purl("pkg:golang/golang.org/x/text@v0.3.6")
    assert go is not None
    assert (go.namespace, go.name, go.version) == ("golang.org/x", "text", "v0.3.6")
    assert parse_purl("pkg:pypi/Typing_Extensions@4") == parse_purl("pkg:pypi/typing-extensions@4")
    assert parse_purl("https://example.com/app") is None
    assert parse_purl("pkg:pypi") is None


def test_purl_matching_rules() -> None:
    package = parse_purl(LIBSSL)
    assert package is not None
    for statement, expected in [
        ("pkg:deb/debian/libssl1.1", True),  # no version: every version
        ("pkg:deb/debian/libssl1.1@1.1.1n-0+deb11u3", True),
        ("pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb11u3?arch=amd64", True),  # qualifier subset
        ("pkg:deb/debian/libssl1.1@1.1.1n-0+deb11u4", False),
        ("pkg:deb/debian/libssl1.1?arch=arm64", False),
        ("pkg:deb/ubuntu/libssl1.1", False),
        ("pkg:deb/debian/openssl", False),
    ]:
        purl = parse_purl(statement)
        assert purl is not None
        assert purl.matches(package) is expected, statement


def test_not_affected_and_fixed_suppress_by_id_or_alias() -> None:
    document = parse_openvex(
        _doc(
            {
                "vulnerability": {"name": "CVE-2018-18074"},
                "products": [{"@id": REQUESTS}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            },
            {
                "vulnerability": {"name": "GHSA-j8r2-6x86-q33q"},  # an alias of the finding
                "products": [{"@id": "pkg:pypi/requests"}],
                "status": "fixed",
            },
            {
                "vulnerability": {"name": "CVE-2099-0001"},
                "products": [{"@id": REQUESTS}],
                "status": "affected",
            },
            {
                "vulnerability": {"name": "CVE-2099-0002"},
                "products": [{"@id": "pkg:pypi/urllib3@1.23"}],  # another product
                "status": "not_affected",
                "justification": "component_not_present",
            },
        )
    )
    findings = [
        _finding(REQUESTS, "CVE-2018-18074", "PYSEC-2018-28"),
        _finding(REQUESTS, "CVE-2023-32681", "GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"),
        _finding(REQUESTS, "CVE-2099-0001"),
        _finding(REQUESTS, "CVE-2099-0002"),
    ]
    kept = [f.vulnerability_id for f in apply_vex(findings, document)]
    assert kept == ["CVE-2099-0001", "CVE-2099-0002"]


def test_the_latest_statement_wins() -> None:
    earlier = {
        "vulnerability": {"name": "CVE-1"},
        "products": [{"@id": REQUESTS}],
        "status": "not_affected",
        "justification": "inline_mitigations_already_exist",
        "timestamp": "2024-01-01T00:00:00Z",
    }
    later = {
        "vulnerability": {"name": "CVE-1"},
        "products": [{"@id": REQUESTS}],
        "status": "affected",
        "timestamp": "2024-06-01T00:00:00Z",
    }
    finding = [_finding(REQUESTS, "CVE-1")]
    assert apply_vex(finding, parse_openvex(_doc(later, earlier))) == finding
    later["status"] = "under_investigation"
    earlier["timestamp"] = "2025-01-01T00:00:00+00:00"
    assert apply_vex(finding, parse_openvex(_doc(later, earlier))) == []


def test_image_product_with_subcomponents() -> None:
    digest = "sha256:" + "ab" * 32
    statement = {
        "vulnerability": {"name": "CVE-1"},
        "products": [
            {
                "@id": f"pkg:oci/app@{digest.replace(':', '%3A')}",
                "subcomponents": [{"@id": "pkg:pypi/requests"}],
            }
        ],
        "status": "not_affected",
        "justification": "vulnerable_code_not_present",
    }
    document = parse_openvex(_doc(statement))
    findings = [_finding(REQUESTS, "CVE-1"), _finding("pkg:pypi/urllib3@1.23", "CVE-1")]
    kept = apply_vex(findings, document, image_digests=[digest])
    assert [f.package.purl for f in kept] == ["pkg:pypi/urllib3@1.23"]
    # another image: the statement is not about it
    assert apply_vex(findings, document, image_digests=["sha256:" + "cd" * 32]) == findings


def test_openvex_0_0_x_strings() -> None:
    document = parse_openvex(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns",
                "@id": "x",
                "timestamp": "2023-01-01T00:00:00Z",
                "statements": [
                    {
                        "vulnerability": "CVE-1",
                        "products": [REQUESTS],
                        "status": "not_affected",
                        "justification": "component_not_present",
                    }
                ],
            }
        )
    )
    assert apply_vex([_finding(REQUESTS, "CVE-1")], document) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ('{"foo": 1}', "no statements"),
        (_doc({"vulnerability": {"name": "CVE-1"}, "status": "maybe"}), "bad status 'maybe'"),
        (_doc({"products": [REQUESTS], "status": "fixed"}), "without a vulnerability"),
        (
            _doc({"vulnerability": "CVE-1", "status": "fixed", "timestamp": "yesterday"}),
            "bad timestamp",
        ),
    ],
)
def test_bad_documents(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_openvex(text, "vex.json")
    assert "vex.json" in str(info.value)


def test_cli_vex(debian_rootfs: Path, small_vulndb: Path, tmp_path: Path) -> None:
    vex = tmp_path / "vex.json"
    vex.write_text(
        _doc(
            {
                "vulnerability": {"name": "CVE-2018-18074"},
                "products": [{"@id": "pkg:pypi/requests@2.19.0"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            },
            {
                "vulnerability": {"name": "DSA-5343-1"},
                "products": [{"@id": "pkg:deb/debian/openssl"}],
                "status": "fixed",
            },
        )
    )
    base = ["scan", str(debian_rootfs), "--db", str(small_vulndb), "--format", "json"]
    result = CliRunner().invoke(app, [*base, "--progress", "quiet", "--vex", str(vex)])
    assert result.exit_code == 0, result.stderr
    found = {
        (v["PkgName"], v["VulnerabilityID"])
        for r in json.loads(result.stdout)["Results"]
        for v in r["Vulnerabilities"]
    }
    assert ("requests", "CVE-2018-18074") not in found
    assert ("requests", "CVE-2023-32681") in found
    assert ("openssl", "CVE-2022-2097") not in found  # by its DSA alias
    assert ("libssl1.1", "CVE-2022-2097") in found  # another product

    vex.write_text("{")
    result = CliRunner().invoke(app, [*base, "--progress", "quiet", "--vex", str(vex)])
    assert result.exit_code == 2
    assert "vex.json" in result.stderr
    assert "Traceback" not in result.stderr
    result = CliRunner().invoke(app, [*base, "--vex", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "cannot read VEX document" in result.stderr
