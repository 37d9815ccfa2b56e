"""Image transport commands: copy, inspect, pull, push, tag, images, rmi."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dockyard.cli._app import app
from dockyard.cli._output import format_option, print_json, progress_option, progress_sink
from dockyard.errors import UsageError
from dockyard.image import Image, ImageIndex, select_platform
from dockyard.oci import Platform, Reference
from dockyard.store import Store
from dockyard.transport import ImageName, TransportOptions, copy, inspect, open_source

F = TypeVar("F", bound=Callable[..., Any])


def _registry_options(func: F) -> F:
    return click.option(
        "--insecure-registry",
        "insecure",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Reach this registry over plain HTTP (loopback hosts always are).",
    )(func)


def _platform(value: str | None) -> Platform | None:
    return Platform.parse(value) if value else None


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.3g}{unit}"
        value /= 1000
    return f"{size}B"  # pragma: no cover


def _reference(text: str) -> Reference:
    return ImageName.parse(text).reference or Reference.parse(text)


@app.command("copy")
@click.argument("src")
@click.argument("dst")
@click.option("--all", "all_platforms", is_flag=True, help="Copy every platform of an index.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Platform to pick from an index.")
@click.option("--src-creds", metavar="USER[:PASS]", help="Credentials for the source registry.")
@click.option("--dest-creds", metavar="USER[:PASS]", help="Credentials for the destination.")
@_registry_options
@progress_option
@format_option
def copy_command(
    src: str,
    dst: str,
    all_platforms: bool,
    platform: str | None,
    src_creds: str | None,
    dest_creds: str | None,
    insecure: tuple[str, ...],
    progress: str,
    output_format: str,
) -> None:
    """Copy an image between transports, like skopeo copy.

    SRC and DST are oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REF],
    docker://REF, or a bare reference (the local store, then the registry).
    """
    if all_platforms and platform:
        raise UsageError("--all and --platform exclude each other")
    with progress_sink(progress) as sink:
        options = TransportOptions(
            insecure=insecure,
            src_credentials=src_creds,
            dest_credentials=dest_creds,
            progress=sink,
        )
        with options:
            result = copy(
                src, dst, all_platforms=all_platforms, platform=_platform(platform), options=options
            )
    if output_format == "json":
        print_json(
            {
                "source": src,
                "destination": dst,
                "digest": str(result.digest),
                "mediaType": result.descriptor.media_type,
                "size": result.descriptor.size,
                "platforms": list(result.platforms),
            }
        )
    else:
        click.echo(f"Copied {src} to {dst}: {result.digest}")


@app.command("inspect")
@click.argument("ref")
@click.option("--raw", is_flag=True, help="Print the manifest (or index) bytes as stored.")
@click.option("--config", "show_config", is_flag=True, help="Print the image config.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Platform to pick from an index.")
@click.option("--creds", metavar="USER[:PASS]", help="Credentials for the registry.")
@click.option("--no-tags", is_flag=True, help="Do not list the repository's tags.")
@_registry_options
@format_option
def inspect_command(
    ref: str,
    raw: bool,
    show_config: bool,
    platform: str | None,
    creds: str | None,
    no_tags: bool,
    insecure: tuple[str, ...],
    output_format: str,
) -> None:
    """Show an image's digest, tags, platform, layers and env (like skopeo inspect)."""
    with TransportOptions(insecure=insecure, src_credentials=creds) as options:
        if raw or show_config:
            source: Image | ImageIndex = open_source(ref, options=options)
            if show_config:
                if isinstance(source, ImageIndex):
                    source = select_platform(source, _platform(platform))
                data = source.config_bytes()
            else:
                data = source.manifest.raw if isinstance(source, Image) else source.index.raw
            if output_format == "json" and not raw:
                print_json(json.loads(data))
            else:
                click.echo(data.decode("utf-8", "replace"))
            return
        report = inspect(ref, platform=_platform(platform), options=options, tags=not no_tags)
    if output_format == "json":
        print_json(report)
        return
    width = max(len(k) for k in report)
    for key, value in report.items():
        if key == "LayersData":
            continue
        shown = ", ".join(value) if isinstance(value, list) else value
        if isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
        click.echo(f"{key + ':':<{width + 1}} {shown if shown is not None else ''}")


