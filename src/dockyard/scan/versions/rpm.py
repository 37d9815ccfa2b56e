"""RPM versions as ``rpmvercmp`` orders them: ``[epoch:]version[-release]``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from dockyard.scan.versions._base import invalid


@dataclass(frozen=True, slots=True)
class RpmVersion:
    """A parsed EVR; an epoch that is not all digits is part of the version."""

    epoch: str
    version: str
    release: str


def _alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def _alpha(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


@lru_cache(maxsize=65536)
def parse(text: str) -> RpmVersion:
    """Split an EVR; raises InvalidVersionError for an empty or blank string."""
    if not text.strip():
        raise invalid("rpm", text, "empty")
    epoch, colon, rest = text.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "", text
    version, dash, release = rest.partition("-")
    return RpmVersion(epoch or "0", version, dash + release if dash else "")


def rpmvercmp(a: str, b: str) -> int:
    """rpm's segment-wise comparison of one version or release string (with ``~`` and ``^``)."""
    if a == b:
        return 0
    if not a:
        return -1
    if not b:
        return 1
    i = j = 0
    la, lb = len(a), len(b)
    while True:
        while i < la and not (_alnum(a[i]) or a[i] in "~^"):
            i += 1
        while j < lb and not (_alnum(b[j]) or b[j] in "~^"):
            j += 1
        at = i < la and a[i] == "~"
        bt = j < lb and b[j] == "~"
        if at and bt:
            i += 1
            j += 1
            continue
        if at:
            return -1
        if bt:
            return 1
        ac = i < la and a[i] == "^"
        bc = j < lb and b[j] == "^"
        if ac and bc:
            i += 1
            j += 1
            continue
        if ac:
            return 1 if j == lb else -1
        if bc:
            return -1 if i == la else 1
        if i == la or j == lb:
            break
        kind = _digit if _digit(a[i]) else _alpha
        si = i
        while i < la and kind(a[i]):
            i += 1
        sj = j
        while j < lb and kind(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if kind is _digit else -1
        if kind is _digit:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    rest_a, rest_b = la - i, lb - j
    return (rest_a > rest_b) - (rest_a < rest_b)


class _Rpm:
    name = "rpm"

    def compare(self, a: str, b: str) -> int:
        va, vb = parse(a), parse(b)
        return (
            rpmvercmp(va.epoch, vb.epoch)
            or rpmvercmp(va.version, vb.version)
            or rpmvercmp(va.release, vb.release)
        )

    def is_valid(self, text: str) -> bool:
        return bool(text.strip())


RPM = _Rpm()
