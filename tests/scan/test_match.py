"""OSV range semantics, CVSS scores, alias merging and distro matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InputError, InvalidVersionError
from dockyard.scan.catalog import Catalog, OSInfo, Package
from dockyard.scan.cvss import cvss3_base_score, normalize_severity, rating
from dockyard.scan.db import VulnDB
from dockyard.scan.match import match
from dockyard.scan.osv import Affected, Range, evaluate, parse_osv
from dockyard.scan.versions import GO, PEP440, SEMVER


def _affected(*events: tuple[str, str], versions: tuple[str, ...] = ()) -> Affected:
    return Affected("npm", "x", (Range("SEMVER", events),), versions)


@pytest.mark.parametrize(
    ("installed", "affected", "fixed"),
    [
        ("1.0.0", True, "1.2.0"),
        ("1.2.0", False, None),
        ("1.5.0", False, None),
        ("2.0.0", True, "2.0.5"),
        ("2.0.5", False, None),
        ("0.0.1", True, "1.2.0"),
    ],
)
def test_introduced_fixed_pairs(installed: str, affected: bool, fixed: str | None) -> None:
    # events out of order on purpose: OSV says to sort them
    entry = _affected(
        ("introduced", "2.0.0"), ("fixed", "2.0.5"), ("introduced", "0"), ("fixed", "1.2.0")
    )
    verdict = evaluate(SEMVER, installed, entry)
    assert (verdict.affected, verdict.fixed_version) == (affected, fixed)


def test_last_affected_and_limit() -> None:
    last = _affected(("introduced", "1.0.0"), ("last_affected", "1.4.0"))
    assert evaluate(SEMVER, "1.4.0", last).affected
    assert evaluate(SEMVER, "1.4.0", last).fixed_version is None
    assert not evaluate(SEMVER, "1.4.1", last).affected
    assert not evaluate(SEMVER, "0.9.0", last).affected
    limited = _affected(("introduced", "0"), ("limit", "3.0.0"))
    assert evaluate(SEMVER, "2.9.9", limited).affected
    assert not evaluate(SEMVER, "3.0.0", limited).affected


def test_enumerated_versions_and_git_ranges() -> None:
    entry = Affected(
        "PyPI", "x", (Range("GIT", (("introduced", "abc"), ("fixed", "def"))),), ("1.0", "1.1.0")
    )
    assert evaluate(PEP440, "1.1", entry).affected  # 1.1 == 1.1.0 in PEP 440
    assert not evaluate(PEP440, "1.2", entry).affected


def test_go_pseudo_and_prerelease_intro() -> None:
    entry = Affected(
        "Go",
        "stdlib",
        (
            Range(
                "SEMVER",
                (
                    ("introduced", "0"),
                    ("fixed", "1.19.10"),
                    ("introduced", "1.20.0-0"),
                    ("fixed", "1.20.5"),
                ),
            ),
        ),
    )
    assert evaluate(GO, "v1.19.8", entry).fixed_version == "1.19.10"
    assert evaluate(GO, "go1.20rc1", entry).fixed_version == "1.20.5"
    assert not evaluate(GO, "v1.20.5", entry).affected


def test_unparseable_installed_version_is_an_input_error() -> None:
    with pytest.raises(InvalidVersionError):
        evaluate(SEMVER, "not.a.version!", _affected(("introduced", "0")))


def test_parse_osv_severity_and_errors() -> None:
    advisory = parse_osv(
        {
            "id": "X-1",
            "aliases": ["CVE-1"],
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
            ],
            "affected": [{"package": {"ecosystem": "PyPI", "name": "Foo_Bar"}, "versions": ["1"]}],
        },
        source="s",
        location="x.json",
    )
    assert advisory.severity == "CRITICAL"
    assert advisory.cvss_score == 9.8
    assert advisory.affected[0].package == "foo-bar"
    rated = parse_osv(
        {"id": "GHSA-1", "database_specific": {"severity": "MODERATE"}}, source="s", location="y"
    )
    assert rated.severity == "MEDIUM"
    assert parse_osv({"id": "Z"}, source="s", location="z").severity == "UNKNOWN"
    with pytest.raises(InputError, match=r"z\.json"):
        parse_osv({"no": "id"}, source="s", location="z.json")


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H/E:P", 9.9),
    ],
)
def test_cvss3_base_scores(vector: str, score: float) -> None:
    assert cvss3_base_score(vector) == score


def test_cvss_errors_and_ratings() -> None:
    with pytest.raises(InputError):
        cvss3_base_score("CVSS:4.0/AV:N")
    with pytest.raises(InputError):
        cvss3_base_score("CVSS:3.1/AV:N/AC:L")
    assert [rating(s) for s in (9.0, 7.0, 4.0, 0.1)] == ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
    assert normalize_severity("Important") == "HIGH"
    assert normalize_severity(None) == "UNKNOWN"


def _pkg(type_: str, name: str, version: str, **kw: str) -> Package:
    return Package(type=type_, name=name, version=version, location="/proof", purl="pkg:x", **kw)


def test_distro_matching_uses_source_package_and_release(small_vulndb: Path) -> None:
    libssl = _pkg(
        "debian",
        "libssl1.1",
        "1.1.1n-0+deb11u3",
        source_name="openssl",
        source_version="1.1.1n-0+deb11u3",
    )
    with VulnDB.open(small_vulndb) as db:
        bullseye = match(Catalog(OSInfo("debian", "11", "bullseye"), (libssl,)), db)
        # the same package on a release the DSA list has no entries for: nothing
        unknown = match(Catalog(OSInfo("debian", "42", "nosuch"), (libssl,)), db)
        # a dpkg package on a non-Debian OS is not matched against Debian data
        ubuntu = match(Catalog(OSInfo("ubuntu", "22.04", "jammy"), (libssl,)), db)
        patched = match(
            Catalog(
                OSInfo("debian", "11", ""),  # codename from VERSION_ID
                (
                    _pkg(
                        "debian",
                        "libssl1.1",
                        "1.1.1w-0+deb11u1",
                        source_name="openssl",
                        source_version="1.1.1w-0+deb11u1",
                    ),
                ),
            ),
            db,
        )
    found = {f.vulnerability_id: f for f in bullseye.findings}
    assert found["CVE-2022-2097"].fixed_version == "1.1.1n-0+deb11u4"  # the backport, not upstream
    assert "DSA-5343-1" in found["CVE-2022-2097"].aliases
    assert len(found) == len(bullseye.findings)  # one finding per CVE
    # regression: the DSA bundles several CVEs; each stays its own finding, not folded into one
    bundled = {f.vulnerability_id for f in bullseye.findings if "DSA-5343-1" in f.aliases}
    assert {"CVE-2022-2097", "CVE-2022-4304", "CVE-2023-0286"} <= bundled
    assert not unknown.findings
    assert not ubuntu.findings
    assert not {f.vulnerability_id for f in patched.findings} & {"CVE-2022-2097"}


def test_alpine_matches_origin_on_branch(small_vulndb: Path) -> None:
    pkgs = (
        _pkg("alpine", "libcrypto1.1", "1.1.1c-r0", source_name="openssl"),
        _pkg("alpine", "libssl1.1", "1.1.1g-r0", source_name="openssl"),
    )
    with VulnDB.open(small_vulndb) as db:
        result = match(Catalog(OSInfo("alpine", "3.10.2"), pkgs), db)
        other_branch = match(Catalog(OSInfo("alpine", "3.12.0"), pkgs), db)
    by_pkg = {(f.package.name, f.vulnerability_id): f for f in result.findings}
    assert by_pkg[("libcrypto1.1", "CVE-2019-1547")].fixed_version == "1.1.1d-r0"
    assert not [f for f in result.findings if f.package.name == "libssl1.1"]
    assert not other_branch.findings


def test_aliases_merge_into_one_finding(tmp_path: Path) -> None:
    from dockyard.scan.db import import_sources

    record = {
        "id": "GHSA-aaaa",
        "aliases": ["CVE-2099-1"],
        "modified": "2024-01-01T00:00:00Z",
        "summary": "from ghsa",
        "database_specific": {"severity": "HIGH"},
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                ],
            }
        ],
    }
    other = {
        "id": "PYSEC-1",
        "aliases": ["CVE-2099-1", "GHSA-aaaa"],
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0.1"}]}
                ],
            }
        ],
    }
    withdrawn = dict(record, id="PYSEC-2", aliases=["CVE-2099-2"], withdrawn="2024-02-01T00:00:00Z")
    src = tmp_path / "osv"
    src.mkdir()
    import json

    for doc in (record, other, withdrawn):
        (src / f"{doc['id']}.json").write_text(json.dumps(doc))
    db_path = tmp_path / "v.sqlite"
    import_sources([src], db_path=db_path)
    with VulnDB.open(db_path) as db:
        result = match(Catalog(None, (_pkg("python-pkg", "Demo", "1.0"),)), db)
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert finding.vulnerability_id == "CVE-2099-1"
    assert set(finding.aliases) == {"GHSA-aaaa", "PYSEC-1"}
    assert finding.severity == "HIGH"
    assert finding.fixed_version == "2.0.1"


def test_junk_installed_version_is_skipped_not_fatal(small_vulndb: Path) -> None:
    with VulnDB.open(small_vulndb) as db:
        result = match(Catalog(None, (_pkg("gobinary", "stdlib", "vgarbage!"),)), db)
    assert not result.findings
    assert result.skipped
    assert "unparseable" in result.skipped[0][1]
