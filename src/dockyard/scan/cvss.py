"""CVSS v3.x base scores computed from vectors, and the severity ratings they map to."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal
from typing import Any

from dockyard.errors import InputError

__all__ = ["SEVERITIES", "cvss3_base_score", "cvss4_score", "normalize_severity", "rating"]

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


# ----------------------------------------------------------------------------- CVSS v4.0
# A port of the reference calculator of the CVSS 4.0 specification (FIRST, Red Hat and
# contributors, BSD-2-Clause): the score of a vector's macro vector (the table the
# specification publishes), lowered by its mean proportional distance from the macro
# vector's highest-severity vectors. Arithmetic in the reference's order, so floats agree.

_V4_METRICS: dict[str, tuple[str, ...]] = {
    # base (mandatory)
    "AV": ("N", "A", "L", "P"),
    "AC": ("L", "H"),
    "AT": ("N", "P"),
    "PR": ("N", "L", "H"),
    "UI": ("N", "P", "A"),
    "VC": ("N", "L", "H"),
    "VI": ("N", "L", "H"),
    "VA": ("N", "L", "H"),
    "SC": ("N", "L", "H"),
    "SI": ("N", "L", "H"),
    "SA": ("N", "L", "H"),
    # threat
    "E": ("X", "A", "P", "U"),
    # environmental
    "CR": ("X", "H", "M", "L"),
    "IR": ("X", "H", "M", "L"),
    "AR": ("X", "H", "M", "L"),
    "MAV": ("X", "N", "A", "L", "P"),
    "MAC": ("X", "L", "H"),
    "MAT": ("X", "N", "P"),
    "MPR": ("X", "N", "L", "H"),
    "MUI": ("X", "N", "P", "A"),
    "MVC": ("X", "H", "L", "N"),
    "MVI": ("X", "H", "L", "N"),
    "MVA": ("X", "H", "L", "N"),
    "MSC": ("X", "H", "L", "N"),
    "MSI": ("X", "S", "H", "L", "N"),
    "MSA": ("X", "S", "H", "L", "N"),
    # supplemental (no effect on the score)
    "S": ("X", "N", "P"),
    "AU": ("X", "N", "Y"),
    "R": ("X", "A", "U", "I"),
    "V": ("X", "D", "C"),
    "RE": ("X", "L", "M", "H"),
    "U": ("X", "Clear", "Green", "Amber", "Red"),
}
_V4_BASE = ("AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA")

# Macro vector (EQ1..EQ6) -> score: the table of the CVSS 4.0 specification.
_V4_TABLE = """
000000:10 000001:9.9 000010:9.8 000011:9.5 000020:9.5 000021:9.2 000100:10 000101:9.6 000110:9.3
000111:8.7 000120:9.1 000121:8.1 000200:9.3 000201:9 000210:8.9 000211:8 000220:8.1 000221:6.8
001000:9.8 001001:9.5 001010:9.5 001011:9.2 001020:9 001021:8.4 001100:9.3 001101:9.2 001110:8.9
001111:8.1 001120:8.1 001121:6.5 001200:8.8 001201:8 001210:7.8 001211:7 001220:6.9 001221:4.8
002001:9.2 002011:8.2 002021:7.2 002101:7.9 002111:6.9 002121:5 002201:6.9 002211:5.5 002221:2.7
010000:9.9 010001:9.7 010010:9.5 010011:9.2 010020:9.2 010021:8.5 010100:9.5 010101:9.1 010110:9
010111:8.3 010120:8.4 010121:7.1 010200:9.2 010201:8.1 010210:8.2 010211:7.1 010220:7.2 010221:5.3
011000:9.5 011001:9.3 011010:9.2 011011:8.5 011020:8.5 011021:7.3 011100:9.2 011101:8.2 011110:8
011111:7.2 011120:7 011121:5.9 011200:8.4 011201:7 011210:7.1 011211:5.2 011220:5 011221:3
012001:8.6 012011:7.5 012021:5.2 012101:7.1 012111:5.2 012121:2.9 012201:6.3 012211:2.9 012221:1.7
100000:9.8 100001:9.5 100010:9.4 100011:8.7 100020:9.1 100021:8.1 100100:9.4 100101:8.9 100110:8.6
100111:7.4 100120:7.7 100121:6.4 100200:8.7 100201:7.5 100210:7.4 100211:6.3 100220:6.3 100221:4.9
101000:9.4 101001:8.9 101010:8.8 101011:7.7 101020:7.6 101021:6.7 101100:8.6 101101:7.6 101110:7.4
101111:5.8 101120:5.9 101121:5 101200:7.2 101201:5.7 101210:5.7 101211:5.2 101220:5.2 101221:2.5
102001:8.3 102011:7 102021:5.4 102101:6.5 102111:5.8 102121:2.6 102201:5.3 102211:2.1 102221:1.3
110000:9.5 110001:9 110010:8.8 110011:7.6 110020:7.6 110021:7 110100:9 110101:7.7 110110:7.5
110111:6.2 110120:6.1 110121:5.3 110200:7.7 110201:6.6 110210:6.8 110211:5.9 110220:5.2 110221:3
111000:8.9 111001:7.8 111010:7.6 111011:6.7 111020:6.2 111021:5.8 111100:7.4 111101:5.9 111110:5.7
111111:5.7 111120:4.7 111121:2.3 111200:6.1 111201:5.2 111210:5.7 111211:2.9 111220:2.4 111221:1.6
112001:7.1 112011:5.9 112021:3 112101:5.8 112111:2.6 112121:1.5 112201:2.3 112211:1.3 112221:0.6
200000:9.3 200001:8.7 200010:8.6 200011:7.2 200020:7.5 200021:5.8 200100:8.6 200101:7.4 200110:7.4
200111:6.1 200120:5.6 200121:3.4 200200:7 200201:5.4 200210:5.2 200211:4 200220:4 200221:2.2
201000:8.5 201001:7.5 201010:7.4 201011:5.5 201020:6.2 201021:5.1 201100:7.2 201101:5.7 201110:5.5
201111:4.1 201120:4.6 201121:1.9 201200:5.3 201201:3.6 201210:3.4 201211:1.9 201220:1.9 201221:0.8
202001:6.4 202011:5.1 202021:2 202101:4.7 202111:2.1 202121:1.1 202201:2.4 202211:0.9 202221:0.4
210000:8.8 210001:7.5 210010:7.3 210011:5.3 210020:6 210021:5 210100:7.3 210101:5.5 210110:5.9
210111:4 210120:4.1 210121:2 210200:5.4 210201:4.3 210210:4.5 210211:2.2 210220:2 210221:1.1
211000:7.5 211001:5.5 211010:5.8 211011:4.5 211020:4 211021:2.1 211100:6.1 211101:5.1 211110:4.8
211111:1.8 211120:2 211121:0.9 211200:4.6 211201:1.8 211210:1.7 211211:0.7 211220:0.8 211221:0.2
212001:5.3 212011:2.4 212021:1.4 212101:2.4 212111:1.2 212121:0.5 212201:1 212211:0.3 212221:0.1
"""


def _parse_table(text: str) -> dict[str, float]:
    pairs = (pair.partition(":") for pair in text.split())
    return {key: float(score) for key, _, score in pairs}


_V4_LOOKUP = _parse_table(_V4_TABLE)

_V4_LEVELS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.0, "A": 0.1, "L": 0.2, "P": 0.3},
    "PR": {"N": 0.0, "L": 0.1, "H": 0.2},
    "UI": {"N": 0.0, "P": 0.1, "A": 0.2},
    "AC": {"L": 0.0, "H": 0.1},
    "AT": {"N": 0.0, "P": 0.1},
    "VC": {"H": 0.0, "L": 0.1, "N": 0.2},
    "VI": {"H": 0.0, "L": 0.1, "N": 0.2},
    "VA": {"H": 0.0, "L": 0.1, "N": 0.2},
    "SC": {"H": 0.1, "L": 0.2, "N": 0.3},
    "SI": {"S": 0.0, "H": 0.1, "L": 0.2, "N": 0.3},
    "SA": {"S": 0.0, "H": 0.1, "L": 0.2, "N": 0.3},
    "CR": {"H": 0.0, "M": 0.1, "L": 0.2},
    "IR": {"H": 0.0, "M": 0.1, "L": 0.2},
    "AR": {"H": 0.0, "M": 0.1, "L": 0.2},
    "E": {"U": 0.2, "P": 0.1, "A": 0.0},
}

# The highest-severity vectors of each EQ level (EQ3 and EQ6 together).
_V4_MAX_COMPOSED: dict[str, Any] = {
    "eq1": {
        0: ["AV:N/PR:N/UI:N/"],
        1: ["AV:A/PR:N/UI:N/", "AV:N/PR:L/UI:N/", "AV:N/PR:N/UI:P/"],
        2: ["AV:P/PR:N/UI:N/", "AV:A/PR:L/UI:P/"],
    },
    "eq2": {0: ["AC:L/AT:N/"], 1: ["AC:H/AT:N/", "AC:L/AT:P/"]},
    "eq3": {
        0: {
            0: ["VC:H/VI:H/VA:H/CR:H/IR:H/AR:H/"],
            1: ["VC:H/VI:H/VA:L/CR:M/IR:M/AR:H/", "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M/"],
        },
        1: {
            0: ["VC:L/VI:H/VA:H/CR:H/IR:H/AR:H/", "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H/"],
            1: [
                "VC:L/VI:H/VA:L/CR:H/IR:M/AR:H/",
                "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M/",
                "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M/",
                "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H/",
                "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M/",
            ],
        },
        2: {1: ["VC:L/VI:L/VA:L/CR:H/IR:H/AR:H/"]},
    },
    "eq4": {0: ["SC:H/SI:S/SA:S/"], 1: ["SC:H/SI:H/SA:H/"], 2: ["SC:L/SI:L/SA:L/"]},
    "eq5": {0: ["E:A/"], 1: ["E:P/"], 2: ["E:U/"]},
}

# The depth of each EQ level (its maximal severity distance, +1).
_V4_MAX_SEVERITY: dict[str, Any] = {
    "eq1": {0: 1, 1: 4, 2: 5},
    "eq2": {0: 1, 1: 2},
    "eq3eq6": {0: {0: 7, 1: 6}, 1: {0: 8, 1: 8}, 2: {1: 10}},
    "eq4": {0: 6, 1: 5, 2: 4},
}


def _v4_metrics(vector: str) -> dict[str, str]:
    parts = vector.strip().split("/")
    if parts[0] != "CVSS:4.0":
        raise InputError(f"not a CVSS v4.0 vector: {vector!r}")
    metrics = {key: values[0] for key, values in _V4_METRICS.items() if key not in _V4_BASE}
    seen: set[str] = set()
    for part in parts[1:]:
        key, _, value = part.partition(":")
        if key not in _V4_METRICS or value not in _V4_METRICS[key] or key in seen:
            raise InputError(f"CVSS v4.0 vector {vector!r}: bad or repeated metric {part!r}")
        seen.add(key)
        metrics[key] = value
    missing = [key for key in _V4_BASE if key not in seen]
    if missing:
        raise InputError(f"CVSS v4.0 vector {vector!r} lacks base metrics {', '.join(missing)}")
    return metrics


def _v4_effective(metrics: dict[str, str], metric: str) -> str:
    """The value that counts: E, CR, IR, AR not given are their worst case; a modified
    (environmental) metric overrides its base metric.
    """
    value = metrics[metric]
    if value == "X" and metric in ("E", "CR", "IR", "AR"):
        return "A" if metric == "E" else "H"
    modified = metrics.get("M" + metric, "X")
    return modified if modified != "X" else value


def _v4_macro_vector(m: dict[str, str]) -> str:
    def e(metric: str) -> str:
        return _v4_effective(m, metric)

    av, pr, ui = e("AV"), e("PR"), e("UI")
    if av == "N" and pr == "N" and ui == "N":
        eq1 = 0
    elif (av == "N" or pr == "N" or ui == "N") and av != "P":
        eq1 = 1
    else:
        eq1 = 2
    eq2 = 0 if e("AC") == "L" and e("AT") == "N" else 1
    vc, vi, va = e("VC"), e("VI"), e("VA")
    if vc == "H" and vi == "H":
        eq3 = 0
    elif vc == "H" or vi == "H" or va == "H":
        eq3 = 1
    else:
        eq3 = 2
    if e("MSI") == "S" or e("MSA") == "S":
        eq4 = 0
    elif e("SC") == "H" or e("SI") == "H" or e("SA") == "H":
        eq4 = 1
    else:
        eq4 = 2
    eq5 = {"A": 0, "P": 1, "U": 2}[e("E")]
    high = (
        (e("CR") == "H" and vc == "H")
        or (e("IR") == "H" and vi == "H")
        or (e("AR") == "H" and va == "H")
    )
    eq6 = 0 if high else 1
    return f"{eq1}{eq2}{eq3}{eq4}{eq5}{eq6}"


def _round_half_up(value: float) -> float:
    """JavaScript's ``Math.round(value * 10) / 10`` then ``toFixed(1)``."""
    return float(f"{math.floor(value * 10 + 0.5) / 10:.1f}")


