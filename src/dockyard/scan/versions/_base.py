"""The interface every version scheme implements, and small helpers they share."""

from __future__ import annotations

from typing import Protocol

from dockyard.errors import InvalidVersionError


class VersionScheme(Protocol):
    """One ecosystem's version order.

    ``compare`` raises InvalidVersionError for text the scheme cannot read;
    ``is_valid`` answers the same question without raising, for callers that
    would rather report a version as unparseable than fail.
    """

    name: str

    def compare(self, a: str, b: str) -> int: ...

    def is_valid(self, text: str) -> bool: ...


def sign(value: int) -> int:
    """-1, 0 or 1."""
    return (value > 0) - (value < 0)


def cmp(a: object, b: object) -> int:
    """Three-way comparison of two values that support ``<``."""
    return int(a > b) - int(a < b)  # type: ignore[operator]


def invalid(scheme: str, text: str, why: str) -> InvalidVersionError:
    """The error for a version a scheme cannot read."""
    return InvalidVersionError(
        f"invalid {scheme} version {text!r}: {why}",
        hint="the package metadata or advisory holds a version this ecosystem does not allow",
    )
