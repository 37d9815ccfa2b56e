"""`dockyard scan`, `sbom` and `db`: vulnerability scanning."""

from __future__ import annotations

import click

from dockyard.cli._app import app
from dockyard.errors import NotImplementedYetError


@app.command("scan")
@click.argument("image")
def scan_command(image: str) -> None:
    """Scan an image for vulnerabilities against the offline database."""
    raise NotImplementedYetError(
        "`dockyard scan` is not implemented yet", hint="tracked in issue 8"
    )
