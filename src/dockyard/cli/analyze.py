"""`dockyard analyze`: where an image's bytes go."""

from __future__ import annotations

import click

from dockyard.cli._app import app
from dockyard.errors import NotImplementedYetError


@app.command("analyze")
@click.argument("image")
def analyze_command(image: str) -> None:
    """Show where an image's bytes go, layer by layer."""
    raise NotImplementedYetError(
        "`dockyard analyze` is not implemented yet", hint="tracked in issue 7"
    )
