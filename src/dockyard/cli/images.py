"""Image transport commands: copy, inspect, pull, push, tag, images, rmi."""

from __future__ import annotations

import click

from dockyard.cli._app import app
from dockyard.errors import NotImplementedYetError


@app.command("copy")
@click.argument("src")
@click.argument("dst")
def copy_command(src: str, dst: str) -> None:
    """Copy an image between transports (oci:, oci-archive:, docker-archive:, docker://)."""
    raise NotImplementedYetError(
        "`dockyard copy` is not implemented yet", hint="tracked in issue 4"
    )


@app.command("inspect")
@click.argument("ref")
def inspect_command(ref: str) -> None:
    """Show an image's manifest and config."""
    raise NotImplementedYetError(
        "`dockyard inspect` is not implemented yet", hint="tracked in issue 4"
    )
