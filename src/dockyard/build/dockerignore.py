""".dockerignore parsing and matching with Docker's semantics (moby/patternmatcher, ignorefile).

Also Go's ``filepath.Match`` (:func:`go_match`), which COPY source wildcards use. Pure
functions: no I/O here.
"""

from __future__ import annotations

import posixpath
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dockyard.errors import BuildContextError

__all__ = [
    "BadPatternError",
    "PatternMatcher",
    "go_match",
    "has_wildcards",
    "parse_dockerignore",
]


class BadPatternError(BuildContextError):
    """A pattern that Go's filepath.Match rejects ("syntax error in pattern")."""


# --- Go's path/filepath.Match -----------------------------------------------------------------


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif ch == "[":
            in_range = True
        elif ch == "]":
            in_range = False
        elif ch == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise BadPatternError("syntax error in pattern")
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPatternError("syntax error in pattern")
    ch, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPatternError("syntax error in pattern")
    return ch, rest


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        head = chunk[0]
        if head == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = False
            if chunk.startswith("^"):
                negated = True
                chunk = chunk[1:]
            matched = False
            nrange = 0
            while True:
                if chunk.startswith("]") and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if not failed and lo <= r <= hi:
                    matched = True
                nrange += 1
            if matched == negated:
                failed = True
        elif head == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPatternError("syntax error in pattern")
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return "", False
    return s, True


def go_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match`` on Unix: ``*``/``?`` never match ``/``; raises BadPatternError."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            i = 0
            found = False
            while i < len(name) and name[i] != "/":
                rest, ok = _match_chunk(chunk, name[i + 1 :])
                if ok:
                    if not pattern and rest:
                        i += 1
                        continue
                    name = rest
                    found = True
                    break
                i += 1
            if found:
                continue
        while pattern:  # the rest of the pattern must still be well formed
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def has_wildcards(name: str) -> bool:
    """Whether a path has ``*``, ``?`` or ``[`` that is not escaped (fsutil's rule)."""
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            i += 1
        elif ch in "*?[":
            return True
        i += 1
    return False


# --- ignorefile.ReadAll ---------------------------------------------------------------------


def _go_clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    # posixpath keeps a leading "//"; Go's Clean does not
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def parse_dockerignore(text: str) -> list[str]:
    """The patterns of a .dockerignore file, as moby's ``ignorefile.ReadAll`` returns them.

    Lines starting with ``#`` are comments (only in the first column), blank lines are
    skipped, whitespace is trimmed, each pattern is cleaned (``..``, ``.``, double
    slashes) and a leading ``/`` removed; ``!`` marks an exception.
    """
    patterns = []
    for number, line in enumerate(text.splitlines()):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


# --- patternmatcher ---------------------------------------------------------------------------

_EXACT, _PREFIX, _SUFFIX, _REGEXP = range(4)
_ESCAPE = set(".+()|{}$")


@dataclass(frozen=True, slots=True)
class _Pattern:
    cleaned: str
    exclusion: bool
    kind: int
    regexp: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.cleaned
        if self.kind == _PREFIX:
            return path.startswith(self.cleaned[:-2])
        if self.kind == _SUFFIX:
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regexp is not None
        return self.regexp.match(path) is not None


def _compile(pattern: str, exclusion: bool) -> _Pattern:
    reg = "^"
    kind = _EXACT
    i = 0
    pos = 0
    n = len(pattern)
    while pos < n:
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            if pos < n and pattern[pos] == "*":
                pos += 1
                if pos < n and pattern[pos] == "/":
                    pos += 1
                if pos >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        reg += ".*"
                        kind = _REGEXP
                else:
                    reg += "(.*/)?"
                    kind = _REGEXP
                if i == 0:
                    kind = _SUFFIX
            else:
                reg += "[^/]*"
                kind = _REGEXP
        elif ch == "?":
            reg += "[^/]"
            kind = _REGEXP
        elif ch in _ESCAPE:
            reg += "\\" + ch
        elif ch == "\\":
            if pos < n:
                reg += "\\" + pattern[pos]
                pos += 1
                kind = _REGEXP
            else:
                reg += "\\\\"
        elif ch in "[]":
            reg += ch
            kind = _REGEXP
        else:
            reg += ch
        i += 1
    compiled = None
    if kind == _REGEXP:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "possible nested set" and the like
                compiled = re.compile(reg + "$", re.DOTALL)
        except re.error as exc:
            raise BadPatternError(f"bad pattern {pattern!r}: {exc}") from exc
    return _Pattern(pattern, exclusion, kind, compiled)


class PatternMatcher:
    """Docker's ``patternmatcher.PatternMatcher`` (``MatchesOrParentMatches`` semantics)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[_Pattern] = []
        self.exclusions = False
        for raw in patterns:
            p = raw.strip()
            if not p:
                continue
            p = _go_clean(p)
            exclusion = False
            if p.startswith("!"):
                if len(p) == 1:
                    raise BadPatternError('illegal exclusion pattern: "!"')
                exclusion = True
                p = p[1:]
                self.exclusions = True
            try:
                go_match(p, ".")
            except BadPatternError as exc:
                raise BadPatternError(f"bad pattern {raw.strip()!r} in .dockerignore") from exc
            self.patterns.append(_compile(p, exclusion))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, path: str) -> bool:
        """Whether ``path`` (relative, slash-separated) is ignored, by itself or a parent."""
        matched = False
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = pattern.match(path)
            if not match and parent != ".":
                for i in range(len(parent_dirs)):
                    if pattern.match("/".join(parent_dirs[: i + 1])):
                        match = True
                        break
            if match:
                matched = not pattern.exclusion
        return matched

    def matches_exact(self, path: str) -> bool:
        """Whether ``path`` itself matches (no parent matching), like ``MatchesExact``."""
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            if pattern.match(path):
                matched = not pattern.exclusion
        return matched


def matcher_from(patterns: Sequence[str]) -> PatternMatcher:
    """A matcher for already parsed patterns (e.g. ``--exclude`` of COPY)."""
    return PatternMatcher(patterns)
