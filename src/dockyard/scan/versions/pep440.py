"""Python package versions in PEP 440 order, with pre-PEP 440 ("legacy") versions below them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from dockyard.scan.versions._base import cmp, invalid

# PEP 440, appendix B
_PEP440 = re.compile(
    r"""
    ^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|beta|preview|pre|a|b|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$
    """,
    re.VERBOSE,
)
_PRE_NAMES = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}
_LEGACY_PARTS = re.compile(r"\d+|[a-z]+|\.|-")
_LEGACY_NAMES = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}


@dataclass(frozen=True, slots=True)
class Pep440Version:
    """A parsed version; ``legacy`` holds the setuptools-style parts of a non-PEP 440 one."""

    epoch: int
    release: tuple[int, ...]
    pre: tuple[str, int] | None
    post: int | None
    dev: int | None
    local: tuple[str, ...]
    legacy: tuple[str, ...] = ()


def _legacy(text: str) -> Pep440Version:
    parts: list[str] = []
    for raw in [*_LEGACY_PARTS.findall(text), "final"]:
        if raw == ".":
            continue
        part = _LEGACY_NAMES.get(raw, raw)
        part = part.rjust(8, "0") if part[:1].isdigit() else "*" + part
        if part.startswith("*"):
            if part < "*final":
                while parts and parts[-1] == "*final-":
                    parts.pop()
            while parts and parts[-1] == "00000000":
                parts.pop()
        parts.append(part)
    return Pep440Version(-1, (), None, None, None, (), tuple(parts))


@lru_cache(maxsize=65536)
def parse(text: str) -> Pep440Version:
    """Parse a version; a non-PEP 440 one is kept as legacy, an empty one is refused."""
    lowered = text.strip().lower()
    if not lowered:
        raise invalid("PEP 440", text, "empty")
    match = _PEP440.match(lowered)
    if match is None:
        return _legacy(lowered)
    pre = None
    if match["pre_l"]:
        pre = (_PRE_NAMES.get(match["pre_l"], match["pre_l"]), int(match["pre_n"] or 0))
    post = None
    if match["post_n1"]:
        post = int(match["post_n1"])
    elif match["post_l"]:
        post = int(match["post_n2"] or 0)
    dev = int(match["dev_n"] or 0) if match["dev_l"] else None
    local = tuple(re.split(r"[._-]", match["local"])) if match["local"] else ()
    return Pep440Version(
        int(match["epoch"] or 0),
        tuple(int(part) for part in match["release"].split(".")),
        pre,
        post,
        dev,
        local,
    )


def _cmp_release(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    return cmp(a + (0,) * (width - len(a)), b + (0,) * (width - len(b)))


def _dev_only(v: Pep440Version) -> bool:
    return v.pre is None and v.post is None and v.dev is not None


def _cmp_pre(v: Pep440Version, w: Pep440Version) -> int:
    if _dev_only(v) or _dev_only(w):
        return cmp(not _dev_only(v), not _dev_only(w))
    if v.pre is None or w.pre is None:
        return cmp(v.pre is None, w.pre is None)
    return cmp((v.pre[0][0], v.pre[1]), (w.pre[0][0], w.pre[1]))


def _cmp_optional(a: int | None, b: int | None, *, none_first: bool) -> int:
    if a is None or b is None:
        if a is None and b is None:
            return 0
        first = -1 if none_first else 1
        return first if a is None else -first
    return cmp(a, b)


def _cmp_local(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    for x, y in zip(a, b, strict=False):
        if x.isdigit() and y.isdigit():
            diff = cmp(int(x), int(y))
        elif not x.isdigit() and not y.isdigit():
            diff = cmp(x, y)
        else:
            diff = 1 if x.isdigit() else -1
        if diff:
            return diff
    return cmp(len(a), len(b))


def compare_parsed(v: Pep440Version, w: Pep440Version) -> int:
    """Order two parsed versions."""
    if v.legacy or w.legacy:
        if not (v.legacy and w.legacy):
            return -1 if v.legacy else 1
        return cmp("".join(v.legacy), "".join(w.legacy))
    return (
        cmp(v.epoch, w.epoch)
        or _cmp_release(v.release, w.release)
        or _cmp_pre(v, w)
        or _cmp_optional(v.post, w.post, none_first=True)
        or _cmp_optional(v.dev, w.dev, none_first=False)
        or _cmp_local(v.local, w.local)
    )


class _Pep440:
    name = "PEP 440"

    def compare(self, a: str, b: str) -> int:
        return compare_parsed(parse(a), parse(b))

    def is_valid(self, text: str) -> bool:
        return bool(text.strip())


PEP440 = _Pep440()
