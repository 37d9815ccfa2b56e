"""CVSS v3.x base scores computed from vectors, and the severity ratings they map to."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal

from dockyard.errors import InputError

__all__ = ["SEVERITIES", "cvss3_base_score", "normalize_severity", "rating"]

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
"""Ratings from lowest to highest, as trivy names them."""

_WEIGHTS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}


def _roundup(value: float) -> float:
    """CVSS 3.1 Roundup: the smallest one-decimal number not below ``value``."""
    as_int = round(value * 100000)
    if as_int % 10000 == 0:
        return as_int / 100000.0
    return (math.floor(as_int / 10000) + 1) / 10.0


def _roundup30(value: float) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_CEILING))


def cvss3_base_score(vector: str) -> float:
    """The base score of a ``CVSS:3.0/...`` or ``CVSS:3.1/...`` vector.

    Raises InputError for a vector that is not CVSS v3 or misses a base metric.
    """
    parts = vector.strip().split("/")
    if not parts or parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        raise InputError(f"not a CVSS v3 vector: {vector!r}")
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition(":")
        metrics[key] = value
    try:
        scope = metrics["S"]
        av = _WEIGHTS["AV"][metrics["AV"]]
        ac = _WEIGHTS["AC"][metrics["AC"]]
        pr = _PR[scope][metrics["PR"]]
        ui = _WEIGHTS["UI"][metrics["UI"]]
        c = _WEIGHTS["C"][metrics["C"]]
        i = _WEIGHTS["I"][metrics["I"]]
        a = _WEIGHTS["A"][metrics["A"]]
    except KeyError as exc:
        raise InputError(f"CVSS v3 vector {vector!r} lacks or misspells base metric {exc}") from exc
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    changed = scope != "U"
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    exploitability = 8.22 * av * ac * pr * ui
    if impact <= 0:
        return 0.0
    roundup = _roundup if parts[0] == "CVSS:3.1" else _roundup30
    if scope == "U":
        return roundup(min(impact + exploitability, 10))
    return roundup(min(1.08 * (impact + exploitability), 10))


def rating(score: float) -> str:
    """The qualitative rating of a CVSS v3/v4 score (0.0 is NONE, reported as LOW)."""
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    return "LOW"


_ALIASES = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "NEGLIGIBLE": "LOW", "UNIMPORTANT": "LOW"}


def normalize_severity(text: str | None) -> str:
    """A source's own rating (``Moderate``, ``high``) as one of SEVERITIES."""
    if not text:
        return "UNKNOWN"
    upper = text.strip().upper()
    upper = _ALIASES.get(upper, upper)
    return upper if upper in SEVERITIES else "UNKNOWN"
