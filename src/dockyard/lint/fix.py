"""Apply the mechanical fixes that findings carry, as line edits on the original text."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from dockyard.lint.model import Edit, Finding

__all__ = ["apply_fixes", "unified_diff"]


def apply_fixes(text: str, findings: Iterable[Finding]) -> tuple[str, list[Finding]]:
    """The text with every non-overlapping edit applied, and the findings that were fixed.

    Edits replace whole lines, so everything the edits do not touch (comments, blank
    lines, indentation, line endings) stays byte for byte.
    """
    chosen: list[tuple[Edit, Finding]] = []
    taken: list[tuple[int, int]] = []
    for finding in sorted(findings, key=lambda f: (f.line, f.code)):
        if not finding.edits:
            continue
        spans = [(edit.start, max(edit.end, edit.start)) for edit in finding.edits]
        if any(a <= t_end and t_start <= b for a, b in spans for t_start, t_end in taken):
            continue  # overlaps an edit already chosen; the next --fix run will get it
        taken.extend(spans)
        chosen.extend((edit, finding) for edit in finding.edits)
    if not chosen:
        return text, []
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
        trailing_missing = True
    else:
        trailing_missing = False
    for edit, _ in sorted(chosen, key=lambda pair: pair[0].start, reverse=True):
        lines[edit.start - 1 : edit.end] = [line + newline for line in edit.lines]
    out = "".join(lines)
    if trailing_missing:
        out = out.removesuffix(newline)
    fixed: list[Finding] = []
    for _, finding in chosen:
        if finding not in fixed:
            fixed.append(finding)
    return out, fixed


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path.lstrip('/')}",
            tofile=f"b/{path.lstrip('/')}",
        )
    )
