"""`dockyard lint`: check Dockerfiles for known pitfalls."""

from __future__ import annotations

import click

from dockyard.cli._app import app
from dockyard.errors import NotImplementedYetError


@app.command("lint")
@click.argument("paths", nargs=-1)
def lint_command(paths: tuple[str, ...]) -> None:
    """Check Dockerfiles for known pitfalls, with fix hints."""
    raise NotImplementedYetError(
        "`dockyard lint` is not implemented yet", hint="tracked in issue 7"
    )
