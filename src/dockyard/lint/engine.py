"""Run the rules over a Dockerfile: build the rule view, apply pragmas and config, sort findings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dockyard.dockerfile import parse
from dockyard.errors import DockerfileError
from dockyard.lint import rules_dl, rules_dy  # noqa: F401  (registers the rules)
from dockyard.lint.config import LintConfig
from dockyard.lint.model import Finding, Instruction, LintInput, Severity, Stage, parse_from
from dockyard.lint.registry import RULES

__all__ = ["ContextInfo", "build_input", "lint_text"]

_PRAGMA = re.compile(
    r"^\s*#\s*(hadolint|dockyard)\s+(global\s+)?ignore\s*=\s*([\w, ]+)", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class ContextInfo:
    """What the linter knows of the build context (gathered by the caller, which does the I/O)."""

    entries: frozenset[str]
    has_dockerignore: bool


def build_input(
    text: str,
    path: str = "Dockerfile",
    *,
    context: ContextInfo | None = None,
    trusted_registries: Sequence[str] = (),
) -> LintInput:
    """Parse ``text`` into the view rules read. Raises DockerfileError on a parse error."""
    dockerfile = parse(text, filename=path)
    instructions: list[Instruction] = []
    stages: list[tuple[int, Instruction]] = []
    stage_index = -1
    for index, node in enumerate(dockerfile.nodes):
        keyword = node.value.upper()
        target = node
        onbuild = False
        if keyword == "ONBUILD" and node.next and node.next[0].children:
            target = node.next[0].children[0]
            keyword = target.value.upper()
            onbuild = True
        if keyword == "FROM" and not onbuild:
            stage_index += 1
        inst = Instruction(
            keyword=keyword,
            line=node.start_line,
            end_line=node.end_line,
            args=target.args,
            flags=target.flags,
            json=target.json,
            node=node,
            index=index,
            stage=stage_index,
            onbuild=onbuild,
            heredocs=target.heredocs,
        )
        instructions.append(inst)
        if keyword == "FROM" and not onbuild:
            stages.append((stage_index, inst))
    stage_list: list[Stage] = []
    for number, (idx, inst) in enumerate(stages):
        end = stages[number + 1][1].index if number + 1 < len(stages) else len(instructions)
        body = tuple(instructions[inst.index + 1 : end])
        stage_list.append(Stage(idx, parse_from(inst.args, inst.flags), inst.line, body))
    return LintInput(
        path=path,
        text=text,
        dockerfile=dockerfile,
        instructions=instructions,
        stages=stage_list,
        lines=text.splitlines(keepends=True),
        context_entries=context.entries if context else None,
        has_dockerignore=context.has_dockerignore if context else False,
        trusted_registries=tuple(trusted_registries),
    )


def _pragmas(
    lines: Sequence[str], instructions: Sequence[Instruction]
) -> tuple[set[str], dict[int, set[str]]]:
    """Codes ignored everywhere, and codes ignored per instruction line."""
    global_ignored: set[str] = set()
    per_line: dict[int, set[str]] = {}
    starts = {inst.line for inst in instructions}
    for number, line in enumerate(lines, start=1):
        if "ignore" not in line:
            continue
        match = _PRAGMA.match(line)
        if match is None:
            continue
        codes = {code.strip().upper() for code in match.group(3).split(",") if code.strip()}
        if match.group(2):
            global_ignored |= codes
            continue
        # like hadolint: the pragma covers the instruction that starts on the next line
        if number + 1 in starts:
            per_line.setdefault(number + 1, set()).update(codes)
    return global_ignored, per_line


def lint_text(
    text: str,
    path: str = "Dockerfile",
    config: LintConfig | None = None,
    *,
    context: ContextInfo | None = None,
    rules: Iterable[str] | None = None,
) -> list[Finding]:
    """Lint one Dockerfile's text; a parse error becomes a DL1000 finding."""
    config = config or LintConfig()
    try:
        ctx = build_input(text, path, context=context, trusted_registries=config.trusted_registries)
    except DockerfileError as err:
        return [
            Finding(
                path,
                err.line or 1,
                err.column or 1,
                "DL1000",
                Severity.ERROR,
                err.message,
                "Fix the Dockerfile syntax at this line.",
            )
        ]
    global_ignored, per_line = _pragmas(ctx.lines, ctx.instructions)
    selected = RULES.values() if rules is None else [RULES[code] for code in rules]
    findings: list[Finding] = []
    seen: set[tuple[str, int]] = set()
    for rule in selected:
        if rule.code in config.ignored or rule.code in global_ignored:
            continue
        level = config.level_of(rule.code, rule.severity)
        if level is Severity.NONE:
            continue
        for hit in rule.check(ctx):
            if rule.code in per_line.get(hit.line, ()):
                continue
            key = (rule.code, hit.line)
            if key in seen:
                continue
            seen.add(key)
            findings.append(
                Finding(
                    path,
                    hit.line,
                    hit.column,
                    rule.code,
                    level,
                    hit.message or rule.message,
                    rule.hint,
                    hit.edits,
                )
            )
    findings.sort(key=lambda f: (f.line, f.code))
    return findings
