"""`dockyard dockerfile ...`: look inside Dockerfiles."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from dockyard.cli._app import app
from dockyard.cli._output import format_option, print_json
from dockyard.dockerfile import INSTRUCTIONS, Dockerfile, Platform, load, parse
from dockyard.dockerfile.instructions import suggest
from dockyard.errors import InputError, UsageError


@app.group("dockerfile")
def dockerfile_group() -> None:
    """Look inside Dockerfiles: parse tree, stages."""


def _read(file: str) -> tuple[str, str]:
    """The Dockerfile text (``-`` is stdin) and the name to show in messages."""
    try:
        if file == "-":
            data = sys.stdin.buffer.read()
            name = "Dockerfile"
        else:
            data = Path(file).read_bytes()
            name = file
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror or exc}") from exc
    return data.decode("utf-8", "surrogateescape"), name


def _check_names(dockerfile: Dockerfile) -> None:
    for node in dockerfile.nodes:
        if node.name not in INSTRUCTIONS:
            guess = suggest(node.value, [i.upper() for i in INSTRUCTIONS])
            raise dockerfile.error(
                f"unknown instruction: {node.value}",
                node,
                token=node.value or None,
                hint=f"did you mean {guess}?" if guess else None,
            )


@dockerfile_group.command("ast")
@click.argument("file")
def ast_command(file: str) -> None:
    """Print the parse tree in BuildKit's S-expression form (FILE may be -)."""
    text, name = _read(file)
    dockerfile = parse(text, filename=name)
    _check_names(dockerfile)
    click.echo(dockerfile.dump(), nl=False)


def _build_args(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {value!r}", hint="use --build-arg KEY=VALUE")
        out[key] = val if sep else ""
    return out


@dockerfile_group.command("stages")
@click.argument("file")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="Set a build ARG.")
@click.option("--target", default=None, help="The stage to build (default: the last one).")
@click.option(
    "--platform",
    "platform",
    default="linux/amd64",
    show_default=True,
    help="Build platform for the automatic ARGs.",
)
@format_option
def stages_command(
    file: str,
    build_args: tuple[str, ...],
    target: str | None,
    platform: str,
    output_format: str,
) -> None:
    """Print the stages, their dependencies and which are reachable from the target."""
    text, name = _read(file)
    plan = load(
        text,
        filename=name,
        build_args=_build_args(build_args),
        target=target,
        platform=Platform.parse(platform),
    )
    reachable = set(plan.reachable)
    rows: list[dict[str, Any]] = [
        {
            "index": stage.index,
            "name": stage.name,
            "line": stage.from_.location.start_line,
            "base": stage.base_image,
            "base_stage": stage.base_stage,
            "platform": stage.platform,
            "depends_on": sorted(stage.deps),
            "images": list(stage.images),
            "instructions": len(stage.instructions),
            "reachable": stage.index in reachable,
            "target": stage.index == plan.target,
        }
        for stage in plan.stages
    ]
    if output_format == "json":
        print_json(
            {
                "file": name,
                "target": plan.target,
                "build_order": list(plan.reachable),
                "stages": rows,
                "unused_build_args": list(plan.unused_build_args),
            }
        )
        return
    by_index = {stage.index: stage for stage in plan.stages}
    for row in rows:
        stage = by_index[row["index"]]
        base = (
            f"stage {by_index[row['base_stage']].display_name}"
            if row["base_stage"] is not None
            else row["base"]
        )
        marks = []
        if row["target"]:
            marks.append("target")
        if not row["reachable"]:
            marks.append("unreachable")
        suffix = f"  [{', '.join(marks)}]" if marks else ""
        label = f"{stage.index}" + (f" {stage.name}" if stage.name else "")
        click.echo(f"stage {label}: FROM {base} (line {row['line']}){suffix}")
        if row["platform"]:
            click.echo(f"    platform: {row['platform']}")
        if row["depends_on"]:
            deps = ", ".join(by_index[d].display_name for d in row["depends_on"])
            click.echo(f"    depends on: {deps}")
        if row["images"]:
            click.echo(f"    copies from images: {', '.join(row['images'])}")
    order = " -> ".join(by_index[i].display_name for i in plan.reachable)
    click.echo(f"build order: {order}")
    for key in plan.unused_build_args:
        click.echo(f"warning: build arg {key} is not consumed", err=True)
