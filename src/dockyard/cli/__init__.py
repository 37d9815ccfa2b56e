"""The command-line interface; the only layer that imports click and rich.

Command modules register themselves on ``app`` when imported; ``app`` imports each one
only when its command is used (see ``COMMAND_MODULES`` in ``_app``). ``main`` first
offers ``dockyard build`` to the replay path (``_replay``), which answers an unchanged
build from its record before click is even imported.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported: `dockyard build` may never need it
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from dockyard.cli._app import COMMAND_MODULES, app

__all__ = ["COMMAND_MODULES", "app", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["build"]:
        from dockyard.cli._replay import try_replay

        code = try_replay(args[1:])
        if code is not None:
            sys.exit(code)
    from dockyard.cli._app import app

    app(args=args, prog_name="dockyard")


def __getattr__(name: str) -> Any:
    if name in ("COMMAND_MODULES", "app"):
        from dockyard.cli import _app

        return getattr(_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
