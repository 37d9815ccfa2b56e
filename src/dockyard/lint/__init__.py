"""Dockerfile linter: hadolint-compatible rules and dockyard's own DY rules."""

from dockyard.lint.config import LintConfig, load_config
from dockyard.lint.engine import ContextInfo, build_input, lint_text
from dockyard.lint.fix import apply_fixes, unified_diff
from dockyard.lint.model import Edit, Finding, Severity
from dockyard.lint.registry import RULES, Rule
from dockyard.lint.runner import FileResult, find_dockerfiles, lint_file, lint_paths
from dockyard.lint.shell import Command, ParsedShell, Word, parse_shell

__all__ = [
    "RULES",
    "Command",
    "ContextInfo",
    "Edit",
    "FileResult",
    "Finding",
    "LintConfig",
    "ParsedShell",
    "Rule",
    "Severity",
    "Word",
    "apply_fixes",
    "build_input",
    "find_dockerfiles",
    "lint_file",
    "lint_paths",
    "lint_text",
    "load_config",
    "parse_shell",
    "unified_diff",
]
