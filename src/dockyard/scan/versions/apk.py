"""Alpine package versions as apk orders them: ``1.2.3a_rc1_p2~hash-r4``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from dockyard.scan.versions._base import cmp, invalid

_NUMBERS = re.compile(r"^(?:\d+\.?)*")
_SUFFIX = re.compile(r"_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)")
_HASH = re.compile(r"^~[0-9a-f]+")
_BUILD = re.compile(r"^-r(\d*)")
# the order of suffixes; "" is the position of "no suffix"
_SUFFIX_WEIGHT = {
    name: weight
    for weight, name in enumerate(
        ["alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"]
    )
}
_NO_SUFFIX = (_SUFFIX_WEIGHT[""], 0)


@dataclass(frozen=True, slots=True)
class ApkVersion:
    """A parsed apk version; ``invalid`` when text is left that apk's grammar does not allow."""

    original: str
    numbers: tuple[str, ...]
    letter: str
    suffixes: tuple[tuple[int, int], ...]
    build: int
    remainder: str
    invalid: bool


@lru_cache(maxsize=65536)
def parse(text: str) -> ApkVersion:
    """Parse an apk version; only an empty or blank string is refused.

    apk itself accepts malformed versions (``apk version -t`` still orders them), so
    a version that breaks the grammar is kept and marked ``invalid``.
    """
    if not text.strip() or any(ch.isspace() for ch in text):
        raise invalid("apk", text, "empty or containing whitespace")
    rest = text
    head = _NUMBERS.match(rest)
    numbers: tuple[str, ...] = ()
    if head and head.group(0):
        numbers = tuple(head.group(0).split("."))
        rest = rest[head.end() :]
    letter = ""
    if rest[:1].isascii() and rest[:1].islower() and rest[:1].isalpha():
        letter, rest = rest[0], rest[1:]
    suffixes: list[tuple[int, int]] = []
    for match in _SUFFIX.finditer(rest):
        suffixes.append((_SUFFIX_WEIGHT[match.group(1)], int(match.group(2) or "0")))
        rest = rest.removeprefix(match.group(0))
    hashed = _HASH.match(rest)
    if hashed:
        rest = rest[hashed.end() :]
    build = 0
    bad = False
    if rest:
        built = _BUILD.match(rest)
        if built:
            build = int(built.group(1) or "0")
            rest = rest[built.end() :]
        else:
            bad = True
    return ApkVersion(text, numbers, letter, tuple(suffixes), build, rest, bad)


def _cmp_number(a: str, a_index: int, b: str, b_index: int) -> int:
    # a leading zero after the first component makes it compare as a string (like 1.02 < 1.1)
    if a_index and b_index and (a[:1] == "0" or b[:1] == "0"):
        return cmp(a, b)
    return cmp(int(a or "0"), int(b or "0"))


def compare_parsed(v: ApkVersion, w: ApkVersion) -> int:
    """Order two parsed apk versions."""
    if v.invalid and w.invalid:
        return cmp(v.original, w.original)
    for i in range(max(len(v.numbers), len(w.numbers))):
        a, ai = (v.numbers[i], i) if i < len(v.numbers) else ("0", 0)
        b, bi = (w.numbers[i], i) if i < len(w.numbers) else ("0", 0)
        diff = _cmp_number(a, ai, b, bi)
        if diff:
            return diff
    if v.letter != w.letter:
        if not v.letter:
            return -1
        if not w.letter:
            return 1
        return cmp(v.letter, w.letter)
    for i in range(max(len(v.suffixes), len(w.suffixes))):
        sa = v.suffixes[i] if i < len(v.suffixes) else _NO_SUFFIX
        sb = w.suffixes[i] if i < len(w.suffixes) else _NO_SUFFIX
        diff = cmp(sa, sb)
        if diff:
            return diff
    diff = cmp(v.build, w.build)
    if diff:
        return diff
    if bool(v.remainder) != bool(w.remainder):
        return 1 if not v.remainder else -1
    return 0


class _Apk:
    name = "apk"

    def compare(self, a: str, b: str) -> int:
        return compare_parsed(parse(a), parse(b))

    def is_valid(self, text: str) -> bool:
        return bool(text.strip()) and not any(ch.isspace() for ch in text)


APK = _Apk()