def cvss4_score(vector: str) -> float:
    """The CVSS-B/BT/BE/BTE score of a ``CVSS:4.0/...`` vector (the specification's
    macro-vector method). Raises InputError for a vector that is not valid CVSS v4.0.
    """
    m = _v4_metrics(vector)
    if all(_v4_effective(m, k) == "N" for k in ("VC", "VI", "VA", "SC", "SI", "SA")):
        return 0.0
    macro = _v4_macro_vector(m)
    value = _V4_LOOKUP[macro]
    eq1, eq2, eq3, eq4, eq5, eq6 = (int(c) for c in macro)

    def lookup(*eqs: int) -> float | None:
        return _V4_LOOKUP.get("".join(str(x) for x in eqs))

    lower_eq1 = lookup(eq1 + 1, eq2, eq3, eq4, eq5, eq6)
    lower_eq2 = lookup(eq1, eq2 + 1, eq3, eq4, eq5, eq6)
    lower_eq3eq6: float | None
    if eq3 == 0 and eq6 == 0:
        left = lookup(eq1, eq2, eq3, eq4, eq5, eq6 + 1)
        right = lookup(eq1, eq2, eq3 + 1, eq4, eq5, eq6)
        lower_eq3eq6 = None if left is None or right is None else max(left, right)
    elif eq3 == 1 and eq6 == 0:
        lower_eq3eq6 = lookup(eq1, eq2, eq3, eq4, eq5, eq6 + 1)
    elif eq3 == 2 and eq6 == 1:
        lower_eq3eq6 = lookup(eq1, eq2, eq3 + 1, eq4, eq5, eq6 + 1)
    else:  # 01 -> 11, 11 -> 21
        lower_eq3eq6 = lookup(eq1, eq2, eq3 + 1, eq4, eq5, eq6)
    lower_eq4 = lookup(eq1, eq2, eq3, eq4 + 1, eq5, eq6)
    lower_eq5 = lookup(eq1, eq2, eq3, eq4, eq5 + 1, eq6)

    composed = _V4_MAX_COMPOSED
    candidates = [
        a + b + c + d + f
        for a in composed["eq1"][eq1]
        for b in composed["eq2"][eq2]
        for c in composed["eq3"][eq3][eq6]
        for d in composed["eq4"][eq4]
        for f in composed["eq5"][eq5]
    ]
    distances: dict[str, float] = {}
    for candidate in candidates:
        highest = dict(part.split(":") for part in candidate.strip("/").split("/"))
        distances = {
            metric: levels[_v4_effective(m, metric)] - levels[highest[metric]]
            for metric, levels in _V4_LEVELS.items()
        }
        if all(d >= 0 for d in distances.values()):
            break  # the first highest vector at least as severe as this one
    d = distances
    current_eq1 = d["AV"] + d["PR"] + d["UI"]
    current_eq2 = d["AC"] + d["AT"]
    current_eq3eq6 = d["VC"] + d["VI"] + d["VA"] + d["CR"] + d["IR"] + d["AR"]
    current_eq4 = d["SC"] + d["SI"] + d["SA"]

    step = 0.1
    depth = _V4_MAX_SEVERITY
    parts: list[float] = []
    for lower, current, max_severity in (
        (lower_eq1, current_eq1, depth["eq1"][eq1] * step),
        (lower_eq2, current_eq2, depth["eq2"][eq2] * step),
        (lower_eq3eq6, current_eq3eq6, depth["eq3eq6"][eq3][eq6] * step),
        (lower_eq4, current_eq4, depth["eq4"][eq4] * step),
    ):
        if lower is not None:
            parts.append((value - lower) * (current / max_severity))
    if lower_eq5 is not None:
        parts.append((value - lower_eq5) * 0)
    mean = 0.0
    if parts:
        total = 0.0
        for part in parts:
            total += part
        mean = total / len(parts)
    return _round_half_up(max(0.0, min(10.0, value - mean)))
