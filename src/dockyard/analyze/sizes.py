"""Human sizes ("200MB", "1.5GiB") and ratios for the analyze gates, and their display."""

from __future__ import annotations

import math
import re

from dockyard.errors import UsageError

__all__ = ["format_size", "parse_ratio", "parse_size"]

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str, *, what: str = "size") -> int:
    """Bytes in a human size: ``1048576``, ``200MB``/``200M`` (decimal, like docker), ``1.5GiB``.

    Decimal units (kB, MB, GB, TB) are powers of 1000 as in docker's and dive's output;
    binary units (KiB, MiB, GiB, TiB) are powers of 1024. Case does not matter.
    """
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise UsageError(
            f"invalid {what} {text!r}",
            hint="write a number of bytes or a size like 200MB, 1.5GiB, 800KiB",
        )
    return math.floor(float(match.group(1)) * _UNITS[unit])


def parse_ratio(text: str, *, what: str = "ratio") -> float:
    """A ratio between 0 and 1 (``0.9``) or a percentage (``90%``)."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"invalid {what} {text!r}", hint="write a ratio between 0 and 1, e.g. 0.9")
    return value


def format_size(size: int) -> str:
    """Decimal units with three significant digits, as docker and dive print sizes."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{size} B"  # pragma: no cover - loop always returns
