"""Lint files on disk: find Dockerfiles, look at their build context, run the engine."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InputError
from dockyard.lint.config import LintConfig
from dockyard.lint.engine import ContextInfo, lint_text
from dockyard.lint.fix import apply_fixes
from dockyard.lint.model import Finding

__all__ = ["FileResult", "find_dockerfiles", "is_dockerfile_name", "lint_file", "lint_paths"]

_SKIP_DIRS = frozenset((".git", "node_modules", ".venv", "__pycache__", ".hg", ".svn"))


def is_dockerfile_name(name: str) -> bool:
    """Dockerfile, *.Dockerfile, Dockerfile.* (not *.dockerignore)."""
    if name.endswith(".dockerignore"):
        return False
    return (
        name == "Dockerfile"
        or fnmatch.fnmatchcase(name, "*.Dockerfile")
        or fnmatch.fnmatchcase(name, "Dockerfile.*")
        or name.lower() == "containerfile"
    )


def find_dockerfiles(paths: Iterable[str]) -> Iterator[Path]:
    """Files as given, and Dockerfiles found under directories (sorted, skipping .git etc.)."""
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            yield path
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                for name in sorted(files):
                    if is_dockerfile_name(name):
                        yield Path(root) / name
        else:
            raise InputError("no such file or directory", location=raw)


def context_of(dockerfile: Path) -> ContextInfo:
    """The top-level entries of the Dockerfile's directory, taken as its build context."""
    directory = dockerfile.parent
    try:
        entries = frozenset(os.listdir(directory))
    except OSError:
        entries = frozenset()
    has_ignore = ".dockerignore" in entries or f"{dockerfile.name}.dockerignore" in entries
    return ContextInfo(entries, has_ignore)


@dataclass(frozen=True, slots=True)
class FileResult:
    """One file's findings; with --fix, the new text and the findings fixed."""

    path: str
    text: str
    findings: tuple[Finding, ...]
    fixed_text: str | None = None
    fixed: tuple[Finding, ...] = ()


def lint_file(path: Path, config: LintConfig, *, fix: bool = False) -> FileResult:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", location=str(path)) from exc
    name = str(path)
    findings = lint_text(text, name, config, context=context_of(path))
    if not fix:
        return FileResult(name, text, tuple(findings))
    new_text, fixed = apply_fixes(text, findings)
    remaining = lint_text(new_text, name, config, context=context_of(path)) if fixed else findings
    return FileResult(name, text, tuple(remaining), new_text, tuple(fixed))


def lint_paths(paths: Iterable[str], config: LintConfig, *, fix: bool = False) -> list[FileResult]:
    return [lint_file(path, config, fix=fix) for path in find_dockerfiles(paths)]
