"""``dockyard build``: build images from a Dockerfile, with buildx's flags."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from dockyard.build import replay
from dockyard.build.options import (
    BuildOptions,
    OutputSpec,
    parse_build_arg,
    parse_build_context,
    parse_cache_spec,
    parse_output,
    parse_secret,
    parse_ssh,
)
from dockyard.cli._app import app
from dockyard.cli._output import format_option, print_json, progress_option, progress_sink
from dockyard.cli._replay import atomic_write
from dockyard.errors import UsageError
from dockyard.oci import Platform


@app.command("build")
@click.argument("context", required=False, default=".")
@click.option(
    "-f", "--file", "dockerfile", help="Name of the Dockerfile (default: CONTEXT/Dockerfile)."
)
@click.option(
    "-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag); repeatable."
)
@click.option("--target", help="Set the target build stage to build.")
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    help="Set a build-time variable: KEY=VALUE, or KEY from the environment.",
)
@click.option(
    "--build-context",
    "build_contexts",
    multiple=True,
    help="Additional build context: NAME=oci-layout://PATH[:TAG] | docker-image://REF | DIR.",
)
@click.option("--platform", help="Target platform (the host platform only, for now).")
@click.option(
    "--network",
    default="default",
    type=click.Choice(["default", "none", "host"]),
    show_default=True,
    help="Networking mode for RUN instructions (default: the host network; none: loopback only).",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="Secret to expose to RUN --mount=type=secret: id=ID,src=PATH | id=ID,env=VAR.",
)
@click.option(
    "--ssh",
    "ssh",
    multiple=True,
    help="SSH agent for RUN --mount=type=ssh: default | ID=SOCKET | ID=KEYFILE[,KEYFILE].",
)
@click.option("--no-cache", is_flag=True, help="Do not use the cache when building.")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    help="Output destination: type=image|oci|docker|registry|local|tar[,dest=PATH][,...].",
)
@click.option("--push", is_flag=True, help="Shorthand for --output=type=registry.")
@click.option("--load", is_flag=True, help="Shorthand for --output=type=image (the default).")
@click.option(
    "--cache-from",
    "cache_from",
    multiple=True,
    help="External cache source: type=registry,ref=REF | type=local,src=DIR.",
)
@click.option(
    "--cache-to",
    "cache_to",
    multiple=True,
    help="Cache export: type=registry,ref=REF[,mode=min|max] | type=local,dest=DIR | type=inline.",
)
@click.option("--iidfile", help="Write the image ID (config digest) to the file.")
@click.option("--metadata-file", help="Write build result metadata (JSON) to the file.")
@click.option(
    "--jobs", "-j", type=int, default=0, help="Steps to run at once (default: number of CPUs)."
)
@click.option(
    "--explain-cache",
    is_flag=True,
    help="For every step, say HIT or MISS and, on a miss, what changed.",
)
@click.option(
    "--insecure-registry",
    "insecure_registries",
    multiple=True,
    help="Registry host to reach over plain HTTP.",
)
@progress_option
@format_option
def build_command(
    context: str,
    dockerfile: str | None,
    tags: tuple[str, ...],
    target: str | None,
    build_args: tuple[str, ...],
    build_contexts: tuple[str, ...],
    platform: str | None,
    network: str,
    secrets: tuple[str, ...],
    ssh: tuple[str, ...],
    no_cache: bool,
    outputs: tuple[str, ...],
    push: bool,
    load: bool,
    cache_from: tuple[str, ...],
    cache_to: tuple[str, ...],
    iidfile: str | None,
    metadata_file: str | None,
    jobs: int,
    explain_cache: bool,
    insecure_registries: tuple[str, ...],
    progress: str,
    output_format: str,
) -> None:
    """Build an image from a Dockerfile and a context directory (CONTEXT, or - for a Dockerfile on stdin)."""
    from dockyard.build import build  # the engine is heavy; import it only when building

    dockerfile_text = None
    context_dir: Path | None
    if context == "-":
        dockerfile_text = sys.stdin.read()
        context_dir = None
    else:
        context_dir = Path(context)
        if not context_dir.is_dir():
            raise UsageError(
                f"build context {context!r} is not a directory",
                hint="pass a directory, or - for a Dockerfile on stdin",
            )
    if dockerfile == "-":
        dockerfile_text = sys.stdin.read()
        dockerfile = None
    dockerfile_path = (
        Path(dockerfile) if dockerfile else (context_dir / "Dockerfile" if context_dir else None)
    )
    if dockerfile_text is None and dockerfile_path is not None and not dockerfile_path.is_file():
        raise UsageError(f"Dockerfile not found: {dockerfile_path}", hint="pass -f PATH")

    args: dict[str, str] = {}
    for item in build_args:
        parsed = parse_build_arg(item, os.environ)
        if parsed is not None:
            args[parsed[0]] = parsed[1]
    output_specs = [parse_output(o) for o in outputs]
    if push:
        output_specs.append(OutputSpec(type="registry"))
    if load or not output_specs:
        output_specs.append(OutputSpec(type="image"))
    if any(o.type == "registry" for o in output_specs) and not tags:
        raise UsageError("pushing needs a name", hint="add -t REGISTRY/REPO:TAG")

    # Only a build the replay path could have answered writes a record (see _replay).
    replayable = not (
        context == "-"
        or dockerfile_text is not None
        or build_contexts
        or secrets
        or ssh
        or no_cache
        or outputs
        or push
        or cache_from
        or cache_to
        or insecure_registries
    )
    record = (
        replay.build_request(
            context=context,
            dockerfile=dockerfile,
            tags=tags,
            target=target,
            build_args=build_args,
            platform=platform,
            network=network,
            environ=os.environ,
        )
        if replayable
        else None
    )
    options = BuildOptions(
        context=context_dir,
        dockerfile=dockerfile_path,
        dockerfile_text=dockerfile_text,
        tags=tags,
        target=target,
        build_args=args,
        build_contexts=tuple(parse_build_context(c) for c in build_contexts),
        platform=Platform.parse(platform) if platform else Platform.host(),
        network=network,
        secrets=tuple(parse_secret(s) for s in secrets),
        ssh=tuple(parse_ssh(s) for s in ssh),
        no_cache=no_cache,
        outputs=tuple(output_specs),
        cache_from=tuple(parse_cache_spec(c, exporting=False) for c in cache_from),
        cache_to=tuple(parse_cache_spec(c, exporting=True) for c in cache_to),
        jobs=jobs,
        explain_cache=explain_cache or progress == "plain",
        insecure_registries=insecure_registries,
        record=record,
    )
    with progress_sink(progress) as sink:
        result = build(options, progress=sink)
    metadata = result.metadata()
    if iidfile:
        atomic_write(iidfile, str(result.config_digest))
    if metadata_file:
        atomic_write(metadata_file, json.dumps(metadata, indent=2) + "\n")
    if output_format == "json":
        print_json(metadata)
    elif progress != "quiet":
        click.echo(str(result.image_digest))
