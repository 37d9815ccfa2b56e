"""The command-line interface; the only layer that imports click and rich.

Command modules register themselves on ``app`` when imported; ``app`` imports each one
only when its command is used (see ``COMMAND_MODULES`` in ``_app``).
"""

from dockyard.cli._app import COMMAND_MODULES, app

__all__ = ["COMMAND_MODULES", "app", "main"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="dockyard")
