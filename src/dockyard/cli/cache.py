"""``dockyard cache du|prune``: the local build cache's disk usage and pruning (like ``docker builder``)."""

from __future__ import annotations

import click

from dockyard.build.cache_admin import disk_usage, format_size, parse_duration, parse_size, prune
from dockyard.cli._app import app
from dockyard.cli._output import format_option, print_json
from dockyard.errors import UsageError
from dockyard.store import Store


@app.group("cache")
def cache_group() -> None:
    """Manage the local build cache (step records, layer directories, cache mounts)."""


@cache_group.command("du")
@format_option
def du_command(output_format: str) -> None:
    """Show how much disk the build cache uses."""
    usage = disk_usage(Store.open())
    if output_format == "json":
        print_json(usage.to_dict())
        return
    rows = [
        ("layer directories", usage.layers.count, usage.layers.bytes),
        ("step records", usage.records.count, usage.records.bytes),
        ("cache-only layer blobs", usage.blobs.count, usage.blobs.bytes),
        ("cache mounts", usage.mounts.count, usage.mounts.bytes),
        ("build records", usage.builds.count, usage.builds.bytes),
    ]
    click.echo(f"{'TYPE':<24}{'COUNT':>8}{'SIZE':>12}")
    for name, count, size in rows:
        click.echo(f"{name:<24}{count:>8}{format_size(size):>12}")
    click.echo(f"{'Total:':<32}{format_size(usage.total):>12}")
    if usage.unreferenced_layers.count:
        click.echo(
            f"({usage.unreferenced_layers.count} layer directories, "
            f"{format_size(usage.unreferenced_layers.bytes)}, are used by no step record: "
            "`dockyard cache prune` removes them)"
        )


def _filters(values: tuple[str, ...]) -> float | None:
    until: float | None = None
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or key.strip() not in ("until", "unused-for"):
            raise UsageError(
                f"unsupported --filter {value!r}", hint="use --filter until=DURATION (e.g. 24h)"
            )
        until = parse_duration(text, what="--filter until")
    return until


@cache_group.command("prune")
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Remove all build cache, not just dangling."
)
@click.option(
    "--keep-storage",
    metavar="SIZE",
    help="Remove least recently used cache until it fits in SIZE (e.g. 10GB).",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="until=DURATION",
    help="Remove cache not used for DURATION (e.g. 24h, 7d).",
)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation (never asked).")
@format_option
def prune_command(
    all_: bool,
    keep_storage: str | None,
    filters: tuple[str, ...],
    force: bool,
    output_format: str,
) -> None:
    """Remove build cache, least recently used first.

    Without options: step records whose layer no tagged image uses, layer directories no
    record names, and cache mounts. Waits for running builds to finish.
    """
    del force
    until = _filters(filters)
    keep = parse_size(keep_storage, what="--keep-storage") if keep_storage else None
    if all_ and (keep is not None or until is not None):
        raise UsageError("--all removes everything: drop --keep-storage/--filter, or --all")
    result = prune(Store.open(), all=all_, keep_storage=keep, until=until)
    assert result is not None  # wait=True always prunes
    if output_format == "json":
        print_json(result.to_dict())
        return
    click.echo(
        f"Removed {result.records} step records, {result.layers} layer directories, "
        f"{result.blobs} blobs, {result.mounts} cache mounts"
    )
    click.echo(f"Total reclaimed space: {format_size(result.bytes)}")
