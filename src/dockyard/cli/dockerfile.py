"""`dockyard dockerfile ...`: look inside Dockerfiles."""

from __future__ import annotations

import click

from dockyard.cli._app import app
from dockyard.errors import NotImplementedYetError


@app.group("dockerfile")
def dockerfile_group() -> None:
    """Look inside Dockerfiles: parse tree, stages."""


@dockerfile_group.command("ast")
@click.argument("file")
def ast_command(file: str) -> None:
    """Print the parse tree in BuildKit's S-expression form."""
    raise NotImplementedYetError(
        "`dockyard dockerfile ast` is not implemented yet", hint="tracked in issue 3"
    )
