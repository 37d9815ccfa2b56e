"""`dockyard lint`: check Dockerfiles for known pitfalls."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from dockyard import __version__
from dockyard.cli._app import app
from dockyard.cli._output import print_json
from dockyard.errors import PolicyViolationError, StoreError, UsageError
from dockyard.lint import Finding, LintConfig, Severity, lint_paths, load_config, unified_diff
from dockyard.lint.report import FORMATS, to_codeclimate, to_json, to_sarif, to_text

_LEVELS = ("error", "warning", "info", "style", "none")


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` through a temp file in the same directory."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
            out.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as exc:
        raise StoreError(f"cannot write the fixed file: {exc}", location=str(path)) from exc


@app.command("lint")
@click.argument("paths", nargs=-1)
@click.option("--fix", is_flag=True, help="Rewrite files with the safe mechanical fixes.")
@click.option("--diff", "show_diff", is_flag=True, help="With --fix: print a diff, write nothing.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text, hadolint-style json, sarif, or GitLab code quality (codeclimate).",
)
@click.option(
    "--failure-threshold",
    "-t",
    type=click.Choice(_LEVELS),
    default=None,
    help="Exit 1 when a finding is at or above this level (default: info, like hadolint).",
)
@click.option("--ignore", "ignores", multiple=True, metavar="CODE", help="Ignore a rule.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A .hadolint.yaml to read instead of the one in the current directory.",
)
@click.option("--no-fail", is_flag=True, help="Always exit 0 on findings.")
def lint_command(
    paths: tuple[str, ...],
    fix: bool,
    show_diff: bool,
    output_format: str,
    failure_threshold: str | None,
    ignores: tuple[str, ...],
    config_path: Path | None,
    no_fail: bool,
) -> None:
    """Check Dockerfiles (files or directories) for known pitfalls, with fix hints."""
    if show_diff and not fix:
        fix = True  # --diff shows what --fix would do
    config = load_config(Path.cwd(), config_path)
    if ignores:
        config = config.merged({"ignored": list(ignores)}, "--ignore")
    if failure_threshold is not None:
        config = config.merged({"failure-threshold": failure_threshold}, "--failure-threshold")
    results = lint_paths(paths or (".",), config, fix=fix)
    if not results:
        raise UsageError("no Dockerfile found", hint="pass a Dockerfile or a directory with one")
    findings = [finding for result in results for finding in result.findings]
    fixed_count = 0
    for result in results:
        if result.fixed_text is None or result.fixed_text == result.text:
            continue
        fixed_count += len(result.fixed)
        if show_diff:
            click.echo(unified_diff(result.path, result.text, result.fixed_text), nl=False)
        else:
            _write_atomic(Path(result.path), result.fixed_text)
    if output_format == "json":
        print_json(to_json(findings))
    elif output_format == "sarif":
        print_json(to_sarif(findings, __version__))
    elif output_format == "codeclimate":
        print_json(to_codeclimate(findings))
    elif not show_diff:
        if findings:
            click.echo(to_text(findings))
        if fix and fixed_count:
            click.echo(f"fixed {fixed_count} finding(s)", err=True)
    _gate(findings, config, no_fail=no_fail)


def _gate(findings: list[Finding], config: LintConfig, *, no_fail: bool) -> None:
    threshold = config.failure_threshold
    if no_fail or config.no_fail or threshold is Severity.NONE:
        return
    failing = [f for f in findings if f.level >= threshold]
    if failing:
        raise PolicyViolationError(
            f"{len(failing)} finding(s) at or above {threshold.label}",
            hint="fix them, ignore them with # hadolint ignore=CODE, or raise --failure-threshold",
        )