@app.command("pull")
@click.argument("ref")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Platform to pick from an index.")
@click.option("--all", "all_platforms", is_flag=True, help="Keep every platform of an index.")
@click.option("--creds", metavar="USER[:PASS]", help="Credentials for the registry.")
@_registry_options
@progress_option
@format_option
def pull_command(
    ref: str,
    platform: str | None,
    all_platforms: bool,
    creds: str | None,
    insecure: tuple[str, ...],
    progress: str,
    output_format: str,
) -> None:
    """Pull an image from its registry into the local store."""
    reference = _reference(ref)
    with progress_sink(progress) as sink:
        options = TransportOptions(insecure=insecure, src_credentials=creds, progress=sink)
        with options:
            result = copy(
                ImageName.parse(f"docker://{reference}"),
                ImageName("local", str(reference), reference=reference),
                all_platforms=all_platforms,
                platform=_platform(platform),
                options=options,
            )
    _report(output_format, "Pulled", reference, result.digest)


@app.command("push")
@click.argument("ref")
@click.argument("dest", required=False)
@click.option("--creds", metavar="USER[:PASS]", help="Credentials for the registry.")
@_registry_options
@progress_option
@format_option
def push_command(
    ref: str,
    dest: str | None,
    creds: str | None,
    insecure: tuple[str, ...],
    progress: str,
    output_format: str,
) -> None:
    """Push an image of the local store to a registry (to DEST if given)."""
    reference = _reference(ref)
    target = _reference(dest) if dest else reference
    store = Store.open()
    store.resolve(reference)  # NotFoundError before any network traffic
    with progress_sink(progress) as sink:
        options = TransportOptions(
            insecure=insecure, dest_credentials=creds, progress=sink, store=store
        )
        with options:
            result = copy(
                ImageName("local", str(reference), reference=reference),
                ImageName.parse(f"docker://{target}"),
                all_platforms=True,  # push what the store holds, index and all
                options=options,
            )
    _report(output_format, "Pushed", target, result.digest)


def _report(output_format: str, verb: str, reference: Reference, digest: object) -> None:
    if output_format == "json":
        print_json({"reference": str(reference), "digest": str(digest)})
    else:
        click.echo(f"{verb} {reference.familiar()}: {digest}")


@app.command("tag")
@click.argument("src")
@click.argument("dst")
def tag_command(src: str, dst: str) -> None:
    """Give an image of the local store another name."""
    source, target = _reference(src), _reference(dst)  # both checked before any lookup
    if target.digest is not None:
        raise UsageError(f"{dst}: a tag cannot pin a digest")
    store = Store.open()
    descriptor = store.resolve(source)
    store.tag(target.with_default_tag(), descriptor)


@app.command("images")
@format_option
def images_command(output_format: str) -> None:
    """List the images of the local store."""
    entries = Store.open().entries()
    if output_format == "json":
        print_json(
            [
                {
                    "reference": str(e.reference),
                    "repository": e.repository,
                    "tag": e.reference.tag,
                    "digest": str(e.descriptor.digest),
                    "mediaType": e.descriptor.media_type,
                    "size": e.size,
                    "created": e.created or None,
                    "platforms": list(e.platforms),
                }
                for e in entries
            ]
        )
        return
    rows = [("REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE")]
    rows += [
        (e.repository, e.tag, e.descriptor.digest.short, e.created[:19] or "-", _size(e.size))
        for e in entries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        click.echo("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command("rmi")
@click.argument("refs", nargs=-1, required=True)
@click.option("--no-prune", is_flag=True, help="Keep blobs no other tag uses.")
def rmi_command(refs: tuple[str, ...], no_prune: bool) -> None:
    """Remove images from the local store (and the blobs nothing else uses)."""
    store = Store.open()
    references = [_reference(r) for r in refs]
    for reference in references:
        store.resolve(reference)  # every name checked before anything is removed
    store.remove(references, prune=not no_prune)
    for reference in references:
        click.echo(f"Untagged: {reference.familiar()}")
