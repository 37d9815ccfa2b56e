"""The command-line interface; the only layer that imports click and rich."""

from dockyard.cli import analyze, build, cache, dockerfile, images, lint, scan
from dockyard.cli._app import app

__all__ = ["analyze", "app", "build", "cache", "dockerfile", "images", "lint", "main", "scan"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="dockyard")
