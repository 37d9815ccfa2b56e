"""Human sizes, ratios and the CI gates."""

from __future__ import annotations

import pytest

from dockyard.analyze import Policy, analyze_image, format_size, parse_ratio, parse_size
from dockyard.errors import PolicyViolationError, UsageError
from tests.analyze.images import scenarios


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1048576),
        ("200MB", 200_000_000),
        ("200m", 200_000_000),
        ("1.5GiB", 1610612736),
        ("800 KiB", 819200),
        ("1kb", 1000),
        ("10B", 10),
        (".5G", 500_000_000),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "12 parsecs", "-1MB", "1.2.3GB"])
def test_bad_sizes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="invalid size"):
        parse_size(text)


def test_parse_ratio() -> None:
    assert parse_ratio("0.9") == 0.9
    assert parse_ratio("95%") == pytest.approx(0.95)
    for bad in ("1.5", "x", "-0.1"):
        with pytest.raises(UsageError):
            parse_ratio(bad)


def test_format_size() -> None:
    assert [format_size(n) for n in (0, 999, 1000, 25096, 1_982_415, 123_456_789_000)] == [
        "0 B",
        "999 B",
        "1 kB",
        "25.1 kB",
        "1.98 MB",
        "123 GB",
    ]


def test_policy_names_every_broken_limit() -> None:
    report = analyze_image(scenarios()["overwrite-whiteout-opaque"].image(), name="img")
    Policy(budget=25096, max_wasted=4500, min_efficiency=0.88).enforce(report)  # all met
    with pytest.raises(PolicyViolationError) as caught:
        Policy(budget=25095, max_wasted=4499, min_efficiency=0.9).enforce(report)
    message = str(caught.value)
    assert "exceeds the budget" in message
    assert "--max-wasted" in message
    assert "--min-efficiency" in message
    assert caught.value.code == 1
