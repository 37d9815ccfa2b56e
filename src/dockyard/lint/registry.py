"""The rule registry: a rule is an id, a default severity, a message, a hint and a check."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dockyard.lint.model import Edit, LintInput, Severity

__all__ = ["RULES", "Hit", "Rule", "rule"]


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule's raw result: where, optionally a more specific message, and edits that fix it."""

    line: int
    message: str | None = None
    edits: tuple[Edit, ...] = ()
    column: int = 1


Check = Callable[[LintInput], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A lint rule; ``fixable`` says whether some of its hits carry mechanical edits."""

    code: str
    severity: Severity
    message: str
    hint: str
    check: Check
    fixable: bool = False

    @property
    def doc_url(self) -> str:
        if self.code.startswith("DL"):
            return f"https://github.com/hadolint/hadolint/wiki/{self.code}"
        return f"docs/rules/{self.code}.md"


RULES: dict[str, Rule] = {}


def rule(
    code: str, severity: Severity, message: str, hint: str, *, fixable: bool = False
) -> Callable[[Check], Check]:
    """Register ``check`` as rule ``code``."""

    def register(check: Check) -> Check:
        if code in RULES:
            raise ValueError(f"rule {code} registered twice")
        RULES[code] = Rule(code, severity, message, hint, check, fixable)
        return check

    return register
