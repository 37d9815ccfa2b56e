"""CVSS v4.0 scores from vectors: the specification's examples, and v4-only records rated."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InputError
from dockyard.scan.cvss import cvss4_score
from dockyard.scan.osv import parse_osv
from dockyard.scan.report import trivy_report

EXAMPLES = Path(__file__).parent / "data" / "cvss4_examples.txt"


def _examples() -> list[tuple[str, float]]:
    pairs = []
    for line in EXAMPLES.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            vector, _, score = line.rpartition(" - ")
            pairs.append((vector, float(score)))
    return pairs


@pytest.mark.parametrize(("vector", "score"), _examples())
def test_specification_examples(vector: str, score: float) -> None:
    assert cvss4_score(vector) == score


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",  # SA missing
        "CVSS:4.0/AV:X/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:4.0/AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/ZZ:1",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:S/SI:N/SA:N",  # S only for MSI/MSA
    ],
)
def test_invalid_vectors(vector: str) -> None:
    with pytest.raises(InputError):
        cvss4_score(vector)


def _record(severity: list[dict[str, str]]) -> dict[str, object]:
    return {
        "id": "GHSA-test",
        "modified": "2025-01-01T00:00:00Z",
        "summary": "a v4-rated advisory",
        "severity": severity,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}],
            }
        ],
    }


V4 = "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"  # 8.2, HIGH
V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"  # 5.3, MEDIUM


def test_a_v4_only_record_is_rated_from_its_vector() -> None:
    advisory = parse_osv(
        _record([{"type": "CVSS_V4", "score": V4}]), source="osv-pypi", location="x"
    )
    assert (advisory.severity, advisory.cvss_score, advisory.cvss_vector) == ("HIGH", 8.2, V4)


def test_v3_is_preferred_when_both_are_given() -> None:
    both = [{"type": "CVSS_V4", "score": V4}, {"type": "CVSS_V3", "score": V3}]
    advisory = parse_osv(_record(both), source="osv-pypi", location="x")
    assert (advisory.severity, advisory.cvss_score) == ("MEDIUM", 5.3)


def test_a_bad_v4_vector_falls_back_to_the_source_rating() -> None:
    record = _record([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}])
    record["database_specific"] = {"severity": "LOW"}
    advisory = parse_osv(record, source="osv-pypi", location="x")
    assert (advisory.severity, advisory.cvss_score) == ("LOW", None)


def test_trivy_report_names_the_v4_score() -> None:
    from dockyard.scan.catalog import Catalog, Package
    from dockyard.scan.match import Finding

    package = Package(
        type="python-pkg", name="demo", version="1", location="/m", purl="pkg:pypi/demo@1"
    )
    finding = Finding("GHSA-test", package, "1", "2", "HIGH", cvss_score=8.2, cvss_vector=V4)
    report = trivy_report("t", Catalog(os=None, packages=(package,)), [finding])
    vulnerability = report["Results"][0]["Vulnerabilities"][0]
    assert vulnerability["CVSS"] == {"dockyard": {"V40Vector": V4, "V40Score": 8.2}}
