"""`dockyard build`: build images from a Dockerfile (filled in by the build engine)."""

from __future__ import annotations

import click

from dockyard.cli._app import app
from dockyard.errors import NotImplementedYetError


@app.command("build")
@click.argument("context")
def build_command(context: str) -> None:
    """Build an image from a Dockerfile and a context directory."""
    raise NotImplementedYetError(
        "`dockyard build` is not implemented yet", hint="tracked in issue 5"
    )
