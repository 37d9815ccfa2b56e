"""Where dockyard keeps its state: the one function every layer asks for the home directory."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported: the build replay path loads this module
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["default_home", "home_dir"]


def home_dir() -> str:
    """``$DOCKYARD_HOME``, else ``$XDG_DATA_HOME/dockyard``, else ``~/.local/share/dockyard``.

    Read from the environment on every call (tests and subprocesses set it).
    """
    env = os.environ.get("DOCKYARD_HOME")
    if env:
        return env
    xdg = os.environ.get("XDG_DATA_HOME")
    base = xdg or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "dockyard")


def default_home() -> Path:
    """:func:`home_dir` as a :class:`~pathlib.Path`."""
    from pathlib import Path

    return Path(home_dir())
