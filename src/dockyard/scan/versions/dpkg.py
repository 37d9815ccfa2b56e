"""Debian package versions as dpkg orders them: ``[epoch:]upstream[-revision]``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from dockyard.errors import InvalidVersionError
from dockyard.scan.versions._base import cmp, invalid

_ALLOWED = re.compile(r"^[A-Za-z0-9.+~:-]*$")


@dataclass(frozen=True, slots=True)
class DpkgVersion:
    """A parsed Debian version."""

    epoch: int
    upstream: str
    revision: str


@lru_cache(maxsize=65536)
def parse(text: str) -> DpkgVersion:
    """Parse like dpkg's ``parseversion``; raises InvalidVersionError on what dpkg rejects."""
    value = text.strip()
    if not value:
        raise invalid("dpkg", text, "empty")
    if any(ch.isspace() for ch in value):
        raise invalid("dpkg", text, "embedded whitespace")
    epoch = 0
    if ":" in value:
        head, value = value.split(":", 1)
        if not head.isdigit():
            raise invalid("dpkg", text, "epoch is not a number")
        epoch = int(head)
        if not value:
            raise invalid("dpkg", text, "nothing after the colon")
    upstream, dash, revision = value.rpartition("-")
    if not dash:
        upstream, revision = value, ""
    elif not revision:
        raise invalid("dpkg", text, "empty revision")
    if not upstream:
        raise invalid("dpkg", text, "empty upstream version")
    if not upstream[0].isdigit():
        raise invalid("dpkg", text, "version does not start with a digit")
    if not _ALLOWED.match(upstream) or not _ALLOWED.match(revision) or ":" in revision:
        raise invalid("dpkg", text, "invalid character")
    return DpkgVersion(epoch, upstream, revision)


def _order(ch: str) -> int:
    if ch == "~":
        return -1
    if ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def verrevcmp(a: str, b: str) -> int:
    """dpkg's comparison of one upstream or revision string."""
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and not a[i].isdigit()) or (j < lb and not b[j].isdigit()):
            ac = _order(a[i]) if i < la and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < lb and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            if i < la and not a[i].isdigit():
                i += 1
            if j < lb and not b[j].isdigit():
                j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and a[i].isdigit() and j < lb and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i].isdigit():
            return 1
        if j < lb and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


class _Dpkg:
    name = "dpkg"

    def compare(self, a: str, b: str) -> int:
        va, vb = parse(a), parse(b)
        return (
            cmp(va.epoch, vb.epoch)
            or verrevcmp(va.upstream, vb.upstream)
            or verrevcmp(va.revision, vb.revision)
        )

    def is_valid(self, text: str) -> bool:
        try:
            parse(text)
        except InvalidVersionError:
            return False
        return True


DPKG = _Dpkg()
