"""Semantic versions (npm, crates) and Go module versions (``v``-prefixed, pseudo-versions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from dockyard.errors import InvalidVersionError
from dockyard.scan.versions._base import cmp, invalid

_SEMVER = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?((?:\.[0-9A-Za-z]+)*)"
    r"(?:-([0-9A-Za-z.-]*))?(?:\+([0-9A-Za-z.+-]*))?$"
)
_GO_TOOLCHAIN = re.compile(r"^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?$")


@dataclass(frozen=True, slots=True)
class SemVer:
    """A parsed version; build metadata (and components past the third) do not order."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...]


@lru_cache(maxsize=65536)
def parse(text: str) -> SemVer:
    """Parse ``[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]``; raises InvalidVersionError."""
    value = text.strip()
    match = _SEMVER.match(value)
    if match is None:
        raise invalid("semver", text, "expected MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]")
    major, minor, patch, _extra, pre, _build = match.groups()
    prerelease = tuple(pre.split(".")) if pre is not None else ()
    if pre is not None and pre == "":
        prerelease = ("",)
    return SemVer(int(major), int(minor or 0), int(patch or 0), prerelease)


def _cmp_identifier(a: str, b: str) -> int:
    a_num, b_num = a.isdigit(), b.isdigit()
    if a_num and b_num:
        return cmp(int(a), int(b))
    if a_num != b_num:
        return -1 if a_num else 1
    return cmp(a, b)


def compare_parsed(v: SemVer, w: SemVer) -> int:
    """Order two parsed versions: a prerelease sorts before its release."""
    diff = cmp((v.major, v.minor, v.patch), (w.major, w.minor, w.patch))
    if diff:
        return diff
    if not v.prerelease or not w.prerelease:
        return cmp(not v.prerelease, not w.prerelease)
    for a, b in zip(v.prerelease, w.prerelease, strict=False):
        diff = _cmp_identifier(a, b)
        if diff:
            return diff
    return cmp(len(v.prerelease), len(w.prerelease))


def go_toolchain_version(text: str) -> str:
    """A Go toolchain version (``go1.19.8``, ``go1.21rc2``) as the semver the Go OSV data uses.

    Versions that are already semver are returned unchanged; a trailing experiment
    annotation (``go1.21.0 X:boringcrypto``) is dropped.
    """
    value = text.strip().split(" ", 1)[0]
    match = _GO_TOOLCHAIN.match(value)
    if match is None:
        return value.removeprefix("v")
    major, minor, patch, pre_l, pre_n = match.groups()
    semver = f"{major}.{minor or 0}.{patch or 0}"
    if pre_l:
        semver += f"-{pre_l}.{pre_n}"
    return semver


class _SemVerScheme:
    def __init__(self, name: str, *, go: bool) -> None:
        self.name = name
        self._go = go

    def _parse(self, text: str) -> SemVer:
        if self._go and text.startswith("go"):
            return parse(go_toolchain_version(text))
        return parse(text)

    def compare(self, a: str, b: str) -> int:
        return compare_parsed(self._parse(a), self._parse(b))

    def is_valid(self, text: str) -> bool:
        try:
            self._parse(text)
        except InvalidVersionError:
            return False
        return True


SEMVER = _SemVerScheme("semver", go=False)
GO = _SemVerScheme("Go", go=True)
