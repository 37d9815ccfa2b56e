"""`dockyard scan`, `sbom` and `db`: vulnerability scanning."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from dockyard.cli._app import app
from dockyard.cli._output import format_option, print_json, progress_option, progress_sink
from dockyard.errors import ConfigError, PolicyViolationError, ScanError
from dockyard.oci import Platform
from dockyard.scan.catalog import catalog
from dockyard.scan.cvss import SEVERITIES
from dockyard.scan.db import VulnDB, default_db_path, import_sources
from dockyard.scan.report import (
    REPORT_FORMATS,
    Policy,
    apply_policy,
    parse_ignorefile,
    render_report,
)
from dockyard.scan.sbom import SBOM_FORMATS, render_sbom
from dockyard.scan.scanner import (
    attribute_layers,
    open_target,
    parse_duration,
    scan_filesystem,
    stale_warnings,
)
from dockyard.scan.vex import VexDocument, apply_vex, parse_openvex
from dockyard.transport import TransportOptions

F = TypeVar("F", bound=Callable[..., Any])


def _severities(text: str) -> frozenset[str]:
    chosen = {s.strip().upper() for s in text.split(",") if s.strip()}
    unknown = chosen - set(SEVERITIES)
    if unknown:
        raise click.BadParameter(
            f"unknown severity {', '.join(sorted(unknown))}; choose from {','.join(SEVERITIES)}",
            param_hint="--severity",
        )
    return frozenset(chosen)


def _target(target: str | None, rootfs: str | None) -> str:
    if rootfs and target:
        raise click.UsageError("give either TARGET or --rootfs, not both")
    chosen = rootfs or target
    if not chosen:
        raise click.UsageError("missing TARGET (an image or a root filesystem directory)")
    return chosen


def _warn(message: str) -> None:
    click.secho(f"WARNING: {message}", err=True, fg="yellow", bold=True)


def _image_options(func: F) -> F:
    func = click.option(
        "--insecure-registry",
        "insecure",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Reach this registry over plain HTTP (loopback hosts always are).",
    )(func)
    return click.option(
        "--platform",
        metavar="OS/ARCH[/VARIANT]",
        help="Pick this platform of a multi-platform image (default: the host's).",
    )(func)


@app.command("scan")
@click.argument("target", required=False)
@click.option("--rootfs", metavar="DIR", help="Scan an unpacked root filesystem directory.")
@click.option(
    "--severity",
    default=",".join(SEVERITIES),
    show_default=True,
    help="Comma-separated severities to report (and gate on).",
)
@click.option(
    "--exit-code",
    type=int,
    default=0,
    show_default=True,
    help="Exit code when findings are reported.",
)
@click.option("--ignore-unfixed", is_flag=True, help="Report only vulnerabilities with a fix.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", *REPORT_FORMATS]),
    default="table",
    show_default=True,
    help="A table, trivy-compatible JSON, SARIF 2.1.0, GitLab container scanning, "
    "or CycloneDX with vulnerabilities.",
)
@click.option(
    "--ignorefile",
    default=".trivyignore",
    show_default=True,
    help="IDs to ignore (.trivyignore format).",
)
@click.option(
    "--vex",
    metavar="FILE",
    help="OpenVEX document: not_affected and fixed statements suppress findings.",
)
@click.option(
    "--db-max-age", default="5d", show_default=True, help="Warn when a database source is older."
)
@click.option(
    "--db-require-fresh", is_flag=True, help="Fail instead of warning when the database is stale."
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    help="Database file (default: under $DOCKYARD_HOME).",
)
@_image_options
@progress_option
def scan_command(
    target: str | None,
    rootfs: str | None,
    severity: str,
    exit_code: int,
    ignore_unfixed: bool,
    output_format: str,
    ignorefile: str,
    vex: str | None,
    db_max_age: str,
    db_require_fresh: bool,
    db_path: Path | None,
    platform: str | None,
    insecure: tuple[str, ...],
    progress: str,
) -> None:
    """Scan an image or root filesystem for vulnerabilities against the offline database.

    TARGET is a root filesystem directory, or an image: oci:DIR[:TAG], oci-archive:FILE,
    docker-archive:FILE, docker://REF or a plain reference (local store, then registry).
    """
    chosen = _target(target, rootfs)
    severities = _severities(severity)
    vex_document = _read_vex(vex) if vex else None
    max_age = parse_duration(db_max_age)
    rules: tuple[Any, ...] = ()
    ignore_path = Path(ignorefile)
    if ignore_path.is_file():
        try:
            text = ignore_path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read ignore file: {exc}", location=ignorefile) from exc
        rules = tuple(parse_ignorefile(text, ignorefile))
    wanted = Platform.parse(platform) if platform else None
    # the database first: a missing or stale one fails before an image is read
    with VulnDB.open(db_path) as db:
        stale = stale_warnings(db.sources(), max_age)
        if stale and db_require_fresh:
            raise ScanError(
                "the vulnerability database is stale: " + stale[0],
                location=str(db.path),
                hint="run `dockyard db import` with current data, or drop --db-require-fresh",
            )
        for line in stale:
            _warn(line)
        with (
            progress_sink(progress) as sink,
            TransportOptions(insecure=insecure, progress=sink) as options,
            open_target(chosen, platform=wanted, options=options, sink=sink) as opened,
        ):
            result = scan_filesystem(chosen, opened.fs, db, sink=sink)
            image = opened.image
    for package, reason in result.matches.skipped:
        if "unparseable" in reason:
            _warn(f"{package.location}: {package.name}: {reason}; not matched")
    for line in result.catalog.warnings:
        _warn(line)
    policy = Policy(severities=severities, ignore_unfixed=ignore_unfixed, ignore=rules)
    findings = apply_policy(result.matches.findings, policy)
    if vex_document is not None:
        digests: list[str] = []
        if image is not None:
            digests = [image.manifest_digest, *(d.rpartition("@")[2] for d in image.repo_digests)]
        findings = apply_vex(findings, vex_document, digests)
    if output_format == "table":
        _print_table(chosen, result.catalog.os.pretty_name if result.catalog.os else "", findings)
    else:
        print_json(render_report(output_format, chosen, result.catalog, findings, image=image))
    if exit_code and findings:
        raise PolicyViolationError(
            f"{len(findings)} vulnerabilities at severity {','.join(sorted(severities))}",
            exit_code=exit_code,
        )


def _read_vex(path: str) -> VexDocument:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read VEX document: {exc.strerror}", location=path) from exc
    return parse_openvex(text, path)


def _print_table(target: str, os_name: str, findings: list[Any]) -> None:
    counts = dict.fromkeys(SEVERITIES, 0)
    for finding in findings:
        counts[finding.severity] += 1
    summary = ", ".join(f"{s}: {counts[s]}" for s in reversed(SEVERITIES))
    click.echo(f"{target}{f' ({os_name})' if os_name else ''}")
    click.echo(f"Total: {len(findings)} ({summary})")
    if not findings:
        return
    table = Table(show_lines=False)
    for column in (
        "Library",
        "Vulnerability",
        "Severity",
        "Status",
        "Installed Version",
        "Fixed Version",
        "Title",
    ):
        table.add_column(column, overflow="fold")
    for finding in findings:
        table.add_row(
            finding.package.name,
            finding.vulnerability_id,
            finding.severity,
            finding.status,
            finding.package.version,
            finding.fixed_version or "",
            finding.title[:60],
        )
    Console(width=200).print(table)


@app.command("sbom")
@click.argument("target", required=False)
@click.option("--rootfs", metavar="DIR", help="Catalog an unpacked root filesystem directory.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(SBOM_FORMATS),
    default="cyclonedx",
    show_default=True,
    help="CycloneDX 1.5 JSON, SPDX 2.3 JSON or dockyard's own JSON.",
)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Write to a file instead of stdout."
)
@_image_options
@progress_option
def sbom_command(
    target: str | None,
    rootfs: str | None,
    output_format: str,
    output: Path | None,
    platform: str | None,
    insecure: tuple[str, ...],
    progress: str,
) -> None:
    """Write a software bill of materials for an image or root filesystem.

    TARGET is a root filesystem directory or an image name, as for `dockyard scan`.
    """
    chosen = _target(target, rootfs)
    wanted = Platform.parse(platform) if platform else None
    with (
        progress_sink(progress) as sink,
        TransportOptions(insecure=insecure, progress=sink) as options,
        open_target(chosen, platform=wanted, options=options, sink=sink) as opened,
    ):
        found = attribute_layers(catalog(opened.fs, sink=sink), opened.fs)
    for line in found.warnings:
        _warn(line)
    document = render_sbom(output_format, chosen, found)
    if output is None:
        print_json(document)
        return
    import json

    tmp = output.with_name(f".{output.name}.tmp")
    try:
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ScanError(f"cannot write the SBOM: {exc}", location=str(output)) from exc


@app.group("db")
def db_group() -> None:
    """Manage the offline vulnerability database."""


@db_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--built-at",
    metavar="DATE",
    help="When the data was built (YYYY-MM-DD), for sources whose files do not say.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    help="Database file (default: under $DOCKYARD_HOME).",
)
@format_option
@progress_option
def db_import_command(
    paths: tuple[Path, ...],
    built_at: str | None,
    db_path: Path | None,
    output_format: str,
    progress: str,
) -> None:
    """Import OSV JSON/YAML (files, directories, zips), Alpine secdb and Debian DSA/DLA lists."""
    when = None
    if built_at:
        try:
            when = datetime.fromisoformat(built_at)
        except ValueError as exc:
            raise click.BadParameter(f"not a date: {built_at!r}", param_hint="--built-at") from exc
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    with progress_sink(progress) as sink:
        infos = import_sources(list(paths), db_path=db_path, built_at=when, sink=sink)
    if output_format == "json":
        print_json(
            {
                "database": str(db_path or default_db_path()),
                "sources": [_source_json(i) for i in infos],
            }
        )
        return
    for info in infos:
        click.echo(
            f"imported {info.name}: {info.advisories} advisories, {info.affected} affected entries"
        )


def _source_json(info: Any, now: datetime | None = None, max_age: Any = None) -> dict[str, Any]:
    age = info.age(now)
    data = {
        "name": info.name,
        "kind": info.kind,
        "origin": info.origin,
        "built": info.built.isoformat() if info.built else None,
        "built_basis": info.built_basis,
        "imported": info.imported.isoformat(),
        "advisories": info.advisories,
        "affected": info.affected,
        "withdrawn_skipped": info.withdrawn,
        "age_days": round(age.total_seconds() / 86400, 1) if age is not None else None,
    }
    if max_age is not None:
        data["stale"] = info.is_stale(max_age, now)
    return data


@db_group.command("status")
@click.option(
    "--max-age", default="5d", show_default=True, help="Warn about sources older than this."
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    help="Database file (default: under $DOCKYARD_HOME).",
)
@format_option
def db_status_command(max_age: str, db_path: Path | None, output_format: str) -> None:
    """Show the database's sources, record counts and the age of each."""
    limit = parse_duration(max_age)
    now = datetime.now(UTC)
    with VulnDB.open(db_path) as db:
        sources = db.sources()
        path = db.path
    warnings = stale_warnings(sources, limit, now)
    if output_format == "json":
        print_json(
            {
                "database": str(path),
                "max_age_days": limit.total_seconds() / 86400,
                "sources": [_source_json(s, now, limit) for s in sources],
                "warnings": warnings,
            }
        )
    else:
        table = Table(title=str(path))
        for column in ("Source", "Kind", "Advisories", "Built", "Age", "Imported"):
            table.add_column(column)
        for source in sources:
            age = source.age(now)
            table.add_row(
                source.name,
                source.kind,
                str(source.advisories),
                source.built.date().isoformat() if source.built else "unknown",
                f"{age.days}d" if age is not None else "unknown",
                source.imported.strftime("%Y-%m-%d %H:%M"),
            )
        Console(width=160).print(table)
    for line in warnings:
        _warn(line)
