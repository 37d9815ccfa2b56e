"""Maven versions in the order of Maven's version order specification (ComparableVersion)."""

from __future__ import annotations

from functools import lru_cache

from dockyard.scan.versions._base import cmp, invalid

__all__ = ["MAVEN", "MavenScheme", "parse"]

# known qualifiers, lowest first; "" (a release: also "final", "ga", "release") sorts
# after "snapshot" and before "sp"; unknown qualifiers after all of these, lexically
_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"cr": "rc", "final": "", "ga": "", "release": ""}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}

Token = tuple[str, int | str]  # (prefix "." or "-", a number or a qualifier)


def _is_null(token: Token) -> bool:
    return token[1] == 0 or token[1] == ""


@lru_cache(maxsize=65536)
def parse(text: str) -> tuple[Token, ...]:
    """Split into (separator, item) tokens: at ``.``, ``-`` and digit/letter transitions
    (a transition counts as ``-``), empty tokens as 0, trailing null items trimmed
    from every ``-`` group as Maven normalizes its item lists.
    """
    if not text.strip():
        raise invalid("maven", text, "empty")
    raw: list[tuple[str, str]] = []
    prefix, current = "-", ""
    for ch in text.strip().lower():
        if ch in ".-":
            raw.append((prefix, current))
            prefix, current = ch, ""
        elif current and (ch.isdigit() != current[-1].isdigit()):
            raw.append((prefix, current))
            prefix, current = "-", ch
        else:
            current += ch
    raw.append((prefix, current))
    tokens: list[Token] = []
    for index, (sep, value) in enumerate(raw):
        if value.isdigit():
            tokens.append((sep, int(value)))
            continue
        if not value:
            tokens.append((sep, 0))
            continue
        following = raw[index + 1] if index + 1 < len(raw) else None
        if value in _SHORT and following and following[0] == "-" and following[1].isdigit():
            value = _SHORT[value]  # "a1" is "alpha-1"
        tokens.append((sep, _ALIASES.get(value, value)))
    # trim trailing nulls of each "-" group (the first group keeps its first item)
    groups: list[list[Token]] = []
    for token in tokens:
        if token[0] == "-" or not groups:
            groups.append([token])
        else:
            groups[-1].append(token)
    trimmed: list[Token] = []
    for number, group in enumerate(groups):
        while len(group) > 1 and _is_null(group[-1]):
            group.pop()
        if number > 0 and len(group) == 1 and _is_null(group[0]):
            group = []
        trimmed.extend(group)
    while len(trimmed) > 1 and _is_null(trimmed[-1]):
        trimmed.pop()
    return tuple(trimmed)


def _qualifier_rank(value: str) -> tuple[int, str]:
    if value in _QUALIFIERS:
        return _QUALIFIERS.index(value), ""
    return len(_QUALIFIERS), value


def _kind(token: Token) -> int:
    sep, value = token
    if isinstance(value, str):
        return 1  # ".qualifier" = "-qualifier"
    return 2 if sep == "-" else 3  # "-number" < ".number"


def _compare_token(a: Token, b: Token) -> int:
    kind_a, kind_b = _kind(a), _kind(b)
    if kind_a != kind_b:
        return cmp(kind_a, kind_b)
    if isinstance(a[1], int) and isinstance(b[1], int):
        return cmp(a[1], b[1])
    return cmp(_qualifier_rank(str(a[1])), _qualifier_rank(str(b[1])))


def _pad(other: Token) -> Token:
    """The null item a shorter version is padded with, opposite ``other``."""
    return (other[0], 0) if isinstance(other[1], int) else (other[0], "")


class MavenScheme:
    """Maven's ComparableVersion order (``1-SNAPSHOT < 1 < 1-sp``, ``1.0 = 1``)."""

    name = "maven"

    def compare(self, a: str, b: str) -> int:
        left, right = parse(a), parse(b)
        for index in range(max(len(left), len(right))):
            x = left[index] if index < len(left) else _pad(right[index])
            y = right[index] if index < len(right) else _pad(left[index])
            result = _compare_token(x, y)
            if result:
                return result
        return 0

    def is_valid(self, text: str) -> bool:
        return bool(text.strip())


MAVEN = MavenScheme()
