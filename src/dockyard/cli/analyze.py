"""`dockyard analyze`: where an image's bytes go."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from dockyard.analyze import Policy, Report, analyze_image, format_size, parse_ratio, parse_size
from dockyard.cli._app import app
from dockyard.cli._output import format_option, print_json, progress_option, progress_sink
from dockyard.image.base import Image
from dockyard.image.content import select_platform
from dockyard.oci import Platform
from dockyard.transport import TransportOptions, open_source


@app.command("analyze")
@click.argument("image")
@click.option(
    "--platform",
    metavar="OS/ARCH[/VARIANT]",
    help="Pick this platform of a multi-platform image (default: the host's).",
)
@click.option(
    "--budget", metavar="SIZE", help="Fail if the image is larger than SIZE (e.g. 200MB, 1.5GiB)."
)
@click.option(
    "--max-wasted",
    metavar="SIZE",
    help="Fail if more than SIZE is wasted (dive's highestWastedBytes).",
)
@click.option(
    "--min-efficiency",
    metavar="RATIO",
    help="Fail if the efficiency score is below RATIO (0-1, dive's lowestEfficiency).",
)
@click.option(
    "--top",
    type=click.IntRange(1, 10000),
    default=10,
    show_default=True,
    help="How many paths to list in each section.",
)
@click.option(
    "--no-duplicates",
    is_flag=True,
    help="Do not hash file contents (no duplicate detection; faster).",
)
@format_option
@progress_option
def analyze_command(
    image: str,
    platform: str | None,
    budget: str | None,
    max_wasted: str | None,
    min_efficiency: str | None,
    top: int,
    no_duplicates: bool,
    output_format: str,
    progress: str,
) -> None:
    """Show where IMAGE's bytes go, layer by layer, and what is wasted.

    IMAGE is any source name: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE,
    docker://REF or a plain reference (local store first, then its registry).
    Exits 1 when --budget, --max-wasted or --min-efficiency is not met.
    """
    policy = Policy(
        budget=parse_size(budget, what="--budget") if budget is not None else None,
        max_wasted=parse_size(max_wasted, what="--max-wasted") if max_wasted is not None else None,
        min_efficiency=(
            parse_ratio(min_efficiency, what="--min-efficiency")
            if min_efficiency is not None
            else None
        ),
    )
    wanted = Platform.parse(platform) if platform else None
    with progress_sink(progress) as sink, TransportOptions(progress=sink) as options:
        source = open_source(image, platform=wanted, options=options)
        single: Image = select_platform(source, wanted)
        report = analyze_image(
            single, name=image, top=top, hash_min_size=None if no_duplicates else 1, sink=sink
        )
    if output_format == "json":
        print_json(report.to_dict())
    else:
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=160)  # CI logs: do not wrap at 80
        render_text(report, console)
    policy.enforce(report)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def render_text(report: Report, console: Console) -> None:
    """The human-readable report: layers, waste, largest paths, findings."""
    console.print(f"[bold]Image[/bold] {report.image}  {report.digest}  {report.platform}")
    layers = Table(title="Layers", title_justify="left", show_edge=False)
    for column, justify in (
        ("#", "right"),
        ("size", "right"),
        ("compressed", "right"),
        ("+added", "right"),
        ("~changed", "right"),
        ("-removed", "right"),
        ("wasted later", "right"),
        ("instruction", "left"),
    ):
        layers.add_column(column, justify=justify)  # type: ignore[arg-type]
    for layer in report.layers:
        instruction = " ".join(layer.instruction.split()) or "(missing)"
        layers.add_row(
            str(layer.index),
            format_size(layer.content_size),
            format_size(layer.compressed_size),
            str(layer.files_added),
            str(layer.files_changed),
            str(layer.files_removed),
            format_size(layer.wasted_bytes) if layer.wasted_bytes else "",
            instruction[:100] + ("…" if len(instruction) > 100 else ""),
        )
    console.print(layers)
    console.print()
    console.print(
        f"[bold]Image size[/bold] {format_size(report.size_bytes)}  "
        f"(compressed {format_size(report.compressed_size)}, "
        f"final filesystem {format_size(report.final_size)} in {report.final_files} files)"
    )
    console.print(
        f"[bold]Efficiency[/bold] {report.efficiency:.4f}   "
        f"[bold]Wasted[/bold] {format_size(report.wasted_bytes)} "
        f"({_pct(report.wasted_bytes, report.size_bytes)} of the image, dive's definition)"
    )
    console.print(
        f"[bold]Reclaimable[/bold] {format_size(report.reclaimable_bytes)}: "
        f"overwritten {format_size(report.overwritten_bytes)}, "
        f"deleted {format_size(report.deleted_bytes)}, "
        f"duplicates {format_size(report.duplicate_bytes)}"
    )
    _paths_table(
        console,
        "Paths stored more than once",
        [(c.path, c.bytes, f"{c.count}x") for c in report.inefficiencies if c.bytes],
        "refs",
    )
    _paths_table(
        console,
        "Duplicate files (same content)",
        [
            (", ".join(g.paths[:3]) + (" …" if g.count > 3 else ""), g.wasted_bytes, f"{g.count}x")
            for g in report.duplicates
        ],
        "copies",
    )
    _paths_table(
        console,
        "Largest files",
        [(p.path, p.bytes, str(p.layer)) for p in report.largest_files],
        "layer",
    )
    _paths_table(
        console,
        "Largest directories",
        [(p.path, p.bytes, str(p.layer)) for p in report.largest_dirs],
        "layer",
    )
    if report.findings:
        findings = Table(title="Rarely needed at runtime", title_justify="left", show_edge=False)
        findings.add_column("saving", justify="right")
        findings.add_column("what")
        findings.add_column("where")
        findings.add_column("layers")
        findings.add_column("fix")
        for finding in report.findings:
            findings.add_row(
                format_size(finding.bytes),
                finding.title,
                ", ".join(p.path for p in finding.paths[:3]),
                ",".join(str(i) for i in finding.layers),
                finding.hint,
            )
        console.print()
        console.print(findings)


def _paths_table(
    console: Console, title: str, rows: list[tuple[str, int, str]], extra: str
) -> None:
    if not rows:
        return
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("bytes", justify="right")
    table.add_column(extra, justify="right")
    table.add_column("path")
    for path, size, note in rows:
        table.add_row(format_size(size), note, path)
    console.print()
    console.print(table)
